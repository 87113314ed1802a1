"""Cluster arrays without a Python executor: plan a bootstrap, run its chunks as array tasks, gather the result.

A bootstrap's resamples are rows of one :class:`~jaxscale.engine.scheduler.RowsJob` (row ``r`` is case resample
``r`` of the seed), and a chunk of rows ``[lo, hi)`` is a pure function of the job and the range
(:func:`~jaxscale.engine.scheduler.run_chunk`). So a bootstrap can be cut up front into a fixed list of chunks
and each chunk computed by an unrelated process (a Slurm array task, a Kubernetes indexed job), with no
scheduler process running Python:

1. :func:`plan_bootstrap` (``jaxscale bootstrap ... --plan DIR``) does everything a local
   :func:`jaxscale.bootstrap` does before its resamples (the data read and checked, the full-data fit, the
   starts of every resample), then writes into ``DIR``:

   - ``plan.npz``: the recipe (law, constraints, loss and its delta, solver and its options, starts,
     pruning, polishing, seed, ``n_resamples``, lane count, backend, versions), the data in the fitting
     space, the starts, the point estimate, the job's fingerprint and the chunk list; written atomically
     with a SHA-256 checksum (:func:`~jaxscale.engine.npzfile.write_npz`);
   - ``recipe.json``: the checkpoint stamp of :class:`~jaxscale.engine.scheduler.ChunkStore` (fingerprint
     and a readable recipe).

   Before writing, the job is rebuilt from the plan as another process would and its fingerprint compared
   with the original: a law, loss or solver that cannot be rebuilt by name is refused here, not on the
   cluster.
2. :func:`run_planned_chunk` (``jaxscale run-chunk DIR --index I``) rebuilds the job from ``plan.npz``,
   checks its fingerprint (the same backend, jax, jaxlib and jaxscale versions as the plan), computes chunk
   ``I`` with the local engine on the process's own devices and writes it as a checkpoint chunk
   (``chunk_<fingerprint16>_<lo>_<hi>.npz``, checksummed) through a temporary file and ``os.replace``. A
   chunk already complete is skipped (``force=True`` recomputes it and rewrites the same bytes); a killed
   task leaves at most a hidden ``.chunk_*.tmp`` file, which nothing reads.
3. :func:`gather` (``jaxscale gather DIR --out FILE``) verifies every planned chunk (checksum, fingerprint,
   rows) and assembles the :class:`~jaxscale.BootstrapResult`; an incomplete plan raises
   :class:`IncompletePlan` naming the indices to run.

Exactness: row ``r``'s result depends only on the job and ``r`` (never on the chunk size, the padded
chunk shape, the device count or the process), so the gathered result is bit-identical to
``jaxscale.bootstrap`` with the same options on the same backend and versions, and its saved file
byte-identical to ``bootstrap --out``. The chunk list is the local run's: chunks of
:func:`~jaxscale.engine.scheduler.rows_per_chunk` rows (``runner.chunk_size`` fits each when given),
each padded to :func:`~jaxscale.engine.scheduler.chunk_shape_rows`.

Case resamples drawn from ``seed`` of one data set are planned (the default bootstrap); ``by=``, cluster
resamples and explicit ``indices=`` run with :func:`jaxscale.bootstrap` (locally or on an ``executor``).
"""
from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np

from ..engine.npzfile import CorruptFile, read_npz, write_npz
from ..engine.scheduler import (ChunkStore, RowsJob, chunk_shape_rows, rows_per_chunk,
                                run_chunk, setup_versions)
from ..kernels.laws import Law
from ..kernels.losses import Loss
from ..kernels.solvers import SOLVERS
from . import io
from .bootstrap import case_resample_job, full_data_estimate, resample_counts_of, resample_steps
from .options import Columns, Runner, as_columns, as_runner
from .problem import prepare
from .results.bootstrap import BootstrapResult
from .results.fit import FitResult
from .search import Search, as_search
from .validation import check_int, check_seed

