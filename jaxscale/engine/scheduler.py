"""Chunk scheduling: best-of-starts fits of many weight rows, in checkpointed chunks, locally or on any executor.

A :class:`RowsJob` describes the work without running it: the data, the starts, the solver
settings and where weight row ``r`` comes from (case resample ``r`` of a seed, or row ``r`` of
an explicit matrix: group masks, jackknife rows). Row ``r``'s result depends on the job and
``r`` only (see :mod:`jaxscale.engine.batching`), so the rows can be cut into chunks of any size
and run anywhere:

- a chunk ``[lo, hi)`` is the pure function :func:`run_chunk` ``(job, lo, hi)``; it runs the local
  engine (jit, ``shard_map`` over the devices of whichever process runs it) with one fixed padded
  shape per run, so a worker compiles once per run, not once per chunk;
- :func:`run_rows` submits chunks to any object with the :class:`concurrent.futures.Executor`
  ``submit`` method (a Dask ``distributed.Client`` is the reference backend), retries failed
  chunks, and writes each result atomically into the checkpoint folder under a name holding the
  job's fingerprint and the row range, with a content checksum: a resumed run skips the chunks
  already there, a truncated or byte-flipped chunk is detected and recomputed, a run with other
  settings never reads another run's chunks, and a retried chunk writes the same bytes;
- chunk sizes follow time, not a task count: with an executor or a checkpoint folder the first
  chunk is a probe, timed (compilation excluded), and the rest are sized to about
  ``chunk_seconds`` each; a local run without a checkpoint needs no probe: its chunks are as
  large as memory allows (:func:`chunk_rows_limit`), so a job that fits in one chunk runs as one.
- chunk shapes are few: every compiled lane call has the fixed shapes of its data bucket
  (:func:`~jaxscale.engine.batching.lane_program`), whatever a chunk's rows; a job without pruning
  draws every chunk's resamples (the probe's too) :data:`FIXED_CHUNK_ROWS` at a time (fewer when
  :func:`chunk_rows_limit` says so), so one sampler program serves every ``n_resamples``; a pruned
  job draws the next power of two.
"""
from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import json
import math
import re
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import jax
import numpy as np

from ..kernels.laws import Law
from ..kernels.losses import Loss
from .batching import CALL_WEIGHT_BYTES, MAX_WEIGHT_ROWS, _pow2_ceil, _pow2_floor, default_lanes, row_bucket
from .multistart import POLISHER, best_of_starts
from .npzfile import CorruptFile, checksum, read_npz, write_bytes_atomic, write_npz
from .resampling import resample_counts

__all__ = ["RowsJob", "RowsResult", "ChunkOutput", "ChunkStore", "run_chunk", "run_rows", "progress_bar",
           "setup_versions", "compile_seconds", "chunk_rows_limit", "job_rows_limit", "chunk_shape_rows",
           "rows_per_chunk", "CHUNK_SECONDS", "CHUNK_FORMAT"]

#: Target wall time of one chunk (seconds) when ``chunk_size`` is not given.
CHUNK_SECONDS = 5.0

#: Tasks in the timing probe: this many lane loads (at least one row).
PROBE_LANE_LOADS = 4

#: Most (row, start) tasks in one chunk (memory of its per-task results).
MAX_CHUNK_TASKS = 1 << 20

#: Most bytes of float64 weights in one chunk (rows x data rows x 8): those of one compiled lane call.
MAX_CHUNK_WEIGHT_BYTES = CALL_WEIGHT_BYTES

#: Rows of every chunk of a job without pruning (at most :func:`chunk_rows_limit`): the weights rows of one
#: compiled lane call, drawn as one fixed sampler shape, so one sampler program serves every ``n_resamples``;
#: small enough that a bootstrap of a few hundred resamples draws and ships few padding rows.
FIXED_CHUNK_ROWS = MAX_WEIGHT_ROWS

#: A progress bar left at its default appears once a run has lasted this long (seconds).
PROGRESS_DELAY = 3.0

#: Version of the chunk file layout (part of every fingerprint).
CHUNK_FORMAT = 1

_FIELDS = ("theta", "objective", "converged", "n_at_best")

#: Per-start outcomes a chunk also returns for a job with ``keep_tasks`` (arrays ``(rows, S, ...)``).
TASK_FIELDS = ("task_theta", "task_value", "task_converged", "task_iterations", "task_grad_norm", "task_status")


# ---------------------------------------------------------------------- compile time (excluded from timing)
_COMPILE = threading.local()
_LISTENING = threading.Lock()
_LISTENER_ON = False


def _on_duration(event: str, seconds: float, **_: Any) -> None:
    if event.startswith("/jax/core/compile/"):
        _COMPILE.seconds = getattr(_COMPILE, "seconds", 0.0) + seconds


