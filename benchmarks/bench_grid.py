"""The 4500-start Hoffmann grid fit on Epoch's 240 rows: jaxscale vs scipy, side by side in one run.

    python benchmarks/bench_grid.py [--fd-subset 150] [--repeats 3] [--out bench_grid_cpu.json]

- jaxscale through ``jaxscale.fit``: each solver with all 4500 starts to convergence (+ polish of the best 8),
  and LM with pruning (40 evaluations for every start, the best 64 to convergence); on one CPU device and
  sharded over two host devices (both cores; XLA_FLAGS=--xla_force_host_platform_device_count=2 is set by
  this script). The first call's time (compile + run) and the median of ``--repeats`` calls after it.
- scipy L-BFGS-B with the exact gradient (numpy objective, OPENBLAS_NUM_THREADS=1) on all 4500 starts,
  tolerances ftol=1e-15, gtol=1e-12 so that it reaches the same optimum.
- scipy L-BFGS-B with finite differences (Epoch's procedure, default options) on a random subset,
  extrapolated to 4500 starts and labelled so.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")  # before jax is imported

from common import chinchilla_240, huber_objective, log_arrays, machine, timed, write

REF_MIN = 0.00101827401780


def scipy_grid(starts, log_n, log_d, log_l, exact: bool, **options):
    from scipy.optimize import minimize

    values = np.empty(len(starts))
    t0 = time.perf_counter()
    for k, start in enumerate(starts):
        if exact:
            res = minimize(huber_objective, start, args=(log_n, log_d, log_l), jac=True, method="L-BFGS-B",
                           options=options)
        else:
            res = minimize(huber_objective, start, args=(log_n, log_d, log_l, 1e-3, None, False),
                           method="L-BFGS-B", options=options)
        values[k] = res.fun
    return values, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fd-subset", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default="lm,lm/2dev,lm-prune64,lm-prune64/2dev,bfgs,bfgs/2dev")
    parser.add_argument("--skip-scipy", action="store_true")
    parser.add_argument("--out", default="bench_grid_cpu.json")
    args = parser.parse_args()

    import jaxscale as js

    frame = chinchilla_240()
    log_n, log_d, log_l = log_arrays(frame)
    grid = js.chinchilla_grid()
    report = {"benchmark": "4500-start Hoffmann grid, Huber-sum (delta 1e-3), Epoch's 240 rows",
              "command": "python benchmarks/bench_grid.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (False, None)),
              "machine": machine(), "reference_minimum": REF_MIN, "jaxscale": {}, "scipy": {}}

    for name in args.variants.split(","):
        kind, _, dev = name.partition("/")
        solver, _, prune = kind.partition("-prune")
        kwargs = dict(solver=solver, prune=int(prune) if prune else None, devices=2 if dev == "2dev" else 1)
        fit, first = timed(js.fit, frame, **kwargs)
        times = [timed(js.fit, frame, **kwargs)[1] for _ in range(args.repeats)]
        entry = {
            "settings": kwargs, "first_call_s (compile + run)": first, "run_s_median": statistics.median(times), "run_s_all": times,
            "compile_s_estimate": first - statistics.median(times),
            "best_objective": fit.objective, "best_minus_reference": fit.objective - REF_MIN,
            "params": fit.params.to_dict(), "starts_converged": int(fit.starts["converged"].sum()),
            "starts_at_best_1e-9": fit.n_at_best(1e-9), "mean_iterations": float(fit.starts["iterations"].mean()),
        }
        report["jaxscale"][name] = entry
        print(f"jaxscale {name}: {entry['run_s_median']:.2f} s after compile (first call {first:.1f} s), "
              f"best {fit.objective:.14f}, at best {entry['starts_at_best_1e-9']}/4500")

    if not args.skip_scipy:
        values, seconds = scipy_grid(grid, log_n, log_d, log_l, exact=True, ftol=1e-15, gtol=1e-12, maxiter=15000)
        report["scipy"]["lbfgsb_exact_gradient"] = {
            "starts": len(grid), "seconds": seconds, "fits_per_s": len(grid) / seconds,
            "best_objective": float(values.min()), "best_minus_reference": float(values.min() - REF_MIN),
            "starts_at_best_1e-9": int(np.sum(values <= values.min() + 1e-9)),
            "options": "L-BFGS-B, exact gradient, ftol=1e-15, gtol=1e-12, maxiter=15000, OPENBLAS_NUM_THREADS=1"}
        print(f"scipy exact gradient: {seconds:.1f} s for 4500 starts, best {values.min():.14f}")
        subset = np.random.default_rng(0).choice(len(grid), size=args.fd_subset, replace=False)
        values_fd, seconds_fd = scipy_grid(grid[subset], log_n, log_d, log_l, exact=False)
        report["scipy"]["lbfgsb_finite_differences"] = {
            "starts_measured": int(args.fd_subset), "seconds_measured": seconds_fd,
            "seconds_extrapolated_to_4500 (EXTRAPOLATED)": seconds_fd * len(grid) / args.fd_subset,
            "best_objective_on_subset": float(values_fd.min()),
            "options": "L-BFGS-B, 2-point finite differences, default options (Epoch's procedure)"}
        print(f"scipy finite differences: {seconds_fd:.1f} s for {args.fd_subset} starts "
              f"(extrapolated {seconds_fd * len(grid) / args.fd_subset:.0f} s for 4500)")
        exact_s = report["scipy"]["lbfgsb_exact_gradient"]["seconds"]
        fd_s = report["scipy"]["lbfgsb_finite_differences"]["seconds_extrapolated_to_4500 (EXTRAPOLATED)"]
        report["speedup"] = {name: {"vs_scipy_exact_gradient": exact_s / e["run_s_median"],
                                    "vs_scipy_finite_differences_extrapolated": fd_s / e["run_s_median"]}
                             for name, e in report["jaxscale"].items()}
        print("speedup:", report["speedup"])
    write(args.out, report)


if __name__ == "__main__":
    main()
