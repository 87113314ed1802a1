"""Persistence of jaxscale results: one file format, atomic writes, defensive reads.

File format (``format`` 2)
--------------------------
An uncompressed ``.npz`` (a zip of ``.npy`` arrays; never pickle) with one member ``meta``: a 0-d
unicode array holding a JSON object with at least ``format`` (int) and ``kind`` (``"fit"`` or
``"bootstrap"``), plus the kind's fields:

* ``fit``: ``law``, ``loss``, ``loss_params``, ``objective``, ``converged``, ``n_points``,
  ``recipe``, ``start_columns``; arrays ``theta`` (p,) and ``starts/<column>`` (K,) each.
* ``bootstrap``: ``law``, ``loss``, ``loss_params``, ``estimate_objective``, ``recipe``; arrays
  ``estimate`` (p,), ``theta`` (R, p), ``objective``, ``converged``, ``n_at_best`` (R,),
  ``log_x`` (n, k), ``log_y``, ``weights`` (n,) and optionally ``jackknife`` (m, p).

Format 1 (written before this module existed) has the same arrays; its bootstrap files have no
``kind`` field. Both load.

Writing and reading
-------------------
Through :mod:`jaxscale.engine.npzfile`, the one atomic writer (:func:`write_npz`, also for the
engine's checkpoint chunks and, via :func:`atomic_file`, for figures) and the one defensive reader
(:func:`read_npz`: regular files only, zip directory, ``.npy`` headers and JSON metadata checked before
any array is read). This module adds what is specific to results: the format number, the kind
registry (:func:`register_kind`: each result module registers its own codec, so this module imports
no result class) and the checks of a result's metadata and arrays.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np

from ..engine.npzfile import MAX_BYTES, Npz, atomic_file, read_npz, write_npz
from ..kernels.laws import constrain, get_law
from ..kernels.losses import get_loss

if TYPE_CHECKING:  # the result classes import this module lazily in their save methods
    from .bootstrap import BootstrapResult
    from .fit import FitResult

FORMAT = 2
write_npz_atomic = write_npz  # the name this module used before the writer moved to the engine
KINDS = ("fit", "bootstrap", "grouped-fit")
FIT_ARRAYS = ("theta",)
BOOTSTRAP_ARRAYS = ("estimate", "theta", "objective", "converged", "n_at_best", "log_x", "log_y", "weights")


# ---------------------------------------------------------------------- jaxscale results
def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _field(meta: dict, name: str, ok: Callable, expected: str, path):
    if name not in meta:
        raise ValueError(f"{path}: meta has no {name!r} field; the file was not written by jaxscale's .save")
    value = meta[name]
    if not ok(value):
        raise ValueError(f"{path}: meta field {name!r} must be {expected}, got {type(value).__name__} {_short(value)}")
    return value


class _Header(NamedTuple):
    kind: str
    law: object
    loss: object


def _check_meta(meta: dict, path, expected_kind: str | None) -> tuple[_Header, set[str]]:
    """Validate a result's metadata; return the law, loss and kind, and the arrays the kind needs."""
    fmt = meta.get("format")
    if type(fmt) is not int or fmt not in (1, FORMAT):
        raise ValueError(f"{path}: format {_short(fmt)} is not a jaxscale result format this version reads "
                         f"(1 or {FORMAT}); upgrade jaxscale or re-save the result")
    kind = meta.get("kind", "bootstrap" if fmt == 1 else None)  # format-1 bootstraps carried no kind
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"{path}: kind {_short(kind)} is not a jaxscale result kind ('fit' or 'bootstrap')")
    if expected_kind is not None and kind != expected_kind:
        raise ValueError(f"{path} holds a {kind} result, not a {expected_kind}; load it with jaxscale.load")
    if kind == "grouped-fit":
        return _check_grouped_meta(meta, path)
    law_name = _field(meta, "law", lambda v: isinstance(v, str), "a law name", path)
    loss_name = _field(meta, "loss", lambda v: isinstance(v, str), "a loss name", path)
    params = _field(meta, "loss_params", lambda v: isinstance(v, dict) and all(
        _is_number(x) and math.isfinite(x) for x in v.values()), "a dict of finite numbers like {'delta': 0.001}", path)
    _field(meta, "recipe", lambda v: isinstance(v, dict), "a dict", path)
    fixed = meta.get("fixed", {})
    tied = meta.get("tied", {})
    if not (isinstance(fixed, dict) and all(isinstance(k, str) and _is_number(v) and math.isfinite(v)
                                            for k, v in fixed.items())):
        raise ValueError(f"{path}: meta field 'fixed' must be a dict of parameter name -> finite number")
    if not (isinstance(tied, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in tied.items())):
        raise ValueError(f"{path}: meta field 'tied' must be a dict of parameter name -> parameter name")
    try:
        law = constrain(get_law(law_name), fixed, tied)
    except ValueError as err:
        raise ValueError(f"{path}: meta fields 'law'/'fixed'/'tied': {err}") from None
    try:
        header = _Header(kind, law, get_loss(loss_name, **params))
    except (TypeError, ValueError) as err:  # unknown name, or parameters the loss does not take
        raise ValueError(f"{path}: meta fields 'loss' and 'loss_params' ({loss_name!r}, {_short(params)}): {err}") \
            from None
    if kind == "fit":
        _field(meta, "objective", _is_number, "a number", path)
        _field(meta, "converged", lambda v: isinstance(v, bool), "true or false", path)
        _field(meta, "n_points", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
               "an integer >= 0", path)
        columns = _field(meta, "start_columns", lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v)
                         and len(set(v)) == len(v), "a list of distinct column names", path)
        return header, set(FIT_ARRAYS) | {f"starts/{c}" for c in columns}
    _field(meta, "estimate_objective", _is_number, "a number", path)
    return header, set(BOOTSTRAP_ARRAYS)