def compile_seconds() -> float:
    """Seconds this thread has spent tracing, lowering and compiling JAX programs so far."""
    global _LISTENER_ON
    with _LISTENING:
        if not _LISTENER_ON:
            jax.monitoring.register_event_duration_secs_listener(_on_duration)
            _LISTENER_ON = True
    return getattr(_COMPILE, "seconds", 0.0)


# ---------------------------------------------------------------------- the job
_SIMPLE = (bool, int, float, complex, str, bytes, type(None), np.number)


def _code_digest(code) -> str:
    """SHA-256 of a code object's bytecode, names and constants (nested code by digest, not address)."""
    consts = [_code_digest(c) if hasattr(c, "co_code") else repr(c) for c in code.co_consts]
    text = repr((code.co_code, code.co_names, code.co_varnames, consts))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _callable_key(function) -> str | None:
    """A process-independent identity of a function, or None when it cannot be given one.

    Module-level functions: ``module.qualname``. Lambdas and closures (e.g. a loss built by a
    factory): also their bytecode and the values they close over, when those are plain numbers
    or strings; anything else (arrays, objects) gets None.
    """
    if function is None:
        return "None"
    name = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"
    code = getattr(function, "__code__", None)
    if "<lambda>" not in name and "<locals>" not in name:
        return name
    if code is None:
        return None
    captured = [cell.cell_contents for cell in (function.__closure__ or ())]
    captured += list(function.__defaults__ or ()) + list((function.__kwdefaults__ or {}).items())
    if not all(isinstance(v, _SIMPLE) or (isinstance(v, tuple) and all(isinstance(x, _SIMPLE) for x in v))
               for v in captured):
        return None
    return f"{name}#{_code_digest(code)}{tuple(repr(v) for v in captured)}"


def _law_key(law: Law) -> tuple | None:
    """A process-independent identity of a law (None when one of its functions has none)."""
    ids = tuple(_callable_key(f) for f in (law.log_predict, law.log_predict_and_jacobian, law.grid))
    if None in ids:
        return None
    return (type(law).__name__, law.name, tuple(law.inputs), tuple(law.param_names), tuple(law.natural_names),
            tuple(law.log_scale)) + ids


def _loss_key(loss: Loss) -> tuple | None:
    """A process-independent identity of a loss (None when one of its functions has none)."""
    ids = tuple(_callable_key(getattr(loss, f)) for f in ("rho", "psi", "curvature", "hessian"))
    if None in ids:
        return None
    return (loss.name, tuple(loss.params)) + ids


