"""Shared pieces of the lane solvers: status codes, per-lane outcome, stopping tests."""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

RUNNING, CONVERGED, FAILED, MAX_ITER = 0, 1, 2, 3
STATUS_NAMES = {RUNNING: "running", CONVERGED: "converged", FAILED: "failed", MAX_ITER: "max_iter"}


class Outcome(NamedTuple):
    """What a lane reports when it stops."""

    theta: jnp.ndarray  # (p,) final log-space parameters
    value: jnp.ndarray  # objective there
    converged: jnp.ndarray  # bool
    iterations: jnp.ndarray  # objective evaluations used
    grad_norm: jnp.ndarray  # max |g| at theta
    status: jnp.ndarray  # one of the codes above


def converged_on_change(decrease, value, moved, theta, ftol: float, xtol: float):
    r"""True when an accepted step was negligible in both ``f`` and ``theta``.

    .. math:: f_{old} - f_{new} \le \mathrm{ftol}\, |f_{new}| \;\wedge\;
              |\Delta\theta_j| \le \mathrm{xtol}\,(1 + |\theta_j|)\ \forall j
    """
    small_f = decrease <= ftol * jnp.abs(value)
    small_x = jnp.all(jnp.abs(moved) <= xtol * (1.0 + jnp.abs(theta)))
    return small_f & small_x
