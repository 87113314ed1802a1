"""Bootstrap protocols on Epoch's 240 rows: jaxscale vs scipy on the same resamples, in one run.

    python benchmarks/bench_bootstrap.py [--scipy-subset 400] [--agreement-resamples 16] [--out ...]

P3  One start per resample (Hoffmann's values), 4000 resamples. First the DEFAULT call as a user writes it,
    ``js.bootstrap(runs, n_resamples=4000, starts=HOFFMANN, seed=1)`` (default solver "lm-warm"; the
    full-data estimate is fitted inside the call); then Epoch's protocol exactly (their np.random.seed(42)
    choice draws, ``indices=``), default solver, beside "lm-irls" (the IRLS model only) and "lm-exact",
    and beside scipy BFGS with the exact gradient (Epoch's fit) on a subset of the same resamples,
    extrapolated to 4000 and labelled so. Each jaxscale call: first call (compile + run) and
    ``--repeats`` calls after it (median, min, max).
P2  Full grid per resample (4000 x 4500 = 18M fits). The exhaustive grid (``prune=None``) is timed on
    a few resamples and extrapolated (labelled); the default pruned grid (``starts="grid"``) is run on
    ``--agreement-resamples`` resamples (time extrapolated, labelled) and the "subgrid" strategy (full-data
    optimum + 15 spread grid starts) on all 4000; both are compared with the exhaustive grid (same best
    objective within 1e-9) on ``--agreement-resamples`` resamples.
Peak memory is the process's maximum resident set size.
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np  # noqa: E402

from common import (chinchilla_240, huber_objective, log_arrays, machine, spread, timed, timed_repeats,  # noqa: E402
                    timed_twice, wilson, write)

HOFFMANN = np.array([6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083])
EPOCH_SE = {"A": 124.52, "B": 1293.28, "E": 0.0257, "alpha": 0.0154, "beta": 0.0206}


def epoch_indices(frame, n_resamples):
    np.random.seed(42)
    labels = np.array([np.random.choice(np.arange(5, 245), size=240, replace=True) for _ in range(n_resamples)])
    return frame.index.get_indexer(labels.ravel()).reshape(labels.shape)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=4000)
    parser.add_argument("--scipy-subset", type=int, default=400)
    parser.add_argument("--agreement-resamples", type=int, default=16)
    parser.add_argument("--exhaustive-timing-resamples", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench_bootstrap_cpu.json")
    args = parser.parse_args()

    import jax
    import jaxscale as js
    from scipy.optimize import minimize

    frame = chinchilla_240()
    log_n, log_d, log_l = log_arrays(frame)
    indices = epoch_indices(frame, args.resamples)
    report = {"command": "python benchmarks/bench_bootstrap.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()), "machine": machine(),
        "devices_used": len(jax.local_devices())}

    # ---------------------------------------------------------------- P3
    # the DEFAULT call as a user writes it (fresh resamples of seed 1; the estimate fitted inside the call)
    default, d_first, d_times = timed_repeats(js.bootstrap, frame, n_resamples=len(indices), starts=HOFFMANN,
                                              seed=1, repeats=args.repeats)
    report["P3_default_call"] = {"call": f"js.bootstrap(runs, n_resamples={len(indices)}, starts=HOFFMANN, seed=1)",
                                 "solver": default.recipe["solver"], **spread(d_first, d_times),
                                 "converged_share": float(default.converged.mean()),
                                 "se": default.summary()["se"].to_dict()}
    print("P3 default call:", {k: v for k, v in report["P3_default_call"].items() if "_s" in k}, flush=True)
    # Epoch's resamples (np.random.seed(42) draws), default solver, then the IRLS and exact-curvature variants
    boot, first_seconds, times = timed_repeats(js.bootstrap, frame, indices=indices, starts=HOFFMANN,
                                               repeats=args.repeats)
    irls, irls_first, irls_times = timed_repeats(js.bootstrap, frame, indices=indices, starts=HOFFMANN,
                                                 solver="lm-irls", repeats=args.repeats)
    exact, exact_first, exact_times = timed_repeats(js.bootstrap, frame, indices=indices, starts=HOFFMANN,
                                                    solver="lm-exact", repeats=args.repeats)
    seconds = spread(first_seconds, times)["run_s_median"]
    table = boot.summary()
    sub = np.arange(args.scipy_subset)
    t0 = time.perf_counter()
    scipy_params = []
    for r in sub:
        counts = np.bincount(indices[r], minlength=len(frame)).astype(float)
        res = minimize(huber_objective, HOFFMANN, args=(log_n, log_d, log_l, 1e-3, counts), jac=True, method="BFGS")
        scipy_params.append(res.x)
    scipy_s = time.perf_counter() - t0
    scipy_params = np.array(scipy_params)
    report["P3_epoch_protocol"] = {
        "call": "js.bootstrap(runs, indices=epoch_indices, starts=HOFFMANN)",
        "resamples": len(indices), "starts_per_resample": 1, "solver": boot.recipe["solver"],
        **spread(first_seconds, times),
        "lm_irls": spread(irls_first, irls_times), "lm_exact": spread(exact_first, exact_times),
        "max_abs_objective_diff_default_vs_lm_irls": float(np.max(np.abs(boot.objective - irls.objective))),
        "max_abs_objective_diff_default_vs_lm_exact": float(np.max(np.abs(boot.objective - exact.objective))),
        "jaxscale_fits_per_s": len(indices) / seconds,
        "scipy_bfgs_exact_gradient_seconds_measured": scipy_s, "scipy_resamples_measured": int(len(sub)),
        "scipy_seconds_for_4000 (EXTRAPOLATED)": scipy_s * len(indices) / len(sub),
        "speedup_vs_scipy (extrapolated scipy)": scipy_s * len(indices) / len(sub) / seconds,
        "max_abs_diff_log_params_vs_scipy_on_subset": float(np.max(np.abs(boot.theta[sub] - scipy_params))),
        "se": table["se"].to_dict(), "epoch_se": EPOCH_SE,
        "se_relative_diff_vs_epoch": {k: float(table.loc[k, "se"] / v - 1) for k, v in EPOCH_SE.items()},
        "converged_share": float(boot.converged.mean())}
    print("P3:", {k: v for k, v in report["P3_epoch_protocol"].items() if "_s" in k or "speedup" in k}, flush=True)
    estimate = js.fit(frame)

    # ---------------------------------------------------------------- P2 exhaustive (timed subset)
    grid = js.chinchilla_grid()
    k = args.exhaustive_timing_resamples
    exhaustive_timing, _, ex_seconds = timed_twice(js.bootstrap, frame, indices=indices[:k], starts=grid,
                                                   estimate=estimate, prune=None)
    m = args.agreement_resamples
    if m > k:
        rest, _ = timed(js.bootstrap, frame, indices=indices[k:m], starts=grid, estimate=estimate, prune=None)
        exhaustive_obj = np.concatenate([exhaustive_timing.objective, rest.objective])
    else:
        exhaustive_obj = exhaustive_timing.objective[:m]
    # ---------------------------------------------------------------- P2 subgrid on all resamples
    fast, fast_first, fast_seconds = timed_twice(js.bootstrap, frame, indices=indices, starts="subgrid",
                                                 estimate=estimate)
    pruned, pruned_seconds = timed(js.bootstrap, frame, indices=indices[:m], starts="grid", estimate=estimate)
    report["P2_default_pruned_grid"] = {
        "call": "js.bootstrap(runs, indices=epoch_indices[:m], starts='grid', estimate=fit)",
        "resamples": m, "seconds (includes compile)": pruned_seconds,
        "seconds_for_4000 (EXTRAPOLATED)": pruned_seconds / m * len(indices),
        "matches_exhaustive_1e-9": int(np.sum(pruned.objective <= exhaustive_obj + 1e-9)),
        "max_minus_exhaustive": float(np.max(pruned.objective - exhaustive_obj))}
    print("P2 pruned grid:", report["P2_default_pruned_grid"], flush=True)
    agree = fast.objective[:m] <= exhaustive_obj + 1e-9
    single_worse = boot.objective[:m] > exhaustive_obj + 1e-9
    report["P2_full_grid"] = {
        "exhaustive_resamples_timed": k, "exhaustive_seconds": ex_seconds,
        "exhaustive_seconds_for_4000 (EXTRAPOLATED)": ex_seconds / k * len(indices),
        "exhaustive_fits_per_s": k * len(grid) / ex_seconds,
        "subgrid_starts_per_resample": int(fast.recipe["n_starts"]), "subgrid_seconds_for_4000": fast_seconds,
        "subgrid_first_call_seconds (compile + run)": fast_first,
        "agreement_resamples": m, "subgrid_matches_exhaustive": int(agree.sum()),
        "subgrid_match_rate": float(agree.mean()),
        "subgrid_match_rate_wilson95": wilson(int(agree.sum()), m),
        "single_start_protocol_worse_than_grid (different basin)": int(single_worse.sum()),
        "grid_never_worse_than_single_start": bool(np.all(exhaustive_obj <= boot.objective[:m] + 1e-12)),
        "max_grid_minus_single_start_objective": float(np.max(exhaustive_obj - boot.objective[:m])),
        "subgrid_se": fast.summary()["se"].to_dict()}
    print("P2:", report["P2_full_grid"])
    report["peak_rss_gb"] = peak_rss_gb()
    write(args.out, report)


if __name__ == "__main__":
    main()
