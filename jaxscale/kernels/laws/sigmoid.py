r"""A downstream metric as a sigmoid of the loss (raw input, raw target).

.. math:: \hat y(x) = b + \frac{a}{1 + e^{-k (x - x_0)}}, \qquad k > 0

``x`` is usually the loss (nats/token) and ``y`` an accuracy; both enter as they are
(``input_scale="raw"``, ``target_scale="raw"``), so residuals are :math:`y_i - \hat y_i`, not log
ratios. ``k`` is fitted as ``log_k``: a sigmoid with :math:`k < 0` is the same curve as
:math:`(a, b, k) \to (-a, a + b, -k)`, so :math:`k > 0` loses nothing and makes the parameters
identifiable. A metric that falls as the loss grows has :math:`a < 0`: it tends to :math:`b` at
small loss and to :math:`a + b` (e.g. chance accuracy) at large loss, and :math:`x_0` is the
midpoint.

Fitted parameters ``(a, b, log_k, x0)``; natural ``(a, b, k, x0)``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .base import Law, product_grid


def sigmoid_predict(theta, x):
    r""":math:`\hat y = b + a\,\sigma(k(x - x_0))`; ``theta = (a, b, log_k, x0)``, ``x[:, 0]`` raw."""
    a, b, k, x0 = theta[0], theta[1], jnp.exp(theta[2]), theta[3]
    return b + a * jax.nn.sigmoid(k * (x[:, 0] - x0))


def sigmoid_predict_and_jacobian(theta, x):
    r"""Analytic ``(y_hat, J)``: with :math:`s = \sigma(k(x - x_0))`, columns
    :math:`(s,\ 1,\ a s(1-s) k (x - x_0),\ -a s(1-s) k)` for ``(a, b, log_k, x0)``."""
    a, b, k, x0 = theta[0], theta[1], jnp.exp(theta[2]), theta[3]
    gap = x[:, 0] - x0
    s = jax.nn.sigmoid(k * gap)
    slope = a * s * (1.0 - s) * k
    return b + a * s, jnp.stack([s, jnp.ones_like(s), slope * gap, -slope], axis=-1)


def sigmoid_grid() -> np.ndarray:
    """Default starts (400): ``a in {-1, -.5, .5, 1}``, ``b in {0, .25, .5, 1}``,
    ``k in {.5, 1, 2, 5, 10}`` (as ``log_k``), ``x0 in {1, 2, 3, 4, 5}`` (loss in nats)."""
    return product_grid(a=np.array([-1.0, -0.5, 0.5, 1.0]), b=np.array([0.0, 0.25, 0.5, 1.0]),
                        log_k=np.log([0.5, 1.0, 2.0, 5.0, 10.0]), x0=np.arange(1.0, 6.0))


SIGMOID = Law(
    name="sigmoid",
    inputs=("x",),
    param_names=("a", "b", "log_k", "x0"),
    natural_names=("a", "b", "k", "x0"),
    log_predict=sigmoid_predict,
    log_scale=(False, False, True, False),
    grid=sigmoid_grid,
    log_predict_and_jacobian=sigmoid_predict_and_jacobian,
    input_scale=("raw",),
    target_scale="raw",
    description="y = b + a / (1 + exp(-k (x - x0))), k > 0 (a downstream metric vs loss)",
    example={"params": {"a": -0.45, "b": 0.7, "k": 4.0, "x0": 2.8}, "inputs": {"x": (1.8, 4.0)}},
)
