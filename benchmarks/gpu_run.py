"""The accelerator proof in one run: smoke tests, P1, P3 and P2 exhaustive, inside a time budget.

    PYTHONPATH=. python benchmarks/gpu_run.py [--data CSV] [--out DIR] [--budget-s 480] [--tiny]

Made for one short run on a machine with an NVIDIA GPU and a CUDA build of jax already installed
(nothing is installed; jax, optax, numpy, pandas, tqdm and scipy suffice; pytest for step 1):

1. a smoke subset of the test suite in a subprocess (``pytest -q -m "not slow" -k ...``, at most
   ``--smoke-s`` seconds; run before this process touches the GPU, which the subprocess then has to itself);
2. P1: the 4500-start Hoffmann grid on Epoch's 240 rows, the default (pruned) ``js.fit(runs)`` and the
   exhaustive one (every start to convergence); P3: 4000 resamples (Epoch's ``np.random.seed(42)`` draws)
   x Hoffmann's start. Each call twice: first call (compile + run) and the identical repeat;
3. P2 EXHAUSTIVE: the same 4000 resamples x 4500 starts = 18,000,000 fits, every one to its stopping
   rule, in calls of whole chunks of ``--p2-chunk`` resamples. The rate is measured on the second call
   (the first compiles); every later call takes as many resamples as the measured rate says fit in the
   time left (less ``--reserve-s`` for the agreement step). If the budget ends first, the report gives
   the prefix of resamples done (``n_done``), labelled as such: nothing is extrapolated. On the resamples
   done, the ``"subgrid"`` and ``"best"`` strategies are compared with the exhaustive optimum (count
   within ``--tol``, Wilson 95 % interval);
4. the JSON (written after every step, atomically) goes to ``--out``: ``gpu_run_<backend>.json``
   (``gpu_run_tiny_<backend>.json`` with ``--tiny``), so a CPU run never writes a ``*_gpu.json``.

``--tiny`` (a few resamples, a 30-start grid, 2 smoke tests) runs end to end on a CPU in well under a
minute; tests/test_gpu_run.py runs it. The Chinchilla CSV: ``--data``, else $JAXSCALE_CHINCHILLA_CSV,
else shared/data/svg_extracted_data.csv beside or inside the repository, else jaxscale's cache/download.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench_bootstrap import HOFFMANN, epoch_indices
from bench_grid import REF_MIN
from common import ROOT, machine, timed, wilson, write

CSV_NAME = Path("shared") / "data" / "svg_extracted_data.csv"
SMOKE_FILES = ["tests/test_kernels.py", "tests/test_chinchilla_reference.py", "tests/test_bootstrap.py"]
SMOKE_K = ("huber_matches_definition or analytic_jacobian or spd_solve or (noise_free_recovery and not bfgs) or "
           "float64_is_local or grid_fit_reaches_reference_minimum or reported_objective_matches or epoch_draw0 or "
           "epoch_standard_errors")  # kernels, the 4500-start fit and Epoch's 4000 resamples on real data
SMOKE_K_TINY = "huber_matches_definition or spd_solve"


# ------------------------------------------------------------------ every jaxscale call of the script
# The one place to update when the keywords move (issue 17: starts/solver/prune into ``search=``).
def call_fit(js, runs, starts, exhaustive: bool):
    """P1: ``js.fit(runs)`` (default pruned grid) or every start to its end (``prune=None``)."""
    return js.fit(runs, search=js.Search(starts=starts, prune=None if exhaustive else "auto"))


def call_bootstrap(js, runs, indices, starts, estimate=None, exhaustive: bool = False, chunk=None):
    """P3 (``starts=HOFFMANN``), P2 exhaustive (the grid, ``prune=None``), ``"subgrid"`` and ``"best"``."""
    if exhaustive:
        return js.bootstrap(runs, indices=indices, estimate=estimate, search=js.Search(starts=starts, prune=None),
                            runner=js.Runner(chunk_size=chunk, progress=False))
    return js.bootstrap(runs, indices=indices, estimate=estimate, search=js.Search(starts=starts),
                        runner=js.Runner(progress=False))


# ------------------------------------------------------------------ environment
def find_csv(arg: str | None) -> str | None:
    """``--data``, $JAXSCALE_CHINCHILLA_CSV, shared/ beside or inside the repository; None: the loader's cache."""
    for candidate in (arg, os.environ.get("JAXSCALE_CHINCHILLA_CSV"), ROOT.parent / CSV_NAME, ROOT / CSV_NAME):
        if candidate and Path(candidate).is_file():
            return str(Path(candidate).resolve())
    if arg:
        raise SystemExit(f"--data {arg}: no such file")
    return None


