r"""BFGS with a backtracking (Armijo) line search flattened into single evaluations, one lane.

Each iteration evaluates one trial point :math:`\theta + t d`. If it satisfies
:math:`f(\theta + t d) \le f(\theta) + c_1 t\, g^\top d` it is accepted and the inverse
Hessian is updated with :math:`s = t d`, :math:`y = g_{new} - g` (skipped unless
:math:`s^\top y > 0`):

.. math:: H^{-1} \leftarrow (I - \rho s y^\top) H^{-1} (I - \rho y s^\top) + \rho s s^\top,
          \quad \rho = 1 / (y^\top s)

otherwise ``t`` shrinks by safeguarded quadratic interpolation. No nested line-search loop
exists, so lanes never wait for one another inside an iteration.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax.numpy as jnp

from .base import LaneSolver
from .common import RUNNING, armijo_backtrack, converged_on_change, finite_trial
from .objective import evaluate


class BFGSState(NamedTuple):
    """One BFGS lane: the accepted point and what the next trial ``theta + step_size * direction`` needs."""

    theta: jnp.ndarray  # accepted point (p,)
    value: jnp.ndarray  # f there (inf before the first evaluation)
    grad: jnp.ndarray  # gradient there (p,)
    inverse_hessian: jnp.ndarray  # BFGS approximation H_k of the inverse Hessian (p, p)
    direction: jnp.ndarray  # search direction -H_k g (p,)
    step_size: jnp.ndarray  # step along it (shrunk on each rejected trial)
    iterations: jnp.ndarray  # evaluations so far
    status: jnp.ndarray  # RUNNING / CONVERGED / FAILED / MAX_ITER


@dataclass(frozen=True)
class BFGS(LaneSolver):
    """Dense BFGS (the quasi-Newton path of Hoffmann/Epoch) with Armijo backtracking.

    Parameters
    ----------
    max_iter : int
        Evaluations per lane.
    gtol, ftol, xtol : float
        Stopping tests as in :class:`~jaxscale.kernels.solvers.LevenbergMarquardt`.
    armijo : float
        Sufficient-decrease constant :math:`c_1`.
    """

    max_iter: int = 2000
    gtol: float = 1e-12
    ftol: float = 1e-10
    xtol: float = 1e-7
    armijo: float = 1e-4
    name: str = "bfgs"

    def init(self, theta0: jnp.ndarray) -> BFGSState:
        """A lane at ``theta0`` with the identity as inverse Hessian, not yet evaluated (``value = inf``)."""
        p = theta0.shape[0]
        zero = jnp.zeros((), theta0.dtype)
        return BFGSState(theta0, jnp.full((), jnp.inf, theta0.dtype), jnp.zeros(p, theta0.dtype),
                         jnp.eye(p, dtype=theta0.dtype), jnp.zeros(p, theta0.dtype), zero,
                         jnp.zeros((), jnp.int32), jnp.full((), RUNNING, jnp.int32))

    def step(self, state: BFGSState, law, loss, log_x, log_y, weights) -> BFGSState:
        r"""Evaluate the trial point; accept it on Armijo's sufficient decrease (else shrink the step by a
        safeguarded quadratic interpolation, within :math:`[0.1 t, 0.5 t]`), update
        :math:`H_{k+1} = (I - \rho s y^\top) H_k (I - \rho y s^\top) + \rho s s^\top` with
        :math:`s = \theta_{k+1} - \theta_k`, :math:`y = g_{k+1} - g_k`, :math:`\rho = 1 / s^\top y` (the first
        update scales the identity by :math:`s^\top y / y^\top y`; skipped without positive curvature), and set
        the next direction :math:`-H_{k+1} g_{k+1}` (steepest descent if that is not a descent direction) and
        the status."""
        trial = state.theta + state.step_size * state.direction
        ev = evaluate(law, loss, trial, log_x, log_y, weights)
        fresh = jnp.isinf(state.value)
        finite = finite_trial(ev, trial)
        slope = state.grad @ state.direction
        sufficient, shrunk, tiny = armijo_backtrack(state.value, ev.value, slope, state.step_size, self.armijo,
                                                    state.direction, state.theta)
        accept = finite & (fresh | sufficient)

        s = trial - state.theta
        y = ev.grad - state.grad
        sy = s @ y
        p = s.shape[0]
        eye = jnp.eye(p, dtype=s.dtype)
        first_update = state.iterations <= 1
        scaled = jnp.where(first_update, sy / jnp.maximum(y @ y, 1e-300) * eye, state.inverse_hessian)
        rho = 1.0 / jnp.where(sy > 0, sy, 1.0)
        left = eye - rho * jnp.outer(s, y)
        updated = left @ scaled @ left.T + rho * jnp.outer(s, s)
        curvature_ok = ~fresh & (sy > 1e-12 * jnp.linalg.norm(s) * jnp.linalg.norm(y))
        inverse_hessian = jnp.where(accept & curvature_ok, updated, state.inverse_hessian)

        pick = lambda new, old: jnp.where(accept, new, old)  # noqa: E731
        theta = pick(trial, state.theta)
        value = pick(ev.value, state.value)
        grad = pick(ev.grad, state.grad)
        direction = -inverse_hessian @ grad
        not_descent = grad @ direction >= 0
        inverse_hessian = jnp.where(accept & not_descent, eye, inverse_hessian)
        direction = jnp.where(not_descent, -grad, direction)
        gnorm = jnp.max(jnp.abs(grad))
        first_step = jnp.minimum(1.0, 1.0 / jnp.maximum(gnorm, 1e-300))
        step_size = jnp.where(accept, jnp.where(fresh | not_descent, first_step, 1.0), shrunk)

        iterations = state.iterations + 1
        done_change = ~fresh & accept & converged_on_change(state.value - ev.value, ev.value, s,
                                                            state.theta, self.ftol, self.xtol)
        tiny_step = ~accept & tiny
        status = self.next_status(failed_start=fresh & ~finite, converged=(gnorm <= self.gtol) | done_change,
                                  stalled=tiny_step, iterations=iterations)
        return BFGSState(theta, value, grad, inverse_hessian, direction, step_size, iterations, status)

