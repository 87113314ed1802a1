"""Coverage at the top budget when the true law is NOT a candidate: single-law vs model-form new-run intervals.

    python benchmarks/coverage_model_form.py [--datasets 30] [--resamples 100] [--noise 0.01] [--break-c 0.15]

Truth (not in the candidate set {chinchilla, kaplan}): Chinchilla's form with a BROKEN power law in N,

    L(N, D) = E + A N^-alpha (1 + (N / N_b)^(1/f))^(-c f) + B D^-beta,

E = 1.69, A = 406.4, alpha = 0.34, B = 410.7, beta = 0.28 (Hoffmann et al.), a break at N_b = 3e8 where the
N exponent steepens by c = 0.15 with sharpness f = 0.5: below the break the N term falls as N^-0.34, above it
as N^-0.49. Design: isoFLOP budgets 10^18, 10^18.5, ..., 10^21 (7 budgets, 7 model sizes each, N from 1/30 to
30x the budget's Chinchilla-optimal N of the truth ... spread 0.35 decade apart) plus the TOP budget 10^21.5
(7 runs) that is held out. Every run gets log-normal noise sd ``--noise`` (i.i.d., a new seed per run).

Per data set (seeded from SeedSequence([seed, j])): ``compare_laws(train, ["chinchilla", "kaplan"],
mode="rolling", min_train=3)`` on the budgets below the top; at the top budget's 7 runs:

- single-law new-run interval of each law: ``comparison.boots[law].predict(kind="new_run")`` (its full-data
  bootstrap draws + leverage-corrected in-sample residuals: what a user who picked that law gets);
- the model-form new-run interval: ``comparison.predict(...)`` (stacked laws, mixture by stacking weight,
  each law's own out-of-sample errors).

Report: coverage of the held-out runs' actual (noisy) losses, with Wilson 95 % intervals, median widths, the
stacking weights, the seconds taken. JSON: ``benchmarks/results/coverage_model_form_cpu.json``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.common import machine, wilson, write  # noqa: E402

TRUTH = {"E": 1.69, "A": 406.4, "alpha": 0.34, "B": 410.7, "beta": 0.28, "N_b": 3e8, "c": 0.15, "f": 0.5}
BUDGETS = 10.0 ** np.arange(18.0, 21.51, 0.5)  # the last one is held out


def true_loss(N, D, t=None):
    t = TRUTH if t is None else t
    broken = (1.0 + (N / t["N_b"]) ** (1.0 / t["f"])) ** (-t["c"] * t["f"])
    return t["E"] + t["A"] * N ** -t["alpha"] * broken + t["B"] * D ** -t["beta"]


def design(per_budget: int = 7) -> pd.DataFrame:
    rows = []
    for C in BUDGETS:
        n_opt = 0.09 * (C / 6.0) ** 0.5  # near-optimal centre (Chinchilla: N_opt ~ 0.09 sqrt(C/6) here)
        for N in n_opt * 10.0 ** np.linspace(-1.0, 1.0, per_budget):
            rows.append({"N": N, "D": C / (6.0 * N), "C": C})
    return pd.DataFrame(rows)


def one(j: int, args, grid: pd.DataFrame) -> dict:
    import jaxscale as js
    from jaxscale.api.compare import compare_laws

    rng = np.random.default_rng(np.random.SeedSequence([args.seed, j]))
    data = grid.copy()
    truth = {**TRUTH, "c": args.break_c}
    data["loss"] = true_loss(data["N"], data["D"], truth) * np.exp(rng.normal(0.0, args.noise, len(data)))
    top = data["C"] == BUDGETS[-1]
    train, test = data[~top].reset_index(drop=True), data[top].reset_index(drop=True)
    cmp = compare_laws(train, ["chinchilla", "kaplan"], mode="rolling", min_train=3, n_resamples=args.resamples,
                       seed=j, search=js.Search(starts=args.starts))
    N, D, actual = test["N"].to_numpy(), test["D"].to_numpy(), test["loss"].to_numpy()
    out = {"weights": cmp.weights.to_dict(), "best": cmp.best, "scores": cmp.scores["score"].to_dict()}
    mf = cmp.predict(N=N, D=D, level=args.level)
    out["model_form"] = {"inside": ((mf["loss_low"] <= actual) & (actual <= mf["loss_high"])).tolist(),
                         "log_width": np.log(mf["loss_high"] / mf["loss_low"]).tolist(),
                         "beyond_log10_C": mf["beyond_log10_C"].tolist()}
    for law in ("chinchilla", "kaplan"):
        p = cmp.boots[law].predict(N=N, D=D, kind="new_run", level=args.level)
        lo, hi = p["loss_new_run_low"].to_numpy(), p["loss_new_run_high"].to_numpy()
        out[law] = {"inside": ((lo <= actual) & (actual <= hi)).tolist(), "log_width": np.log(hi / lo).tolist()}
    return out


def summarise(runs: list[dict]) -> dict:
    table = {}
    for method in ("model_form", "chinchilla", "kaplan"):
        inside = np.concatenate([r[method]["inside"] for r in runs]).astype(bool)
        k, n = int(inside.sum()), int(inside.size)
        table[method] = {"coverage": k / n, "wilson95": wilson(k, n), "covered": k, "runs": n,
                         "median_log_width": float(np.median(np.concatenate([r[method]["log_width"] for r in runs])))}
    table["mean_weight"] = {law: float(np.mean([r["weights"][law] for r in runs])) for law in ("chinchilla", "kaplan")}
    table["best_counts"] = {law: sum(r["best"] == law for r in runs) for law in ("chinchilla", "kaplan")}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=30)
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--starts", type=int, default=32, help="random starts per fit (fast settings)")
    parser.add_argument("--noise", type=float, default=0.01, help="log-normal noise sd per run")
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--break-c", type=float, default=TRUTH["c"], help="steepening of the N exponent at the break")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="coverage_model_form_cpu.json")
    args = parser.parse_args()
    grid = design()
    runs, t0 = [], time.perf_counter()
    for j in range(args.datasets):
        runs.append(one(j, args, grid))
        s = summarise(runs)
        print(f"[{j + 1}/{args.datasets}] {time.perf_counter() - t0:.0f}s  model-form {s['model_form']['coverage']:.3f}"
              f"  chinchilla {s['chinchilla']['coverage']:.3f}  kaplan {s['kaplan']['coverage']:.3f}", flush=True)
    write(args.out, {"description": __doc__, "settings": vars(args), "truth": {**TRUTH, "c": args.break_c}, "budgets": BUDGETS.tolist(),
                     "summary": summarise(runs), "seconds": time.perf_counter() - t0, "runs": runs,
                     "machine": machine(), "note": "machine shared by ~6 processes on 2 cores (loaded)"})


if __name__ == "__main__":
    main()
