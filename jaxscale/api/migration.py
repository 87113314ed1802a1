"""One decorator keeps every former spelling of the public calls working for one minor release.

Before the option objects, :func:`jaxscale.fit`, :func:`jaxscale.bootstrap` and the decision helpers took
column names (``n, d, x, y, c``), search settings (``starts, solver, prune, prune_iter, polish,
n_subgrid``), execution settings (``n_lanes, chunk_size, devices, executor, checkpoint, progress,
retries``) and cluster resampling (``resample="cluster", cluster=, budgets=``) as separate keywords, some
of them by position. :func:`legacy_options` maps each onto :class:`~jaxscale.api.options.Columns`,
:class:`~jaxscale.api.search.Search`, :class:`~jaxscale.api.options.Runner` or
:class:`~jaxscale.api.options.ClusterResample`, warns ONCE per call with a ``DeprecationWarning`` that spells
the call the new way, and refuses a call that gives the same setting both ways.
"""
from __future__ import annotations

import functools
import inspect
import warnings
from typing import Any, Callable, Sequence, TypeVar, cast

import numpy as np

from .options import ClusterResample, Columns, Runner
from .search import Search

__all__ = ["legacy_options", "SEARCH_KEYWORDS", "RUNNER_KEYWORDS", "COLUMN_KEYWORDS"]

SEARCH_KEYWORDS = ("starts", "solver", "prune", "prune_iter", "polish", "n_subgrid")
RUNNER_KEYWORDS = ("n_lanes", "chunk_size", "devices", "executor", "checkpoint", "progress", "retries")
#: Former column keywords -> the law input they named (``y``: the target, ``c``: the compute column).
COLUMN_KEYWORDS = {"n": "N", "d": "D", "x": "x", "y": None, "c": None}
#: Former names of search settings.
RENAMED = {"prune_keep": "prune"}

_F = TypeVar("_F", bound=Callable[..., Any])


def _show(value) -> str:
    if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and len(value) > 4):
        return "[...]"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _conflict(call: str, option: str, given: list[str]) -> TypeError:
    return TypeError(f"{call}: {', '.join(f'{k}=' for k in given)} and {option}= both given; give these settings "
                     f"once, in {option}= (the separate keywords are the former spelling)")


def _columns(call: str, old: dict, present) -> tuple[Columns, list[str]]:
    if isinstance(present, Columns) or (isinstance(present, dict) and set(present) & {"inputs", "y", "compute"}):
        raise _conflict(call, "columns", list(old))
    built = Columns.from_keywords(n=old.get("n", "N"), d=old.get("d", "D"), y=old.get("y", "loss"),
                                  x=old.get("x", "x"), columns=present, c=old.get("c"))
    parts = []
    if built.inputs:
        parts.append(f"inputs={dict(built.inputs)!r}")
    if "y" in old:
        parts.append(f"y={built.y!r}")
    if built.compute is not None:
        parts.append(f"compute={built.compute!r}")
    return built, [f"columns=js.Columns({', '.join(parts)})"]


def _grouped(call: str, option: str, cls, old: dict, present) -> tuple[object, list[str]]:
    if present is not None:
        raise _conflict(call, option, list(old))
    built = cls(**old)
    return built, [f"{option}=js.{cls.__name__}({', '.join(f'{k}={_show(v)}' for k, v in old.items())})"]


def _cluster(call: str, old: dict, kwargs: dict) -> tuple[ClusterResample, list[str]]:
    resample = kwargs.get("resample", "case")
    if isinstance(resample, ClusterResample):
        raise _conflict(call, "resample", list(old))
    if resample == "case":
        if old.get("cluster") is not None:
            raise ValueError(f"cluster={old['cluster']!r} is only used with resample='cluster' or 'wild-cluster'")
        return resample, []
    if resample not in ("cluster", "wild-cluster"):
        raise ValueError(f"resample must be one of 'case' or a jaxscale.ClusterResample (formerly 'cluster', "
                         f"'wild-cluster'), got {resample!r}")
    if old.get("cluster") is None:
        raise ValueError("resample='cluster'/'wild-cluster' needs cluster= ('budget', 'size', a column or labels)")
    built = ClusterResample(by=old["cluster"], budgets=old.get("budgets"), wild=resample == "wild-cluster")
    fields = [f"by={_show(built.by)}"] + ([f"budgets={_show(built.budgets)}"] if built.budgets is not None else []) \
        + (["wild=True"] if built.wild else [])
    return built, [f"resample=js.ClusterResample({', '.join(fields)})"]