@dataclass(frozen=True, eq=False)
class RowsJob:
    r"""Best-of-starts fits of weight rows ``r = 0, 1, ...``: a pure description of the work.

    Row ``r`` minimises :math:`\sum_i w^{(r)}_i \rho(\log L_i - \log\hat L(\theta; x_i))` from
    every start, optionally pruned, then polished (:func:`~jaxscale.engine.multistart.best_of_starts`).

    Attributes
    ----------
    solver, law, loss : the lane solver, the model and the loss
    log_x, log_y : arrays ``(n, k)`` and ``(n,)``
    starts : array ``(S, p)``, the same for every row
    seed : int, optional
        Row ``r`` is the count vector of case resample ``r`` of ``seed``
        (:func:`~jaxscale.engine.resampling.resample_counts`); exactly one of ``seed``/``weights``.
    weights : array ``(R, n)``, optional
        Explicit rows (given resamples, group masks, jackknife rows).
    n_draws : int, optional
        Rows drawn per case resample (default ``n``).
    prune_keep, prune_iter, polish_top : as in :func:`~jaxscale.engine.multistart.best_of_starts`
    n_lanes : int, optional
        Default :func:`~jaxscale.engine.batching.default_lanes` of the data on the backend of the
        process that builds the job; it is part of the fingerprint, so every chunk of a run uses it.
    row_offset : int
        Row index of ``weights[0]`` (a chunk ships only its own explicit rows).
    group_sizes : tuple of int, optional
        Several data sets (groups) in one job: ``log_x`` is ``(G, m, k)`` and ``log_y`` ``(G, m)``,
        group ``g`` filling its first ``group_sizes[g]`` rows (the rest is padding of weight 0).
        Row ``r`` belongs to group ``r % G`` and is that group's resample (or explicit row)
        ``r // G``: case resample ``q`` of group ``g`` is
        :func:`~jaxscale.engine.resampling.resample_counts` ``(seed, q, group_sizes[g])``, exactly
        the draw of a bootstrap of that group alone. ``starts`` may then be ``(G, S, p)``: each
        group's own starts.
    keep_tasks : bool
        Also return every start's outcome (``RowsResult.tasks``): end point, objective, status ...
        of each (row, start), as a multi-start fit reports them (grouped fits).
    """

    solver: Any
    law: Law
    loss: Loss
    log_x: np.ndarray
    log_y: np.ndarray
    starts: np.ndarray
    seed: int | None = None
    weights: np.ndarray | None = None
    n_draws: int | None = None
    prune_keep: int | None = None
    prune_iter: int = 40
    polish_top: int = 1
    n_lanes: int | None = None
    row_offset: int = 0
    group_sizes: tuple | None = None
    keep_tasks: bool = False

    def __post_init__(self):
        if (self.seed is None) == (self.weights is None):
            raise ValueError("RowsJob needs exactly one of seed= (case resamples) or weights= (explicit rows)")
        fix = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        fix("log_x", np.asarray(self.log_x, np.float64))
        fix("log_y", np.asarray(self.log_y, np.float64))
        fix("starts", np.atleast_2d(np.asarray(self.starts, np.float64)))
        if self.group_sizes is not None:
            fix("group_sizes", tuple(int(n) for n in self.group_sizes))
            G = len(self.group_sizes)
            if self.log_x.ndim != 3 or self.log_x.shape[0] != G or self.log_y.shape != self.log_x.shape[:2]:
                raise ValueError(f"a grouped job needs log_x (G, m, k) and log_y (G, m) with G = {G} groups, got "
                                 f"{self.log_x.shape} and {self.log_y.shape}")
            if min(self.group_sizes) < 1 or max(self.group_sizes) > self.n_data:
                raise ValueError(f"group_sizes must lie in [1, {self.n_data}], got {self.group_sizes}")
            if self.starts.ndim == 3 and self.starts.shape[0] != G:
                raise ValueError(f"per-group starts have {self.starts.shape[0]} groups, the data {G}")
        elif self.starts.ndim != 2:
            raise ValueError(f"starts must be (S, p), got shape {self.starts.shape} (per-group starts need groups)")
        if self.weights is not None:
            fix("weights", np.atleast_2d(np.asarray(self.weights, np.float64)))
            if self.weights.shape[1] != self.n_data:
                raise ValueError(f"weights has {self.weights.shape[1]} columns; the data has {self.n_data} rows")
        if self.n_lanes is None:
            fix("n_lanes", default_lanes(self.n_data, self.starts.shape[-1]))

    @property
    def n_data(self) -> int:
        """Data rows (per group, padded, for a grouped job)."""
        return int(self.log_y.shape[-1])

    @property
    def n_groups(self) -> int | None:
        return None if self.group_sizes is None else len(self.group_sizes)

    @property
    def n_starts(self) -> int:
        return int(self.starts.shape[-2])

    def row_groups(self, lo: int, hi: int) -> np.ndarray | None:
        """Group of rows ``lo..hi-1`` (None for a job on one data set)."""
        return None if self.group_sizes is None else np.arange(lo, hi) % len(self.group_sizes)

    def row_starts(self, lo: int, hi: int) -> np.ndarray:
        """Starts of rows ``lo..hi-1``: ``(S, p)`` shared, or ``(hi - lo, S, p)`` from each row's group."""
        return self.starts if self.starts.ndim == 2 else self.starts[self.row_groups(lo, hi)]

    @property
    def n_rows(self) -> int | None:
        """Rows of an explicit-weights job (None for case resamples: any number)."""
        return None if self.weights is None else self.row_offset + int(self.weights.shape[0])

    def row_weights(self, lo: int, hi: int, shape_rows: int | None = None) -> np.ndarray:
        """Weights of rows ``lo..hi-1`` as float64 ``(hi - lo, n)``.

        Case resamples are drawn ``shape_rows`` (or a power of two) at a time, so every chunk of a
        run uses one compiled sampler; a draw depends only on its own index (exact integers).
        """
        if self.weights is None and self.group_sizes is not None:
            ids = np.arange(lo, hi)
            G = len(self.group_sizes)
            out = np.zeros((hi - lo, self.n_data))
            for g in np.unique(ids % G):
                rows = np.flatnonzero(ids % G == g)
                n_g = self.group_sizes[g]
                draws = ids[rows] // G
                padded = np.concatenate([draws, np.full(_pow2_ceil(len(draws)) - len(draws), draws[-1])])
                out[rows, :n_g] = resample_counts(self.seed, padded, n_g, self.n_draws)[: len(draws)]
            return out
        if self.weights is None:
            ids = np.arange(lo, lo + max(_pow2_ceil(hi - lo), int(shape_rows or 0)))
            return resample_counts(self.seed, ids, self.n_data, self.n_draws)[: hi - lo].astype(np.float64)
        if lo < self.row_offset or hi > self.n_rows:
            raise ValueError(f"rows {lo}..{hi - 1} are outside this job's rows {self.row_offset}..{self.n_rows - 1}")
        return self.weights[lo - self.row_offset: hi - self.row_offset]

    def part(self, lo: int, hi: int) -> "RowsJob":
        """The job a chunk ships: explicit weights cut to rows ``lo..hi-1``."""
        if self.weights is None:
            return self
        return dataclasses.replace(self, weights=self.row_weights(lo, hi), row_offset=lo)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of everything a row's result depends on (not the number of rows, chunks or devices)."""
        solver = {"type": type(self.solver).__name__,
                  **{k: v for k, v in sorted(vars(self.solver).items())}}
        rows = ({"case_resamples": {"seed": int(self.seed), "n_draws": self.n_draws}} if self.weights is None
                else {"weights": checksum({"w": self.weights}), "row_offset": self.row_offset})
        spec = {
            "format": CHUNK_FORMAT,
            "law": list(_law_key(self.law) or (self.law.name, "unrecognised", id(self.law))),
            "loss": list(_loss_key(self.loss) or (self.loss.name, "unrecognised", id(self.loss))),
            "solver": solver, "polisher": repr(POLISHER) if self.polish_top else None,
            "prune": [self.prune_keep, self.prune_iter] if self.prune_keep else None,
            "polish_top": int(self.polish_top), "rows": rows,
            "data": checksum({"log_x": self.log_x, "log_y": self.log_y}),
            "starts": checksum({"starts": self.starts}),
            "groups": list(self.group_sizes) if self.group_sizes is not None else None,
            "keep_tasks": bool(self.keep_tasks),
            "n_lanes": int(self.n_lanes), "backend": jax.default_backend(),
            "versions": setup_versions(),
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def setup_versions() -> dict[str, str]:
    """The versions a chunk's bits depend on (jax, jaxlib, jaxscale): part of every job's fingerprint and of a plan."""
    import jaxlib

    package = sys.modules.get(__name__.split(".")[0])
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
            "jaxscale": str(getattr(package, "__version__", "unknown"))}


