"""Synthetic Chinchilla-law data sets of many shapes, for proving a multi-start strategy.

``proof_datasets()`` returns 24 seeded data sets (and 9 :data:`HARD` ones) that differ in design (isoFLOP curves like
Hoffmann's, log-uniform random (N, D), a product grid, very few runs, a narrow or a wide range),
size (24 to 2000 runs), true law (exponents 0.15 to 0.8, alpha far from beta, E from 0.05 to 3,
A and B over four orders of magnitude) and noise (log-normal 0.2 % to 5 %, Student-t(2) tails,
5 % gross outliers). Everything is drawn from ``numpy.random.default_rng(seed)``, so the list is
the same on every machine. Used by ``benchmarks/bench_strategy.py`` and ``tests/test_strategy.py``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def chinchilla_loss(A, B, E, alpha, beta, N, D):
    return E + A / N**alpha + B / D**beta


def _design(kind: str, rows: int, rng, params) -> tuple[np.ndarray, np.ndarray]:
    if kind == "isoflop":
        budgets = np.logspace(18, 22, max(3, rows // 12))
        sizes = rows // len(budgets)
        a_opt = params["beta"] / (params["alpha"] + params["beta"])
        N = []
        for c in budgets:
            centre = np.log10((c / 6.0) ** a_opt) + rng.normal(0, 0.3)
            N.append(10 ** (centre + np.linspace(-1.0, 1.0, sizes)))
        N = np.concatenate(N)
        C = np.repeat(budgets, sizes)
        return N, C / (6.0 * N)
    if kind == "random":
        return 10 ** rng.uniform(7, 10.5, rows), 10 ** rng.uniform(9, 12.5, rows)
    if kind == "grid":
        side = int(np.sqrt(rows))
        n, d = np.meshgrid(np.logspace(7, 10, side), np.logspace(9, 12, side))
        return n.ravel(), d.ravel()
    if kind == "narrow":
        return 10 ** rng.uniform(8, 9, rows), 10 ** rng.uniform(10, 11, rows)
    if kind == "wide":
        return 10 ** rng.uniform(5, 12, rows), 10 ** rng.uniform(7, 14, rows)
    raise ValueError(kind)


#: (name, design, rows, A, B, E, alpha, beta, noise model, noise scale)
SPECS = [
    ("epoch-like-isoflop", "isoflop", 240, 482.0, 2085.0, 1.82, 0.348, 0.366, "normal", 0.01),
    ("hoffmann-isoflop", "isoflop", 120, 406.4, 410.7, 1.69, 0.34, 0.28, "normal", 0.005),
    ("isoflop-noisy", "isoflop", 180, 300.0, 3000.0, 1.5, 0.3, 0.4, "normal", 0.03),
    ("isoflop-quiet", "isoflop", 96, 800.0, 1500.0, 2.0, 0.4, 0.35, "normal", 0.002),
    ("isoflop-t2", "isoflop", 240, 482.0, 2085.0, 1.82, 0.348, 0.366, "t2", 0.01),
    ("isoflop-outliers", "isoflop", 240, 482.0, 2085.0, 1.82, 0.348, 0.366, "outliers", 0.01),
    ("random-240", "random", 240, 482.0, 2085.0, 1.82, 0.348, 0.366, "normal", 0.01),
    ("random-small-E", "random", 300, 50.0, 200.0, 0.05, 0.25, 0.3, "normal", 0.01),
    ("random-large-E", "random", 200, 2000.0, 8000.0, 3.0, 0.5, 0.55, "normal", 0.01),
    ("random-steep", "random", 150, 1e4, 5e4, 1.0, 0.7, 0.8, "normal", 0.02),
    ("random-shallow", "random", 400, 20.0, 60.0, 1.2, 0.15, 0.18, "normal", 0.01),
    ("random-unequal", "random", 250, 100.0, 20000.0, 1.6, 0.2, 0.6, "normal", 0.01),
    ("random-2000", "random", 2000, 482.0, 2085.0, 1.82, 0.348, 0.366, "normal", 0.02),
    ("random-t2", "random", 500, 300.0, 1000.0, 1.4, 0.3, 0.3, "t2", 0.02),
    ("grid-100", "grid", 100, 482.0, 2085.0, 1.82, 0.348, 0.366, "normal", 0.01),
    ("grid-400", "grid", 400, 200.0, 900.0, 1.0, 0.3, 0.25, "normal", 0.005),
    ("grid-outliers", "grid", 225, 600.0, 600.0, 2.2, 0.4, 0.4, "outliers", 0.01),
    ("few-24", "random", 24, 482.0, 2085.0, 1.82, 0.348, 0.366, "normal", 0.01),
    ("few-40-noisy", "random", 40, 300.0, 3000.0, 1.5, 0.3, 0.4, "normal", 0.05),
    ("narrow-range", "narrow", 200, 482.0, 2085.0, 1.82, 0.348, 0.366, "normal", 0.005),
    ("narrow-noisy", "narrow", 120, 482.0, 2085.0, 1.82, 0.348, 0.366, "normal", 0.03),
    ("wide-range", "wide", 300, 482.0, 2085.0, 1.82, 0.348, 0.366, "normal", 0.01),
    ("wide-steep", "wide", 300, 5000.0, 3000.0, 0.8, 0.6, 0.45, "normal", 0.02),
    ("wide-t2", "wide", 600, 150.0, 700.0, 2.5, 0.28, 0.32, "t2", 0.01),
]


#: Hard landscapes found by a seeded random search over laws, designs and noise (few of the 4500
#: grid starts reach the best basin, or the best fit is degenerate: an exponent near 0 makes a term a
#: constant and E -> 0, a valley whose floor is reached only as e -> -infinity). (spec, seed).
HARD = [
    (("hard-grid-negbeta", "grid", 200,
      2620.727504863663, 59.85065189521221, 3.0, 0.40978960029642364, 0.6312618840607432, "t2", 0.01), 5016),
    (("hard-narrow", "narrow", 200,
      4076.02336297075, 21695.363842092647, 2.0, 0.8231614292172955, 0.3944513871393901, "t2", 0.03), 5035),
    (("hard-isoflop-shallow", "isoflop", 100,
      49170.70490472533, 492.0190287849227, 1.0, 0.11896781899950198, 0.3795131773478754, "outliers", 0.01), 5030),
    (("hard-isoflop-30", "isoflop", 30,
      11.840808672864929, 658.4891468125188, 1.0, 0.12403211507765617, 0.6857266990800057, "outliers", 0.03), 5036),
    (("degenerate-wide-60", "wide", 60,
      372.03879836923187, 305.04729409991404, 0.5, 0.925450995873567, 0.6663036290419094, "normal", 0.03), 5004),
    (("degenerate-isoflop-60", "isoflop", 60,
      32.746292299386596, 24.66766605984358, 2.0, 0.8173624858768416, 0.5211414575593487, "outliers", 0.003), 5001),
    (("degenerate-wide-100", "wide", 100,
      13.367061615966616, 31.683374046874594, 0.1, 0.9074924208726179, 0.7981171212206741, "outliers", 0.03), 5000),
    (("degenerate-small-AB", "wide", 60,
      1.6584792407444062, 1.5080001817200541, 0.1, 0.2441908304720601, 0.6512856438457277, "normal", 0.01), 5003),
    (("degenerate-narrow-30", "narrow", 30,
      1.1785715368162628, 1387.7452175224591, 0.5, 0.47701328582186664, 0.833730650195541, "outliers", 0.03), 5018),
]


def make(spec, seed: int) -> pd.DataFrame:
    """One data set: columns N, D, loss."""
    name, design, rows, A, B, E, alpha, beta, model, scale = spec
    rng = np.random.default_rng(seed)
    params = {"A": A, "B": B, "E": E, "alpha": alpha, "beta": beta}
    N, D = _design(design, rows, rng, params)
    clean = chinchilla_loss(A, B, E, alpha, beta, N, D)
    if model == "normal":
        noise = scale * rng.standard_normal(N.shape)
    elif model == "t2":
        noise = scale * rng.standard_t(2, N.shape)
    elif model == "outliers":
        noise = scale * rng.standard_normal(N.shape)
        gross = rng.random(N.shape) < 0.05
        noise[gross] += rng.choice([-1.0, 1.0], gross.sum()) * rng.uniform(0.1, 0.3, gross.sum())
    else:
        raise ValueError(model)
    return pd.DataFrame({"N": N, "D": D, "loss": clean * np.exp(noise)})


def proof_datasets(hard: bool = True) -> list[tuple[str, pd.DataFrame]]:
    """The 24 :data:`SPECS` data sets (seeded by their position) and the :data:`HARD` ones, ``(name, frame)``."""
    out = [(spec[0], make(spec, 1000 + i)) for i, spec in enumerate(SPECS)]
    return out + ([(spec[0], make(spec, seed)) for spec, seed in HARD] if hard else [])
