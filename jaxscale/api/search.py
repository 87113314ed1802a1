"""How the optimum is searched: :class:`Search` (solver, starts, pruning, polishing), never what is estimated.

``search=Search(starts=..., solver=..., prune=..., prune_iter=..., polish=..., n_subgrid=...)`` is taken by
:func:`jaxscale.fit`, :func:`jaxscale.bootstrap` and every decision helper. Presets, like optax's
``alias.py``, are small functions returning one:

- :func:`exhaustive`: every grid start run to convergence (no pruning): the reference search;
- :func:`warm`: one start per resample, the full-data optimum, with the warm-start solver (bootstraps);
- :func:`subgrid`: the full-data optimum plus ``k - 1`` grid starts spread evenly over the grid.

:func:`resolve_solver`, :func:`resolve_prune` and :func:`resample_strategy` turn a search into solver
objects, start arrays and pruning settings, in one place for every driver.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..engine.grids import resolve_starts, spread_grid
from ..engine.multistart import PRUNE_ITER, PRUNE_KEEP, WARM_SOLVER
from ..kernels.laws import Law
from ..kernels.solvers import SOLVERS, LaneSolver, LevenbergMarquardt
from .options import as_option
from .validation import check_int

__all__ = ["Search", "as_search", "exhaustive", "warm", "subgrid", "resolve_solver", "resolve_prune",
           "resample_strategy"]

#: Default ``polish`` of a fit (its best end points refined) and of each bootstrap resample.
FIT_POLISH = 8
RESAMPLE_POLISH = 1

#: Per-resample starts of a bootstrap when ``Search(starts=None)``: the full-data optimum plus spread grid starts,
#: as the CLI does (issue 18: it matched the full 4500-start grid on 100 of 100 resamples of 35 runs in 14-24 s where
#: the grid took ~57 min on a small CPU; benchmarks/bench_bootstrap.py measures the agreement).
BOOTSTRAP_STARTS = "subgrid"

#: Named start strategies (``"best"``, ``"subgrid"`` and ``"prune"`` mean something only per resample).
START_NAMES = ("grid", "best", "prune", "subgrid")


@dataclass(frozen=True, kw_only=True, eq=False)
class Search:
    """How the optimum is searched. Never changes what is estimated, only how reliably and how fast it is found.

    Parameters
    ----------
    starts : None, "grid", "best", "subgrid", "prune", int or array (K, p)
        ``None``/``"grid"``: the law's grid; an int: that many seeded random starts; an array: those starts.
        Per bootstrap resample also ``"best"`` (the full-data optimum) and ``"subgrid"``.
    solver : None, str or LaneSolver
        A registered solver name (:data:`jaxscale.kernels.solvers.SOLVERS`) or an instance; ``None``:
        Levenberg-Marquardt (``"lm-warm"`` for one start per resample).
    prune : "auto", int or None
        Starts continued after ``prune_iter`` screening evaluations (``"auto"``: 64 when there are more;
        ``None``: every start to convergence).
    prune_iter : int, optional
        Screening evaluations per start (default 20).
    polish : int, optional
        End points refined with the exact Huber curvature (default 8 for a fit, 1 per bootstrap resample).
    n_subgrid : int
        Starts of ``starts="subgrid"`` (>= 2).

    Examples
    --------
    >>> Search(starts=8, prune=None).starts
    8
    """

    starts: Any = None
    solver: Any = None
    prune: int | str | None = "auto"
    prune_iter: int | None = None
    polish: int | None = None
    n_subgrid: int = 16

    def __post_init__(self):
        starts = self.starts
        if isinstance(starts, str) and starts not in START_NAMES:
            raise ValueError(f"starts={starts!r}: use {', '.join(map(repr, START_NAMES))}, an int or an array")
        if isinstance(starts, bool) or (not isinstance(starts, str) and starts is not None and np.ndim(starts) == 0
                                        and not isinstance(starts, (int, np.integer))):
            raise ValueError(f"starts={starts!r}: use None, a name ({', '.join(map(repr, START_NAMES))}), a number "
                             "of random starts or an array of starts")
        if self.solver is not None:
            resolve_solver(self.solver)  # unknown names and non-solvers are refused here, once
        if not (isinstance(self.prune, str) and self.prune == "auto"):
            if isinstance(self.prune, str):
                raise ValueError(f"prune={self.prune!r}: use 'auto', a number of starts to keep (>= 1) or None "
                                 "(every start)")
            object.__setattr__(self, "prune", check_int("prune", self.prune, 1, optional=True))
        object.__setattr__(self, "prune_iter", check_int("prune_iter", self.prune_iter, 1, optional=True))
        object.__setattr__(self, "polish", None if self.polish is None else check_int("polish", self.polish, 0))
        object.__setattr__(self, "n_subgrid", check_int("n_subgrid", self.n_subgrid, 2))

    def __repr__(self) -> str:
        starts = "array" if self.starts is not None and not isinstance(self.starts, (str, int)) else self.starts
        return (f"Search(starts={starts!r}, solver={getattr(self.solver, 'name', self.solver)!r}, prune={self.prune!r}, "
                f"prune_iter={self.prune_iter!r}, polish={self.polish!r}, n_subgrid={self.n_subgrid!r})")

    def replace(self, **changes) -> "Search":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def polish_or(self, default: int) -> int:
        """``polish``, or the driver's default when not set."""
        return default if self.polish is None else self.polish


def as_search(search) -> Search:
    """``None`` -> ``Search()``; a dict -> ``Search(**dict)``; a :class:`Search` as is."""
    return as_option(search, Search, "js.search.exhaustive()")


def exhaustive(solver=None, polish: int | None = None) -> Search:
    """Every start of the law's grid run to convergence (no pruning): the reference search."""
    return Search(starts="grid", prune=None, solver=solver, polish=polish)


def warm(solver=None) -> Search:
    """One start per resample, the full-data optimum; the warm-start solver unless one is given."""
    return Search(starts="best", solver=solver)


def subgrid(k: int = 16, solver=None) -> Search:
    """The full-data optimum plus ``k - 1`` grid starts spread evenly over the grid, per resample."""
    return Search(starts="subgrid", n_subgrid=k, solver=solver)


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
