r"""Hoffmann et al. (2022) "Chinchilla" law and its closed-form compute-optimal allocation.

.. math:: \hat L(N, D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}
          \iff \log\hat L = \mathrm{LSE}(a - \alpha\log N,\; b - \beta\log D,\; e)

Fitted parameters ``(a, b, e, alpha, beta)`` with ``A = e^a``, ``B = e^b``, ``E = e^e``.
"""
from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .. import allocation
from .base import Law, lse_terms, lse_terms_and_jacobian, linear_term_max, product_grid


def chinchilla_log_predict(theta, log_x):
    r""":math:`\log\hat L = \mathrm{LSE}(a - \alpha \log N, b - \beta \log D, e)`;
    ``theta = (a, b, e, alpha, beta)``, ``log_x[:, 0] = log N``, ``log_x[:, 1] = log D``."""
    a, b, e, alpha, beta = theta[0], theta[1], theta[2], theta[3], theta[4]
    return lse_terms([a - alpha * log_x[:, 0], b - beta * log_x[:, 1]], e)


def chinchilla_log_predict_and_jacobian(theta, log_x):
    """Analytic ``(log L_hat, d log L_hat / d theta)``; one shift per lane (the largest term over all
    points), so each point costs two exponentials and one logarithm. Columns ``(a, b, e, alpha, beta)``."""
    a, b, e, alpha, beta = theta[0], theta[1], theta[2], theta[3], theta[4]
    log_n, log_d = log_x[:, 0], log_x[:, 1]
    shift = jnp.maximum(jnp.maximum(linear_term_max(a, alpha, log_n), linear_term_max(b, beta, log_d)), e)
    return lse_terms_and_jacobian(shift, [a - alpha * log_n, b - beta * log_d], [log_n, log_d], e)


def chinchilla_grid() -> np.ndarray:
    """Hoffmann et al. App. D.2 initialisation grid as used by Epoch: 4500 starts.

    ``alpha, beta in {0, .5, 1, 1.5, 2}``, ``e in {-1, -.5, 0, .5, 1}``,
    ``a, b in {0, 5, ..., 25}``; columns ordered ``(a, b, e, alpha, beta)``.
    """
    a = b = np.arange(0.0, 30.0, 5.0)
    e = np.arange(-1.0, 1.5, 0.5)
    exponents = np.arange(0.0, 2.5, 0.5)
    return product_grid(a=a, b=b, e=e, alpha=exponents, beta=exponents)


@dataclass(frozen=True, eq=False)
class ChinchillaLaw(Law):
    """The Chinchilla law with its closed-form allocation (see :mod:`jaxscale.kernels.allocation`)."""

    def derived(self, natural):
        r"""``a_opt = beta/(alpha+beta)``, ``b_opt = alpha/(alpha+beta)``,
        ``G = (alpha A / (beta B))^{1/(alpha+beta)}``."""
        a_opt, b_opt = allocation.allocation_exponents(natural["alpha"], natural["beta"])
        G = allocation.allocation_constant(natural["A"], natural["B"], natural["alpha"], natural["beta"])
        return {"a_opt": a_opt, "b_opt": b_opt, "G": G}

    def compute_optimal(self, theta, C, **other_inputs):
        r"""Closed form :math:`N_{opt} = G (C/6)^{a}`, :math:`D_{opt} = G^{-1} (C/6)^{b}`."""
        natural = self.to_natural(theta)
        A, B, alpha, beta = (natural[..., j] for j in (0, 1, 3, 4))
        C = np.asarray(C, np.float64)
        if natural.ndim == 2 and C.ndim == 1:
            A, B, alpha, beta = (v[:, None] for v in (A, B, alpha, beta))
        return allocation.compute_optimal(A, B, alpha, beta, C)


#: Why each input of an additive law ``E + A N^-alpha + B D^-beta`` needs 3 distinct values.
CHINCHILLA_DISTINCT_REASON = ("N and D each enter as a power term (A N^-alpha, B D^-beta) beside the constant E: two "
                              "values of an input fix only one difference, which every exponent matches")

CHINCHILLA = ChinchillaLaw(
    name="chinchilla",
    inputs=("N", "D"),
    param_names=("a", "b", "e", "alpha", "beta"),
    natural_names=("A", "B", "E", "alpha", "beta"),
    log_predict=chinchilla_log_predict,
    log_scale=(True, True, True, False, False),
    grid=chinchilla_grid,
    log_predict_and_jacobian=chinchilla_log_predict_and_jacobian,
    description="L = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022)",
    min_distinct=(3, 3),
    distinct_reason=CHINCHILLA_DISTINCT_REASON,
    exponents=("alpha", "beta"),
    example={"params": {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28},
             "inputs": {"N": (1e7, 3e10), "D": (5e8, 2e12)}},
)
