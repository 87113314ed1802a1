r"""Gadre et al. (2024) downstream error as an exponential of the loss (raw input, raw target).

.. math:: \widehat{\mathrm{Err}}(L) = \epsilon - k\, e^{-\gamma L}, \qquad k, \gamma > 0

``x`` is the loss (nats/token), ``y`` the average top-1 error; both raw. The error rises toward
:math:`\epsilon` as the loss grows, and falls as the loss falls. Gadre et al. ("Language models scale
reliably with over-training and on downstream tasks", 2024, eq. 5) fit it to 46 downstream tasks
where a sigmoid in the loss often has no saturation in the data to fix its asymptotes. ``k`` and
:math:`\gamma` are fitted as logarithms (so they stay > 0).

Fitted parameters ``(eps, log_k, log_gamma)``; natural ``(eps, k, gamma)``.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .base import Law, product_grid


def exponential_metric_predict(theta, x):
    r""":math:`\hat y = \epsilon - k e^{-\gamma x}`; ``theta = (eps, log_k, log_gamma)``, ``x[:, 0]`` raw loss."""
    eps, log_k, gamma = theta[0], theta[1], jnp.exp(theta[2])
    return eps - jnp.exp(log_k - gamma * x[:, 0])


def exponential_metric_predict_and_jacobian(theta, x):
    r"""Analytic ``(y_hat, J)``: with :math:`t = k e^{-\gamma x}`, columns :math:`(1, -t, t \gamma x)`."""
    eps, log_k, gamma = theta[0], theta[1], jnp.exp(theta[2])
    t = jnp.exp(log_k - gamma * x[:, 0])
    return eps - t, jnp.stack([jnp.ones_like(t), -t, t * gamma * x[:, 0]], axis=-1)


def exponential_metric_grid() -> np.ndarray:
    """Default starts (60): ``eps in {0.5, 0.75, 1}``, ``k in {1, 10, 100, 1e3}``, ``gamma in {0.3, 1, 2, 4, 8}``."""
    return product_grid(eps=np.array([0.5, 0.75, 1.0]), log_k=np.log([1.0, 10.0, 100.0, 1e3]),
                        log_gamma=np.log([0.3, 1.0, 2.0, 4.0, 8.0]))


EXPONENTIAL_METRIC = Law(
    name="exponential_metric",
    inputs=("x",),
    param_names=("eps", "log_k", "log_gamma"),
    natural_names=("eps", "k", "gamma"),
    log_predict=exponential_metric_predict,
    log_scale=(False, True, True),
    grid=exponential_metric_grid,
    log_predict_and_jacobian=exponential_metric_predict_and_jacobian,
    input_scale=("raw",),
    target_scale="raw",
    description="Err = eps - k exp(-gamma L), k, gamma > 0 (Gadre et al. 2024: downstream error vs loss)",
    example={"params": {"eps": 0.85, "k": 2.0, "gamma": 0.9}, "inputs": {"x": (2.0, 4.5)}},
)
