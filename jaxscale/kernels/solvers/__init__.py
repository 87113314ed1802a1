"""Batched minimisers: each lane is one (weights row, start) task."""
from .bfgs import BFGS
from .common import CONVERGED, FAILED, MAX_ITER, RUNNING, STATUS_NAMES, Outcome
from .levenberg_marquardt import LevenbergMarquardt
from .objective import Data, evaluate, objective_value
from .queue import solve_queue

SOLVERS = {"lm": LevenbergMarquardt, "bfgs": BFGS}

__all__ = ["BFGS", "LevenbergMarquardt", "Data", "Outcome", "evaluate", "objective_value", "solve_queue",
           "SOLVERS", "STATUS_NAMES", "RUNNING", "CONVERGED", "FAILED", "MAX_ITER"]
