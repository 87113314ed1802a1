r"""Single-variable power laws.

- ``power_law``: saturating, :math:`\hat L(x) = E + A\,x^{-\alpha}` (the user maps ``x`` to N, D or C).
- ``pure_power_law``: Kaplan et al.'s single-variable form without irreducible term,
  :math:`\hat L(x) = (x_c / x)^{\alpha}`, fitted as :math:`\log\hat L = \alpha(\log x_c - \log x)` with
  ``log_x_c`` in place of ``x_c`` (natural ``x_c = exp(log_x_c)``).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .base import Law, lse_terms, lse_terms_and_jacobian, linear_term_max, product_grid


def power_law_log_predict(theta, log_x):
    r""":math:`\log\hat L = \mathrm{LSE}(a - \alpha\log x, e)`; ``theta = (a, e, alpha)``."""
    a, e, alpha = theta[0], theta[1], theta[2]
    return lse_terms([a - alpha * log_x[:, 0]], e)


def power_law_log_predict_and_jacobian(theta, log_x):
    """Analytic ``(log L_hat, J)`` of :func:`power_law_log_predict`; columns ``(a, e, alpha)``."""
    a, e, alpha = theta[0], theta[1], theta[2]
    log_n = log_x[:, 0]
    shift = jnp.maximum(linear_term_max(a, alpha, log_n), e)
    return lse_terms_and_jacobian(shift, [a - alpha * log_n], [log_n], e)


def power_law_grid() -> np.ndarray:
    """Default starts: ``a in {0..25}``, ``e in {-1..1}``, ``alpha in {0..2}`` (150 starts)."""
    return product_grid(a=np.arange(0.0, 30.0, 5.0), e=np.arange(-1.0, 1.5, 0.5), alpha=np.arange(0.0, 2.5, 0.5))


POWER_LAW = Law(
    name="power_law",
    inputs=("x",),
    param_names=("a", "e", "alpha"),
    natural_names=("A", "E", "alpha"),
    log_predict=power_law_log_predict,
    log_scale=(True, True, False),
    grid=power_law_grid,
    log_predict_and_jacobian=power_law_log_predict_and_jacobian,
    description="L = E + A / x^alpha (x: N, D or C, mapped by the user)",
    min_distinct=(3,),
    distinct_reason="the term A x^-alpha sits beside the constant E: two values of x fix only one difference",
    exponents=("alpha",),
    example={"params": {"A": 310.0, "E": 1.7, "alpha": 0.31}, "inputs": {"x": (1e7, 1e11)}},
)


def pure_power_law_log_predict(theta, log_x):
    r""":math:`\log\hat L = \alpha(\log x_c - \log x)`; ``theta = (log_x_c, alpha)``."""
    return theta[1] * (theta[0] - log_x[:, 0])


def pure_power_law_log_predict_and_jacobian(theta, log_x):
    """Analytic ``(log L_hat, J)``: columns ``(alpha, log x_c - log x)``."""
    gap = theta[0] - log_x[:, 0]
    return theta[1] * gap, jnp.stack([jnp.broadcast_to(theta[1], gap.shape), gap], axis=-1)


def pure_power_law_grid() -> np.ndarray:
    """Default starts: ``log x_c in {0, 5, ..., 45}`` (x_c from 1 to ~3e19), ``alpha in {0.05, ..., 1}``."""
    return product_grid(log_x_c=np.arange(0.0, 50.0, 5.0), alpha=np.array([0.05, 0.1, 0.25, 0.5, 1.0]))


PURE_POWER_LAW = Law(
    name="pure_power_law",
    inputs=("x",),
    param_names=("log_x_c", "alpha"),
    natural_names=("x_c", "alpha"),
    log_predict=pure_power_law_log_predict,
    log_scale=(True, False),
    grid=pure_power_law_grid,
    log_predict_and_jacobian=pure_power_law_log_predict_and_jacobian,
    description="L = (x_c / x)^alpha (Kaplan et al. 2020, one variable)",
    distinct_reason="log L is linear in log x: two values of x fix the line",
    exponents=("alpha",),
    example={"params": {"x_c": 8.8e13, "alpha": 0.076}, "inputs": {"x": (1e6, 1e10)}},  # Kaplan's L(N)
)