# ---------------------------------------------------------------------- one chunk
class ChunkOutput(NamedTuple):
    """Result of rows ``lo..hi-1``; ``seconds``/``compile_seconds`` are timings, never written to disk."""

    lo: int
    hi: int
    arrays: dict
    seconds: float
    compile_seconds: float


_INTERNED: dict[tuple, Any] = {}


def _interned(job: RowsJob) -> RowsJob:
    """The first equal law and loss this process has seen: an unpickled copy would miss the jit cache
    (laws compare by identity, losses by their functions), and every chunk would compile again."""
    changes = {}
    for field_name, key in (("law", _law_key(job.law)), ("loss", _loss_key(job.loss))):
        if key is not None:
            first = _INTERNED.setdefault((field_name,) + key, getattr(job, field_name))
            if first is not getattr(job, field_name):
                changes[field_name] = first
    return dataclasses.replace(job, **changes) if changes else job


def run_chunk(job: RowsJob, lo: int, hi: int, shape_rows: int | None = None, devices=None,
              attempt: int = 0) -> ChunkOutput:
    """Fit rows ``lo..hi-1`` of ``job`` with the local engine (a pure function of its arguments).

    ``shape_rows`` is the run's fixed chunk shape for the resample sampler (results unchanged);
    ``devices`` are this process's devices to shard over (None: all); ``attempt`` only makes a
    retried submission a distinct task for executors that deduplicate identical calls.
    """
    del attempt
    start, compiled = time.perf_counter(), compile_seconds()
    job = _interned(job)
    best = best_of_starts(job.solver, job.law, job.loss, job.log_x, job.log_y, job.row_weights(lo, hi, shape_rows),
                          job.row_starts(lo, hi), prune_keep=job.prune_keep, prune_iter=job.prune_iter,
                          polish_top=job.polish_top, n_lanes=job.n_lanes, devices=devices,
                          row_group=job.row_groups(lo, hi))
    arrays = {"theta": best.theta, "objective": best.value, "converged": best.converged.astype(bool),
              "n_at_best": best.n_at_best.astype(np.int64)}
    if job.keep_tasks:
        for key, values in zip(TASK_FIELDS, best.tasks):
            values = np.asarray(values)
            arrays[key] = values.reshape((hi - lo, job.n_starts) + values.shape[1:])
    return ChunkOutput(int(lo), int(hi), arrays, time.perf_counter() - start, compile_seconds() - compiled)


# ---------------------------------------------------------------------- the checkpoint folder
_CHUNK_NAME = re.compile(r"^chunk_([0-9a-f]{16})_(\d{9,})_(\d{9,})\.npz$")