__all__ = ["Plan", "ChunkRun", "IncompletePlan", "plan_bootstrap", "read_plan", "run_planned_chunk", "gather",
           "chunk_status", "PLAN_FILE", "PLAN_FORMAT"]

#: The plan's file inside its directory.
PLAN_FILE = "plan.npz"

#: Version of the plan layout; a plan of another format is refused with the fix.
PLAN_FORMAT = 1

PLAN_KIND = "bootstrap-plan"
_ARRAYS = ("log_x", "log_y", "starts", "estimate", "estimate_objective")


def _make_one(directory) -> str:
    return (f"make one with 'jaxscale bootstrap DATA ... --plan {directory}' (or "
            "jaxscale.api.chunks.plan_bootstrap)")


class IncompletePlan(ValueError):
    """:func:`gather` found planned chunks missing or corrupt; ``indices`` lists them."""

    def __init__(self, message: str, indices: list[int]):
        super().__init__(message)
        self.indices = indices


@dataclass(frozen=True)
class Plan:
    """A planned bootstrap: its directory, fingerprint and chunk list.

    Attributes
    ----------
    directory : Path
    fingerprint : str
        SHA-256 of everything a resample's result depends on (:attr:`RowsJob.fingerprint`).
    n_resamples, n_starts : int
    chunks : tuple of (lo, hi)
        Chunk ``i`` holds resamples ``lo..hi-1``; the chunks cover ``0..n_resamples-1`` in order.
    shape_rows : int
        The padded rows every chunk runs with (results never depend on it).
    meta : dict
        Everything ``plan.npz`` records (recipe, law, loss, solver, seed, backend, versions ...).
    """

    directory: Path
    fingerprint: str
    n_resamples: int
    n_starts: int
    chunks: tuple
    shape_rows: int
    meta: dict

    @property
    def n_chunks(self) -> int:
        """Chunks (array tasks): indices ``0 .. n_chunks - 1``."""
        return len(self.chunks)

    def store(self) -> ChunkStore:
        """The checkpoint folder of the chunks (read-only: the plan wrote ``recipe.json``)."""
        return ChunkStore(self.directory, self.fingerprint, readonly=True)

    def chunk_path(self, index: int) -> Path:
        """The file chunk ``index`` is written to (``chunk_<fingerprint16>_<lo>_<hi>.npz``)."""
        lo, hi = self.chunks[index]
        return self.store().path(lo, hi)


class ChunkRun(NamedTuple):
    """What :func:`run_planned_chunk` did: chunk ``index`` (resamples ``lo..hi-1``), ``computed`` (False: it
    was already complete and was skipped), its file and the seconds it took."""

    index: int
    lo: int
    hi: int
    path: Path
    computed: bool
    seconds: float


