"""THE atomic ``.npz`` writer and defensive reader of jaxscale: results and checkpoint chunks alike.

Writing
-------
:func:`write_npz` writes arrays plus a JSON ``meta`` member as an uncompressed ``.npz`` (a zip of
``.npy`` arrays; never pickle) with fixed timestamps and members in name order, so the same arrays
always give the same bytes (a retried or duplicated chunk rewrites an identical file). With
``checksum=True`` the meta also holds the SHA-256 of every array's name, dtype, shape and bytes
(checkpoint chunks use it; a flipped byte is then caught on reading). The bytes go to a temporary
file in the target's directory, flushed and fsynced, then ``os.replace``\\ d onto the target
(:func:`atomic_file`): a reader sees the old file or the new one, never half of one, and a failed
write leaves no temporary file behind. :func:`atomic_file` is the same for any writer (figures, JSON).

Reading
-------
:func:`read_npz` reads such a file from an untrusted source: it refuses anything that is not a
regular file (FIFOs, directories, devices) before opening it, then checks the zip directory (member
count, names, compression, declared sizes against ``max_bytes``), every ``.npy`` header (object dtype,
``prod(shape) * itemsize`` against the declared size) and the JSON metadata (size, syntax, nesting,
type) before it reads a single array, and verifies the stored SHA-256 when there is one. Every
refusal is a one-line :class:`CorruptFile` (a ``ValueError``) naming the file.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import stat
import struct
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Mapping, NamedTuple

import numpy as np

__all__ = ["CorruptFile", "Npz", "atomic_file", "checksum", "read_npz", "write_bytes_atomic", "write_npz"]

MAX_BYTES = 1 << 30  # default limit on the inflated size of a file read by read_npz (1 GiB)
MAX_META_BYTES = 1 << 22  # the JSON metadata member (4 MiB)
MAX_MEMBERS = 1024
MAX_DEPTH = 32  # nesting of the JSON metadata
RESERVED = ("meta", "file", "allow_pickle")  # "meta" holds the JSON; the others are np.savez keywords
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamp: identical arrays -> identical bytes


class CorruptFile(ValueError):
    """A file that cannot be read back, is not a jaxscale ``.npz``, or fails its stored checksum."""


def checksum(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over every array's name, dtype, shape and C-order bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


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


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_file`)."""
    with atomic_file(path) as handle:
        handle.write(data)
    return Path(path)


def write_npz(path: str | Path, arrays: Mapping[str, np.ndarray], meta: Mapping | None = None, *,
              checksum: bool = False) -> Path:
    """Write ``arrays`` and JSON ``meta`` as an uncompressed ``.npz`` at ``path``, atomically and byte-reproducibly.

    Parameters
    ----------
    path : path
        Written exactly as given (no ``.npz`` is appended).
    arrays : mapping name -> array
        Numbers, booleans or fixed-width text; names may contain ``/``. Object arrays (which would
        need pickle) and the names ``meta``, ``file``, ``allow_pickle`` are refused.
    meta : dict
        Stored as JSON text in the member ``meta`` (NaN and infinities allowed).
    checksum : bool
        Also store the SHA-256 of the arrays (key ``sha256``), verified by :func:`read_npz`.

    Returns
    -------
    Path
        ``path``. Read it back with :func:`read_npz`. Everything is checked before the disk is
        touched; see :func:`atomic_file` for what a failed write leaves.
    """
    meta = {} if meta is None else meta
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
    meta = dict(meta)
    if checksum:
        meta["sha256"] = _checksum(payload)
    try:
        text = json.dumps(meta, sort_keys=checksum)
    except (TypeError, ValueError) as err:
        raise ValueError(f"meta is not JSON-serialisable: {err}") from None
    payload["meta"] = np.array(text)
    with atomic_file(path) as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in sorted(payload):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
                info.external_attr = 0o644 << 16
                with archive.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, payload[name], allow_pickle=False)
    return Path(path)


# ---------------------------------------------------------------------- reading untrusted files
_FILE_TYPES = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(path, mode: int) -> CorruptFile:
    what = next((name for test, name in _FILE_TYPES if test(mode)), "not a plain file")
    return CorruptFile(f"{path} is not a regular file ({what}); give an .npz written by .save")


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


