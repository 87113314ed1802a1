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

Building blocks, shared with the engine's checkpoint chunks
-----------------------------------------------------------
:func:`write_npz_atomic` writes arrays plus JSON metadata to a temporary file in the target's
directory, flushes and fsyncs it, then ``os.replace``\\ s it onto the target: a reader sees the old
file or the new one, never half of one, and a failed write leaves no temporary file behind.
:func:`atomic_file` is the same for any writer (figures). :func:`read_npz` reads such a file from an
untrusted source: it refuses anything that is not a regular file (FIFOs, directories, devices) before
opening it, then checks the zip directory (member count, names, compression, declared sizes against
``max_bytes``), every ``.npy`` header (object dtype, ``prod(shape) * itemsize`` against the declared
size) and the JSON metadata (size, syntax, nesting, type) before it reads a single array. Every
refusal is a one-line ``ValueError`` naming the file.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import stat
import struct
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterator, Mapping, NamedTuple

import numpy as np

from ..kernels.laws import constrain, get_law
from ..kernels.losses import get_loss

if TYPE_CHECKING:  # the result classes import this module lazily in their save methods
    from .bootstrap import BootstrapResult
    from .fit import FitResult

FORMAT = 2
KINDS = ("fit", "bootstrap", "grouped-fit")
MAX_BYTES = 1 << 30  # default limit on the inflated size of a file read by read_npz / load (1 GiB)
MAX_META_BYTES = 1 << 22  # the JSON metadata member (4 MiB)
MAX_MEMBERS = 1024
MAX_DEPTH = 32  # nesting of the JSON metadata
RESERVED = ("meta", "file", "allow_pickle")  # "meta" holds the JSON; the others are np.savez keywords
FIT_ARRAYS = ("theta",)
BOOTSTRAP_ARRAYS = ("estimate", "theta", "objective", "converged", "n_at_best", "log_x", "log_y", "weights")


class Npz(NamedTuple):
    """Contents of a checked ``.npz``: the JSON metadata and every array by name."""

    meta: dict
    arrays: dict[str, np.ndarray]


# ---------------------------------------------------------------------- writing
def _cannot_write(path: Path, err: OSError) -> OSError:
    if err.errno is None:
        return OSError(f"cannot write {path}: {err}")
    return OSError(err.errno, f"cannot write {path}: {err.strerror or err}")


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Binary handle on a temporary file next to ``path`` that replaces ``path`` only on success.

    On leaving the block without error the file is flushed, fsynced and ``os.replace``\\ d onto
    ``path`` (atomic on POSIX and Windows), then the directory is fsynced. On any error the
    temporary file is removed, ``path`` keeps its previous content, and an ``OSError`` reads
    ``cannot write <path>: <reason>``. The new file gets the usual ``0o666 & ~umask`` mode.
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as err:
        raise _cannot_write(path, err) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise _cannot_write(path, err) from err
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the platform allows it
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def write_npz_atomic(path: str | Path, arrays: Mapping[str, np.ndarray], meta: Mapping) -> Path:
    """Write ``arrays`` and JSON ``meta`` as an uncompressed ``.npz`` at ``path``, atomically.

    Parameters
    ----------
    path : path
        Written exactly as given (no ``.npz`` is appended).
    arrays : mapping name -> array
        Numbers, booleans or fixed-width text; names may contain ``/``. Object arrays (which would
        need pickle) and the names ``meta``, ``file``, ``allow_pickle`` are refused.
    meta : dict
        Stored as JSON text in the member ``meta`` (NaN and infinities allowed).

    Returns
    -------
    Path
        ``path``. Read it back with :func:`read_npz`. Everything is checked before the disk is
        touched; see :func:`atomic_file` for what a failed write leaves.
    """
    if not isinstance(meta, Mapping):
        raise ValueError(f"meta must be a dict, got {type(meta).__name__}")
    payload = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name or name in RESERVED:
            raise ValueError(f"array name {name!r} is reserved or empty; {list(RESERVED)} are taken by the format")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ValueError(f"array {name!r} has dtype object (Python objects would need pickle); "
                             "store numbers, booleans or text (e.g. .astype(str))")
        payload[name] = array
    try:
        text = json.dumps(dict(meta))
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta is not JSON-serialisable: {err}") from None
    with atomic_file(path) as handle:
        np.savez(handle, meta=np.array(text), **payload)
    return Path(path)


# ---------------------------------------------------------------------- reading untrusted files
_FILE_TYPES = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(path, mode: int) -> ValueError:
    what = next((name for test, name in _FILE_TYPES if test(mode)), "not a plain file")
    return ValueError(f"{path} is not a regular file ({what}); give an .npz written by .save")


