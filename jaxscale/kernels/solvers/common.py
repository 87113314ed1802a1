"""Shared pieces of the lane solvers: status codes, per-lane outcome, stopping tests."""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

RUNNING, CONVERGED, FAILED, MAX_ITER = 0, 1, 2, 3
#: Set by a multi-start strategy (never by a solver): screened for a few evaluations, then not continued.
PRUNED = 4
STATUS_NAMES = {RUNNING: "running", CONVERGED: "converged", FAILED: "failed", MAX_ITER: "max_iter",
                PRUNED: "pruned"}


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


def armijo_backtrack(value, trial_value, slope, step_size, armijo: float, direction, theta):
    r"""Flattened backtracking line search: one trial per call, no nested loop.

    The trial :math:`\theta + t d` passes when :math:`f(\theta + t d) \le f(\theta) + c_1 t\, g^\top d`.
    Otherwise ``t`` shrinks to the minimiser of the quadratic through :math:`f(\theta)`,
    :math:`g^\top d` and :math:`f(\theta + t d)`, kept within :math:`[0.1 t, 0.5 t]`.

    Returns
    -------
    sufficient : bool
        The Armijo test.
    shrunk : float
        The next step length if the trial is rejected.
    tiny : bool
        The shrunk step moves no parameter by more than ``1e-15 (1 + max |theta|)``: no step
        along ``d`` can lower ``f`` any more (numerical floor).
    """
    t = step_size
    sufficient = trial_value <= value + armijo * t * slope
    curv = trial_value - value - slope * t
    t_interp = -slope * t * t / (2.0 * jnp.where(curv > 0, curv, 1.0))
    t_interp = jnp.where((curv > 0) & jnp.isfinite(t_interp), t_interp, 0.5 * t)
    shrunk = jnp.clip(t_interp, 0.1 * t, 0.5 * t)
    tiny = jnp.max(jnp.abs(shrunk * direction)) <= 1e-15 * (1.0 + jnp.max(jnp.abs(theta)))
    return sufficient, shrunk, tiny


def spd_solve(matrix, rhs):
    r"""Solve :math:`M x = b` for a small symmetric positive definite ``M`` (one lane).

    Cholesky :math:`M = L L^\top` unrolled over the (static, small) dimension: under ``vmap``
    every operation is an elementwise op across lanes, much cheaper than a batched LAPACK
    call for 5 x 5 systems. A non-positive pivot yields NaN, which the solvers treat as a
    failed step.
    """
    p = rhs.shape[0]
    lower = [[None] * p for _ in range(p)]
    for j in range(p):
        diag = matrix[j, j] - sum(lower[j][k] * lower[j][k] for k in range(j))
        lower[j][j] = jnp.sqrt(jnp.where(diag > 0, diag, jnp.nan))
        for i in range(j + 1, p):
            lower[i][j] = (matrix[i, j] - sum(lower[i][k] * lower[j][k] for k in range(j))) / lower[j][j]
    forward = []
    for i in range(p):
        forward.append((rhs[i] - sum(lower[i][k] * forward[k] for k in range(i))) / lower[i][i])
    solution = [None] * p
    for i in reversed(range(p)):
        solution[i] = (forward[i] - sum(lower[k][i] * solution[k] for k in range(i + 1, p))) / lower[i][i]
    return jnp.stack(solution)


def finite_trial(ev, trial: jnp.ndarray) -> jnp.ndarray:
    """Whether a trial point may be accepted: objective, gradient and the point itself all finite
    (a non-finite point fails even where the law saturates to a finite value there)."""
    return jnp.isfinite(ev.value) & jnp.all(jnp.isfinite(ev.grad)) & jnp.all(jnp.isfinite(trial))
