"""``jaxscale.fit``: multi-start robust fits of a scaling law, with a pandas-friendly result."""
from __future__ import annotations

import warnings
from typing import Mapping

import numpy as np

from ..engine import resolve_starts
from ..engine.multistart import best_of_starts
from ..kernels.laws import Law
from ..kernels.losses import Loss
from .groups import fit_groups
from .migration import legacy_options
from .options import Columns, Runner, as_columns, as_runner
from .reach import data_span
from .problem import (Problem, check_compute, input_arrays, input_columns, predict_inputs, prepare, recipe,
                      resolve_law, row_weights, tokens_from_compute)
from .results.fit import (VANISHING_LOG, FitResult, _starts_frame, absurd_points, load_fit, vanishing,
                          vanishing_params)
from .search import FIT_POLISH, Search, as_search, resolve_prune, resolve_solver
from .validation import check_memory, check_seed, identifiability_problem

__all__ = ["fit", "FitResult", "load_fit"]  # the rest is re-exported for code written before the split


@legacy_options(("starts", "loss", "delta", "solver", "n", "d", "y"))
def fit(data, law: str | Law = "chinchilla", *, loss: str | Loss = "huber", delta: float = 1e-3,
        fixed: Mapping[str, float] | None = None, tied: Mapping[str, str] | None = None, weights=None, by=None,
        seed: int = 0, columns: Columns | Mapping[str, str] | None = None, search: Search | None = None,
        runner: Runner | None = None):
    r"""Fit a scaling law by minimising a robust loss on log-loss residuals from many starts.

    .. math::
        \hat\theta = \arg\min_\theta \sum_i w_i\, \mathrm{Huber}_\delta\big(\log L_i - \log\hat L(\theta; N_i, D_i)\big)

    with :math:`\log\hat L = \mathrm{LSE}(a - \alpha\log N, b - \beta\log D, e)` for
    ``law="chinchilla"`` (Hoffmann et al. 2022, Approach 3; Epoch AI 2024).

    Parameters
    ----------
    data : DataFrame or dict of arrays
        One row per training run.
    law : str or Law
        A registered law (:data:`jaxscale.LAWS`: ``"chinchilla"`` (default), ``"kaplan"``,
        ``"data_constrained"``, ``"power_law"``, ``"pure_power_law"``, ``"broken_power_law"``,
        ``"sigmoid"``) or a :class:`~jaxscale.Law`.
    loss : {"huber", "squared"} or Loss
    delta : float
        Huber threshold (1e-3 as Hoffmann/Epoch).
    fixed : dict, optional
        Parameters held at a value, e.g. ``{"alpha": 0.5}`` (natural names take natural values;
        fitted names such as ``"a"`` take fitted-space values). Reported in ``params``, flagged in
        ``summary()``.
    tied : dict, optional
        Parameters equal to another, e.g. ``{"beta": "alpha"}``.
    weights : array or Series (n_rows,), optional
        Per-row weights >= 0 (resample counts, masks). A Series is matched by index label.
        The rows with weight > 0 must identify the law: more distinct input points than free
        parameters and at least two values of every input, else a ValueError (a fit through
        ``p`` points is an exact interpolation with objective ~0 that reports ``converged``).
    by : str or list of str, optional
        Fit one law per group of rows sharing these columns' values, all groups as lanes of one
        compiled run; returns a :class:`~jaxscale.GroupedFitResult`.
    seed : int
        Seed for random starts, an integer in ``[0, 2**32 - 1]``.
    columns : Columns or dict, optional
        Where the data's columns are: ``js.Columns(inputs={"N": "params"}, y="loss", compute=None)``
        or a dict (``{"N": "params"}``, or ``{"inputs": ..., "y": ..., "compute": ...}``). An input
        without an entry is read from the column of its own name (``N``, ``D``, ``U``, ``x`` ...).
        ``compute``: a training-compute column (FLOP) from which the tokens input is derived as
        :math:`D = C / (6N)` (Epoch's Chinchilla CSV: ``Columns(inputs={"N": "Model Size"},
        compute="Training FLOP")``).
    search : Search, optional
        How the optimum is searched (:class:`~jaxscale.Search`; never what is estimated):
        ``starts`` (``None``: the law's grid, 4500 starts for Chinchilla; an int: seeded random
        starts; an array ``(K, p)`` in the law's log-space order), ``solver`` (``"lm"`` by default:
        Levenberg-Marquardt on the IRLS model, polished with the exact Huber curvature; ``"bfgs"``,
        ``"lm-exact"``, ``"lm-irls"``, ``"optax-lbfgs"`` ... or an instance), ``prune``/``prune_iter``
        (pruned multi-start: every start screened for ``prune_iter`` (20) evaluations, the ``prune``
        (64) lowest continued to convergence, the others reported ``"pruned"``; ``prune=None`` runs
        every start; measured to reach the exhaustive optimum, ``benchmarks/bench_strategy.py``),
        ``polish`` (default 8: end points refined with the exact Huber curvature when the solver does
        not polish its lanes or the best lane did not converge). Presets: ``js.search.exhaustive()``.
    runner : Runner, optional
        Where the lanes run (:class:`~jaxscale.Runner`; never changes a bit of the result):
        ``n_lanes``, ``chunk_size``, ``devices``; with ``by=`` also ``executor``, ``checkpoint``,
        ``progress``, ``retries`` (the groups run as a chunked job exactly like
        :func:`jaxscale.bootstrap`'s resamples).

    Notes
    -----
    The former keywords (``starts, solver, polish, prune, prune_iter, n, d, y, x, c, n_lanes,
    chunk_size, devices, executor, checkpoint, progress, retries``) still work for one minor release,
    with a ``DeprecationWarning`` naming the new spelling.

    Returns
    -------
    FitResult
    """
    columns, search, runner = as_columns(columns), as_search(search), as_runner(runner)
    seed = check_seed(seed)
    if by is not None:
        if weights is not None:
            raise ValueError("weights= and by= cannot be combined; mask rows before grouping")
        return fit_groups(data, by, law=law, loss=loss, delta=delta, fixed=fixed, tied=tied, seed=seed,
                          columns=columns, search=search, runner=runner)
    if runner.executor is not None or runner.checkpoint is not None:
        raise ValueError("executor= and checkpoint= split many fits into chunks: use them with by= (one fit per "
                         "group) or with js.bootstrap; a single fit runs here in one call")
    problem = prepare(data, law, loss, delta, columns=columns, solver=search.solver, fixed=fixed, tied=tied)
    w = row_weights(weights, len(problem.frame), problem.frame.index)
    unidentified = identifiability_problem(problem.law, problem.log_x, w, problem.names) if weights is not None \
        else None
    if unidentified:
        raise ValueError(f"weights: {unidentified}. Give weight to more runs")
    result = fit_problem(problem, w, seed, search, runner)
    warn_untrusted(result, stacklevel=4)
    return result


