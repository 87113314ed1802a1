"""Batching: start grids, task chunking and sharding, resampling, chunk scheduling on executors, float64 context."""
from .batching import TaskResults, default_lanes, run_tasks
from .grids import chinchilla_grid, random_starts, resolve_starts
from .precision import float64
from .scheduler import RowsJob, RowsResult, run_chunk, run_rows

__all__ = ["TaskResults", "default_lanes", "run_tasks", "chinchilla_grid", "random_starts",
           "resolve_starts", "float64", "RowsJob", "RowsResult", "run_chunk", "run_rows"]
