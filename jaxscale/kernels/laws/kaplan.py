r"""Kaplan et al. (2020) joint law of model size and data, their eq. (1.5) / (4.1).

.. math:: \hat L(N, D) = \left[\left(\frac{N_c}{N}\right)^{\alpha_N/\alpha_D} + \frac{D_c}{D}\right]^{\alpha_D}

Written in log space with a log-sum-exp, so no power of a large or small number is ever formed:

.. math:: \log\hat L = \alpha_D\,\mathrm{LSE}\!\left(\frac{\alpha_N}{\alpha_D}(\log N_c - \log N),\;
          \log D_c - \log D\right)

Fitted parameters ``(log_N_c, log_D_c, alpha_N, alpha_D)``; natural ``(N_c, D_c, alpha_N, alpha_D)``
with ``N_c = exp(log_N_c)``. Kaplan et al.'s fit (WebText2, N without embeddings):
``N_c = 6.4e13``, ``D_c = 1.8e13``, ``alpha_N = 0.076``, ``alpha_D = 0.103``.
The law has no irreducible term. Along :math:`C = 6ND` the bracket
:math:`(N_c/N)^{r} + 6 D_c N / C` (:math:`r = \alpha_N/\alpha_D`) is least where its derivative vanishes:

.. math:: N_{opt} = \left(\frac{r N_c^{r} (C/6)}{D_c}\right)^{1/(1+r)}, \qquad D_{opt} = \frac{C}{6 N_{opt}},

so :math:`N_{opt} \propto C^{\alpha_D/(\alpha_N+\alpha_D)}` and :math:`D_{opt} \propto C^{\alpha_N/(\alpha_N+\alpha_D)}`
(for :math:`\alpha_N, \alpha_D > 0`). This is the optimum of the :math:`L(N, D)` form fitted here, not Kaplan
et al.'s training-steps frontier (their :math:`N \propto C^{0.73}`).
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .base import Law, lse_terms, product_grid

#: Kaplan et al. (2020), Table 2 / eq. (1.5): natural parameters.
KAPLAN_PARAMS = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}


def kaplan_log_predict(theta, log_x):
    r""":math:`\log\hat L = \alpha_D\,\mathrm{LSE}(\tfrac{\alpha_N}{\alpha_D}(\log N_c - \log N), \log D_c - \log D)`;
    ``theta = (log_N_c, log_D_c, alpha_N, alpha_D)``, ``log_x[:, 0] = log N``, ``log_x[:, 1] = log D``."""
    log_nc, log_dc, alpha_n, alpha_d = theta[0], theta[1], theta[2], theta[3]
    return alpha_d * lse_terms([(alpha_n / alpha_d) * (log_nc - log_x[:, 0]), log_dc - log_x[:, 1]])


def kaplan_log_predict_and_jacobian(theta, log_x):
    r"""Analytic ``(log L_hat, J)``. With :math:`u_1 = \tfrac{\alpha_N}{\alpha_D}(\log N_c - \log N)`,
    :math:`u_2 = \log D_c - \log D`, :math:`S = \mathrm{LSE}(u_1, u_2)` and softmax weights
    :math:`s_1, s_2`: :math:`\partial/\partial\log N_c = \alpha_N s_1`,
    :math:`\partial/\partial\log D_c = \alpha_D s_2`,
    :math:`\partial/\partial\alpha_N = s_1 (\log N_c - \log N)`,
    :math:`\partial/\partial\alpha_D = S - s_1 u_1`."""
    log_nc, log_dc, alpha_n, alpha_d = theta[0], theta[1], theta[2], theta[3]
    gap_n = log_nc - log_x[:, 0]
    u1, u2 = (alpha_n / alpha_d) * gap_n, log_dc - log_x[:, 1]
    top = jnp.maximum(u1, u2)
    e1, e2 = jnp.exp(u1 - top), jnp.exp(u2 - top)
    total = e1 + e2
    s1, s2 = e1 / total, e2 / total
    lse = top + jnp.log(total)
    jac = jnp.stack([alpha_n * s1, alpha_d * s2, s1 * gap_n, lse - s1 * u1], axis=-1)
    return alpha_d * lse, jac


def kaplan_grid() -> np.ndarray:
    """Default starts (625): ``log_N_c, log_D_c in {0, 10, 20, 30, 40}`` (scales 1 to 2e17),
    ``alpha_N, alpha_D in {0.05, 0.1, 0.25, 0.5, 1}``."""
    scales = np.arange(0.0, 50.0, 10.0)
    exponents = np.array([0.05, 0.1, 0.25, 0.5, 1.0])
    return product_grid(log_N_c=scales, log_D_c=scales, alpha_N=exponents, alpha_D=exponents)


@dataclass(frozen=True, eq=False)
class KaplanLaw(Law):
    """Kaplan et al.'s joint law with its closed-form allocation along ``C = 6ND`` (module docs)."""

    def derived(self, natural):
        r"""``a_opt = alpha_D / (alpha_N + alpha_D)``, ``b_opt = alpha_N / (alpha_N + alpha_D)``."""
        total = natural["alpha_N"] + natural["alpha_D"]
        return {"a_opt": natural["alpha_D"] / total, "b_opt": natural["alpha_N"] / total}

    def compute_optimal(self, theta, C, **other_inputs):
        r""":math:`\log N_{opt} = (\log r + r\log N_c + \log(C/6) - \log D_c) / (1 + r)`, :math:`r = \alpha_N/\alpha_D`
        (NaN unless :math:`r > 0`); broadcast over draws ``theta[R, p]`` and budgets ``C[m]``."""
        theta = np.asarray(theta, np.float64)
        C = np.asarray(C, np.float64)
        log_nc, log_dc, alpha_n, alpha_d = (theta[..., j] for j in range(4))
        if theta.ndim == 2 and C.ndim == 1:
            log_nc, log_dc, alpha_n, alpha_d = (v[:, None] for v in (log_nc, log_dc, alpha_n, alpha_d))
        r = alpha_n / alpha_d
        with np.errstate(invalid="ignore", divide="ignore"):
            n_opt = np.exp((np.log(np.where(r > 0, r, np.nan)) + r * log_nc + np.log(C / 6.0) - log_dc) / (1.0 + r))
        return n_opt, C / (6.0 * n_opt)


KAPLAN = KaplanLaw(
    name="kaplan",
    inputs=("N", "D"),
    param_names=("log_N_c", "log_D_c", "alpha_N", "alpha_D"),
    natural_names=("N_c", "D_c", "alpha_N", "alpha_D"),
    log_predict=kaplan_log_predict,
    log_scale=(True, True, False, False),
    grid=kaplan_grid,
    log_predict_and_jacobian=kaplan_log_predict_and_jacobian,
    description="L = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D (Kaplan et al. 2020)",
    distinct_reason="no free constant: two values of N (or D) fix the scale and exponent of its term",
    exponents=("alpha_N", "alpha_D"),
    example={"params": {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103},
             "inputs": {"N": (1e6, 3e9), "D": (1e8, 1e11)}},
)