def warn_untrusted(result: FitResult, stacklevel: int = 2) -> None:
    """Warn with the fit's notes (:meth:`FitResult.notes`) when its estimate cannot be trusted as it stands
    (``stacklevel`` counted from this function, as in :func:`warnings.warn`)."""
    said = result.notes()
    if said:
        warnings.warn(f"fit ({result.law.name}): " + "; ".join(said), UserWarning, stacklevel=stacklevel)


def fit_problem(problem: Problem, weights: np.ndarray, seed: int, search: Search, runner: Runner) -> FitResult:
    """The multi-start fit of a prepared problem with row ``weights``: best of the starts, with its recipe."""
    law = problem.law
    if isinstance(search.starts, (int, np.integer)) and not isinstance(search.starts, bool):
        check_memory("starts", int(search.starts), int(search.starts) * (2 * law.n_params + len(problem.log_y)) * 8)
    start_points = resolve_starts(law, search.starts, seed)
    prune, prune_iter = resolve_prune(search.prune, search.prune_iter, len(start_points))
    polish = search.polish_or(FIT_POLISH)
    best = best_of_starts(problem.solver, law, problem.loss, problem.log_x, problem.log_y, weights, start_points,
                          prune_keep=prune, prune_iter=prune_iter, polish_top=polish, n_lanes=runner.n_lanes,
                          chunk_size=runner.chunk_size, devices=runner.devices)
    if not np.isfinite(best.value[0]):
        raise RuntimeError("every start produced a non-finite objective; check the data and the starts")
    made = recipe(problem, start_points, search.starts, prune=prune, prune_iter=prune_iter, polish=polish)
    unused = unused_params(law, np.concatenate([best.theta[:1], start_points[:2]]), problem.log_x[weights > 0])
    if unused:
        made["unused_params"] = unused
    made["data_span"] = data_span(law.base, problem.log_x, weights)
    return FitResult(law, problem.loss, best.theta[0], float(best.value[0]),
                     bool(best.converged[0]) and not absurd_points(best.theta[0])[0],
                     _starts_frame(law, start_points, best.tasks), int(np.count_nonzero(weights)), made)


def unused_params(law: Law, thetas: np.ndarray, log_x: np.ndarray) -> list[str]:
    """Parameters of a user-defined law that never move its prediction: their Jacobian column is exactly 0 at
    every point of ``thetas`` on the data (the law's ``log_predict`` ignores them). Built-in laws are skipped."""
    import jax.numpy as jnp

    from ..engine import float64
    from ..kernels.laws import LAWS
    from ..kernels.solvers.objective import predict_and_jacobian

    if LAWS.get(law.base.name) is law.base:
        return []
    plain = Law(law.name, law.inputs, law.param_names, law.natural_names, law.log_predict, law.log_scale,
                law.grid, None, law.input_scale, law.target_scale)  # autodiff, not a hand-written Jacobian
    moved = np.zeros(law.n_params, bool)
    with float64():
        for theta in np.asarray(thetas, np.float64):
            _, jac = predict_and_jacobian(plain, jnp.asarray(theta), jnp.asarray(log_x))
            moved |= np.any(np.asarray(jac) != 0, axis=0)
    return [n for n, m in zip(law.natural_names, moved) if not m]
