"""``jaxscale.fit``: multi-start robust fits of a scaling law, with a pandas-friendly result."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..engine import resolve_starts
from ..engine.multistart import best_of_starts
from ..kernels.laws import Law
from ..kernels.losses import Loss
from .groups import fit_groups
from .options import Columns
from .problem import (check_compute, input_arrays, input_columns, predict_inputs, prepare, recipe, resolve_law,
                      row_weights, tokens_from_compute)
from .results.fit import VANISHING_LOG, FitResult, _starts_frame, load_fit, vanishing, vanishing_params
from .search import resolve_prune, resolve_solver
from .validation import check_int, check_seed, identifiability_problem

__all__ = ["fit", "FitResult", "load_fit"]  # the rest is re-exported for code written before the split


def fit(data, law: str | Law = "chinchilla", starts=None, loss: str | Loss = "huber", delta: float = 1e-3,
        solver=None, n: str = "N", d: str = "D", y: str = "loss", *, x: str = "x", by=None, weights=None,
        fixed: Mapping[str, float] | None = None, tied: Mapping[str, str] | None = None,
        columns: Mapping[str, str] | None = None, seed: int = 0, polish: int = 8, prune: int | str | None = "auto",
        prune_iter: int | None = None,
        n_lanes: int | None = None, chunk_size: int | None = None, devices=None, c: str | None = None,
        executor=None, checkpoint=None, progress: bool | None = None, retries: int = 2):
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
    starts : None, "grid", int or array (K, p)
        Start points in the law's log-space order (``a, b, e, alpha, beta``). ``None``: the
        law's grid (Hoffmann's 4500 starts); int: that many seeded random starts.
    loss : {"huber", "squared"} or Loss
    delta : float
        Huber threshold (1e-3 as Hoffmann/Epoch).
    solver : None, "lm", "lm-warm", "lm-exact", "lm-irls", "bfgs" or a solver instance
        Default ``"lm"``: Levenberg-Marquardt on the IRLS model (reaches the global optimum from
        almost every start), polished with the exact Huber curvature once it meets its standard
        test. ``"bfgs"`` is the quasi-Newton path of the reference procedure.
    n, d, y : str
        Column names of model size, tokens and loss (the target).
    x : str
        Column of the input of one-variable laws (``power_law``, ``pure_power_law``, ``sigmoid`` ...),
        e.g. ``x="N"`` or ``x="C"``.
    by : str or list of str, optional
        Fit one law per group of rows sharing these columns' values, all groups as lanes of one
        compiled run; returns a :class:`~jaxscale.api.groups.GroupedFitResult`.
    weights : array (n_rows,), optional
        Per-row weights (resample counts, masks).
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
    columns : dict, optional
        Column of each further law input, e.g. ``{"U": "unique_tokens"}`` (an input without an
        entry is read from the column of its own name, e.g. ``U``).
    c : str, optional
        A training-compute column (FLOP): the tokens input is derived as :math:`D = C / (6N)`
        and the ``d`` column is not used (Epoch's Chinchilla CSV: ``n="Model Size",
        c="Training FLOP"``).
    seed : int
        Seed for random starts, an integer in ``[0, 2**32 - 1]``.
    polish : int
        For solvers that do not polish their lanes themselves (``"lm-irls"``, ``"bfgs"``), and for
        any solver when the best lane did not converge: the best ``polish`` end points are refined
        with exact Huber curvature and tight tolerances; the result is the best of all end points.
        ``0`` disables it.
    prune : "auto", int or None
        Pruned multi-start: every start is screened for ``prune_iter`` evaluations, then only the
        ``prune`` lowest continue to convergence; the others are reported with status
        ``"pruned"`` and ``converged=False``. ``"auto"`` (default): keep
        :data:`~jaxscale.engine.multistart.PRUNE_KEEP` (64) after
        :data:`~jaxscale.engine.multistart.PRUNE_ITER` (20) evaluations when there are more
        starts than that. A continued start resumes its own lane state, so it ends exactly where an
        unpruned run from it would; measured to reach the exhaustive grid's optimum on Epoch's data
        and on synthetic data sets of many shapes (``benchmarks/bench_strategy.py``) at about a
        sixth of the evaluations. ``None`` runs every start to convergence (every start's end
        point is then a converged fit, and ``n_at_best`` counts basins over all starts).
    prune_iter : int, optional
        Screening evaluations per start (default :data:`~jaxscale.engine.multistart.PRUNE_ITER`).
    n_lanes, chunk_size : int, optional
        Lanes advanced together and tasks per compiled call (memory bound), each >= 1.
    devices : None, int or list
        Local devices the starts are sharded over (default: all).
    executor, checkpoint, progress, retries : optional, with ``by=`` only
        The groups run as a chunked job exactly like :func:`jaxscale.bootstrap`'s resamples: on any
        ``concurrent.futures``-style executor (a Dask client ...), checkpointed chunk by chunk
        (a rerun resumes), with a ``tqdm`` bar; results are bit-identical however the groups are
        chunked or where they run.

    Returns
    -------
    FitResult
    """
    seed = check_seed(seed)
    polish = check_int("polish", polish, 0)
    prune = prune if isinstance(prune, str) and prune == "auto" else check_int("prune", prune, 1, optional=True)
    prune_iter = check_int("prune_iter", prune_iter, 1, optional=True)
    n_lanes = check_int("n_lanes", n_lanes, 1, optional=True)
    chunk_size = check_int("chunk_size", chunk_size, 1, optional=True)
    if by is not None:
        if weights is not None:
            raise ValueError("weights= and by= cannot be combined; mask rows before grouping")
        return fit_groups(data, by, law=law, starts=starts, loss=loss, delta=delta, solver=solver, n=n, d=d, y=y,
                          x=x, fixed=fixed, tied=tied, columns=columns, seed=seed, polish=polish, prune=prune,
                          prune_iter=prune_iter, n_lanes=n_lanes, chunk_size=chunk_size, devices=devices, c=c,
                          executor=executor, checkpoint=checkpoint, progress=progress, retries=retries)
    if executor is not None or checkpoint is not None:
        raise ValueError("executor= and checkpoint= split many fits into chunks: use them with by= (one fit per "
                         "group) or with js.bootstrap; a single fit runs here in one call")
    problem = prepare(data, law, loss, delta, columns=Columns.from_keywords(n, d, y, x, columns, c), solver=solver,
                      fixed=fixed, tied=tied)
    law = problem.law
    w = row_weights(weights, len(problem.frame), problem.frame.index)
    unidentified = identifiability_problem(law, problem.log_x, w, problem.names) if weights is not None else None
    if unidentified:
        raise ValueError(f"weights: {unidentified}. Give weight to more runs")
    start_points = resolve_starts(law, starts, seed)
    prune, prune_iter = resolve_prune(prune, prune_iter, len(start_points))

    best = best_of_starts(problem.solver, law, problem.loss, problem.log_x, problem.log_y, w, start_points,
                          prune_keep=prune, prune_iter=prune_iter, polish_top=int(polish), n_lanes=n_lanes,
                          chunk_size=chunk_size, devices=devices)
    if not np.isfinite(best.value[0]):
        raise RuntimeError("every start produced a non-finite objective; check the data and the starts")
    made = recipe(problem, start_points, starts, prune=prune, prune_iter=prune_iter, polish=polish)
    return FitResult(law, problem.loss, best.theta[0], float(best.value[0]), bool(best.converged[0]),
                     _starts_frame(law, start_points, best.tasks), int(np.count_nonzero(w)), made)


