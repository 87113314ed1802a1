"""Batched minimisers: each lane is one (weights row, start) task."""
from functools import partial

from .bfgs import BFGS
from .common import CONVERGED, FAILED, MAX_ITER, RUNNING, STATUS_NAMES, Outcome
from .levenberg_marquardt import LevenbergMarquardt
from .objective import Data, evaluate, objective_value
from .queue import solve_queue

#: ``"lm"``: IRLS curvature (robust from far starts, the grid default). ``"lm-exact"``: exact Huber
#: curvature from the first step: about 2.5x fewer iterations from a start already near the optimum
#: (a single published start, the full-data optimum), but from far grid starts it reaches other basins.
SOLVERS = {"lm": LevenbergMarquardt, "lm-exact": partial(LevenbergMarquardt, polish_tol=1.0, name="lm-exact"),
           "bfgs": BFGS}

__all__ = ["BFGS", "LevenbergMarquardt", "Data", "Outcome", "evaluate", "objective_value", "solve_queue",
           "SOLVERS", "STATUS_NAMES", "RUNNING", "CONVERGED", "FAILED", "MAX_ITER"]
