r"""Muennighoff et al. (2023) data-constrained law: repeated tokens and excess parameters decay in value.

Inputs ``N`` (parameters), ``D`` (training tokens, repeats included) and ``U`` (unique tokens).
Following the authors' code (``scaling_law`` in the README "Parametric Fit" section of
huggingface/datablations, and ``utils/parametric_fit.ipynb``, which sets ``U = min(U, D)``):

.. math::
    U_D &= \min(U, D), \qquad R_D = D / U_D - 1, \\
    G &= \left(\frac{\alpha A}{\beta B}\right)^{1/(\alpha+\beta)}, \qquad
    N_{opt}(U_D) = G\,(U_D\,G)^{\beta/\alpha}, \\
    U_N &= \min\big(N, N_{opt}(U_D)\big), \qquad R_N = N / U_N - 1, \\
    D' &= U_D + U_D R_D^* \big(1 - e^{-R_D/R_D^*}\big), \qquad
    N' = U_N + U_N R_N^* \big(1 - e^{-R_N/R_N^*}\big), \\
    \hat L &= E + \frac{A}{N'^{\alpha}} + \frac{B}{D'^{\beta}}.

:math:`N_{opt}(U_D)` is the Chinchilla compute-optimal model size for a budget whose optimal data is
:math:`U_D` (from :math:`D_{opt} = G^{-1}(C/6)^{\alpha/(\alpha+\beta)}`), so parameters beyond what
one epoch of the unique data would use count as "excess" and decay with :math:`R_N^*`; repeated
epochs decay with :math:`R_D^*`. With :math:`R_D = R_N = 0` the law is Chinchilla's.

Computed in log space: :math:`\log N' = \log U_N + \mathrm{log1p}(R_N^*\,(-\mathrm{expm1}(-R_N/R_N^*)))`
(likewise :math:`D'`) and :math:`\log\hat L = \mathrm{LSE}(a - \alpha\log N', b - \beta\log D', e)`.
:math:`R_N` is formed from :math:`\log(N/U_N)` clipped at 100 (:math:`R_N \le e^{100}`), which
keeps derivatives finite at far-off starts and changes no value for :math:`R_N^* < 10^{40}`.

Fitted parameters ``(a, b, e, alpha, beta, log_R_N_star, log_R_D_star)``; natural
``(A, B, E, alpha, beta, R_N_star, R_D_star)``. ``alpha`` and ``beta`` must be > 0 (they enter
:math:`G` through logarithms). Their C4 fit: ``A = 520.8``, ``B = 1487.7``, ``E = 1.869``,
``alpha = beta = 0.353``, ``R_N* = 5.31``, ``R_D* = 15.39``
(:data:`MUENNIGHOFF_PARAMS`). As in the paper, one may fit the base law on single-epoch runs and
then only the decay constants: ``fit(..., fixed={"A": ..., "B": ..., "E": ..., "alpha": ..., "beta": ...})``.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .base import Law, lse_terms, product_grid
from .chinchilla import CHINCHILLA_DISTINCT_REASON

#: The datablations README's C4 coefficients (a, b, e = log A, log B, log E) in natural form.
MUENNIGHOFF_PARAMS = {"A": float(np.exp(6.255414)), "B": float(np.exp(7.3049974)), "E": float(np.exp(0.6254804)),
                      "alpha": 0.3526596, "beta": 0.3526596, "R_N_star": 5.309743, "R_D_star": 15.387756}

#: ``log(N / U_N)`` and ``log(D / U_D)`` are clipped here before exponentiating (see module docs).
_MAX_LOG_RATIO = 100.0


def _effective(log_unique, log_total, log_r_star):
    r""":math:`\log(U + U R^*(1 - e^{-R/R^*}))` with :math:`R = T/U - 1`, from logs of ``U``, ``T`` and ``R^*``."""
    r_star = jnp.exp(log_r_star)
    repeats = jnp.expm1(jnp.minimum(log_total - log_unique, _MAX_LOG_RATIO))
    return log_unique + jnp.log1p(r_star * -jnp.expm1(-repeats / r_star))


def data_constrained_log_predict(theta, log_x):
    r""":math:`\log\hat L = \mathrm{LSE}(a - \alpha\log N', b - \beta\log D', e)` (module docs);
    ``theta = (a, b, e, alpha, beta, log_R_N_star, log_R_D_star)``, ``log_x`` columns ``log N, log D, log U``."""
    a, b, e, alpha, beta, log_rn, log_rd = (theta[j] for j in range(7))
    log_n, log_d, log_u = log_x[:, 0], log_x[:, 1], log_x[:, 2]
    log_ud = jnp.minimum(log_u, log_d)
    log_g = (jnp.log(alpha) + a - jnp.log(beta) - b) / (alpha + beta)
    log_n_opt = log_g + (beta / alpha) * (log_ud + log_g)
    log_un = jnp.minimum(log_n, log_n_opt)
    log_n_eff = _effective(log_un, log_n, log_rn)
    log_d_eff = _effective(log_ud, log_d, log_rd)
    return lse_terms([a - alpha * log_n_eff, b - beta * log_d_eff], e)


def data_constrained_grid() -> np.ndarray:
    """Default starts (8748): Hoffmann's ``a, b in {0, 5, ..., 25}``; ``e in {-1, 0, 1}``;
    ``alpha, beta in {0.2, 0.5, 1}`` (> 0: they enter G through logarithms);
    ``R_N*, R_D* in {1, 10, 100}`` (fitted as logarithms; with the base law fixed, as the paper fits, these 9
    pairs are the starts). The decades reach R* ~ 100 (Muennighoff et al.'s 182 runs with the base fixed: best
    R_D* ~ 95), where ``{1, 5, 25}`` stopped in a worse minimum on data sets of ``benchmarks/bench_law_grids.py``.
    Columns in ``param_names`` order."""
    scales = np.arange(0.0, 30.0, 5.0)
    exponents = np.array([0.2, 0.5, 1.0])
    decays = np.log([1.0, 10.0, 100.0])
    return product_grid(a=scales, b=scales, e=np.array([-1.0, 0.0, 1.0]), alpha=exponents, beta=exponents,
                        log_R_N_star=decays, log_R_D_star=decays)


DATA_CONSTRAINED = Law(
    name="data_constrained",
    inputs=("N", "D", "U"),
    param_names=("a", "b", "e", "alpha", "beta", "log_R_N_star", "log_R_D_star"),
    natural_names=("A", "B", "E", "alpha", "beta", "R_N_star", "R_D_star"),
    log_predict=data_constrained_log_predict,
    log_scale=(True, True, True, False, False, True, True),
    grid=data_constrained_grid,
    example={"params": {"A": 520.8, "B": 1487.7, "E": 1.869, "alpha": 0.34, "beta": 0.37, "R_N_star": 5.31,
                        "R_D_star": 15.39}, "inputs": {"N": (1e8, 1e10), "D": (1e10, 1e12), "U": (1e9, 1e11)}},
    constant_inputs=("U",),
    min_distinct=(3, 3, 1),
    distinct_reason=CHINCHILLA_DISTINCT_REASON,
    exponents=("alpha", "beta"),
    description="L = E + A / N'^alpha + B / D'^beta with repeated data and excess parameters decaying "
                "(Muennighoff et al. 2023)",
)