# ---------------------------------------------------------------------- planning
def plan_bootstrap(directory: str | Path, data, law: str | Law = "chinchilla", n_resamples: int = 4000, *,
                   seed: int = 0, loss: str | Loss = "huber", delta: float = 1e-3,
                   fixed: Mapping[str, float] | None = None, tied: Mapping[str, str] | None = None,
                   estimate: FitResult | None = None, columns: Columns | Mapping[str, str] | None = None,
                   search: Search | None = None, runner: Runner | None = None) -> Plan:
    """Plan a case-resampling bootstrap as array tasks: write its recipe and chunk list into ``directory``.

    Takes :func:`jaxscale.bootstrap`'s arguments (case resamples of one data set) and does what it does
    before the resamples: the data checked, the full-data fit (or ``estimate`` checked), the starts of
    every resample. Resample ``r`` minimises
    :math:`\\sum_i w^{(r)}_i \\rho(\\log L_i - \\log\\hat L(\\theta; x_i))` with :math:`w^{(r)}` the counts
    of case resample ``r`` of ``seed``, exactly as in :func:`jaxscale.bootstrap`.

    Parameters
    ----------
    directory : path
        Created if needed. Planning again with the same arguments is harmless (finished chunks are kept);
        a directory holding another plan or run is refused.
    data, law, n_resamples, seed, loss, delta, fixed, tied, estimate, columns, search :
        As in :func:`jaxscale.bootstrap`.
    runner : Runner, optional
        ``chunk_size``: fits (resamples x starts) per chunk (default: as many resamples as one local
        chunk holds, up to 1024 without pruning); ``n_lanes``, ``devices`` (of the full-data fit). An
        ``executor`` or ``checkpoint`` is refused: the plan directory is the checkpoint, the array the executor.

    Returns
    -------
    Plan
        Run chunk ``i`` with :func:`run_planned_chunk` (``jaxscale run-chunk DIR --index i``) for every
        ``i < plan.n_chunks``, then :func:`gather`.
    """
    columns, search, runner = as_columns(columns), as_search(search), as_runner(runner)
    if runner.executor is not None or runner.checkpoint is not None:
        raise ValueError("a plan takes no executor= or checkpoint=: the array tasks are the executor and the plan "
                         "directory is the checkpoint (drop them, or run jaxscale.bootstrap with them instead)")
    seed = check_seed(seed)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"plan directory {directory} is a file; name a new directory for the plan")
    problem = prepare(data, law, loss, delta, columns=columns, solver=search.solver, fixed=fixed, tied=tied)
    _, n_resamples, _ = resample_counts_of(problem, None, n_resamples, seed)
    estimate = full_data_estimate(problem, estimate, search, seed, runner)
    starts, start_points, steps = resample_steps(problem, search, estimate, seed, n_resamples)
    job, made = case_resample_job(problem, starts, start_points, steps, None, runner.n_lanes)
    rows = rows_per_chunk(job, runner.chunk_size)
    chunks = [(lo, min(lo + rows, n_resamples)) for lo in range(0, n_resamples, rows)]
    meta = _plan_meta(job, made, n_resamples, chunks, chunk_shape_rows(job, rows), steps["solver"])
    arrays = {"log_x": job.log_x, "log_y": job.log_y, "starts": job.starts,
              "estimate": np.asarray(estimate.theta, np.float64),
              "estimate_objective": np.asarray(float(estimate.objective), np.float64)}
    meta = json.loads(json.dumps(meta))  # as the array tasks will read it
    if _job_of(meta, arrays, directory).fingerprint != job.fingerprint:
        raise ValueError(f"this bootstrap cannot be planned: its law {problem.law.name!r}, loss or solver "
                         f"{steps['solver'].name!r} cannot be rebuilt by name in another process (a custom or "
                         "unregistered one, or options that are not plain numbers); register it (jaxscale.register_law"
                         ", register_solver) or run jaxscale.bootstrap with an executor")
    _refuse_other_plan(directory, meta)
    ChunkStore(directory, job.fingerprint, {"plan": PLAN_FILE, "recipe": made, "chunks": len(chunks)})
    write_npz(directory / PLAN_FILE, arrays, meta, checksum=True)
    return read_plan(directory)


def _plan_meta(job: RowsJob, made: dict, n_resamples: int, chunks: list, shape_rows: int, solver) -> dict:
    import jax

    law = job.law
    return {"kind": PLAN_KIND, "plan_format": PLAN_FORMAT, "fingerprint": job.fingerprint,
            "n_resamples": int(n_resamples), "chunks": [list(c) for c in chunks], "shape_rows": int(shape_rows),
            "law": law.base.name, "fixed": dict(law.fixed or {}), "tied": dict(law.tied or {}),
            "loss": job.loss.name, "loss_params": dict(job.loss.params),
            "solver": solver.name, "solver_options": dict(solver.options),
            "seed": int(job.seed), "n_draws": job.n_draws, "prune_keep": job.prune_keep,
            "prune_iter": int(job.prune_iter), "polish_top": int(job.polish_top), "n_lanes": int(job.n_lanes),
            "backend": jax.default_backend(),
            "versions": setup_versions(),
            "recipe_json": json.dumps(made, default=str)}


