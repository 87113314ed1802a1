"""The 4500-start Hoffmann grid fit on Epoch's 240 rows: the DEFAULT call, tuned variants and scipy, in one run.

    python benchmarks/bench_grid.py [--repeats 5] [--fd-subset 100] [--skip-tight] [--out bench_grid_cpu.json]

jaxscale, each variant called as written below (stock install: ``import jaxscale`` gives one JAX CPU
device per core, unless ``JAXSCALE_CPU_DEVICES=1``):

- ``default``: ``js.fit(runs)``: pruned multi-start (every start screened for 20 evaluations, the
  lowest 64 resumed to convergence and polished with the exact Huber curvature), all cores;
- ``default/1dev``: ``js.fit(runs, devices=1)``: the same on one core;
- ``exhaustive``: ``js.fit(runs, prune=None)``: every start to convergence (polished);
- ``previous-default``: ``js.fit(runs, solver="lm-irls", prune=None, polish=8)``: the IRLS model only,
  every start, the best 8 polished (the default before the pruned strategy; the reference optimum);
- ``bfgs``: ``js.fit(runs, solver="bfgs", prune=None)`` (with ``--bfgs``).

Each is timed on its first call (compile + run) and ``--repeats`` calls after it (median, min, max:
the spread is the noise of the machine). The compile time of a NEW process is measured too, with and
without JAX's persistent compilation cache (``js.enable_compilation_cache``; on by default in the CLI).

scipy L-BFGS-B on the same objective with the exact gradient (numpy, OPENBLAS_NUM_THREADS=1), one
start after another over all 4500 starts: default tolerances, and tight ones (ftol=1e-15, gtol=1e-12,
maxiter=15000) that reach the same optimum; Epoch's finite-difference procedure on a random subset,
extrapolated to 4500 starts and labelled so.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import ROOT, chinchilla_240, huber_objective, log_arrays, machine, timed, write

REF_MIN = 0.00101827401780

VARIANTS = {
    "default": ("js.fit(runs)", {}),
    "default/1dev": ("js.fit(runs, devices=1)", {"devices": 1}),
    "exhaustive": ("js.fit(runs, prune=None)", {"prune": None}),
    "previous-default": ('js.fit(runs, solver="lm-irls", prune=None, polish=8)',
                         {"solver": "lm-irls", "prune": None, "polish": 8}),
    "bfgs": ('js.fit(runs, solver="bfgs", prune=None)', {"solver": "bfgs", "prune": None}),
}

FRESH = """
import time, sys
t0 = time.perf_counter()
import jaxscale as js
if sys.argv[1] == "cache":
    js.enable_compilation_cache(sys.argv[2])
