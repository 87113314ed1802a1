r"""The lane-solver contract, written once.

A lane solver advances ONE fit by ONE objective evaluation per :meth:`LaneSolver.step`, so the
task queue (:mod:`.queue`) can run thousands of fits in lock-step and refill finished lanes.
Like optimistix's ``AbstractIterativeSolver`` (init / step / terminate, state as a pytree):

- ``init(theta0) -> state``: a pytree (NamedTuple) with at least the fields ``theta``, ``value``
  (``inf`` before the first evaluation), ``grad``, ``iterations`` and ``status``;
- ``step(state, law, loss, features, target, weights) -> state``: one evaluation, new status;
- :meth:`LaneSolver.outcome` and :meth:`LaneSolver.next_status` are shared, so every solver
  reports the same :class:`Outcome` and the same status codes (:data:`STATUS_MESSAGES`).
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax.numpy as jnp

from .common import CONVERGED, FAILED, MAX_ITER, PRUNED, RUNNING, Outcome

#: What each status means and what to do about it.
STATUS_MESSAGES = {
    RUNNING: "still running (only seen inside the solver loop)",
    CONVERGED: "converged: the stopping test (gradient, or negligible change in objective and parameters) was met",
    FAILED: "failed: the objective was not finite at the start or no step could lower it any more (numerical "
            "floor); check the data for extreme values and try other starts",
    MAX_ITER: "stopped at max_iter evaluations before converging: raise max_iter "
              "(e.g. solver=jaxscale.LevenbergMarquardt(max_iter=2000)) or start closer to the optimum",
    PRUNED: "pruned: screened for a few evaluations, then not continued because other starts of the same "
            "fit were lower (the pruned multi-start); its end point is where the screening stopped. Pass "
            "search=jaxscale.search.exhaustive() (prune=None) to run every start to convergence",
}


class LaneSolver:
    """Base class of every lane solver (see the module docstring for the contract).

    Subclasses are frozen dataclasses (hashable: the compiled kernel is cached by solver) that
    define ``max_iter``, ``name``, :meth:`init` and :meth:`step`.
    """

    name: str = "solver"
    max_iter: int = 400

    def init(self, theta0: jnp.ndarray) -> Any:  # pragma: no cover - abstract
        """The state of a lane about to start at ``theta0`` (p,), before any evaluation.

        Returns a NamedTuple pytree with at least ``theta`` (= ``theta0``), ``value`` (``inf``: not yet
        evaluated, which ``step`` reads as "first call"), ``grad`` (zeros), ``iterations`` (0) and
        ``status`` (``RUNNING``); every field has a fixed shape and dtype, so lanes stack and refill.
        """
        raise NotImplementedError(f"{type(self).__name__} must define init(theta0)")

    def step(self, state, law, loss, features, target, weights):  # pragma: no cover - abstract
        r"""Advance one lane by exactly ONE evaluation of :math:`f(\theta) = \sum_i w_i \rho(y_i - \hat z(\theta;
        x_i))` (value, gradient and, for Gauss-Newton solvers, :math:`J^\top W J`) and return the new state.

        The step evaluates the trial point the state holds, accepts or rejects it, prepares the next trial
        and sets ``status`` with :meth:`next_status` (so the queue can retire the lane and refill it). It is
        traced once and vmapped over lanes: no Python control flow on values, only ``jnp.where``.
        ``features[n, k]``, ``target[n]``, ``weights[n]`` are the lane's data in the law's fitting space.
        """
        raise NotImplementedError(f"{type(self).__name__} must define step(state, law, loss, features, target, "
                                  "weights)")

    def next_status(self, *, failed_start, converged, stalled, iterations) -> jnp.ndarray:
        """Shared stopping logic, in priority order: a non-finite start fails; a met tolerance
        converges; a stalled lane (no step lowers ``f``) fails; ``max_iter`` evaluations stop it."""
        return jnp.where(
            failed_start, FAILED,
            jnp.where(converged, CONVERGED,
                      jnp.where(stalled, FAILED,
                                jnp.where(iterations >= self.max_iter, MAX_ITER, RUNNING)))).astype(jnp.int32)

    def outcome(self, state) -> Outcome:
        """What a lane reports when it stops (the same for every solver)."""
        return Outcome(state.theta, state.value, state.status == CONVERGED, state.iterations,
                       jnp.max(jnp.abs(state.grad)), state.status)

    #: Numeric settings a compiled program takes as VALUES (see :meth:`program_parts`): every solver
    #: of a family that differs only in these shares one compiled program. Empty: every setting is static.
    traced_settings: ClassVar[tuple[str, ...]] = ()

    def program_parts(self) -> tuple["LaneSolver", dict]:
        """``(static, settings)``: the part of the solver a compiled program is keyed by, and the settings
        it takes as values (``dataclasses.replace(static, **settings)`` inside the trace rebuilds this
        solver). With :attr:`traced_settings` empty, ``(self, {})``.

        Lets ``lm``, ``lm-warm``, ``lm-exact`` and the polisher (Levenberg-Marquardt with other numbers)
        share one program per law, loss and shape instead of compiling one each.
        """
        if not self.traced_settings:
            return self, {}
        defaults = {f.name: f.default for f in dataclasses.fields(self) if f.name in self.traced_settings}
        static = dataclasses.replace(self, name="family", **defaults)
        return static, {name: getattr(self, name) for name in self.traced_settings}

    @property
    def options(self) -> dict:
        """The solver's settings (for recipes)."""
        return {k: v for k, v in vars(self).items() if k != "name"}


def status_message(code: int) -> str:
    """Human-readable meaning of a status code, with the fix where there is one."""
    return STATUS_MESSAGES.get(int(code), f"unknown status {code}")