def _map_onto_options(call: str, params, old: dict, kwargs: dict, cluster_string: bool) -> list[str]:
    """Move the former keywords ``old`` into ``kwargs`` (same-named parameters as they are, the rest as one
    option object each); return the new spelling of each, for the warning."""
    spelled = [f"{k}={_show(old[k])}" for k in old if k in params]
    kwargs.update({k: old.pop(k) for k in list(old) if k in params})
    for former, new in RENAMED.items():
        if former in old:
            if new in old:
                raise TypeError(f"{call}: {former}= is the former name of {new}=; give one")
            old[new] = old.pop(former)
    groups = {"columns": {k: old.pop(k) for k in list(old) if k in COLUMN_KEYWORDS},
              "search": {k: old.pop(k) for k in list(old) if k in SEARCH_KEYWORDS},
              "runner": {k: old.pop(k) for k in list(old) if k in RUNNER_KEYWORDS},
              "resample": {k: old.pop(k) for k in list(old) if k in ("cluster", "budgets")}}
    if old:
        raise TypeError(f"{call} got an unexpected keyword argument {next(iter(old))!r}")
    for option, given in groups.items():
        if not given and not (option == "resample" and cluster_string):
            continue
        if option not in params:
            raise TypeError(f"{call} got an unexpected keyword argument {next(iter(given))!r}")
        if option == "columns":
            kwargs["columns"], text = _columns(call, given, kwargs.get("columns"))
        elif option == "resample":
            kwargs["resample"], text = _cluster(call, given, kwargs)
        else:
            cls = Search if option == "search" else Runner
            kwargs[option], text = _grouped(call, option, cls, given, kwargs.get(option))
        spelled += text
    return spelled


def legacy_options(positions: Sequence[str] = (), *, name: str | None = None) -> Callable[[_F], _F]:
    """Decorator: accept the former keywords (and positions) of a public call, mapped onto its new options.

    Parameters
    ----------
    positions : sequence of str
        Former names of the positional arguments after the new ones (e.g. ``fit(data, law, starts, loss,
        delta, solver, n, d, y)`` -> ``("starts", "loss", "delta", "solver", "n", "d", "y")``).
    name : str, optional
        The public name used in messages (default ``js.<function name>``).

    The decorated function must take ``columns=``, ``search=`` and ``runner=`` (and ``resample=`` where
    cluster keywords apply). Former keywords that are parameters of the new function under the same
    name (``loss``, ``delta``, ``seed`` given by position) pass through; the others are grouped into one
    object each. One ``DeprecationWarning`` per call names the new spelling; giving a setting both ways
    (``n_lanes=4`` and ``runner=...``) raises ``TypeError``.
    """
    def decorate(fn: _F) -> _F:
        signature = inspect.signature(fn)
        params = signature.parameters
        n_positional = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params.values())
        call = name or f"js.{fn.__name__}"

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            old = {}
            if len(args) > n_positional:
                extra = args[n_positional:]
                if len(extra) > len(positions):
                    raise TypeError(f"{call} takes at most {n_positional + len(positions)} positional arguments "
                                    f"({n_positional} in the new spelling), got {len(args)}")
                for key, value in zip(positions, extra):
                    if key in kwargs:
                        raise TypeError(f"{call} got multiple values for argument {key!r}")
                    old[key] = value
                args = args[:n_positional]
            old.update({k: kwargs.pop(k) for k in list(kwargs) if k not in params})
            cluster_string = isinstance(kwargs.get("resample"), str) and kwargs["resample"] != "case"
            if not old and not cluster_string:
                return fn(*args, **kwargs)
            spelled = _map_onto_options(call, params, old, kwargs, cluster_string)
            warnings.warn(f"{call}: the separate keywords are deprecated; write {call}(..., {', '.join(spelled)}) "
                          "(the former spelling goes after one minor release)", DeprecationWarning, stacklevel=2)
            return fn(*args, **kwargs)

        wrapper.__signature__ = signature  # type: ignore[attr-defined]
        return cast(_F, wrapper)  # a type checker sees the new signature only (the old keywords are deprecated)

    return decorate