def environment() -> dict:
    import jax
    import jaxlib

    device = jax.devices()[0]
    info = {**machine(), "jaxlib": jaxlib.__version__, "device_platform": device.platform,
            "device_kind": device.device_kind, "device_count": jax.device_count()}
    try:
        info["environment_info"] = jax.print_environment_info(return_string=True)  # nvidia-smi on a GPU
    except Exception as err:  # noqa: BLE001 - informational only
        info["environment_info"] = f"unavailable: {err}"
    try:
        from jax._src.lib import cuda_versions

        if cuda_versions is not None:
            info["cuda"] = {"runtime": cuda_versions.cuda_runtime_get_version(),
                            "driver": cuda_versions.cuda_driver_get_version(),
                            "cudnn": cuda_versions.cudnn_get_version()}
    except Exception as err:  # noqa: BLE001 - a private module; informational only
        info["cuda"] = f"unavailable: {err}"
    return info


# ------------------------------------------------------------------ step 1
def per_test_counts(text: str) -> dict:
    """Outcomes of ``pytest -v`` result lines (``path::test PASSED``): also readable from a run cut short."""
    found = re.findall(r"::\S+ (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)", text)
    return {word.lower(): found.count(word) for word in sorted(set(found))}


def smoke_tests(tiny: bool, limit_s: float, csv: str | None) -> dict:
    files = SMOKE_FILES[:1] if tiny else SMOKE_FILES
    selection = SMOKE_K_TINY if tiny else SMOKE_K
    cmd = [sys.executable, "-m", "pytest", "-v", "-m", "not slow", "-p", "no:cacheprovider", *files, "-k", selection]
    entry = {"command": " ".join(cmd[1:3] + [f"'{c}'" if " " in c else c for c in cmd[3:]]), "limit_s": limit_s}
    if importlib.util.find_spec("pytest") is None:
        return {**entry, "status": "not run: pytest is not installed"}
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if csv:
        env["JAXSCALE_CHINCHILLA_CSV"] = csv
    t0 = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=max(1.0, limit_s))
    except subprocess.TimeoutExpired as err:
        text = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        return {**entry, "status": f"timed out after {limit_s:.0f} s", "seconds": time.perf_counter() - t0,
                "counts_before_timeout": per_test_counts(text), "output_tail": text[-2000:]}
    text = out.stdout + out.stderr
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped|deselected)", text)}
    entry.update(status="passed" if out.returncode == 0 else f"FAILED (exit {out.returncode})",
                 seconds=time.perf_counter() - t0, returncode=out.returncode, counts=counts,
                 per_test=per_test_counts(text))
    if out.returncode != 0:
        entry["output_tail"] = text[-4000:]
    return entry


# ------------------------------------------------------------------ step 2
def twice(fn, *args, **kwargs):
    first_out, first = timed(fn, *args, **kwargs)
    out, repeat = timed(fn, *args, **kwargs)
    return first_out, out, first, repeat


def p1(js, runs, grid) -> tuple[dict, object]:
    report, estimate = {}, None
    n_starts = len(js.chinchilla_grid()) if grid is None else len(grid)
    for name, exhaustive in (("default", False), ("exhaustive", True)):
        first_fit, fit, first, repeat = twice(call_fit, js, runs, grid, exhaustive)
        report[name] = {
            "call": ("js.fit(runs, prune=None)" if exhaustive else "js.fit(runs)") + (
                "" if grid is None else f"  [tiny: starts = {n_starts} grid starts]"),
            "starts": n_starts, "first_call_s (compile + run)": first, "repeat_s": repeat,
            "starts_per_s_repeat": n_starts / repeat, "objective": fit.objective,
            "objective_minus_published_1.01827401780e-3": fit.objective - REF_MIN,
            "theta": fit.theta.tolist(), "converged": bool(fit.converged),
            "repeat_identical_objective": bool(first_fit.objective == fit.objective)}
        estimate = estimate or fit
    return report, estimate


def objective_stats(values: np.ndarray) -> dict:
    return {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max()),
            "sum": float(values.sum()), "first_5": values[:5].tolist()}


def p3(js, runs, indices) -> dict:
    first_boot, boot, first, repeat = twice(call_bootstrap, js, runs, indices, HOFFMANN)
    return {"call": f"js.bootstrap(runs, indices=epoch_indices[:{len(indices)}], starts=HOFFMANN)",
            "resamples": len(indices), "starts_per_resample": 1, "solver": boot.recipe["solver"],
            "first_call_s (compile + run)": first, "repeat_s": repeat, "fits_per_s_repeat": len(indices) / repeat,
            "converged_share": float(np.mean(boot.converged)), "objective": objective_stats(boot.objective),
            "repeat_max_abs_objective_diff": float(np.max(np.abs(first_boot.objective - boot.objective))),
            "se": boot.summary()["se"].to_dict()}