def _json_key(key):
    """A group key as JSON (tuples of several ``by`` columns become lists; numpy scalars plain numbers)."""
    if isinstance(key, tuple):
        return [_json_key(k) for k in key]
    return key.item() if isinstance(key, np.generic) else key


def _check_grouped_meta(meta: dict, path) -> tuple[_Header, set[str]]:
    """A grouped fit: the shared law/loss header, ``by``, ``keys`` and one small meta dict per group."""
    by = _field(meta, "by", lambda v: isinstance(v, list) and v and all(isinstance(c, str) for c in v),
                "a list of column names", path)
    keys = _field(meta, "keys", lambda v: isinstance(v, list) and v, "a non-empty list of group keys", path)
    if any(isinstance(k, list) != (len(by) > 1) or (isinstance(k, list) and len(k) != len(by)) for k in keys):
        raise ValueError(f"{path}: meta field 'keys' must hold one value per group (a list of {len(by)} values "
                         "per group when grouped by several columns)")
    groups = _field(meta, "groups", lambda v: isinstance(v, list) and len(v) == len(keys) and all(
        isinstance(g, dict) and _is_number(g.get("objective")) and isinstance(g.get("converged"), bool)
        and isinstance(g.get("n_points"), int) and g["n_points"] >= 0 for g in v),
        "a list of {objective, converged, n_points} per group", path)
    member = {k: v for k, v in meta.items() if k not in ("by", "keys", "groups")}
    header, needed = _check_meta({**member, "kind": "fit", "objective": groups[0]["objective"],
                                  "converged": groups[0]["converged"], "n_points": groups[0]["n_points"]}, path, "fit")
    return _Header("grouped-fit", header.law, header.loss), needed


def _grouped_fit_result(meta: dict, arrays: dict, header: _Header, path):
    import pandas as pd

    from .fit import FitResult
    from .groups import GroupedFitResult

    keys = [tuple(k) if isinstance(k, list) else k for k in meta["keys"]]
    G, p = len(keys), header.law.n_params
    theta = _array(arrays, "theta", path, "f", (G, p), finite=True)
    columns = meta["start_columns"]
    total = arrays[f"starts/{columns[0]}"].shape[0] if columns else 0
    if total % G:
        raise ValueError(f"{path}: the per-start table has {total} rows, not a multiple of the {G} groups")
    k = total // G
    table = {c: _array(arrays, f"starts/{c}", path, "biufU", (total,)) for c in columns}
    results = {}
    for g, key in enumerate(keys):
        info = meta["groups"][g]
        starts = pd.DataFrame({c: v[g * k:(g + 1) * k] for c, v in table.items()})
        results[key] = FitResult(header.law, header.loss, theta[g], float(info["objective"]), info["converged"],
                                 starts, info["n_points"], dict(meta["recipe"], group=meta["keys"][g]))
    return GroupedFitResult(list(meta["by"]), results, dict(meta["recipe"], by=list(meta["by"])))


