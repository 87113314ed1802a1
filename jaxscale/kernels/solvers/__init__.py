"""Batched minimisers: each lane is one (weights row, start) task.

The contract every solver follows is :class:`~.base.LaneSolver`; add a solver in one file and
register it with :func:`register_solver` (the registry tests pick it up).
"""
from functools import partial
from importlib.util import find_spec

from .base import STATUS_MESSAGES, LaneSolver, status_message
from .bfgs import BFGS
from .common import CONVERGED, FAILED, MAX_ITER, PRUNED, RUNNING, STATUS_NAMES, Outcome
from .levenberg_marquardt import LevenbergMarquardt
from .objective import Data, evaluate, objective_value
from .optax_adapter import OptaxSolver, optax_lbfgs
from .queue import queue_loop, solve_queue

#: Solver factories by name. ``"lm"``: Levenberg-Marquardt on the IRLS model (robust from far starts,
#: the grid default), polished with the exact Huber curvature once its standard test is met.
#: ``"lm-warm"``: switches to the exact curvature as soon as the set of points inside delta stays put
#: for a step: far fewer evaluations from a start near the optimum (a bootstrap resample started at the
#: full-data optimum), the default for single-start bootstraps. ``"lm-exact"``: exact curvature from
#: the first accepted step. ``"lm-irls"``: the IRLS model only, stopped by the standard test (the
#: reference exhaustive grid). ``"bfgs"``: the quasi-Newton path of the reference procedure.
#: ``"optax-lbfgs"``: optax's L-BFGS direction with a flattened Armijo search (:class:`OptaxSolver`; any
#: other optax transformation runs the same way, e.g. ``OptaxSolver(optax.adam(1e-2))``, but first-order
#: methods do not reach these tolerances: see benchmarks/results/bench_solvers_cpu.json).
SOLVERS = {"lm": LevenbergMarquardt,
           "lm-warm": partial(LevenbergMarquardt, settle_steps=1, initial_damping=1e-9, name="lm-warm"),
           "lm-exact": partial(LevenbergMarquardt, polish_tol=1.0, name="lm-exact"),
           "lm-irls": partial(LevenbergMarquardt, polish_after=False, settle_steps=0, name="lm-irls"),
           "bfgs": BFGS}
if find_spec("optax") is not None:  # optax is imported only when an OptaxSolver is built
    SOLVERS["optax-lbfgs"] = optax_lbfgs


def register_solver(name: str, factory, *, replace: bool = False):
    """Make ``factory()`` (a :class:`LaneSolver`) available as ``solver=name``."""
    if name in SOLVERS and not replace:
        raise ValueError(f"a solver named {name!r} is already registered; pass replace=True to override it")
    SOLVERS[name] = factory
    return factory


__all__ = ["BFGS", "LevenbergMarquardt", "OptaxSolver", "LaneSolver", "Data", "Outcome", "evaluate", "objective_value",
           "solve_queue", "queue_loop", "SOLVERS", "STATUS_NAMES", "STATUS_MESSAGES", "status_message", "register_solver",
           "RUNNING", "CONVERGED", "FAILED", "MAX_ITER", "PRUNED"]
