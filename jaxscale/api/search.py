"""How the optimum is searched: solver, starts, pruning, polishing (never what is estimated).

:func:`resolve_solver`, :func:`resolve_prune` and :func:`resample_strategy` turn the search options
of :func:`jaxscale.fit` and :func:`jaxscale.bootstrap` into solver objects, start arrays and pruning
settings, in one place for every driver.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.grids import resolve_starts, spread_grid
from ..engine.multistart import PRUNE_ITER, PRUNE_KEEP, WARM_SOLVER
from ..kernels.laws import Law
from ..kernels.solvers import SOLVERS, LaneSolver, LevenbergMarquardt
from .validation import check_int


def resolve_solver(solver) -> Any:
    """``None``/``"lm"`` -> Levenberg-Marquardt (default), ``"bfgs"`` -> BFGS, or a solver instance."""
    if solver is None:
        return LevenbergMarquardt()
    if isinstance(solver, str):
        try:
            return SOLVERS[solver]()
        except KeyError:
            raise ValueError(f"unknown solver {solver!r}; choose one of {sorted(SOLVERS)}") from None
    if not isinstance(solver, LaneSolver):
        raise ValueError(f"solver {solver!r} is not a jaxscale lane solver: subclass "
                         "jaxscale.kernels.solvers.LaneSolver (init/step) or name one of "
                         f"{sorted(SOLVERS)}")
    return solver


def resolve_prune(prune, prune_iter, n_starts: int) -> tuple[int | None, int]:
    """``prune`` ("auto", an int >= 1 or None) and ``prune_iter`` -> (starts kept or None, screening evaluations).

    ``"auto"`` keeps :data:`PRUNE_KEEP` when there are more starts than that, else runs all.
    """
    if isinstance(prune, str):
        if prune != "auto":
            raise ValueError(f"prune={prune!r}: use 'auto', a number of starts to keep (>= 1) or None (every start)")
        prune = PRUNE_KEEP if n_starts > PRUNE_KEEP else None
    else:
        prune = check_int("prune", prune, 1, optional=True)
        prune = prune if prune is not None and prune < n_starts else None
    prune_iter = check_int("prune_iter", PRUNE_ITER if prune_iter is None else prune_iter, 1)
    return prune, prune_iter


def resample_strategy(law: Law, starts, estimate: np.ndarray, n_subgrid: int, seed: int, prune, prune_iter,
                      solver_given, solver):
    """The starts, pruning and solver of every resample: ``(start_points, prune, prune_iter, solver)``.

    ``starts``: ``"best"`` (the full-data estimate), ``"subgrid"`` (it plus ``n_subgrid - 1`` spread
    grid starts), ``"grid"``/``"prune"`` (the law's grid; ``"prune"`` prunes even with ``prune=None``),
    an int or an array. ``estimate`` is ``(p,)``, or ``(G, p)`` for grouped bootstraps (each group
    from its own estimate: starts ``(G, S, p)``). One start per resample and no solver given: the
    warm-start solver (Newton steps once the set of points inside delta settles).
    """
    estimate = np.asarray(estimate, np.float64)
    if isinstance(starts, str) and starts == "best":
        start_points = estimate[..., None, :]
    elif isinstance(starts, str) and starts == "subgrid":
        spread = spread_grid(law, n_subgrid - 1)
        start_points = np.concatenate([estimate[..., None, :],
                                       np.broadcast_to(spread, estimate.shape[:-1] + spread.shape)], axis=-2)
    elif isinstance(starts, str):
        start_points = law.grid()
    else:
        start_points = resolve_starts(law, starts, seed)
    n_starts = start_points.shape[-2]
    prune, prune_iter = resolve_prune(PRUNE_KEEP if isinstance(starts, str) and starts == "prune" and prune is None
                                      else prune, prune_iter, n_starts)
    if solver_given is None and n_starts == 1:
        solver = WARM_SOLVER
    return start_points, prune, prune_iter, solver