def _array(arrays: dict, name: str, path, kinds: str, shape: tuple, *, finite: bool = False) -> np.ndarray:
    """``arrays[name]`` checked: dtype kind in ``kinds``, ``shape`` (an int fixes a length; a label such as
    ``"R"`` allows any length and names it in the message), and all finite if asked."""
    array = arrays[name]
    expected = {"f": "float", "b": "bool", "i": "integer", "u": "integer", "U": "text"}
    if array.dtype.kind not in kinds:
        raise ValueError(f"{path}: array {name!r} has dtype {array.dtype}; expected "
                         f"{' or '.join(sorted({expected[k] for k in kinds}))}")
    sizes = tuple(s if isinstance(s, int) else None for s in shape)
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, sizes)):
        text = "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{path}: array {name!r} has shape {array.shape}; expected {text}")
    if finite and array.size and not np.isfinite(array).all():
        first = np.unravel_index(int(np.argmin(np.isfinite(array).ravel())), array.shape)
        where = first[0] if array.ndim == 1 else tuple(int(i) for i in first)
        raise ValueError(f"{path}: array {name!r} is not finite (index {where} is {array[first]}); "
                         "a saved result's values must be finite")
    return array


def _fit_result(meta: dict, arrays: dict, header: _Header, path) -> "FitResult":
    import pandas as pd

    from .fit import FitResult

    p = header.law.n_params
    theta = _array(arrays, "theta", path, "f", (p,), finite=True)
    columns = meta["start_columns"]
    k = arrays[f"starts/{columns[0]}"].shape[0] if columns and arrays[f"starts/{columns[0]}"].ndim else 0
    starts = pd.DataFrame({c: _array(arrays, f"starts/{c}", path, "biufU", (k,)) for c in columns})
    return FitResult(header.law, header.loss, theta, float(meta["objective"]), meta["converged"], starts,
                     meta["n_points"], meta["recipe"])


def _bootstrap_result(meta: dict, arrays: dict, header: _Header, path) -> "BootstrapResult":
    from .bootstrap import BootstrapResult

    p, k = header.law.n_params, len(header.law.inputs)
    theta = _array(arrays, "theta", path, "f", ("R", p))
    log_y = _array(arrays, "log_y", path, "f", ("n",), finite=True)
    r, n = theta.shape[0], log_y.shape[0]
    if r == 0 or n == 0:
        raise ValueError(f"{path}: a bootstrap needs at least one resample and one data row, got R={r}, n={n}")
    weights = _array(arrays, "weights", path, "f", (n,), finite=True)
    if (weights < 0).any():
        raise ValueError(f"{path}: array 'weights' must be >= 0 (row {int(np.argmax(weights < 0))} is negative)")
    jackknife = arrays.get("jackknife")
    if jackknife is not None:
        jackknife = _array(arrays, "jackknife", path, "f", ("m", p))
    return BootstrapResult(
        header.law, header.loss, _array(arrays, "estimate", path, "f", (p,), finite=True),
        float(meta["estimate_objective"]), theta,
        _array(arrays, "objective", path, "f", (r,)), _array(arrays, "converged", path, "b", (r,)),
        _array(arrays, "n_at_best", path, "iu", (r,)), _array(arrays, "log_x", path, "f", (n, k), finite=True),
        log_y, weights, meta["recipe"], jackknife)


