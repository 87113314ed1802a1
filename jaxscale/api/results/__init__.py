"""Result classes, one module each, each owning its file codec (``_to_file``/``_from_file``).

Importing this package registers every kind with :mod:`jaxscale.api.io`; :func:`load` reads any of them.
"""
from __future__ import annotations

from pathlib import Path

from .. import io
from .bootstrap import BootstrapResult
from .fit import FitResult
from .grouped import GroupedBootstrapResult, GroupedFitResult

__all__ = ["BootstrapResult", "FitResult", "GroupedBootstrapResult", "GroupedFitResult", "load"]


def load(path: str | Path, *, kind: str | None = None, max_bytes: int = io.MAX_BYTES):
    """Read a result written by ``.save`` (a fit, a bootstrap or a grouped fit; format 1 or 2), bit-exactly.

    The file is treated as untrusted (see :func:`jaxscale.api.io.load` and
    :func:`jaxscale.engine.npzfile.read_npz`). ``kind`` refuses a file of another kind.
    """
    return io.load(path, kind=kind, max_bytes=max_bytes)