def _refuse_other_plan(directory: Path, meta: dict) -> None:
    """Planning into a directory that already holds this plan is harmless; another plan is refused."""
    if not (directory / PLAN_FILE).exists():
        return
    old = read_plan(directory).meta
    if old["fingerprint"] != meta["fingerprint"] or old["chunks"] != meta["chunks"]:
        raise ValueError(f"{directory} already holds a plan of another bootstrap (other data, options or chunks); "
                         "plan into a new directory, or delete this one")


# ---------------------------------------------------------------------- reading a plan
def read_plan(directory: str | Path) -> Plan:
    """The :class:`Plan` in ``directory``, checked (a directory that is not a plan, a plan of another format,
    a corrupt ``plan.npz``: one-line ``ValueError`` naming the file and the fix)."""
    return _load(directory)[0]


def _load(directory: str | Path) -> tuple[Plan, dict, dict]:
    directory = Path(directory)
    path = directory / PLAN_FILE
    if not directory.is_dir():
        raise FileNotFoundError(f"no plan directory {directory}; {_make_one(directory)}")
    if not path.exists():
        raise ValueError(f"{directory} is not a jaxscale plan (it has no {PLAN_FILE}); {_make_one(directory)}")
    try:
        meta, arrays = read_npz(path, verify=True, check_meta=lambda m: _check_meta(m, path))
    except CorruptFile as err:
        raise ValueError(f"{err}; the plan is damaged: {_make_one(directory)} again (in a new directory)") from None
    chunks = tuple((int(lo), int(hi)) for lo, hi in meta["chunks"])
    plan = Plan(directory, meta["fingerprint"], int(meta["n_resamples"]), int(arrays["starts"].shape[-2]), chunks,
                int(meta["shape_rows"]), meta)
    return plan, meta, arrays


def _check_meta(meta: dict, path: Path) -> set[str]:
    """The plan's kind and format first (with the fix), then the fields the array tasks read."""
    if meta.get("kind") != PLAN_KIND:
        what = f"a jaxscale {meta['kind']} result" if isinstance(meta.get("kind"), str) else "not a plan"
        raise ValueError(f"{path} is {what}, not a bootstrap plan; {_make_one(path.parent)}")
    if meta.get("plan_format") != PLAN_FORMAT:
        made_with = meta.get("versions", {}).get("jaxscale", "?") if isinstance(meta.get("versions"), dict) else "?"
        raise ValueError(f"{path} is a plan of format {io.short(meta.get('plan_format'))} (made with jaxscale "
                         f"{made_with}); this jaxscale {setup_versions()['jaxscale']} reads plan format "
                         f"{PLAN_FORMAT}: run and gather it with the jaxscale that made it, or plan again with this "
                         "one in a new directory")
    fields = {"fingerprint": str, "n_resamples": int, "chunks": list, "shape_rows": int, "seed": int,
              "solver": str, "solver_options": dict, "prune_iter": int, "polish_top": int, "n_lanes": int,
              "backend": str, "versions": dict, "recipe_json": str}
    for name, kind in fields.items():
        io.meta_field(meta, name, lambda v, kind=kind: isinstance(v, kind) and not isinstance(v, bool),
                      f"a JSON {kind.__name__}", path)
    chunks = meta["chunks"]
    ends = [0] + [hi for _, hi in chunks] if all(isinstance(c, list) and len(c) == 2 for c in chunks) else None
    if not chunks or ends is None or any(c[0] != e or c[1] <= c[0] for c, e in zip(chunks, ends)) \
            or ends[-1] != meta["n_resamples"]:
        raise ValueError(f"{path}: the chunk list does not cover resamples 0..{meta['n_resamples'] - 1} in order")
    return set(_ARRAYS)


