"""Bootstrap protocols on Epoch's 240 rows: jaxscale vs scipy on the same resamples, in one run.

    python benchmarks/bench_bootstrap.py [--scipy-subset 400] [--agreement-resamples 16] [--out ...]

P3  Epoch's protocol: 4000 resamples (np.random.seed(42) choice draws) x 1 start (Hoffmann's values).
    jaxscale LM ("lm-exact": exact Huber curvature; the IRLS "lm" timed too) vs scipy BFGS with the exact gradient (Epoch's fit) on a subset of the same resamples,
    extrapolated to 4000 and labelled so.
P2  Full grid per resample (4000 x 4500 = 18M fits). On this CPU the exhaustive grid is timed on a few
    resamples and extrapolated (labelled); the "subgrid" strategy (full-data optimum + 15 spread grid
    starts) is run on all 4000 resamples, and its agreement with the exhaustive grid (same best objective
    within 1e-9) is measured on ``--agreement-resamples`` resamples.
Peak memory is the process's maximum resident set size.
"""
from __future__ import annotations

import argparse
import os
import resource
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")  # both cores, before jax

import numpy as np  # noqa: E402

from common import chinchilla_240, huber_objective, log_arrays, machine, timed, timed_twice, wilson, write  # noqa: E402

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
    parser.add_argument("--out", default="bench_bootstrap_cpu.json")
    args = parser.parse_args()

    import jax
    import jaxscale as js
    from scipy.optimize import minimize

    frame = chinchilla_240()
    log_n, log_d, log_l = log_arrays(frame)
    indices = epoch_indices(frame, args.resamples)
    estimate = js.fit(frame)
    report = {"command": "python benchmarks/bench_bootstrap.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()), "machine": machine(),
        "devices_used": len(jax.local_devices())}

    # ---------------------------------------------------------------- P3
    irls, irls_first, irls_seconds = timed_twice(js.bootstrap, frame, indices=indices, starts=HOFFMANN,
                                                 estimate=estimate)
    # exact Huber curvature from the first step: Epoch's start is near every resample's optimum
    boot, first_seconds, seconds = timed_twice(js.bootstrap, frame, indices=indices, starts=HOFFMANN,
                                               estimate=estimate, solver="lm-exact")
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
        "resamples": len(indices), "starts_per_resample": 1, "solver": "lm-exact (+ polish)",
        "jaxscale_seconds_after_compile": seconds, "jaxscale_first_call_seconds (compile + run)": first_seconds,
        "jaxscale_lm_irls_seconds_after_compile": irls_seconds, "jaxscale_lm_irls_first_call_seconds": irls_first,
        "max_objective_diff_lm_exact_vs_lm_irls": float(np.max(np.abs(boot.objective - irls.objective))),
        "jaxscale_fits_per_s": len(indices) / seconds,
        "scipy_bfgs_exact_gradient_seconds_measured": scipy_s, "scipy_resamples_measured": int(len(sub)),
        "scipy_seconds_for_4000 (EXTRAPOLATED)": scipy_s * len(indices) / len(sub),
        "speedup_vs_scipy (extrapolated scipy)": scipy_s * len(indices) / len(sub) / seconds,
        "max_abs_diff_log_params_vs_scipy_on_subset": float(np.max(np.abs(boot.theta[sub] - scipy_params))),
        "se": table["se"].to_dict(), "epoch_se": EPOCH_SE,
        "se_relative_diff_vs_epoch": {k: float(table.loc[k, "se"] / v - 1) for k, v in EPOCH_SE.items()},
        "converged_share": float(boot.converged.mean())}
    print("P3:", {k: v for k, v in report["P3_epoch_protocol"].items() if "second" in k or "speedup" in k})

    # ---------------------------------------------------------------- P2 exhaustive (timed subset)
    grid = js.chinchilla_grid()
    k = args.exhaustive_timing_resamples
    exhaustive_timing, _, ex_seconds = timed_twice(js.bootstrap, frame, indices=indices[:k], starts=grid,
                                                   estimate=estimate)
    m = args.agreement_resamples
    if m > k:
        rest, _ = timed(js.bootstrap, frame, indices=indices[k:m], starts=grid, estimate=estimate)
        exhaustive_obj = np.concatenate([exhaustive_timing.objective, rest.objective])
    else:
        exhaustive_obj = exhaustive_timing.objective[:m]
    # ---------------------------------------------------------------- P2 subgrid on all resamples
    fast, fast_first, fast_seconds = timed_twice(js.bootstrap, frame, indices=indices, starts="subgrid",
                                                 estimate=estimate)
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