def _open_regular(path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file: stat first (a FIFO would block ``open``,
    a device may never end), then open non-blocking and check the opened file again (no race)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no such result file: {path}") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    handle = os.fdopen(fd, "rb")
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        handle.close()
        raise _not_regular(path, mode)
    return handle


def _not_npz(path, why) -> ValueError:
    return ValueError(f"{path} is not a jaxscale result file (an .npz written by .save): {why}")


def _member_count(handle: BinaryIO, path) -> int:
    """Entries of the zip from its end-of-central-directory record (zip64 too), before zipfile parses them."""
    size = handle.seek(0, os.SEEK_END)
    tail_start = max(0, size - (22 + 0xFFFF))
    handle.seek(tail_start)
    tail = handle.read()
    at = len(tail)
    while True:  # the last end record whose comment length reaches exactly to the end of the file
        at = tail.rfind(b"PK\x05\x06", 0, at)
        if at < 0:
            raise _not_npz(path, "no zip directory")
        if at + 22 <= len(tail) and at + 22 + struct.unpack_from("<H", tail, at + 20)[0] == len(tail):
            break
    count = struct.unpack_from("<H", tail, at + 10)[0]
    if count == 0xFFFF and at >= 20 and tail[at - 20:at - 16] == b"PK\x06\x07":  # zip64: count in its own record
        try:
            handle.seek(struct.unpack_from("<Q", tail, at - 12)[0])
            record = handle.read(56)
        except (OSError, OverflowError):
            record = b""
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            raise _not_npz(path, "broken zip64 directory")
        count = struct.unpack_from("<Q", record, 32)[0]
    return count


def _array_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path, name: str) -> tuple[tuple, np.dtype]:
    """Shape and dtype from a member's .npy header, checked against the size the zip directory declares."""
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f".npy version {version} is not written by jaxscale")
            header_size = member.tell()
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as err:
        raise ValueError(f"{path}: array {name!r} is not a readable .npy ({' '.join(str(err).split())})") from None
    if dtype.hasobject:
        raise ValueError(f"{path}: array {name!r} has dtype object (Python objects need pickle, which jaxscale "
                         "never loads); the file was not written by jaxscale")
    if any(n < 0 for n in shape):
        raise ValueError(f"{path}: array {name!r} declares a negative shape {shape}")
    data_size = math.prod(shape) * dtype.itemsize
    if header_size + data_size != info.file_size or math.prod(shape) > info.file_size:
        raise ValueError(f"{path}: array {name!r} declares shape {shape} of {dtype} ({data_size:,} bytes) but its "
                         f"zip member holds {info.file_size - header_size:,} bytes; the file is corrupt or crafted")
    return shape, dtype


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path, name: str) -> np.ndarray:
    """One array, after its header passed :func:`_array_header` (so its allocation is bounded)."""
    try:
        with archive.open(info) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as err:  # truncated data, bad CRC
        raise ValueError(f"{path}: array {name!r} could not be read ({' '.join(str(err).split())})") from None


def _depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _parse_meta(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path) -> dict:
    if info.file_size > MAX_META_BYTES:
        raise ValueError(f"{path}: member 'meta' would inflate to {info.file_size:,} bytes, over the "
                         f"{MAX_META_BYTES:,}-byte limit for metadata")
    shape, dtype = _array_header(archive, info, path, "meta")
    if shape != () or dtype.kind not in "US":
        raise ValueError(f"{path}: 'meta' must be a JSON text (0-d string array), got shape {shape} of {dtype}")
    raw = _read_member(archive, info, path, "meta")[()]
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        meta = json.loads(text)
    except RecursionError:
        raise ValueError(f"{path}: meta is nested too deeply to be jaxscale metadata") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise ValueError(f"{path}: meta is not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: meta must be a JSON object, got {type(meta).__name__}")
    if _depth(meta) > MAX_DEPTH:
        raise ValueError(f"{path}: meta is nested too deeply (more than {MAX_DEPTH} levels) to be jaxscale metadata")
    return meta