def _job_of(meta: dict, arrays: dict, path) -> RowsJob:
    """The :class:`RowsJob` a plan describes, rebuilt from its recipe by name (as an array task does)."""
    header = io.law_loss_header({**meta, "recipe": {}}, path, PLAN_KIND)
    factory = SOLVERS.get(meta["solver"])
    try:
        solver = factory(**meta["solver_options"]) if factory is not None else None
    except (TypeError, ValueError):
        solver = None
    if solver is None:
        raise ValueError(f"{path}: solver {meta['solver']!r} with options {io.short(meta['solver_options'])} cannot "
                         f"be built here; register it (jaxscale.register_solver) in the process that runs the chunk")
    return RowsJob(solver, header.law, header.loss, arrays["log_x"], arrays["log_y"], arrays["starts"],
                   seed=int(meta["seed"]), n_draws=meta.get("n_draws"), prune_keep=meta.get("prune_keep"),
                   prune_iter=int(meta["prune_iter"]), polish_top=int(meta["polish_top"]),
                   n_lanes=int(meta["n_lanes"]))


# ---------------------------------------------------------------------- one array task
def run_planned_chunk(directory: str | Path, index: int, *, force: bool = False, devices=None) -> ChunkRun:
    """Compute chunk ``index`` of the plan in ``directory`` and write it atomically (an array task).

    The job is rebuilt from ``plan.npz`` and its fingerprint must equal the plan's: the chunk is computed
    on the plan's backend with the plan's jax, jaxlib and jaxscale versions, or refused with the
    difference named. A chunk already complete (its file verifies) is skipped unless ``force``; a
    corrupt one is recomputed. The file goes through a temporary file and ``os.replace``: a killed task
    leaves no chunk that :func:`gather` would accept, and two tasks of one index write the same bytes.

    Parameters
    ----------
    directory : path
        A plan made by :func:`plan_bootstrap`.
    index : int
        ``0 <= index < plan.n_chunks`` (``$SLURM_ARRAY_TASK_ID``, ``$JOB_COMPLETION_INDEX``).
    force : bool
        Recompute a complete chunk (rewrites identical bytes).
    devices : None, int or list
        Local devices to shard the chunk over (default: all of this process's).
    """
    plan, meta, arrays = _load(directory)
    index = _check_index(plan, index)
    lo, hi = plan.chunks[index]
    store = plan.store()
    started = time.perf_counter()
    if not force:
        try:
            store.load(lo, hi)
            return ChunkRun(index, lo, hi, store.path(lo, hi), False, time.perf_counter() - started)
        except FileNotFoundError:
            pass
        except CorruptFile as err:
            warnings.warn(f"{err}; recomputing chunk {index}", RuntimeWarning, stacklevel=2)
    job = _job_of(meta, arrays, plan.directory / PLAN_FILE)
    _check_same_run(job, meta, plan.directory / PLAN_FILE)
    path = store.write(run_chunk(job, lo, hi, plan.shape_rows, devices))
    return ChunkRun(index, lo, hi, path, True, time.perf_counter() - started)


def _check_index(plan: Plan, index) -> int:
    try:
        index = check_int("index", index, 0)
    except ValueError:
        raise ValueError(f"--index {index!r}: give a chunk index, an integer in 0..{plan.n_chunks - 1} (plan "
                         f"{plan.directory} has {plan.n_chunks} chunks)") from None
    if index >= plan.n_chunks:
        raise ValueError(f"--index {index} is out of range: plan {plan.directory} has {plan.n_chunks} chunk"
                         f"{'s' if plan.n_chunks > 1 else ''}, indices 0..{plan.n_chunks - 1} (a Slurm array "
                         f"--array=0-{plan.n_chunks - 1}, a Kubernetes Indexed Job of completions: {plan.n_chunks})")
    return index


