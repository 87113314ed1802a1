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

Two curvature models share the loop. The IRLS weight :math:`c(r) = \psi(r)/r` majorises Huber,
so from far starts every step is safe but convergence is linear; the exact weight
:math:`\rho''(r)` (1 inside delta, 0 outside) makes LM a damped Newton method that converges in a
few steps once the set of points inside delta has settled. A lane starts on the IRLS model and
switches to the exact one (restarting the damping) on any of these events:

- ``polish_tol``: an accepted step lowered ``f`` by less than ``polish_tol * f``;
- ``settle_steps``: that many consecutive accepted steps left the set of points inside delta
  unchanged (and it carries at least ``p`` points' weight);
- ``polish_after``: the standard stopping test (``ftol``, ``xtol``) was met; the lane then
  polishes instead of stopping and stops when the Newton decrement of its next step is below
  ``polish_ftol * f`` (nothing left to gain above rounding), or at the floating-point floor.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp

from .base import LaneSolver
from .common import RUNNING, converged_on_change, finite_trial, spd_solve
from .objective import evaluate


class LMState(NamedTuple):
    """One Levenberg-Marquardt lane: the accepted point, its model, and the trial evaluated next."""

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
    inside: jnp.ndarray  # sum_i w_i rho''(r_i) at theta (points inside delta)
    pattern: jnp.ndarray  # signature of that set at theta (see objective.evaluate)
    settled: jnp.ndarray  # consecutive accepted steps that left the set unchanged
    met: jnp.ndarray  # bool: the standard stopping test (ftol, xtol) has been met


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
        The standard test: an accepted step lowered ``f`` by at most ``ftol * f`` and moved
        every parameter by at most ``xtol * (1 + |theta|)``. It stops the lane, or with
        ``polish_after`` starts its polish.
    initial_damping : float
        ``lambda_0 = initial_damping * max(diag H)`` at the start point.
    min_damping : float
        Floor of ``lambda`` (keeps recovery from a rejected step short).
    polish_tol : float
        Once an accepted step lowers ``f`` by less than ``polish_tol * f``, the lane switches
        from the IRLS majoriser (robust, linearly convergent) to the exact curvature
        ``rho''`` (fast once the points inside delta have settled). ``0`` never switches on this
        test; ``1`` switches after the first accepted step.
    settle_steps : int
        Switch to the exact curvature once ``settle_steps`` consecutive accepted steps left the
        set of points with ``rho'' > 0`` (inside delta for Huber) unchanged, and that set has at
        least as much weight as there are parameters (so the exact Gauss-Newton matrix can be
        regular). Cheap from a start near the optimum (``1``: a warm start); from far starts an
        early switch can settle in a worse stationary point, so the default (50) only ends IRLS
        crawls (few points inside delta: IRLS converges linearly with a rate near 1 there). ``0``
        never switches on this test.
    polish_after : bool
        Meeting the standard test switches to the exact curvature instead of stopping; the lane
        then stops (converged) when the predicted decrease of its next step is at most
        ``polish_ftol * f``, when the standard test holds with ``polish_ftol`` and
        ``polish_xtol``, or when no step lowers ``f`` any more (the floating-point floor).
    polish_ftol, polish_xtol : float
        Tolerances of the polish (with ``polish_after``).
    """

    max_iter: int = 400
    gtol: float = 1e-12
    ftol: float = 1e-9
    xtol: float = 1e-6
    initial_damping: float = 1e-3
    min_damping: float = 0.0
    polish_tol: float = 0.0
    settle_steps: int = 50
    polish_after: bool = True
    polish_ftol: float = 1e-15
    polish_xtol: float = 1e-12
    name: str = "lm"

    #: Every setting is a value of the compiled program: all Levenberg-Marquardt variants share it.
    traced_settings = ("max_iter", "gtol", "ftol", "xtol", "initial_damping", "min_damping", "polish_tol",
                       "settle_steps", "polish_after", "polish_ftol", "polish_xtol")

    def init(self, theta0: jnp.ndarray) -> LMState:
        """A lane whose first trial is ``theta0`` itself (``value = inf``: the first step only evaluates it and
        sets the initial damping from the Gauss-Newton diagonal)."""
        p = theta0.shape[0]
        zero = jnp.zeros((), theta0.dtype)
        false = jnp.zeros((), bool)
        return LMState(theta0, jnp.full((), jnp.inf, theta0.dtype), jnp.zeros(p, theta0.dtype),
                       jnp.zeros((p, p), theta0.dtype), theta0, zero, zero, 2.0 + zero,
                       jnp.zeros((), jnp.int32), jnp.full((), RUNNING, jnp.int32), false,
                       zero, zero, jnp.zeros((), jnp.int32), false)

    def step(self, state: LMState, law, loss, log_x, log_y, weights) -> LMState:
        r"""Evaluate the trial point; accept it if it lowers :math:`f` (gain ratio against the model's
        predicted decrease sets the damping, Nielsen's rule), then solve
        :math:`(H_{GN} + \lambda I)\,\delta = -g` at the accepted point for the next trial. :math:`H_{GN}` is the
        IRLS model of the robust loss until the lane's standard test is met (or the set of points inside
        delta has settled, for ``lm-warm``), then the exact curvature (polishing)."""
        ev = evaluate(law, loss, state.trial, log_x, log_y, weights, state.polish)
        fresh = jnp.isinf(state.value)
        finite = finite_trial(ev, state.trial)
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
        p = theta.shape[0]

        # the standard test on this step (an accepted, not the first, evaluation)
        moved = state.trial - state.theta
        standard = ~fresh & accept & converged_on_change(decrease, ev.value, moved, state.theta,
                                                         self.ftol, self.xtol)
        met = state.met | standard
        # switching to the exact curvature (see the module docstring)
        same_set = ~fresh & (ev.inside == state.inside) & (ev.pattern == state.pattern) & (ev.inside >= p)
        settled = jnp.where(accept, jnp.where(same_set, state.settled + 1, 0), state.settled)
        early = state.polish | (~fresh & accept & (decrease <= self.polish_tol * ev.value))
        # entering the exact-curvature phase on the polish_tol test (possibly far from a minimum):
        # restart the damping so the first steps stay local
        damping = jnp.where(early & ~state.polish, start_damping, damping)
        polish = early
        # the settle and standard tests fire near a minimum: keep the damping, take Newton steps
        # (settings may be traced values: no Python branches on them)
        polish = polish | ((self.settle_steps > 0) & (settled >= self.settle_steps)) | (self.polish_after & met)
        damped = gauss_newton + jnp.maximum(damping, 1e-300) * jnp.eye(p, dtype=theta.dtype)
        step = -spd_solve(damped, grad)
        predicted = -(grad @ step) - 0.5 * step @ gauss_newton @ step
        iterations = state.iterations + 1

        small_grad = jnp.max(jnp.abs(grad)) <= self.gtol
        # lambda overflow: no step of any length lowers f any more (numerical floor)
        stalled = ~jnp.isfinite(damping) | (damping > 1e30) | ~jnp.all(jnp.isfinite(step))
        # with polish_after: polished (the exact model predicts nothing left above rounding, or the tight
        # test holds); without: the standard test
        polished = state.polish & accept & (
            (predicted <= self.polish_ftol * jnp.abs(value))
            | converged_on_change(decrease, ev.value, moved, state.theta, self.polish_ftol, self.polish_xtol))
        converged = small_grad | jnp.where(self.polish_after, polished | (stalled & met), standard)
        status = self.next_status(failed_start=fresh & ~finite, converged=converged,
                                  stalled=stalled, iterations=iterations)
        return LMState(theta, value, grad, gauss_newton, theta + step, predicted, damping, nu,
                       iterations, status, polish, pick(ev.inside, state.inside),
                       pick(ev.pattern, state.pattern), settled, met)
