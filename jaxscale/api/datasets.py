"""Data sets: Epoch AI's extraction of the Chinchilla runs, and seeded synthetic isoFLOP data."""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from ..kernels import allocation

CHINCHILLA_URL = ("https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
                  "92258837425e1b5f2851d624287f0120583a3d0e/data/svg_extracted_data.csv")
CHINCHILLA_SHA256 = "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30"
CHINCHILLA_FILE = "svg_extracted_data.csv"
ENV_VAR = "JAXSCALE_CHINCHILLA_CSV"

#: Epoch AI's estimate (Besiroglu et al. 2024, Table 1): the default truth of :func:`synthetic`.
EPOCH_PARAMS = {"A": 482.01, "B": 2085.43, "E": 1.8169, "alpha": 0.3478, "beta": 0.3659}
#: Hoffmann et al. (2022), eq. (10): the Approach 3 law as published.
HOFFMANN_PARAMS = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
#: Hoffmann et al. (2022), Fig. 3: the nine isoFLOP budgets (FLOP) of Approach 2.
HOFFMANN_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


def cache_dir() -> Path:
    """``$JAXSCALE_CACHE``, else ``$XDG_CACHE_HOME/jaxscale``, else ``~/.cache/jaxscale``."""
    if os.environ.get("JAXSCALE_CACHE"):
        return Path(os.environ["JAXSCALE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxscale"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def chinchilla_path(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Locate Epoch's CSV: ``path``, else ``$JAXSCALE_CHINCHILLA_CSV``, else the cache (downloaded once)."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no file at {p}; pass the path of Epoch's svg_extracted_data.csv")
        return p
    if os.environ.get(ENV_VAR):
        p = Path(os.environ[ENV_VAR])
        if not p.is_file():
            raise FileNotFoundError(f"${ENV_VAR} points to {p}, which does not exist")
        return p
    cached = cache_dir() / CHINCHILLA_FILE
    if cached.is_file() and _sha256(cached) == CHINCHILLA_SHA256:
        return cached
    if not download:
        raise FileNotFoundError(f"Chinchilla data not cached at {cached} and download=False")
    try:
        with urllib.request.urlopen(CHINCHILLA_URL, timeout=30) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise FileNotFoundError(
            f"could not download the Chinchilla data from {CHINCHILLA_URL} ({err}). Offline? Download "
            f"svg_extracted_data.csv from github.com/epoch-research/analyzing-chinchilla yourself and pass "
            f"jaxscale.datasets.chinchilla(path='.../svg_extracted_data.csv') or set ${ENV_VAR}") from None
    if hashlib.sha256(payload).hexdigest() != CHINCHILLA_SHA256:
        raise FileNotFoundError(f"downloaded file from {CHINCHILLA_URL} has an unexpected sha256; not using it")
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".part")
    tmp.write_bytes(payload)
    tmp.replace(cached)
    return cached


def chinchilla(path: str | os.PathLike | None = None, drop_outliers: bool = True) -> pd.DataFrame:
    """The 245 Chinchilla runs extracted by Epoch AI from Hoffmann et al. (2022), Fig. 4.

    Returns columns ``N`` (parameters), ``D = C / (6 N)`` (tokens), ``loss`` (nats/token) and
    ``C`` (training FLOP), indexed by the row number of the CSV. ``drop_outliers=True`` drops
    the 5 highest-loss runs as Epoch does (240 rows remain). Cite Hoffmann et al. 2022 and
    Besiroglu et al. 2024 when using it.
    """
    raw = pd.read_csv(chinchilla_path(path))
    needed = ["Model Size", "Training FLOP", "loss"]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{path or 'the file'} lacks columns {missing}; expected Epoch's svg_extracted_data.csv")
    frame = pd.DataFrame({"N": raw["Model Size"].astype(float), "C": raw["Training FLOP"].astype(float),
                          "loss": raw["loss"].astype(float)})
    frame["D"] = frame["C"] / (6.0 * frame["N"])
    frame = frame[["N", "D", "loss", "C"]]
    if drop_outliers:
        frame = frame.drop(index=frame["loss"].nlargest(5).index).sort_index()
    return frame


def synthetic(params: dict | None = None, budgets=None, sizes_per_budget: int = 12, noise: float = 0.01,
              seed: int = 0) -> pd.DataFrame:
    r"""Hoffmann-style isoFLOP runs from a known Chinchilla law plus log-normal noise.

    For each budget ``C`` (FLOP), ``sizes_per_budget`` model sizes are spread log-uniformly
    over a factor 10 either side of the compute-optimal :math:`N_{opt}(C)`; ``D = C / (6N)``
    and :math:`\log L = \log(E + A N^{-\alpha} + B D^{-\beta}) + \varepsilon`,
    :math:`\varepsilon \sim \mathcal N(0, \mathrm{noise}^2)` drawn with ``numpy.random.default_rng(seed)``.
    """
    p = dict(EPOCH_PARAMS if params is None else params)
    budgets = np.asarray(HOFFMANN_BUDGETS if budgets is None else budgets,
                         dtype=np.float64)
    n_opt, _ = allocation.compute_optimal(p["A"], p["B"], p["alpha"], p["beta"], budgets)
    spread = np.logspace(-1.0, 1.0, int(sizes_per_budget))
    N = (n_opt[:, None] * spread[None, :]).ravel()
    C = np.repeat(budgets, len(spread))
    D = C / (6.0 * N)
    clean = allocation.chinchilla_loss(p["A"], p["B"], p["E"], p["alpha"], p["beta"], N, D)
    rng = np.random.default_rng(seed)
    loss = clean * np.exp(noise * rng.standard_normal(clean.shape)) if noise > 0 else clean
    return pd.DataFrame({"N": N, "D": D, "loss": loss, "C": C})


def training_curves(params: dict | None = None, sizes=None, points_per_run: int = 40, tokens_range=(1e8, 1e12),
                    noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    r"""Synthetic training curves for Approach 1: each model size is one run evaluated along its training.

    Run ``i`` has :math:`N_i` = ``sizes[i]`` (default 16 sizes log-spaced over 3e7..1e10) and is
    evaluated at ``points_per_run`` token counts log-spaced over ``tokens_range``, with
    :math:`L = E + A N^{-\alpha} + B D^{-\beta}` (times log-normal noise). Every point is the loss of
    a model trained to that ``D``: the idealisation under which the lower envelope over
    :math:`C = 6ND` recovers :math:`N_{opt} \propto C^{\beta/(\alpha+\beta)}`. Columns ``run``,
    ``N``, ``D``, ``loss``, ``C``.
    """
    p = dict(EPOCH_PARAMS if params is None else params)
    sizes = np.logspace(np.log10(3e7), 10.0, 16) if sizes is None else np.asarray(sizes, dtype=np.float64)
    tokens = np.logspace(np.log10(tokens_range[0]), np.log10(tokens_range[1]), int(points_per_run))
    N, D = np.repeat(sizes, tokens.size), np.tile(tokens, sizes.size)
    clean = allocation.chinchilla_loss(p["A"], p["B"], p["E"], p["alpha"], p["beta"], N, D)
    rng = np.random.default_rng(seed)
    loss = clean * np.exp(noise * rng.standard_normal(clean.shape)) if noise > 0 else clean
    return pd.DataFrame({"run": np.repeat(np.arange(sizes.size), tokens.size), "N": N, "D": D, "loss": loss,
                         "C": 6.0 * N * D})