runs = js.datasets.chinchilla(sys.argv[3] or None)
t1 = time.perf_counter()
fit = js.fit(runs)
t2 = time.perf_counter()
fit = js.fit(runs)
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, fit.objective)
"""


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


def fresh_process(mode: str, cache_dir: str) -> dict:
    """A new Python process: import, first ``js.fit(runs)`` (compile + run), second call."""
    csv = os.environ.get("JAXSCALE_CHINCHILLA_CSV", "")
    from common import SHARED_CSV

    csv = csv or (str(SHARED_CSV) if SHARED_CSV.is_file() else "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    out = subprocess.run([sys.executable, "-c", FRESH, mode, cache_dir, csv], capture_output=True, text=True,
                         env=env, cwd=ROOT, check=True)
    t_import, first, second, objective = (float(v) for v in out.stdout.split())
    return {"import_s": t_import, "first_fit_s (compile + run)": first, "second_fit_s": second,
            "compile_s_estimate": first - second, "objective": objective}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fd-subset", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", default="default,default/1dev,exhaustive,previous-default")
    parser.add_argument("--skip-scipy", action="store_true")
    parser.add_argument("--skip-tight", action="store_true", help="skip scipy with tight tolerances (~4 min)")
    parser.add_argument("--out", default="bench_grid_cpu.json")
    args = parser.parse_args()

    import jax

    import jaxscale as js

    frame = chinchilla_240()
    log_n, log_d, log_l = log_arrays(frame)
    grid = js.chinchilla_grid()
    report = {"benchmark": "4500-start Hoffmann grid, Huber-sum (delta 1e-3), Epoch's 240 rows",
              "command": "python benchmarks/bench_grid.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v not in (False, None)),
              "machine": machine(), "cpu_devices_note": js.cpu_devices_note(),
              "local_devices": jax.local_device_count(), "reference_minimum": REF_MIN, "jaxscale": {}, "scipy": {}}

    for name in args.variants.split(","):
        call, kwargs = VARIANTS[name]
        fit, first = timed(js.fit, frame, **kwargs)
        times = [timed(js.fit, frame, **kwargs)[1] for _ in range(args.repeats)]
        median = statistics.median(times)
        entry = {
            "call": call, "first_call_s (compile + run)": first, "run_s_median": median, "run_s_min": min(times),
            "run_s_max": max(times), "run_s_all": times, "compile_s_estimate": first - median,
            "best_objective": fit.objective, "best_minus_reference": fit.objective - REF_MIN,
            "params": fit.params.to_dict(), "starts_converged": int(fit.starts["converged"].sum()),
            "starts_pruned": int((fit.starts["status"] == "pruned").sum()),
            "starts_at_best_1e-9": fit.n_at_best(1e-9), "evaluations": int(fit.starts["iterations"].sum()),
        }
        report["jaxscale"][name] = entry
        print(f"jaxscale {name}: {median:.3f} s after compile [{min(times):.3f}, {max(times):.3f}] (first call "
              f"{first:.1f} s), best {fit.objective:.14f}, {entry['evaluations']} evaluations", flush=True)

    with tempfile.TemporaryDirectory() as cache:
        report["new_process"] = {"no_cache": fresh_process("plain", cache),
                                 "cache_cold": fresh_process("cache", cache),
                                 "cache_warm": fresh_process("cache", cache)}
    print("new process:", json.dumps(report["new_process"]), flush=True)

    if not args.skip_scipy:
        runs = [("default_tolerances", "scipy's default options", {})]
        if not args.skip_tight:
            runs.append(("tight_tolerances", "ftol=1e-15, gtol=1e-12, maxiter=15000",
                         {"ftol": 1e-15, "gtol": 1e-12, "maxiter": 15000}))
        for key, words, options in runs:
            values, seconds = scipy_grid(grid, log_n, log_d, log_l, exact=True, **options)
            report["scipy"][f"lbfgsb_exact_gradient_{key}"] = {
                "starts": len(grid), "seconds": seconds, "fits_per_s": len(grid) / seconds,
                "best_objective": float(values.min()), "best_minus_reference": float(values.min() - REF_MIN),
                "starts_at_best_1e-9": int(np.sum(values <= REF_MIN + 1e-9)),
                "options": f"L-BFGS-B, exact gradient, {words}, OPENBLAS_NUM_THREADS=1"}
            print(f"scipy exact gradient, {key}: {seconds:.1f} s, best {values.min():.14f}", flush=True)
        subset = np.random.default_rng(0).choice(len(grid), size=args.fd_subset, replace=False)
        values_fd, seconds_fd = scipy_grid(grid[subset], log_n, log_d, log_l, exact=False)
        report["scipy"]["lbfgsb_finite_differences"] = {
            "starts_measured": int(args.fd_subset), "seconds_measured": seconds_fd,
            "seconds_extrapolated_to_4500 (EXTRAPOLATED)": seconds_fd * len(grid) / args.fd_subset,
            "best_objective_on_subset": float(values_fd.min()),
            "options": "L-BFGS-B, 2-point finite differences, default options (Epoch's procedure)"}
        print(f"scipy finite differences: {seconds_fd:.1f} s for {args.fd_subset} starts", flush=True)
        report["speedup"] = {name: {f"vs_scipy_{key}": (entry.get("seconds") or entry[
            "seconds_extrapolated_to_4500 (EXTRAPOLATED)"]) / e["run_s_median"]
            for key, entry in report["scipy"].items()} for name, e in report["jaxscale"].items()}
        print("speedup:", json.dumps(report["speedup"], indent=1))
    write(args.out, report)


if __name__ == "__main__":
    main()