class ChunkStore:
    """A checkpoint folder: ``recipe.json`` plus ``chunk_<fingerprint16>_<lo>_<hi>.npz`` files.

    Raises ``ValueError`` when ``recipe.json`` names another fingerprint (a different run);
    chunk names and metadata carry the fingerprint too, so even without ``recipe.json`` no run
    reads another run's chunks. ``readonly=True`` neither creates the folder nor writes
    ``recipe.json`` (a planned array task: the plan wrote it).
    """

    def __init__(self, directory: str | Path, fingerprint: str, description: Mapping | None = None,
                 fields: tuple = _FIELDS, *, readonly: bool = False):
        self.fields = tuple(fields)
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.corrupt = 0
        if readonly:  # read and write chunks of an existing folder; recipe.json is left as it is
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = self.directory / "recipe.json"
        if stamp.exists():
            try:
                previous = json.loads(stamp.read_text()).get("fingerprint")
            except (ValueError, AttributeError, OSError):
                previous = None  # unreadable: the chunk names still guard against mixing runs
            if previous is not None and previous != fingerprint:
                raise ValueError(f"checkpoint {self.directory} holds a different run (other data or arguments; a "
                                 "law built from lambdas or closures is only recognised within one Python "
                                 "session); use a new directory or delete it")
        text = json.dumps({"fingerprint": fingerprint, "recipe": dict(description or {})}, indent=2,
                          sort_keys=True, default=str)
        write_bytes_atomic(stamp, text.encode())

    def path(self, lo: int, hi: int) -> Path:
        return self.directory / f"chunk_{self.fingerprint[:16]}_{lo:09d}_{hi:09d}.npz"

    def load(self, lo: int, hi: int) -> dict:
        """The arrays of the chunk of rows ``lo..hi-1``, verified (checksum, fingerprint, row range, fields).

        Raises :class:`~jaxscale.engine.npzfile.CorruptFile` naming the file when it fails a check,
        ``FileNotFoundError`` when there is none.
        """
        path = self.path(lo, hi)
        meta, arrays = read_npz(path, verify=True, max_bytes=1 << 40)
        if (meta.get("fingerprint") != self.fingerprint or meta.get("lo") != lo or meta.get("hi") != hi
                or set(arrays) != set(self.fields) or any(len(arrays[k]) != hi - lo for k in self.fields)):
            raise CorruptFile(f"{path}: metadata do not match the file name or this run")
        return arrays

    def write(self, out: ChunkOutput) -> Path:
        meta = {"fingerprint": self.fingerprint, "lo": out.lo, "hi": out.hi, "format": CHUNK_FORMAT}
        return write_npz(self.path(out.lo, out.hi), out.arrays, meta, checksum=True)

    def read(self, n_rows: int):
        """Yield ``(lo, hi, arrays)`` of every valid chunk of this run starting below ``n_rows``.

        A chunk that fails to read or to verify is reported (``RuntimeWarning``), deleted and
        left to be recomputed.
        """
        for path in sorted(self.directory.glob(f"chunk_{self.fingerprint[:16]}_*.npz")):
            match = _CHUNK_NAME.match(path.name)
            if match is None:
                continue
            lo, hi = int(match.group(2)), int(match.group(3))
            if lo >= n_rows:
                continue
            try:
                arrays = self.load(lo, hi)
            except CorruptFile as err:
                warnings.warn(f"{err}; recomputing rows {lo}..{hi - 1}", RuntimeWarning, stacklevel=3)
                path.unlink(missing_ok=True)
                self.corrupt += 1
                continue
            yield lo, hi, arrays


# ---------------------------------------------------------------------- progress
def progress_bar(total: int, initial: int = 0, enabled: bool | None = None, desc: str = "jaxscale", **kwargs):
    """A ``tqdm.auto`` bar of fits (a notebook widget in Jupyter): done, fits/s, ETA.

    ``enabled=None`` shows it only once the run has lasted :data:`PROGRESS_DELAY` seconds;
    ``False`` shows nothing. ``smoothing=0`` with ``initial`` = fits already done (a resumed
    run) makes the rate (n - initial) / elapsed: fits computed in this session only.
    """
    from tqdm.auto import tqdm

    options = dict(total=int(total), initial=int(initial), unit="fits", unit_scale=True, smoothing=0,
                   dynamic_ncols=True, desc=desc, disable=enabled is False,
                   delay=PROGRESS_DELAY if enabled is None else 0.0)
    options.update(kwargs)
    return tqdm(**options)


