r"""Whole training curves under any learning-rate schedule: one row per checkpoint.

Tissue et al. (2024, arXiv 2408.11029), one run (or runs of one model size):

.. math:: \hat L(s) = L_0 + A\, S_1^{-\alpha} - C\, S_2

Wang et al. (AAAI 2026, arXiv 2512.13705), with model size :math:`N`:

.. math:: \hat L = L_0 + A\, S_1^{-\alpha_S} + B\, N^{-\alpha_N} - C\, M

:math:`S_1` (forward area), :math:`S_2` (annealing area) and :math:`M` (annealing momentum) come from
the run's learning-rate schedule up to the checkpoint (:mod:`jaxscale.kernels.schedules`). Inputs
``S1`` and ``N`` enter as logarithms; ``S2`` and ``M`` as they are (0 before any annealing). Fitted
parameters: logarithms of :math:`L_0, A, B, C` (all > 0) and the exponents; the target is
:math:`\log L`, so :math:`\log\hat L = \log(e^{l_0} + e^{a - \alpha \log S_1} - e^{c} S_2)`. Where
the bracket is <= 0 the prediction is NaN and the solvers reject that trial point.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .base import Law, product_grid


def lr_annealing_log_predict(theta, x):
    r""":math:`\log(L_0 + A S_1^{-\alpha} - C S_2)`; ``theta = (l0, a, alpha, c)``, ``x = (log S1, S2)``."""
    l0, a, alpha, c = theta[0], theta[1], theta[2], theta[3]
    value = jnp.exp(l0) + jnp.exp(a - alpha * x[:, 0]) - jnp.exp(c) * x[:, 1]
    return jnp.log(value)


def forward_momentum_log_predict(theta, x):
    r""":math:`\log(L_0 + A S_1^{-\alpha_S} + B N^{-\alpha_N} - C M)`;
    ``theta = (l0, a, b, alpha_S, alpha_N, c)``, ``x = (log S1, log N, M)``."""
    l0, a, b, alpha_s, alpha_n, c = (theta[j] for j in range(6))
    value = jnp.exp(l0) + jnp.exp(a - alpha_s * x[:, 0]) + jnp.exp(b - alpha_n * x[:, 1]) - jnp.exp(c) * x[:, 2]
    return jnp.log(value)


def lr_annealing_grid() -> np.ndarray:
    """108 starts: ``L0 in {1, 2, 3}``, ``log A in {-2, -1, 0, 1}``, ``alpha in {0.2, 0.5, 1}``,
    ``log C in {-4, -2, 0}``."""
    return product_grid(l0=np.log([1.0, 2.0, 3.0]), a=np.array([-2.0, -1.0, 0.0, 1.0]),
                        alpha=np.array([0.2, 0.5, 1.0]), c=np.array([-4.0, -2.0, 0.0]))


def forward_momentum_grid() -> np.ndarray:
    """972 starts: ``L0 in {1, 2, 3}``, ``log A in {-2, 0, 2}``, ``log B in {0, 5, 10}``,
    ``alpha_S in {0.2, 0.5, 1}``, ``alpha_N in {0.2, 0.4, 0.7}``, ``log C in {-6, -4, -2, 0}``."""
    return product_grid(l0=np.log([1.0, 2.0, 3.0]), a=np.array([-2.0, 0.0, 2.0]), b=np.array([0.0, 5.0, 10.0]),
                        alpha_S=np.array([0.2, 0.5, 1.0]), alpha_N=np.array([0.2, 0.4, 0.7]),
                        c=np.array([-6.0, -4.0, -2.0, 0.0]))


LR_ANNEALING = Law(
    name="lr_annealing",
    inputs=("S1", "S2"),
    param_names=("l0", "a", "alpha", "c"),
    natural_names=("L0", "A", "alpha", "C"),
    log_predict=lr_annealing_log_predict,
    log_scale=(True, True, False, True),
    grid=lr_annealing_grid,
    input_scale=("log", "raw"),
    description="L(s) = L0 + A * S1^-alpha - C * S2: S1 the area under the LR curve, S2 the LR annealing area "
                "with momentum (Tissue et al. 2024)",
    example={"params": {"L0": 2.0, "A": 0.5, "alpha": 0.6, "C": 0.05},
             "inputs": {"S1": (0.5, 30.0), "S2": (0.0, 5.0)}},
)

FORWARD_MOMENTUM = Law(
    name="forward_momentum",
    inputs=("S1", "N", "M"),
    param_names=("l0", "a", "b", "alpha_S", "alpha_N", "c"),
    natural_names=("L0", "A", "B", "alpha_S", "alpha_N", "C"),
    log_predict=forward_momentum_log_predict,
    log_scale=(True, True, True, False, False, True),
    grid=forward_momentum_grid,
    input_scale=("log", "log", "raw"),
    description="L = L0 + A / S1^alpha_S + B / N^alpha_N - C * M: S1 the area under the LR curve, M the "
                "annealing momentum (Wang et al. 2026)",
    example={"params": {"L0": 1.8, "A": 0.6, "B": 300.0, "alpha_S": 0.5, "alpha_N": 0.34, "C": 0.002},
             "inputs": {"S1": (0.5, 30.0), "N": (1e7, 1e10), "M": (0.0, 50.0)}},
)