def _not_npz(path, why) -> CorruptFile:
    return CorruptFile(f"{path} is not a jaxscale result file (an .npz written by .save; unreadable: {why})")


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
                raise CorruptFile(f".npy version {version} is not written by jaxscale")
            header_size = member.tell()
    except (ValueError, EOFError, OSError, zipfile.BadZipFile, NotImplementedError, RuntimeError) as err:
        raise CorruptFile(f"{path}: array {name!r} is not a readable .npy ({' '.join(str(err).split())})") from None
    if dtype.hasobject:
        raise CorruptFile(f"{path}: array {name!r} has dtype object (Python objects need pickle, which jaxscale "
                         "never loads); the file was not written by jaxscale")
    if any(n < 0 for n in shape):
        raise CorruptFile(f"{path}: array {name!r} declares a negative shape {shape}")
    data_size = math.prod(shape) * dtype.itemsize
    if header_size + data_size != info.file_size or math.prod(shape) > info.file_size:
        raise CorruptFile(f"{path}: array {name!r} declares shape {shape} of {dtype} ({data_size:,} bytes) but its "
                         f"zip member holds {info.file_size - header_size:,} bytes; the file is corrupt or crafted")
    return shape, dtype


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path, name: str) -> np.ndarray:
    """One array, after its header passed :func:`_array_header` (so its allocation is bounded)."""
    try:
        with archive.open(info) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as err:  # truncated data, bad CRC
        raise CorruptFile(f"{path}: array {name!r} could not be read ({' '.join(str(err).split())})") from None


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
        raise CorruptFile(f"{path}: member 'meta' would inflate to {info.file_size:,} bytes, over the "
                         f"{MAX_META_BYTES:,}-byte limit for metadata")
    shape, dtype = _array_header(archive, info, path, "meta")
    if shape != () or dtype.kind not in "US":
        raise CorruptFile(f"{path}: 'meta' must be a JSON text (0-d string array), got shape {shape} of {dtype}")
    raw = _read_member(archive, info, path, "meta")[()]
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        meta = json.loads(text)
    except RecursionError:
        raise CorruptFile(f"{path}: meta is nested too deeply to be jaxscale metadata") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, over-long integers
        raise CorruptFile(f"{path}: meta is not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise CorruptFile(f"{path}: meta must be a JSON object, got {type(meta).__name__}")
    if _depth(meta) > MAX_DEPTH:
        raise CorruptFile(f"{path}: meta is nested too deeply (more than {MAX_DEPTH} levels) to be jaxscale metadata")
    return meta


def read_npz(path: str | Path, *, required: set[str] | frozenset = frozenset(), max_bytes: int = MAX_BYTES,
             check_meta: Callable[[dict], set[str]] | None = None, verify: bool = False) -> Npz:
    """Read a file written by :func:`write_npz`, treating it as untrusted.

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
    6. A stored SHA-256 (``checksum=True`` on writing) matches the arrays; ``verify=True`` also
       requires one. The ``sha256`` key is not returned in ``meta``.

    Parameters
    ----------
    path : path
    required : set of str
        Array names that must be present (besides ``meta``).
    max_bytes : int
        Limit on the inflated size of all members together (default ``MAX_BYTES`` = 1 GiB); raise it
        for a large file you trust.
    check_meta : callable, optional
    verify : bool
        Refuse a file without a stored checksum (checkpoint chunks).

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
                    raise CorruptFile(f"{path}: member {name!r} would inflate to {info.file_size:,} bytes "
                                     f"({total:,} in all so far), over the {max_bytes:,}-byte limit; pass a larger "
                                     "max_bytes only for a file you trust")
                infos[name] = info
            if "meta" not in infos:
                raise CorruptFile(f"{path}: an .npz with no 'meta' member is not a jaxscale file; "
                                 "write results with .save(path)")
            for name, info in infos.items():
                if name != "meta":
                    _array_header(archive, info, path, name)
            meta = _parse_meta(archive, infos.pop("meta"), path)
            needed = set(required) | (set(check_meta(meta)) if check_meta is not None else set())
            missing = sorted(needed - set(infos))
            if missing:
                raise CorruptFile(f"{path}: missing array{'s' if len(missing) > 1 else ''} {missing} "
                                 f"(the file has {sorted(infos)})")
            arrays = {name: _read_member(archive, info, path, name) for name, info in infos.items()}
    stored = meta.pop("sha256", None)
    if stored is not None and stored != _checksum(arrays):
        raise CorruptFile(f"{path}: contents do not match the stored SHA-256 checksum (a changed byte)")
    if stored is None and verify:
        raise CorruptFile(f"{path}: no stored SHA-256 checksum; this file was not written with checksum=True")
    return Npz(meta, arrays)


_checksum = checksum  # write_npz's keyword shadows the function's name
