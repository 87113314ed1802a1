"""Shared fixtures. The Chinchilla CSV is looked up in $JAXSCALE_CHINCHILLA_CSV, then ../shared/data,
then the loader's cache/download; tests that need it skip (with the reason) only when none works."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

# The library turns JAX's persistent compilation cache on at import (~/.cache/jaxscale/xla): the tests keep it
# in one temporary folder instead, shared with their subprocesses (JIT_CACHE below), never in the user's home.
# Under pytest-xdist (the README's `-n 2`) the workers of one run share the folder, so a program compiled by
# one worker is read by the other.
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
if _RUN:
    _TEST_XLA_CACHE = os.path.join(tempfile.gettempdir(), f"jaxscale-test-xla-{_RUN}")
    os.makedirs(_TEST_XLA_CACHE, exist_ok=True)
else:
    _TEST_XLA_CACHE = tempfile.mkdtemp(prefix="jaxscale-test-xla-")
os.environ.setdefault("JAXSCALE_CACHE_DIR", _TEST_XLA_CACHE)

import jaxscale as js  # noqa: E402  (after the cache folder is chosen)

REPO = Path(__file__).resolve().parents[1]
SHARED_CSV = REPO.parent / "shared" / "data" / "svg_extracted_data.csv"
# The data is looked for in $JAXSCALE_CHINCHILLA_CSV, then ../shared/data, then the loader's cache/download:
# naming the shared copy in the environment makes every test that calls js.datasets.chinchilla() directly, and
# every subprocess, use it too (a clean clone with ../shared beside it and no network).
if not os.environ.get("JAXSCALE_CHINCHILLA_CSV") and SHARED_CSV.is_file():
    os.environ["JAXSCALE_CHINCHILLA_CSV"] = str(SHARED_CSV)

# One persistent XLA cache for the subprocesses of this test session (CLI runs, notebook kernels): each
# then skips recompiling kernels an earlier one compiled (about 9 s -> 2.5 s per CLI call on 2 cores).
# Results are identical; only compile time goes.
JIT_CACHE = {"JAX_COMPILATION_CACHE_DIR": _TEST_XLA_CACHE,
             "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def locate_chinchilla_csv() -> tuple[Path | None, str]:
    env = os.environ.get("JAXSCALE_CHINCHILLA_CSV")
    if env and Path(env).is_file():
        return Path(env), ""
    if SHARED_CSV.is_file():
        return SHARED_CSV, ""
    try:
        return js.datasets.chinchilla_path(), ""
    except FileNotFoundError as err:
        return None, f"Chinchilla CSV not found ($JAXSCALE_CHINCHILLA_CSV, {SHARED_CSV}, cache/download): {err}"


@pytest.fixture(scope="session")
def chinchilla_csv() -> Path:
    path, why = locate_chinchilla_csv()
    if path is None:
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def chinchilla_240(chinchilla_csv):
    return js.datasets.chinchilla(chinchilla_csv)


@pytest.fixture(scope="session")
def grid_fit(chinchilla_240):
    """The reference procedure: 4500 Hoffmann starts on Epoch's 240 rows, default settings."""
    return js.fit(chinchilla_240)


# ------------------------------------------------------------------ independent numpy/scipy reference
def reference_objective(theta, log_n, log_d, log_l, delta=1e-3, weights=None):
    """Huber-sum objective and gradient written in numpy only (no jaxscale code)."""
    from scipy.special import logsumexp, softmax

    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)], axis=1)
    r = log_l - logsumexp(terms, axis=1)
    w = np.ones_like(r) if weights is None else weights
    huber = np.where(np.abs(r) <= delta, 0.5 * r**2, delta * (np.abs(r) - 0.5 * delta))
    s = softmax(terms, axis=1)
    jac = np.stack([s[:, 0], s[:, 1], s[:, 2], -s[:, 0] * log_n, -s[:, 1] * log_d], axis=1)
    grad = -jac.T @ (w * np.clip(r, -delta, delta))
    return float(np.sum(w * huber)), grad


def scipy_fit(theta0, log_n, log_d, log_l, method="L-BFGS-B", **options):
    from scipy.optimize import minimize

    return minimize(reference_objective, np.asarray(theta0, float), args=(log_n, log_d, log_l), jac=True,
                    method=method, options=options)
