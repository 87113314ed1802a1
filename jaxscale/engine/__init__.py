"""Batching: start grids, task chunking, float64 context (resampling and sharding build on these)."""
from .batching import TaskResults, default_lanes, run_tasks
from .grids import chinchilla_grid, random_starts, resolve_starts
from .precision import float64

__all__ = ["TaskResults", "default_lanes", "run_tasks", "chinchilla_grid", "random_starts",
           "resolve_starts", "float64"]
