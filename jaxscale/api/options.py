"""The option objects of every public call: where the columns are (:class:`Columns`), where the lanes run
(:class:`Runner`) and how clusters are resampled (:class:`ClusterResample`). How the optimum is searched is
:class:`jaxscale.api.search.Search`.

``columns=Columns(inputs={"N": "params", "D": "tokens"}, y="loss", compute=None)`` (or the same as a
dict) says which column holds each input of the law, the target and, optionally, the training compute
from which the tokens input is derived (:math:`D = C / (6N)`). An input without an entry is read from
the column of its own name (``N``, ``D``, ``U``, ``x`` ...).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from .validation import check_int

__all__ = ["ClusterResample", "Columns", "Runner", "as_columns", "as_option", "as_runner"]


@dataclass(frozen=True, kw_only=True)
class Columns:
    """Columns of the data: law input -> column, the target ``y`` and an optional ``compute`` column.

    Parameters
    ----------
    inputs : mapping
        Law input name -> column name, e.g. ``{"N": "Model Size"}``; inputs not listed are read from
        the column of their own name.
    y : str
        Target column (the loss, or the metric of a raw-target law). Default ``"loss"``.
    compute : str, optional
        Training compute column (FLOP); the tokens input is then derived as ``D = C / (6 N)``.

    Examples
    --------
    >>> Columns(inputs={"N": "Model Size"}, compute="Training FLOP").column("N")
    'Model Size'
    """

    inputs: Mapping[str, str] = field(default_factory=dict)
    y: str = "loss"
    compute: str | None = None

    def __post_init__(self):
        if not isinstance(self.inputs, Mapping):
            raise ValueError(f"Columns(inputs=...) must map law input names to column names, got {self.inputs!r}")
        bad = {k: v for k, v in self.inputs.items() if not isinstance(k, str) or not isinstance(v, str)}
        if bad:
            raise ValueError(f"Columns(inputs=...): names and columns must be strings, got {bad!r}")
        if not isinstance(self.y, str):
            raise ValueError(f"Columns(y=...) must be a column name, got {self.y!r}")
        if self.compute is not None and not isinstance(self.compute, str):
            raise ValueError(f"c must be a column name (training compute in FLOP), got {self.compute!r}")
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))

    def __hash__(self) -> int:
        return hash((tuple(sorted(self.inputs.items())), self.y, self.compute))

    def __eq__(self, other) -> bool:
        return isinstance(other, Columns) and (dict(self.inputs), self.y, self.compute) == (
            dict(other.inputs), other.y, other.compute)

    def __repr__(self) -> str:
        return f"Columns(inputs={dict(self.inputs)!r}, y={self.y!r}, compute={self.compute!r})"

    def column(self, name: str) -> str:
        """The column of law input ``name`` (its own name unless mapped)."""
        return self.inputs.get(name, name)

    def replace(self, **changes) -> "Columns":
        """A copy with some fields changed (``inputs`` merged into the present mapping)."""
        inputs = {**self.inputs, **changes.pop("inputs", {})}
        return Columns(inputs=inputs, **{"y": self.y, "compute": self.compute, **changes})

    @classmethod
    def from_keywords(cls, n: str = "N", d: str = "D", y: str = "loss", x: str = "x",
                      columns: Mapping[str, str] | None = None, c: str | None = None) -> "Columns":
        """The columns the former keywords ``n=, d=, x=, y=, c=, columns=`` named (``columns`` wins; a
        :class:`Columns` given as ``columns`` is returned as it is)."""
        if isinstance(columns, Columns):
            return columns
        defaults = {k: v for k, v in (("N", n), ("D", d), ("x", x)) if v != k}
        return cls(inputs={**defaults, **dict(columns or {})}, y=y, compute=c)


def as_columns(columns) -> Columns:
    """``None`` -> default :class:`Columns`; a dict -> ``Columns(**dict)`` when it names fields
    (``inputs``/``y``/``compute``), else the law-input mapping; a :class:`Columns` as is."""
    if columns is None:
        return Columns()
    if isinstance(columns, Columns):
        return columns
    if isinstance(columns, Mapping):
        if set(columns) & {"inputs", "y", "compute"}:
            unknown = set(columns) - {"inputs", "y", "compute"}
            if unknown:
                raise ValueError(f"columns={dict(columns)!r}: mixes Columns fields (inputs, y, compute) with "
                                 f"input names {sorted(unknown)}; put input names under 'inputs'")
            return Columns(**columns)
        return Columns(inputs=columns)
    raise ValueError(f"columns must map law inputs to column names, e.g. columns={{'N': 'params'}}, or be a "
                     f"jaxscale.Columns; got {columns!r} ({type(columns).__name__})")


@dataclass(frozen=True, kw_only=True, eq=False)
class Runner:
    """Where and how the lanes run. Never changes a number of the result (the invariance tests prove it).

    Parameters
    ----------
    n_lanes : int, optional
        Lanes advanced together (default fixed by the backend and the data size).
    chunk_size : int, optional
        Fits per compiled call or per chunk of a chunked job (checkpoints, executor tasks).
    devices : None, int or list
        Local devices the lanes are sharded over (default: all).
    executor : concurrent.futures-style executor, optional
        Runs the chunks of a chunked job (a Dask client, a ``ProcessPoolExecutor`` ...).
    checkpoint : path, optional
        Directory for finished chunks; a rerun resumes.
    progress : bool, optional
        ``tqdm`` progress bar (default: shown once a run lasts a few seconds).
    retries : int
        Resubmissions of a chunk whose future failed (executor runs).
    """

    n_lanes: int | None = None
    chunk_size: int | None = None
    devices: Any = None
    executor: Any = None
    checkpoint: Any = None
    progress: bool | None = None
    retries: int = 2

    def __post_init__(self):
        object.__setattr__(self, "n_lanes", check_int("n_lanes", self.n_lanes, 1, optional=True))
        object.__setattr__(self, "chunk_size", check_int("chunk_size", self.chunk_size, 1, optional=True))
        object.__setattr__(self, "retries", check_int("retries", self.retries, 0))
        if self.progress is not None and not isinstance(self.progress, bool):
            raise ValueError(f"progress must be True, False or None, got {self.progress!r}")

    def replace(self, **changes) -> "Runner":
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def local(self) -> "Runner":
        """The same runner without the chunked-job parts (executor, checkpoint): for a helper's inner fits."""
        return replace(self, executor=None, checkpoint=None)

    def jobs(self) -> dict:
        """Keywords of :func:`jaxscale.engine.scheduler.run_rows`."""
        return dict(executor=self.executor, checkpoint=self.checkpoint, chunk_size=self.chunk_size,
                    progress=self.progress, retries=self.retries, devices=self.devices)