def _check_same_run(job: RowsJob, meta: dict, path: Path) -> None:
    """The rebuilt job must be the planned one; otherwise name what differs (backend, versions) and the fix."""
    if job.fingerprint == meta["fingerprint"]:
        return
    import jax

    here = {"backend": jax.default_backend(), **setup_versions()}
    there = {"backend": meta["backend"], **meta["versions"]}
    differ = [f"{k} {there.get(k)!r} there, {v!r} here" for k, v in here.items() if there.get(k) != v]
    if differ:
        raise ValueError(f"{path} was planned on another setup ({'; '.join(differ)}): results are bit-identical "
                         "only on one backend with one set of versions. Run the chunks where the plan was made "
                         "(same kind of node and environment), or plan again from here in a new directory")
    raise ValueError(f"{path}: the job rebuilt from the plan does not match its fingerprint (the file was edited, "
                     "or a law/loss/solver of that name is defined differently in this process); plan again in a "
                     "new directory")


def chunk_status(directory: str | Path) -> dict[str, list[int]]:
    """Which planned chunks are ``"done"``, ``"missing"`` or ``"corrupt"`` (every file verified)."""
    plan = read_plan(directory)
    store, status = plan.store(), {"done": [], "missing": [], "corrupt": []}
    for index, (lo, hi) in enumerate(plan.chunks):
        try:
            store.load(lo, hi)
            status["done"].append(index)
        except FileNotFoundError:
            status["missing"].append(index)
        except CorruptFile:
            status["corrupt"].append(index)
    return status


# ---------------------------------------------------------------------- gathering
def ranges_text(indices: list[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8"`` (a Slurm ``--array`` list)."""
    parts, start = [], None
    for i, value in enumerate(indices):
        if start is None:
            start = value
        if i + 1 == len(indices) or indices[i + 1] != value + 1:
            parts.append(str(start) if start == value else f"{start}-{value}")
            start = None
    return ",".join(parts)


def gather(directory: str | Path) -> BootstrapResult:
    """Assemble the :class:`~jaxscale.BootstrapResult` of a plan whose chunks are all computed.

    Every chunk file is verified (SHA-256, fingerprint, rows); nothing is computed or written. The result
    is bit-identical to :func:`jaxscale.bootstrap` with the plan's arguments (same backend and versions),
    and ``result.save`` writes the same bytes as the local result's. Missing or corrupt chunks raise
    :class:`IncompletePlan` naming their indices and the command that computes them.
    """
    plan, meta, arrays = _load(directory)
    store, parts, missing, corrupt = plan.store(), [], [], []
    for index, (lo, hi) in enumerate(plan.chunks):
        try:
            parts.append(store.load(lo, hi))
        except FileNotFoundError:
            missing.append(index)
        except CorruptFile as err:
            corrupt.append((index, str(err)))
    if missing or corrupt:
        raise _incomplete(plan, missing, corrupt)
    header = io.law_loss_header({**meta, "recipe": {}}, plan.directory / PLAN_FILE, PLAN_KIND)
    joined = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    return BootstrapResult(header.law, header.loss, arrays["estimate"], float(arrays["estimate_objective"]),
                           joined["theta"], joined["objective"], joined["converged"], joined["n_at_best"],
                           arrays["log_x"], arrays["log_y"], np.ones(len(arrays["log_y"])),
                           json.loads(meta["recipe_json"]))


def _incomplete(plan: Plan, missing: list[int], corrupt: list[tuple[int, str]]) -> IncompletePlan:
    todo = sorted(missing + [i for i, _ in corrupt])
    said = []
    if missing:
        said.append(f"chunk{'s' if len(missing) > 1 else ''} {ranges_text(missing)} missing")
    if corrupt:
        said.append(f"chunk{'s' if len(corrupt) > 1 else ''} {ranges_text([i for i, _ in corrupt])} corrupt "
                    f"({corrupt[0][1]})")
    return IncompletePlan(f"plan {plan.directory} is incomplete: {' and '.join(said)} of {plan.n_chunks}; run "
                          f"'jaxscale run-chunk {plan.directory} --index I' for I in {ranges_text(todo)} (Slurm: "
                          f"sbatch --array={ranges_text(todo)} ...), then gather again", todo)