# ------------------------------------------------------------------ step 3
def p2(js, runs, indices, grid, estimate, chunk: int, deadline: float, reserve_s: float, tol: float,
       safety: float = 0.8, prior_fits_per_s: float | None = None) -> dict:
    """Exhaustive grid on the largest prefix of resamples the measured rate fits before ``deadline - reserve_s``.

    ``prior_fits_per_s`` (P1's exhaustive rate) only shrinks ``chunk`` when two chunks would not fit the
    time left at that rate (a slow device); the prefix itself follows the rate measured here.
    """
    starts = "grid" if grid is None else grid
    n_starts = len(js.chinchilla_grid()) if grid is None else len(grid)
    n_total = len(indices)
    chunk_asked = chunk
    if prior_fits_per_s:
        affordable = 0.4 * (deadline - reserve_s - time.perf_counter()) * prior_fits_per_s / n_starts
        chunk = max(1, min(chunk, int(affordable)))
    calls, objectives = [], []
    done, stop = 0, "all resamples done"
    while done < n_total:
        left = deadline - reserve_s - time.perf_counter()
        remaining = n_total - done
        measured = calls[1:]  # the first call compiles
        if not measured:  # the first call, then one of the same size that measures the rate
            n_next = remaining if remaining < 2 * chunk else chunk
            if left <= 0 or (calls and left < calls[0]["seconds"]):
                stop = f"time budget: {left:.1f} s left, too little for the rate-measuring call"
                break
        else:
            rate = sum(c["resamples"] for c in measured) / sum(c["seconds"] for c in measured)
            fits = int(safety * left * rate)
            n_next = remaining if fits >= remaining else (fits // chunk) * chunk
            if n_next < 1:
                stop = (f"time budget: {remaining} resamples left, {left:.1f} s left at the measured "
                        f"{rate:.2f} resamples/s")
                break
        boot, seconds = timed(call_bootstrap, js, runs, indices[done:done + n_next], starts, estimate, True,
                              chunk * n_starts)
        objectives.append(boot.objective)
        calls.append({"first_resample": done, "resamples": n_next, "seconds": seconds,
                      "fits_per_s": n_next * n_starts / seconds})
        done += n_next
    exhaustive = np.concatenate(objectives) if objectives else np.empty(0)
    later = calls[1:]
    entry = {
        "call": f"js.bootstrap(runs, indices=epoch_indices[a:b], starts={'grid' if grid is None else 'tiny_grid'!r}, "
                f"estimate=fit, prune=None, chunk_size={chunk} * {n_starts})",
        "resamples_requested": n_total, "starts_per_resample": n_starts, "n_done": done,
        "complete": done == n_total, "fits_done": done * n_starts, "stop_reason": stop,
        "note": ("every fit of the resamples done ran to its stopping rule; the resamples not done were not "
                 "run and nothing is extrapolated"),
        "chunk_resamples": chunk, "chunk_resamples_asked": chunk_asked, "prior_fits_per_s (P1 exhaustive)":
        prior_fits_per_s, "calls": calls,
        "seconds_all_calls (first compiles)": sum(c["seconds"] for c in calls),
        "seconds_after_first_call": sum(c["seconds"] for c in later),
        "fits_per_s_after_first_call": (sum(c["resamples"] for c in later) * n_starts / sum(c["seconds"] for c in later)
                                        if later else None),
        "objective": objective_stats(exhaustive) if done else None}
    if done:
        entry["agreement"] = agreement(js, runs, indices[:done], estimate, exhaustive, tol)
    return entry


def agreement(js, runs, indices, estimate, exhaustive: np.ndarray, tol: float) -> dict:
    report = {"tolerance": tol, "resamples": len(indices),
              "rule": "strategy's best objective <= exhaustive grid's + tolerance, resample by resample"}
    for strategy in ("subgrid", "best"):
        boot, seconds = timed(call_bootstrap, js, runs, indices, strategy, estimate)
        ok = boot.objective <= exhaustive + tol
        report[strategy] = {
            "call": f"js.bootstrap(runs, indices=epoch_indices[:{len(indices)}], starts={strategy!r}, estimate=fit)",
            "seconds (includes compile)": seconds, "starts_per_resample": int(boot.recipe["n_starts"]),
            "within_tolerance": int(ok.sum()), "share": float(ok.mean()), "wilson95": wilson(int(ok.sum()), len(ok)),
            "max_minus_exhaustive": float(np.max(boot.objective - exhaustive))}
    return report


# ------------------------------------------------------------------ report
def table(report: dict) -> str:
    env = report["environment"]
    lines = [f"device: {env.get('device_kind')} ({env.get('backend')}), jax {env.get('jax')}, "
             f"budget {report['budget_s']} s, took {report.get('total_s', 0):.0f} s"]
    smoke = report.get("smoke_tests", {})
    lines.append(f"smoke tests: {smoke.get('status')} {smoke.get('counts', '')} in {smoke.get('seconds', 0):.1f} s")
    for name, e in report.get("P1", {}).items():
        lines.append(f"P1 {name:10s}: first {e['first_call_s (compile + run)']:7.2f} s, repeat {e['repeat_s']:7.3f} s, "
                     f"objective {e['objective']:.14f}")
    if "P3" in report:
        e = report["P3"]
        lines.append(f"P3 {e['resamples']} x 1  : first {e['first_call_s (compile + run)']:7.2f} s, repeat "
                     f"{e['repeat_s']:7.3f} s, {e['fits_per_s_repeat']:.0f} fits/s")
    if "P2" in report:
        e = report["P2"]
        rate = e["fits_per_s_after_first_call"]
        lines.append(f"P2 exhaustive: {e['n_done']}/{e['resamples_requested']} resamples x {e['starts_per_resample']} "
                     f"starts ({'COMPLETE' if e['complete'] else 'PREFIX ONLY: ' + e['stop_reason']}), "
                     f"{e['seconds_all_calls (first compiles)']:.1f} s in all, "
                     + (f"{rate:.0f} fits/s after the first call" if rate else "rate not measured"))
        for strategy, a in e.get("agreement", {}).items():
            if isinstance(a, dict):
                lines.append(f"   {strategy:8s} agrees on {a['within_tolerance']}/{e['n_done']} "
                             f"(Wilson 95 % [{a['wilson95'][0]:.4f}, {a['wilson95'][1]:.4f}])")
    for step, why in report.get("skipped", {}).items():
        lines.append(f"{step}: SKIPPED ({why})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="Epoch's svg_extracted_data.csv")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for the JSON")
    parser.add_argument("--budget-s", type=float, default=480.0, help="time for the whole run (s)")
    parser.add_argument("--smoke-s", type=float, default=90.0, help="time limit of the smoke tests (s)")
    parser.add_argument("--reserve-s", type=float, default=60.0, help="time kept back for P2's agreement step (s)")
    parser.add_argument("--resamples", type=int, default=4000)
    parser.add_argument("--p2-chunk", type=int, default=125, help="P2 resamples per compiled chunk (4000 = 32 x 125)")
    parser.add_argument("--tol", type=float, default=1e-9, help="agreement tolerance on the objective")
    parser.add_argument("--tiny", action="store_true", help="small sizes: runs on a CPU in well under a minute")
    parser.add_argument("--commit", default=os.environ.get("JAXSCALE_GIT_COMMIT"),
                        help="git commit to record where the checkout has no .git")
    args = parser.parse_args()
    started = time.perf_counter()
    deadline = started + args.budget_s
    if args.tiny:
        args.resamples, args.p2_chunk = min(args.resamples, 8), min(args.p2_chunk, 2)
        args.smoke_s, args.reserve_s = min(args.smoke_s, 60.0), min(args.reserve_s, 5.0)
    csv = find_csv(args.data)

    report = {"benchmark": "accelerator proof: smoke tests, P1, P3, P2 exhaustive (benchmarks/gpu_run.py)",
              "command": " ".join(["python"] + [str(a) for a in sys.argv]), "tiny": args.tiny,
              "budget_s": args.budget_s, "data": csv or "jaxscale's cache/download", "skipped": {}}
    # 1. before this process initialises the accelerator (the subprocess gets it to itself)
    report["smoke_tests"] = smoke_tests(args.tiny, min(args.smoke_s, deadline - time.perf_counter()), csv)

    import jax

    import jaxscale as js
    from jaxscale.engine.batching import default_lanes

    report["environment"] = environment()
    if args.commit:
        report["environment"]["git_commit"] = args.commit
    report["environment"]["default_lanes_240_rows"] = default_lanes(240)
    kind = jax.default_backend()
    path_name = f"gpu_run{'_tiny' if args.tiny else ''}_{kind}.json"
    out = Path(args.out)

    def save():
        report["total_s"] = time.perf_counter() - started
        write(path_name, report, folder=out)

    save()
    runs = js.datasets.chinchilla(csv)
    grid = js.chinchilla_grid()[::150] if args.tiny else None  # None: the law's grid, as a user calls it
    indices = epoch_indices(runs, args.resamples)
    # 2.
    report["P1"], estimate = p1(js, runs, grid)
    save()
    if time.perf_counter() < deadline - args.reserve_s:
        report["P3"] = p3(js, runs, indices)
    else:
        report["skipped"]["P3"] = "time budget"
    save()
    # 3.
    report["P2"] = p2(js, runs, indices, grid, estimate, args.p2_chunk, deadline, args.reserve_s, args.tol,
                      prior_fits_per_s=report["P1"]["exhaustive"]["starts_per_s_repeat"])
    save()
    print(table(report), flush=True)


if __name__ == "__main__":
    main()