# ---------------------------------------------------------------------- the driver
class RowsResult(NamedTuple):
    """Per-row best end points of a :class:`RowsJob`, and how the run went."""

    theta: np.ndarray  # (R, p)
    value: np.ndarray  # (R,)
    converged: np.ndarray  # (R,) bool
    n_at_best: np.ndarray  # (R,)
    stats: dict  # chunks computed / reused / corrupt, rows per chunk, seconds
    tasks: dict | None = None  # keep_tasks jobs: TASK_FIELDS -> (R, S, ...) per-start outcomes


def _executor_workers(executor) -> int | None:
    """Worker count of a Dask client/executor or a concurrent.futures pool, when it can be known."""
    client = getattr(executor, "_client", executor)
    threads = getattr(client, "nthreads", None)  # Dask: {worker: threads}
    if callable(threads):
        try:
            return max(1, sum(int(n) for n in threads().values()))
        except Exception:  # noqa: BLE001 - an unreachable scheduler just means "unknown"
            return None
    workers = getattr(executor, "_max_workers", None)
    return int(workers) if workers else None


def chunk_rows_limit(n_starts: int, n_data: int) -> int:
    """Most rows in one chunk (a power of two): at most :data:`MAX_CHUNK_TASKS` tasks and
    :data:`MAX_CHUNK_WEIGHT_BYTES` of weights, fixed by the starts per row and the data size.

    The data rows count as their :func:`~jaxscale.engine.batching.row_bucket` (the rows a call
    runs on), so every data size of a bucket gets the same limit. Chunks of a job without pruning
    draw their resamples ``min(limit, FIXED_CHUNK_ROWS)`` at a time (one sampler program for every
    ``n_resamples``), chunks of ``k`` rows of a pruned job ``min(limit, 2^ceil(log2 k))`` (see
    :func:`chunk_shape_rows`); results never depend on it.
    """
    return _pow2_floor(min(MAX_CHUNK_TASKS / max(1, n_starts),
                           MAX_CHUNK_WEIGHT_BYTES / (8 * row_bucket(max(1, n_data)))))


def job_rows_limit(job: RowsJob) -> int:
    """Most rows in one chunk of ``job``: :func:`chunk_rows_limit`, and at most :data:`FIXED_CHUNK_ROWS`
    for a job without pruning (whose chunks all share that one padded shape, see :func:`chunk_shape_rows`)."""
    limit = chunk_rows_limit(job.n_starts, job.n_data)
    return limit if _pruned(job) else min(limit, FIXED_CHUNK_ROWS)


def _pruned(job: RowsJob) -> bool:
    return job.prune_keep is not None and 0 < job.prune_keep < job.n_starts


def chunk_shape_rows(job: RowsJob, rows: int) -> int:
    """The padded rows of every chunk of ``rows`` rows of ``job`` (and of a shorter last chunk).

    The case sampler draws this many resamples' weights per chunk (the lane program's shapes never depend
    on it). Without pruning, always :func:`job_rows_limit` (at most :data:`FIXED_CHUNK_ROWS`): one sampler
    program serves every chunk, probe and ``n_resamples``. Pruned: the next power of two, so no chunk draws
    much more than it has rows. Results never depend on it.
    """
    limit = job_rows_limit(job)
    return limit if not _pruned(job) else min(limit, _pow2_ceil(rows))