def read_npz(path: str | Path, *, required: set[str] | frozenset = frozenset(), max_bytes: int = MAX_BYTES,
             check_meta: Callable[[dict], set[str]] | None = None) -> Npz:
    """Read a file written by :func:`write_npz_atomic`, treating it as untrusted.

    Checks, all before any array is read (each failure is a one-line ``ValueError`` naming the file;
    a missing file is ``FileNotFoundError``):

    1. ``path`` is a regular file (``stat.S_ISREG`` before opening, and again on the opened file):
       FIFOs, directories and devices are refused without blocking.
    2. The zip directory: at most ``MAX_MEMBERS`` entries (read from the end record before parsing),
       every member an unencrypted ``<name>.npy``, stored or deflated (zipfile bounds deflate output
       by the declared size; bzip2/LZMA are refused), each declared size and their sum at most
       ``max_bytes`` (a zip bomb is refused from its directory).
    3. Every ``.npy`` header: no object dtype, and header + ``prod(shape) * itemsize`` equal to the
       member's declared size (a header claiming terabytes is refused before allocation).
    4. ``meta``: present, at most ``MAX_META_BYTES``, a 0-d text array holding a JSON object nested at
       most ``MAX_DEPTH`` deep. ``check_meta(meta)``, if given, validates it further (raising
       ``ValueError``) and returns the names of the arrays it needs.
    5. Every name in ``required`` (and from ``check_meta``) is present.

    Parameters
    ----------
    path : path
    required : set of str
        Array names that must be present (besides ``meta``).
    max_bytes : int
        Limit on the inflated size of all members together (default ``MAX_BYTES`` = 1 GiB); raise it
        for a large file you trust.
    check_meta : callable, optional

    Returns
    -------
    Npz
        ``(meta, arrays)``; ``arrays`` holds every member except ``meta``.
    """
    with _open_regular(path) as handle:
        count = _member_count(handle, path)
        if count > MAX_MEMBERS:
            raise _not_npz(path, f"{count:,} members (jaxscale files have a few dozen; limit {MAX_MEMBERS:,})")
        try:
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, struct.error,
                NotImplementedError) as err:
            raise _not_npz(path, err) from None
        with archive:
            infos, total = {}, 0
            for info in archive.infolist():
                name = info.filename[:-4]
                if info.is_dir() or not info.filename.endswith(".npy") or not name or name in infos:
                    raise _not_npz(path, f"member {info.filename!r} is not a (single) .npy array")
                if info.flag_bits & 0x1:
                    raise _not_npz(path, f"member {info.filename!r} is encrypted")
                if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                    raise _not_npz(path, f"member {info.filename!r} uses compression method {info.compress_type}; "
                                         "only stored or deflated members are read")
                total += info.file_size
                if info.file_size > max_bytes or total > max_bytes:
                    raise ValueError(f"{path}: member {name!r} would inflate to {info.file_size:,} bytes "
                                     f"({total:,} in all so far), over the {max_bytes:,}-byte limit; pass a larger "
                                     "max_bytes only for a file you trust")
                infos[name] = info
            if "meta" not in infos:
                raise ValueError(f"{path}: an .npz with no 'meta' member is not a jaxscale file; "
                                 "write results with .save(path)")
            for name, info in infos.items():
                if name != "meta":
                    _array_header(archive, info, path, name)
            meta = _parse_meta(archive, infos.pop("meta"), path)
            needed = set(required) | (set(check_meta(meta)) if check_meta is not None else set())
            missing = sorted(needed - set(infos))
            if missing:
                raise ValueError(f"{path}: missing array{'s' if len(missing) > 1 else ''} {missing} "
                                 f"(the file has {sorted(infos)})")
            arrays = {name: _read_member(archive, info, path, name) for name, info in infos.items()}
    return Npz(meta, arrays)


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
    from ..kernels.laws import LAWS

    if law_name not in LAWS:
        raise ValueError(f"{path}: unknown law {law_name!r}: the result was fitted with a law not registered in this "
                         "session. Define that law again and register it with jaxscale.register_law(law) before "
                         "jaxscale.load(path)")
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
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None (any), got {kind!r}")
    found = []

    def check(meta: dict) -> set[str]:
        header, needed = _check_meta(meta, path, kind)
        found.append(header)
        return needed

    meta, arrays = read_npz(path, max_bytes=max_bytes, check_meta=check)
    build = {"fit": _fit_result, "bootstrap": _bootstrap_result, "grouped-fit": _grouped_fit_result}[found[0].kind]
    return build(meta, arrays, found[0], path)


#: Suffixes of data, figures and code: a result (an .npz) is never saved under them.
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".parquet", ".feather", ".xlsx", ".xls", ".png", ".pdf", ".svg",
                 ".py", ".ipynb")


def refuse_data_suffix(path: str | Path) -> None:
    """A result is an ``.npz``: refuse a path whose suffix belongs to data, a figure or code (e.g. the input CSV)."""
    suffix = Path(path).suffix.lower()
    if suffix in DATA_SUFFIXES:
        raise ValueError(f"{path}: a result is saved as an .npz file, and {suffix} is the suffix of a data, figure or "
                         f"code file (perhaps the input); save it as e.g. {Path(path).with_suffix('.npz').name}")


def save_result(result: "FitResult | BootstrapResult", path: str | Path) -> Path:
    """Write a :class:`FitResult`, :class:`BootstrapResult` or grouped fit at ``path`` (format 2, atomically).

    Recipe values that JSON cannot hold are stored as their text (``str``); text columns of the
    per-start table become fixed-width unicode arrays. Returns ``path``; :func:`load` reads it back.
    """
    import pandas as pd

    from .bootstrap import BootstrapResult
    from .fit import FitResult
    from .groups import GroupedFitResult

    refuse_data_suffix(path)
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
