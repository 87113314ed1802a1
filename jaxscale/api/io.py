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
from typing import Callable, NamedTuple

import numpy as np

from ..engine.npzfile import MAX_BYTES, Npz, atomic_file, read_npz, write_npz
from ..kernels.laws import LAWS, constrain, get_law
from ..kernels.losses import get_loss

FORMAT = 2
write_npz_atomic = write_npz  # the name this module used before the writer moved to the engine


# ---------------------------------------------------------------------- checks shared by every kind
def short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def meta_field(meta: dict, name: str, ok: Callable, expected: str, path):
    if name not in meta:
        raise ValueError(f"{path}: meta has no {name!r} field; the file was not written by jaxscale's .save")
    value = meta[name]
    if not ok(value):
        raise ValueError(f"{path}: meta field {name!r} must be {expected}, got {type(value).__name__} {short(value)}")
    return value


class Header(NamedTuple):
    kind: str
    law: object
    loss: object


def law_loss_header(meta: dict, path, kind: str) -> Header:
    """The law (with its ``fixed``/``tied`` constraints) and loss a result file names, checked."""
    law_name = meta_field(meta, "law", lambda v: isinstance(v, str), "a law name", path)
    loss_name = meta_field(meta, "loss", lambda v: isinstance(v, str), "a loss name", path)
    params = meta_field(meta, "loss_params", lambda v: isinstance(v, dict) and all(
        is_number(x) and math.isfinite(x) for x in v.values()), "a dict of finite numbers like {'delta': 0.001}", path)
    meta_field(meta, "recipe", lambda v: isinstance(v, dict), "a dict", path)
    fixed = meta.get("fixed", {})
    tied = meta.get("tied", {})
    if not (isinstance(fixed, dict) and all(isinstance(k, str) and is_number(v) and math.isfinite(v)
                                            for k, v in fixed.items())):
        raise ValueError(f"{path}: meta field 'fixed' must be a dict of parameter name -> finite number")
    if not (isinstance(tied, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in tied.items())):
        raise ValueError(f"{path}: meta field 'tied' must be a dict of parameter name -> parameter name")
    if law_name not in LAWS:
        raise ValueError(f"{path}: unknown law {law_name!r}: the result was fitted with a law not registered in this "
                         "session. Define that law again and register it with jaxscale.register_law(law) before "
                         "jaxscale.load(path)")
    try:
        law = constrain(get_law(law_name), fixed, tied)
    except ValueError as err:
        raise ValueError(f"{path}: meta fields 'law'/'fixed'/'tied': {err}") from None
    try:
        return Header(kind, law, get_loss(loss_name, **params))
    except (TypeError, ValueError) as err:  # unknown name, or parameters the loss does not take
        raise ValueError(f"{path}: meta fields 'loss' and 'loss_params' ({loss_name!r}, {short(params)}): {err}") \
            from None


def json_key(key):
    """A group key as JSON (tuples of several ``by`` columns become lists; numpy scalars plain numbers)."""
    if isinstance(key, tuple):
        return [json_key(k) for k in key]
    return key.item() if isinstance(key, np.generic) else key


def checked_array(arrays: dict, name: str, path, kinds: str, shape: tuple, *, finite: bool = False) -> np.ndarray:
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


# ---------------------------------------------------------------------- the kind registry
KINDS: dict[str, type] = {}
#: The order kinds are listed in messages (whatever order their modules were imported in).
SHOWN_ORDER = ("fit", "bootstrap", "grouped-fit")


def register_kind(kind: str):
    """Class decorator: results of this class are saved and loaded as ``kind``.

    The class provides ``_to_file(self) -> (meta, arrays)`` (meta: :func:`result_meta` plus ``kind`` and its fields),
    ``_check_file(meta, path) -> (Header, names of the arrays needed)`` (a classmethod that raises
    ``ValueError`` naming the file and field) and ``_from_file(meta, arrays, header, path)`` (a classmethod
    building the result from checked arrays). This module imports no result class: the result modules
    register themselves, so the import graph stays one-way.
    """
    def register(cls):
        KINDS[kind] = cls
        return cls

    return register


def result_meta(law, loss, recipe: dict) -> dict:
    """The fields every result file starts with: the base law, its constraints, the loss and the recipe."""
    return {"format": FORMAT, "law": law.base.name, "fixed": law.fixed, "tied": law.tied, "loss": loss.name,
            "loss_params": dict(loss.params), "recipe": recipe}