def load(path: str | Path, *, kind: str | None = None,
         max_bytes: int = MAX_BYTES) -> "FitResult | BootstrapResult":
    """Read a result written by ``FitResult.save`` or ``BootstrapResult.save`` (format 1 or 2).

    The file is treated as untrusted (see :func:`read_npz`); then the metadata's fields are checked by
    type, the law and loss by name, and the arrays by dtype and shape: ``theta`` must be finite with
    shape ``(p,)`` for a fit (``p = law.n_params``), ``(R, p)`` for a bootstrap whose ``estimate``
    ``(p,)`` is finite, as are the data ``log_x``, ``log_y`` and ``weights >= 0``; bootstrap draws
    (``theta``, ``objective``) may be non-finite for a resample whose every start failed (``ci`` and
    ``summary`` skip those). Anything else is a one-line ``ValueError`` naming the file and the field.
    Numbers come back bit-identical.

    Parameters
    ----------
    path : path
    kind : {"fit", "bootstrap"}, optional
        Refuse a file of the other kind.
    max_bytes : int
        Limit on the file's inflated size (default 1 GiB).
    """
    found = []

    def check(meta: dict) -> set[str]:
        header, needed = _check_meta(meta, path, kind)
        found.append(header)
        return needed

    meta, arrays = read_npz(path, max_bytes=max_bytes, check_meta=check)
    build = {"fit": _fit_result, "bootstrap": _bootstrap_result, "grouped-fit": _grouped_fit_result}[found[0].kind]
    return build(meta, arrays, found[0], path)


def save_result(result: "FitResult | BootstrapResult", path: str | Path) -> Path:
    """Write a :class:`FitResult`, :class:`BootstrapResult` or grouped fit at ``path`` (format 2, atomically).

    Recipe values that JSON cannot hold are stored as their text (``str``); text columns of the
    per-start table become fixed-width unicode arrays. Returns ``path``; :func:`load` reads it back.
    """
    import pandas as pd

    from .bootstrap import BootstrapResult
    from .fit import FitResult
    from .groups import GroupedFitResult

    if isinstance(result, GroupedFitResult):
        return _save_grouped_fit(result, path)
    if not isinstance(result, (FitResult, BootstrapResult)):
        raise ValueError(f"save_result takes a FitResult or BootstrapResult, got {type(result).__name__}")
    common = {"format": FORMAT, "law": result.law.base.name, "fixed": result.law.fixed, "tied": result.law.tied, "loss": result.loss.name,
              "loss_params": dict(result.loss.params), "recipe": result.recipe}
    if isinstance(result, FitResult):
        meta = {**common, "kind": "fit", "objective": float(result.objective), "converged": bool(result.converged),
                "n_points": int(result.n_points), "start_columns": list(result.starts.columns)}
        arrays = {"theta": result.theta} | {f"starts/{c}": result.starts[c].to_numpy(
            dtype=None if pd.api.types.is_numeric_dtype(result.starts[c]) else str) for c in result.starts.columns}
    else:
        meta = {**common, "kind": "bootstrap", "estimate_objective": float(result.estimate_objective)}
        arrays = {name: getattr(result, name) for name in BOOTSTRAP_ARRAYS}
        if result._jackknife is not None:
            arrays["jackknife"] = result._jackknife
    return write_npz_atomic(path, arrays, json.loads(json.dumps(meta, default=str)))


def _save_grouped_fit(result, path) -> Path:
    """One file for every group: stacked ``theta[G, p]``, the per-start tables concatenated group by group."""
    import pandas as pd

    members = list(result.results.values())
    first = members[0]
    meta = {"format": FORMAT, "kind": "grouped-fit", "law": first.law.base.name, "fixed": first.law.fixed,
            "tied": first.law.tied, "loss": first.loss.name, "loss_params": dict(first.loss.params),
            "recipe": {k: v for k, v in first.recipe.items() if k != "group"}, "by": list(result.by),
            "keys": [_json_key(k) for k in result.results],
            "groups": [{"objective": float(r.objective), "converged": bool(r.converged), "n_points": int(r.n_points)}
                       for r in members],
            "start_columns": list(first.starts.columns)}
    starts = pd.concat([r.starts for r in members], ignore_index=True)
    arrays = {"theta": np.stack([r.theta for r in members])} | {
        f"starts/{c}": starts[c].to_numpy(dtype=None if pd.api.types.is_numeric_dtype(starts[c]) else str)
        for c in starts.columns}
    return write_npz_atomic(path, arrays, json.loads(json.dumps(meta, default=str)))
