"""``jaxscale.load``: read back a saved :class:`FitResult` or :class:`BootstrapResult`."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from . import bootstrap as _bootstrap
from .fit import FitResult, load_fit


def load(path: str | Path) -> FitResult | _bootstrap.BootstrapResult:
    """Read a result written by ``FitResult.save`` or ``BootstrapResult.save`` (``.npz``, no pickle).

    The kind is taken from the file's JSON metadata; numbers come back bit-identical.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such result file: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "meta" not in npz.files:
                raise ValueError(f"{path} is an .npz without jaxscale metadata; save results with .save(path)")
            if json.loads(str(npz["meta"])).get("kind") == "fit":
                return load_fit(npz)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a jaxscale result file (.npz written by .save): {err}") from None
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(f"{path} is not a jaxscale result file (.npz written by .save)") from None
        raise
    return _bootstrap.load(path)