def starts_arrays(starts) -> dict:
    """A per-start table as arrays ``starts/<column>`` (text columns as fixed-width unicode)."""
    import pandas as pd

    return {f"starts/{c}": starts[c].to_numpy(dtype=None if pd.api.types.is_numeric_dtype(starts[c]) else str)
            for c in starts.columns}


def check_meta(meta: dict, path, expected_kind: str | None) -> tuple[Header, set[str]]:
    """Validate a result's metadata (format, kind, then the kind's own checks); return the header (kind, law,
    loss) and the arrays the kind needs."""
    fmt = meta.get("format")
    if type(fmt) is not int or fmt not in (1, FORMAT):
        raise ValueError(f"{path}: format {short(fmt)} is not a jaxscale result format this version reads "
                         f"(1 or {FORMAT}); upgrade jaxscale or re-save the result")
    kind = meta.get("kind", "bootstrap" if fmt == 1 else None)  # format-1 bootstraps carried no kind
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"{path}: kind {short(kind)} is not a jaxscale result kind "
                         f"({' or '.join(map(repr, KINDS))})")
    if expected_kind is not None and kind != expected_kind:
        raise ValueError(f"{path} holds a {kind} result, not a {expected_kind}; load it with jaxscale.load")
    return KINDS[kind]._check_file(meta, path)


def load(path: str | Path, *, kind: str | None = None, max_bytes: int = MAX_BYTES):
    """Read a result written by ``FitResult.save`` or ``BootstrapResult.save`` (format 1 or 2).

    The file is treated as untrusted (see :func:`read_npz`); then the metadata's fields are checked by
    type, the law and loss by name, and the arrays by dtype and shape: ``theta`` must be finite with
    shape ``(p,)`` for a fit (``p = law.n_params``), ``(R, p)`` for a bootstrap whose ``estimate``
    ``(p,)`` is finite, as are the data ``log_x``, ``log_y`` and ``weights >= 0``; bootstrap draws
    (``theta``, ``objective``) may be non-finite for a resample whose every start failed (``ci`` and
    ``summary`` skip those). Anything else is a one-line ``ValueError`` naming the file and the field.
    Numbers come back bit-identical. The kinds are those registered (:func:`register_kind`);
    :func:`jaxscale.load` imports every result module first.

    Parameters
    ----------
    path : path
    kind : {"fit", "bootstrap"}, optional
        Refuse a file of the other kind.
    max_bytes : int
        Limit on the file's inflated size (default 1 GiB).
    """
    if kind is not None and kind not in KINDS:
        shown = tuple(sorted(KINDS, key=lambda k: (SHOWN_ORDER.index(k) if k in SHOWN_ORDER else len(SHOWN_ORDER), k)))
        raise ValueError(f"kind must be one of {shown} or None (any), got {kind!r}")
    found = []

    def check(meta: dict) -> set[str]:
        header, needed = check_meta(meta, path, kind)
        found.append(header)
        return needed

    meta, arrays = read_npz(path, max_bytes=max_bytes, check_meta=check)
    return KINDS[found[0].kind]._from_file(meta, arrays, found[0], path)


#: Suffixes of data, figures and code: a result (an .npz) is never saved under them.
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".parquet", ".feather", ".xlsx", ".xls", ".png", ".pdf", ".svg",
                 ".py", ".ipynb")


def refuse_data_suffix(path: str | Path) -> None:
    """A result is an ``.npz``: refuse a path whose suffix belongs to data, a figure or code (e.g. the input CSV)."""
    suffix = Path(path).suffix.lower()
    if suffix in DATA_SUFFIXES:
        raise ValueError(f"{path}: a result is saved as an .npz file, and {suffix} is the suffix of a data, figure or "
                         f"code file (perhaps the input); save it as e.g. {Path(path).with_suffix('.npz').name}")


def save_result(result, path: str | Path) -> Path:
    """Write a registered result (a fit, a bootstrap, a grouped fit ...) at ``path`` (format 2, atomically).

    Recipe values that JSON cannot hold are stored as their text (``str``); text columns of the
    per-start table become fixed-width unicode arrays. Returns ``path``; :func:`load` reads it back.
    """
    if not any(type(result) is cls for cls in KINDS.values()):
        raise ValueError(f"save_result takes a FitResult or BootstrapResult (or another registered result: "
                         f"{[cls.__name__ for cls in KINDS.values()]}), got {type(result).__name__}")
    refuse_data_suffix(path)
    meta, arrays = result._to_file()
    return write_npz(path, arrays, json.loads(json.dumps(meta, default=str)))