def as_option(value, cls, example: str):
    """``None`` -> ``cls()``; a dict -> ``cls(**dict)``; an instance of ``cls`` as is; anything else refused."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        return cls(**value)
    raise ValueError(f"expected a jaxscale.{cls.__name__} (e.g. {example}) or a dict, got {type(value).__name__}")


def as_runner(runner) -> Runner:
    """``None`` -> ``Runner()``; a dict -> ``Runner(**dict)``; a :class:`Runner` as is."""
    return as_option(runner, Runner, "js.Runner(n_lanes=64)")


@dataclass(frozen=True, kw_only=True, eq=False)
class ClusterResample:
    """Resample clusters of rows instead of rows (see :mod:`jaxscale.api.cluster`).

    Parameters
    ----------
    by : "budget", "size", a column name or one label per row
        The clusters: compute budgets (nearest of ``budgets`` in log space, else rounded to 0.1 decade),
        model sizes (same rule), a column, or labels.
    budgets : sequence of float, optional
        The budgets ``"budget"``/``"size"`` snap to (e.g. :data:`jaxscale.HOFFMANN_BUDGETS`).
    wild : bool
        ``False``: resample whole clusters with replacement. ``True``: the wild cluster bootstrap (every row
        kept, Webb multipliers per cluster on leverage-corrected residuals).
    """

    by: Any = "budget"
    budgets: Sequence[float] | None = None
    wild: bool = False

    def __post_init__(self):
        if not isinstance(self.wild, bool):
            raise ValueError(f"ClusterResample(wild=...) must be True or False, got {self.wild!r}")
        if self.by is None:
            raise ValueError("ClusterResample(by=...) needs the clusters: 'budget', 'size', a column or labels")

    @property
    def kind(self) -> str:
        """``"cluster"`` or ``"wild-cluster"`` (the former ``resample=`` strings)."""
        return "wild-cluster" if self.wild else "cluster"
