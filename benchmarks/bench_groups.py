"""Many data sets in one call: grouped fit vs a Python loop of single jaxscale fits vs a scipy loop.

Part 1: 200 small data sets (8-12 points each) of the one-variable law L = E + A x^-alpha, every
data set fitted from the law's default grid (150 starts):
  - grouped: ``js.fit(data, law="power_law", x="x", by="set")`` (all 200 x 150 lanes in one run);
  - loop: ``js.fit(part, law="power_law", x="x")`` for each set (compiled shapes warmed first);
  - scipy: L-BFGS-B with the exact gradient of the same Huber objective (numpy), the same 150
    starts per set, DEFAULT tolerances (OPENBLAS_NUM_THREADS=1).
Best objectives are compared set by set (grouped vs loop vs scipy).

Part 2: 50 Chinchilla data sets x Hoffmann's 4500 starts grouped (the default pruned multi-start: every
start screened, the lowest 64 per set continued), with fits/s counting every start.

Usage: ``python benchmarks/bench_groups.py [--sets 200] [--scipy-sets 200] [--chinchilla-sets 50]``
"""
from __future__ import annotations

import argparse

from common import machine, timed, timed_twice, write  # noqa: E402  (sets thread env vars first)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def small_sets(n_sets: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for g in range(n_sets):
        m = int(rng.integers(8, 13))
        A, E, alpha = np.exp(rng.uniform(2, 6)), rng.uniform(1.0, 3.0), rng.uniform(0.1, 0.6)
        x = np.geomspace(10 ** rng.uniform(5, 7), 10 ** rng.uniform(9, 11), m)
        y = (E + A * x ** -alpha) * np.exp(0.01 * rng.standard_normal(m))
        frames.append(pd.DataFrame({"set": g, "x": x, "loss": y}))
    return pd.concat(frames, ignore_index=True)


def power_law_huber(theta, log_x, log_y, delta=1e-3):
    """Huber-sum objective of L = E + A x^-alpha in log space, with its exact gradient (numpy only)."""
    from scipy.special import logsumexp, softmax

    a, e, alpha = theta
    terms = np.stack([a - alpha * log_x, np.full_like(log_x, e)], axis=1)
    r = log_y - logsumexp(terms, axis=1)
    value = float(np.sum(np.where(np.abs(r) <= delta, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))))
    s = softmax(terms, axis=1)
    jac = np.stack([s[:, 0], s[:, 1], -s[:, 0] * log_x], axis=1)
    return value, -jac.T @ np.clip(r, -delta, delta)


def scipy_loop(data: pd.DataFrame, starts: np.ndarray, sets) -> dict:
    from scipy.optimize import minimize

    best = {}
    for g in sets:
        part = data[data["set"] == g]
        lx, ly = np.log(part["x"].to_numpy()), np.log(part["loss"].to_numpy())
        values = []
        for s in starts:
            res = minimize(power_law_huber, s, args=(lx, ly), jac=True, method="L-BFGS-B")
            values.append(res.fun)
        best[g] = float(np.nanmin(values))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sets", type=int, default=200)
    parser.add_argument("--scipy-sets", type=int, default=200)
    parser.add_argument("--chinchilla-sets", type=int, default=50)
    args = parser.parse_args()

    import jaxscale as js

    data = small_sets(args.sets)
    starts = js.POWER_LAW.grid()
    grouped, g_first, g_second = timed_twice(js.fit, data, law="power_law", x="x", by="set")

    parts = [part for _, part in data.groupby("set")]
    for size in sorted({len(p) for p in parts}):  # compile every shape once, as a user's 2nd loop would
        js.fit(next(p for p in parts if len(p) == size), law="power_law", x="x")
    loop, loop_s = timed(lambda: {int(p["set"].iloc[0]): js.fit(p, law="power_law", x="x") for p in parts})

    scipy_ids = list(range(min(args.scipy_sets, args.sets)))
    scipy_best, scipy_s = timed(scipy_loop, data, starts, scipy_ids)
    scipy_full_s = scipy_s * args.sets / len(scipy_ids)

    obj_grouped = grouped.objective.to_numpy()
    obj_loop = np.array([loop[g].objective for g in range(args.sets)])
    obj_scipy = np.array([scipy_best[g] for g in scipy_ids])
    agree_loop = float(np.max(np.abs(obj_grouped - obj_loop) / np.maximum(obj_loop, 1e-300)))
    worse_than_scipy = obj_grouped[scipy_ids] - obj_scipy

    chin = None
    if args.chinchilla_sets:
        truth = js.datasets.EPOCH_PARAMS
        frames = []
        for g in range(args.chinchilla_sets):
            part = js.datasets.synthetic(truth, sizes_per_budget=8, noise=0.02, seed=g)
            part["set"] = g
            frames.append(part)
        chin_data = pd.concat(frames, ignore_index=True)
        chin_fit, c_first, c_second = timed_twice(js.fit, chin_data, by="set")
        n_fits = args.chinchilla_sets * 4500
        chin = {"sets": args.chinchilla_sets, "rows_per_set": int(len(chin_data) / args.chinchilla_sets),
                "starts": 4500, "fits": n_fits, "first_call_s": c_first, "after_compile_s": c_second,
                "fits_per_s": n_fits / c_second, "converged_sets": int(chin_fit.converged.sum()),
                "note": "default call: every start screened for 20 evaluations, the lowest 64 per set continued; "
                        "fits counts every start",
                "starts_pruned": int(sum((r.starts["status"] == "pruned").sum() for r in chin_fit.results.values()))}

    payload = {
        "machine": machine(),
        "command": "python benchmarks/bench_groups.py " + " ".join(f"--{k.replace('_', '-')} {v}"
                                                                   for k, v in vars(args).items()),
        "small_sets": {
            "sets": args.sets, "rows": [8, 12], "law": "power_law", "starts_per_set": int(len(starts)),
            "grouped_first_call_s": g_first, "grouped_after_compile_s": g_second,
            "loop_of_single_fits_s": loop_s, "scipy_sets_measured": len(scipy_ids), "scipy_measured_s": scipy_s,
            "scipy_all_sets_s": scipy_full_s, "scipy_extrapolated": len(scipy_ids) < args.sets,
            "speedup_vs_loop": loop_s / g_second, "speedup_vs_scipy": scipy_full_s / g_second,
            "max_rel_objective_diff_grouped_vs_loop": agree_loop,
            "max_grouped_minus_scipy": float(np.max(worse_than_scipy)),
            "sets_grouped_worse_than_scipy_by_1e-9": int(np.sum(worse_than_scipy > 1e-9)),
        },
        "chinchilla_sets": chin,
    }
    write("bench_groups_cpu.json", payload)
    s = payload["small_sets"]
    print(f"grouped {g_second:.3f} s (first {g_first:.2f} s), loop {loop_s:.2f} s ({s['speedup_vs_loop']:.1f}x), "
          f"scipy {scipy_full_s:.1f} s ({s['speedup_vs_scipy']:.0f}x); max rel diff vs loop {agree_loop:.1e}; "
          f"grouped - scipy max {s['max_grouped_minus_scipy']:.1e}")
    if chin:
        print(f"chinchilla {chin['sets']} x 4500: {chin['after_compile_s']:.2f} s, {chin['fits_per_s']:.0f} fits/s")


if __name__ == "__main__":
    main()
