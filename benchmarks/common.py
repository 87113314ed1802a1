"""Shared pieces of the benchmarks: data, the independent numpy/scipy objective, timing, JSON output."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # fair scipy baselines (DESIGN: 37x slower otherwise)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHARED_CSV = ROOT.parent / "shared" / "data" / "svg_extracted_data.csv"


def chinchilla_240():
    import jaxscale as js

    env = os.environ.get("JAXSCALE_CHINCHILLA_CSV")
    path = env if env else (SHARED_CSV if SHARED_CSV.is_file() else None)
    return js.datasets.chinchilla(path)


def log_arrays(frame):
    return tuple(np.log(frame[c].to_numpy()) for c in ("N", "D", "loss"))


def huber_objective(theta, log_n, log_d, log_l, delta=1e-3, weights=None, with_grad=True):
    """Huber-sum objective (and exact gradient) in numpy/scipy only: the independent reference."""
    from scipy.special import logsumexp, softmax

    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)], axis=1)
    r = log_l - logsumexp(terms, axis=1)
    w = 1.0 if weights is None else weights
    value = float(np.sum(w * np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))))
    if not with_grad:
        return value
    s = softmax(terms, axis=1)
    jac = np.stack([s[:, 0], s[:, 1], s[:, 2], -s[:, 0] * log_n, -s[:, 1] * log_d], axis=1)
    return value, -jac.T @ (w * np.clip(r, -delta, delta))


def machine() -> dict:
    import jax

    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "jax": jax.__version__, "backend": jax.default_backend(),
            "devices": [str(d) for d in jax.devices()]}
    try:
        import scipy

        info["scipy"] = scipy.__version__
    except ImportError:
        pass
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                            text=True).stdout.strip()
    except OSError:
        pass
    return info


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def timed_twice(fn, *args, **kwargs):
    """Run the identical call twice: ``(result, first_s (compile + run), second_s (run only))``.

    A warm-up on other shapes (fewer resamples) does not count: jit recompiles for new array shapes.
    """
    _, first = timed(fn, *args, **kwargs)
    out, second = timed(fn, *args, **kwargs)
    return out, first, second


def timed_repeats(fn, *args, repeats: int = 3, **kwargs):
    """The identical call ``1 + repeats`` times: ``(result, first_s (compile + run), [run_s, ...])``."""
    _, first = timed(fn, *args, **kwargs)
    times, out = [], None
    for _ in range(repeats):
        out, seconds = timed(fn, *args, **kwargs)
        times.append(seconds)
    return out, first, times


def spread(first: float, times: list[float]) -> dict:
    """First call, median, min and max of the repeats (their range is the machine's noise)."""
    import statistics

    median = statistics.median(times)
    return {"first_call_s (compile + run)": first, "run_s_median": median, "run_s_min": min(times),
            "run_s_max": max(times), "run_s_all": times, "compile_s_estimate": first - median}


def write(name: str, payload: dict, folder: Path | str = RESULTS) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    os.replace(tmp, path)  # atomic: a reader never sees a half-written file
    print(f"wrote {path}")
    return path


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval (95 % by default) for a binomial proportion ``k / n``."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(centre - half), float(centre + half)