def rows_per_chunk(job: RowsJob, chunk_size: int | None = None) -> int:
    """Rows of each chunk when ``chunk_size`` fits (rows x starts) per chunk are asked for (at least one
    row, at most :func:`job_rows_limit`); ``None``: :func:`job_rows_limit` (as large as memory allows)."""
    if chunk_size is None:
        return job_rows_limit(job)
    return min(job_rows_limit(job), max(1, int(chunk_size) // job.n_starts))


#: Rows per chunk chosen by a timed probe, per job shape, for this process: later runs of the same
#: shape skip the probe and reuse the size, hence the compiled sampler shape (results never depend on it).
_CHUNK_ROWS: dict = {}


def _shape_key(job: RowsJob) -> tuple:
    """What a chunk's run time depends on, apart from the data values."""
    return (type(job.solver).__name__, repr(sorted(vars(job.solver).items())), _law_key(job.law) or id(job.law),
            _loss_key(job.loss) or id(job.loss), job.n_starts, job.n_data, job.log_x.shape, job.n_lanes,
            job.prune_keep, job.prune_iter, job.polish_top, job.keep_tasks)


def _gaps(have: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[lo, hi)`` of rows not yet computed."""
    edges = np.flatnonzero(np.diff(np.concatenate([[False], ~have, [False]]).astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _cut(gaps: list[tuple[int, int]], rows: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + rows, hi)) for a, hi in gaps for lo in range(a, hi, rows)]


def run_rows(job: RowsJob, n_rows: int | None = None, *, executor=None, checkpoint: str | Path | None = None,
             chunk_size: int | None = None, chunk_seconds: float = CHUNK_SECONDS, progress: bool | None = None,
             retries: int = 2, devices=None, description: Mapping | None = None) -> RowsResult:
    """Run every row of ``job`` in chunks: locally, or through ``executor``; checkpointed if asked.

    Parameters
    ----------
    job : RowsJob
    n_rows : int
        Rows ``0..n_rows-1`` (default: all explicit rows).
    executor : concurrent.futures.Executor-like, optional
        Anything with ``submit(fn, *args)`` returning a future: a Dask ``distributed.Client``
        (used through ``client.get_executor(pure=False)``), ``client.get_executor()``, a
        ``ProcessPoolExecutor``, submitit's ``AutoExecutor`` ... Each chunk runs the local engine
        on the worker's own devices. ``None``: chunks run here, one after another.
    checkpoint : path, optional
        Folder for finished chunks (see :class:`ChunkStore`); a rerun resumes.
    chunk_size : int, optional
        Fits (rows x starts) per chunk (at most :func:`chunk_rows_limit` rows). Default, run
        locally without a checkpoint: :func:`chunk_rows_limit` rows (no probe; a job that fits
        runs as one chunk; a job without pruning in chunks of :data:`FIXED_CHUNK_ROWS` rows). With an
        executor or a checkpoint: a probe chunk of
        :data:`PROBE_LANE_LOADS` lane loads is timed (compilation excluded) and the other chunks
        get about ``chunk_seconds`` of work each (a power of two of rows; with an executor, at
        least two chunks per worker).
    progress : bool, optional
        ``tqdm`` bar of fits, fits/s and ETA (default: shown once the run lasts a few seconds).
    retries : int
        Resubmissions of a chunk whose future raised (executor runs only).
    devices : None, int or list
        Local devices (with an executor: None or an int, applied on each worker).
    description : mapping, optional
        Human-readable recipe stored in ``recipe.json``.

    Results are bit-identical for any chunk size, executor, worker or device count, and
    resume; row ``r`` never depends on ``n_rows``.
    """
    if n_rows is None:
        if job.n_rows is None:
            raise ValueError("n_rows is required for a job of case resamples")
        n_rows = job.n_rows
    n_rows = int(n_rows)
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    if job.n_rows is not None and n_rows > job.n_rows:
        raise ValueError(f"n_rows={n_rows}: the job has only {job.n_rows} explicit weight rows")
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1 fits, got {chunk_size}")
    if executor is not None and devices is not None and not isinstance(devices, (int, np.integer)):
        raise ValueError("with an executor, devices must be None (all of each worker's devices) or an int")
    if executor is not None and callable(getattr(executor, "get_executor", None)):
        executor = executor.get_executor(pure=False)  # a Dask Client

    n_starts, p = job.n_starts, job.starts.shape[-1]
    theta = np.full((n_rows, p), np.nan)
    value = np.full(n_rows, np.nan)
    converged = np.zeros(n_rows, bool)
    n_at_best = np.zeros(n_rows, np.int64)
    have = np.zeros(n_rows, bool)
    stats = {"chunks_computed": 0, "chunks_reused": 0, "corrupt": 0, "retries": 0, "rows_per_chunk": None,
             "probe_rows": None, "n_lanes": int(job.n_lanes), "fingerprint": job.fingerprint,
             "chunk_timings": []}  # (lo, hi, seconds on the worker, of which compiling)

    def fill(lo, hi, arrays):
        rows = np.arange(lo, min(hi, n_rows))
        new = ~have[rows]
        for target, key in ((theta, "theta"), (value, "objective"), (converged, "converged"), (n_at_best, "n_at_best")):
            target[rows[new]] = np.asarray(arrays[key])[: len(rows)][new]
        for key in TASK_FIELDS if job.keep_tasks else ():  # per-start outcomes: shaped like the chunk's arrays
            part = np.asarray(arrays[key])
            target = tasks.setdefault(key, np.zeros((n_rows,) + part.shape[1:], part.dtype))
            target[rows[new]] = part[: len(rows)][new]
        have[rows] = True

    tasks = {}
    fields = _FIELDS + (TASK_FIELDS if job.keep_tasks else ())
    store = ChunkStore(checkpoint, job.fingerprint, description, fields) if checkpoint is not None else None
    if store is not None:
        for lo, hi, arrays in store.read(n_rows):
            fill(lo, hi, arrays)
            stats["chunks_reused"] += 1
        stats["corrupt"] = store.corrupt

    started = time.perf_counter()
    bar = progress_bar(n_rows * n_starts, int(have.sum()) * n_starts, progress)
    worker_devices = devices if executor is None else (None if devices is None else int(devices))
    try:
        def finish(out: ChunkOutput) -> None:
            if store is not None:
                store.write(out)
            fill(out.lo, out.hi, out.arrays)
            stats["chunks_computed"] += 1
            stats["chunk_timings"].append((out.lo, out.hi, round(out.seconds, 4), round(out.compile_seconds, 4)))
            bar.update((out.hi - out.lo) * n_starts)

        limit = job_rows_limit(job)

        def shape_for(rows: int) -> int:
            return chunk_shape_rows(job, rows)

        def run_all(ranges, shape):
            stats["shape_rows"] = shape
            if executor is None:
                outs = []
                for lo, hi in ranges:
                    outs.append(run_chunk(job, lo, hi, shape, worker_devices))
                    finish(outs[-1])
                return outs
            return _run_on_executor(executor, job, ranges, shape, worker_devices, retries, finish, stats)

        gaps = _gaps(have)
        workers = _executor_workers(executor) if executor is not None else None
        memo = (_shape_key(job), workers, float(chunk_seconds))
        if gaps and chunk_size is None and executor is None and store is None:  # local: no probe, big chunks
            rows = limit
        elif gaps and chunk_size is None and memo in _CHUNK_ROWS:  # sized by an earlier run of this shape
            rows = _CHUNK_ROWS[memo]
        elif gaps and chunk_size is None:  # time a probe chunk, then size the rest to chunk_seconds
            probe_rows = min(limit, max(1, math.ceil(PROBE_LANE_LOADS * job.n_lanes / n_starts)))
            lo, hi = gaps[0][0], min(gaps[0][0] + probe_rows, gaps[0][1])
            (probe,) = run_all([(lo, hi)], shape_for(hi - lo))
            busy = max(probe.seconds - probe.compile_seconds, 1e-3)
            rows = _pow2_floor(min((hi - lo) * chunk_seconds / busy, limit))
            remaining = int((~have).sum())
            if workers:
                rows = min(rows, _pow2_floor(max(1, remaining / (2 * workers))))
            stats["probe_rows"] = hi - lo
            _CHUNK_ROWS[memo] = rows
            gaps = _gaps(have)
        else:
            rows = rows_per_chunk(job, chunk_size)
        rows = min(rows, max(1, int((~have).sum())))
        stats["rows_per_chunk"] = int(rows)
        if gaps:
            run_all(_cut(gaps, rows), shape_for(rows))
    finally:
        bar.close()
    stats["seconds"] = time.perf_counter() - started
    if not have.all():  # pragma: no cover - every gap is scheduled above
        raise RuntimeError(f"rows {np.flatnonzero(~have)[:5]} were never computed")
    return RowsResult(theta, value, converged, n_at_best, stats, tasks or None)


def _wait_any(futures: list) -> list:
    """Futures that are done: ``concurrent.futures.wait`` for standard futures, else polling ``done()``
    (submitit jobs and other future-like objects with ``done``/``result``/``cancel``)."""
    if all(isinstance(f, cf.Future) for f in futures):
        return list(cf.wait(futures, return_when=cf.FIRST_COMPLETED)[0])
    pause = 0.01
    while True:
        done = [f for f in futures if f.done()]
        if done:
            return done
        time.sleep(pause)
        pause = min(2 * pause, 1.0)


def _run_on_executor(executor, job: RowsJob, ranges, shape_rows, devices, retries: int, finish, stats) -> list:
    """Submit every chunk, write each as it completes, resubmit failures up to ``retries`` times."""
    pending: dict = {}

    def submit(lo, hi, attempt):
        future = executor.submit(run_chunk, job.part(lo, hi), lo, hi, shape_rows, devices, attempt)
        pending[future] = (lo, hi, attempt)

    outs = []
    try:
        for lo, hi in ranges:
            submit(lo, hi, 0)
        while pending:
            for future in _wait_any(list(pending)):
                lo, hi, attempt = pending.pop(future)
                try:
                    out = future.result()
                except Exception as err:  # noqa: BLE001 - any worker failure is retried, then reported
                    if attempt < retries:
                        stats["retries"] += 1
                        submit(lo, hi, attempt + 1)
                        continue
                    raise RuntimeError(f"chunk of rows {lo}..{hi - 1} failed {attempt + 1} time(s); last error: "
                                       f"{type(err).__name__}: {err}") from err
                if (out.lo, out.hi) != (lo, hi):
                    raise RuntimeError(f"executor returned rows {out.lo}..{out.hi - 1} for chunk {lo}..{hi - 1}")
                finish(out)
                outs.append(out)
    finally:
        for future in pending:
            future.cancel()
    return outs
