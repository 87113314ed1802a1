"""Atomic, checksummed, byte-reproducible ``.npz`` files (no pickle).

:func:`write_npz` writes arrays plus a JSON ``meta`` entry holding the SHA-256 of every
array's name, dtype, shape and bytes. The zip has fixed timestamps and no compression, so the
same arrays always give the same bytes (a retried or duplicated chunk rewrites an identical
file). The file is written to a temporary name in the target folder, flushed with ``fsync``
and moved into place with :func:`os.replace`: a reader sees the old file or the new one,
never a torn one. :func:`read_npz` recomputes the checksum and raises :class:`CorruptFile`
on a truncated, byte-flipped or foreign file.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

__all__ = ["CorruptFile", "checksum", "read_npz", "write_bytes_atomic", "write_npz"]

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamp: identical arrays -> identical bytes


class CorruptFile(ValueError):
    """A file that cannot be read back or whose contents fail the stored checksum."""


def checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and C-order bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file, ``fsync`` and :func:`os.replace`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (POSIX); not available everywhere
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return path
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return path


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray], meta: Mapping | None = None) -> Path:
    """Atomically write ``arrays`` and JSON ``meta`` (plus their checksum) as an ``.npz``.

    Object arrays are refused (they would need pickle). Reading back with
    :func:`numpy.load` works too; :func:`read_npz` also verifies the checksum.
    """
    arrays = {str(k): np.asarray(v) for k, v in arrays.items()}
    if "meta" in arrays:
        raise ValueError("'meta' is reserved for the JSON metadata")
    header = dict(meta or {})
    header["sha256"] = checksum(arrays)
    payload = dict(arrays, meta=np.array(json.dumps(header, sort_keys=True, default=str)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(payload):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, payload[name], allow_pickle=False)
    return write_bytes_atomic(path, buffer.getvalue())


def read_npz(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`write_npz`: ``(arrays, meta)``.

    Raises
    ------
    CorruptFile
        The file is truncated, not a zip/npy, lacks metadata, or its arrays do not match
        the stored SHA-256 (a flipped byte).
    """
    path = Path(path)
    try:
        # our own handle, closed on every path: np.load(path) leaks its file when the zip is torn (issue 18)
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except Exception as err:  # BadZipFile, CRC errors, EOFError, ValueError from a torn header ...
        raise CorruptFile(f"{path}: unreadable ({type(err).__name__}: {err})") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except (KeyError, ValueError) as err:
        raise CorruptFile(f"{path}: no valid JSON metadata ({err})") from None
    if not isinstance(meta, dict) or meta.get("sha256") != checksum(arrays):
        raise CorruptFile(f"{path}: contents do not match the stored SHA-256 checksum")
    return arrays, meta
