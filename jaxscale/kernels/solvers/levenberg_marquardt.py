r"""Levenberg-Marquardt on the IRLS (Gauss-Newton) model of a robust loss, one lane.

Each iteration evaluates exactly one point (the trial), so lanes advance in lock-step without
nested loops. With :math:`H` the Gauss-Newton matrix, :math:`g` the gradient and identity
damping :math:`\lambda`:

.. math::
    p = -(H + \lambda I)^{-1} g, \qquad
    \varrho = \frac{f(\theta) - f(\theta + p)}{-g^\top p - \tfrac12 p^\top H p}

The trial is accepted when it lowers ``f``; ``lambda`` follows Nielsen's rule
(:math:`\lambda \leftarrow \lambda \max(1/3, 1 - (2\varrho - 1)^3)` on success,
:math:`\lambda \leftarrow \lambda\nu,\ \nu \leftarrow 2\nu` on failure).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp

from .base import LaneSolver
from .common import RUNNING, converged_on_change, spd_solve
from .objective import evaluate


class LMState(NamedTuple):
    theta: jnp.ndarray  # accepted point (p,)
    value: jnp.ndarray  # f there (inf before the first evaluation)
    grad: jnp.ndarray  # (p,)
    gauss_newton: jnp.ndarray  # (p, p)
    trial: jnp.ndarray  # point evaluated next (p,)
    predicted: jnp.ndarray  # predicted decrease of the trial step
    damping: jnp.ndarray  # lambda
    nu: jnp.ndarray
    iterations: jnp.ndarray  # evaluations so far
    status: jnp.ndarray  # RUNNING / CONVERGED / FAILED / MAX_ITER
    polish: jnp.ndarray  # bool: exact curvature rho'' instead of the IRLS majoriser


@dataclass(frozen=True)
class LevenbergMarquardt(LaneSolver):
    """Levenberg-Marquardt with identity damping on the IRLS Gauss-Newton model.

    Parameters
    ----------
    max_iter : int
        Evaluations per lane before it stops with ``converged=False``.
    gtol : float
        Stop when ``max |g| <= gtol``.
    ftol, xtol : float
        Stop when an accepted step lowers ``f`` by at most ``ftol * f`` and moves every
        parameter by at most ``xtol * (1 + |theta|)``.
    initial_damping : float
        ``lambda_0 = initial_damping * max(diag H)`` at the start point.
    min_damping : float
        Floor of ``lambda`` (keeps recovery from a rejected step short).
    polish_tol : float
        Once an accepted step lowers ``f`` by less than ``polish_tol * f``, the lane switches
        from the IRLS majoriser (robust, linearly convergent) to the exact curvature
        ``rho''`` (fast once the points inside delta have settled). ``0`` never switches.
    """

    max_iter: int = 400
    gtol: float = 1e-12
    ftol: float = 1e-9
    xtol: float = 1e-6
    initial_damping: float = 1e-3
    min_damping: float = 0.0
    polish_tol: float = 0.0
    name: str = "lm"

    def init(self, theta0: jnp.ndarray) -> LMState:
        p = theta0.shape[0]
        zero = jnp.zeros((), theta0.dtype)
        return LMState(theta0, jnp.full((), jnp.inf, theta0.dtype), jnp.zeros(p, theta0.dtype),
                       jnp.zeros((p, p), theta0.dtype), theta0, zero, zero, 2.0 + zero,
                       jnp.zeros((), jnp.int32), jnp.full((), RUNNING, jnp.int32), jnp.zeros((), bool))

    def step(self, state: LMState, law, loss, log_x, log_y, weights) -> LMState:
        ev = evaluate(law, loss, state.trial, log_x, log_y, weights, state.polish)
        fresh = jnp.isinf(state.value)
        # a non-finite point fails even where the law saturates to a finite value there
        finite = jnp.isfinite(ev.value) & jnp.all(jnp.isfinite(ev.grad)) & jnp.all(jnp.isfinite(state.trial))
        accept = finite & (fresh | (ev.value < state.value))
        decrease = state.value - ev.value
        gain = decrease / jnp.maximum(state.predicted, 1e-300)
        start_damping = self.initial_damping * jnp.max(jnp.diagonal(ev.gauss_newton))
        damping = jnp.where(
            fresh, start_damping,
            jnp.where(accept, state.damping * jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * gain - 1.0) ** 3),
                      state.damping * state.nu))
        damping = jnp.maximum(damping, self.min_damping)
        nu = jnp.where(accept, 2.0, state.nu * 2.0)
        pick = lambda new, old: jnp.where(accept, new, old)  # noqa: E731
        theta = pick(state.trial, state.theta)
        value = pick(ev.value, state.value)
        grad = pick(ev.grad, state.grad)
        gauss_newton = pick(ev.gauss_newton, state.gauss_newton)

        polish = state.polish | (~fresh & accept & (decrease <= self.polish_tol * ev.value))
        # entering the exact-curvature phase: restart the damping so the first steps stay local
        damping = jnp.where(polish & ~state.polish, start_damping, damping)
        p = theta.shape[0]
        damped = gauss_newton + jnp.maximum(damping, 1e-300) * jnp.eye(p, dtype=theta.dtype)
        step = -spd_solve(damped, grad)
        predicted = -(grad @ step) - 0.5 * step @ gauss_newton @ step
        iterations = state.iterations + 1

        moved = state.trial - state.theta
        done_change = ~fresh & accept & converged_on_change(decrease, ev.value, moved, state.theta,
                                                            self.ftol, self.xtol)
        small_grad = jnp.max(jnp.abs(grad)) <= self.gtol
        # lambda overflow: no step of any length lowers f any more (numerical floor)
        stalled = ~jnp.isfinite(damping) | (damping > 1e30) | ~jnp.all(jnp.isfinite(step))
        status = self.next_status(failed_start=fresh & ~finite, converged=small_grad | done_change,
                                  stalled=stalled, iterations=iterations)
        return LMState(theta, value, grad, gauss_newton, theta + step, predicted, damping, nu,
                       iterations, status, polish)

