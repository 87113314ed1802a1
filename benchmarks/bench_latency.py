"""The first answer fast: a notebook session's wait, cold and warm, in fresh processes (issue 16).

Every measurement runs in a FRESH Python subprocess, so import, tracing and compilation are counted
as a user meets them:

1. The ten-call session of ``../shared/latency_session.py`` (same calls, same data): each call timed
   on its first call and on an immediate repeat; the session total runs from before ``import
   jaxscale`` to the last repeat (as that script prints it). Run "cold" (an EMPTY compilation cache
   directory) and again "warm" (a new process with the cache the cold run left). Two more repeats
   after the session give each call's best repeat (not counted in the session total).
2. No recompilation within a bucket: after one ``js.fit`` of Epoch's 240 rows, fits on other row
   counts (60 to 10,000 rows: subsets of Epoch's runs, synthetic Chinchilla data above 240 rows) and,
   after one bootstrap, bootstraps with other ``n_resamples``; each first call against its own
   repeat (goal: first <= 1.5 x repeat + 0.2 s). The compilation cache is OFF in this process
   (``JAXSCALE_CACHE_DIR=off``, and main's API has none by default), so every recompile shows.
   A row count in a bucket not met before compiles once (reported with its bucket).
3. Grouped vs loop: 200 small data sets (``bench_groups.small_sets``, 8-12 points, ``power_law``)
   fitted by ONE ``js.fit(data, by="set")`` in a fresh process vs a loop of 200 ``js.fit(part)`` in
   another fresh process, each first call included; cold (empty cache) and warm (the cache each left).
4. Steady state: default ``js.fit(runs)`` and Epoch's protocol bootstrap
   ``js.bootstrap(runs, n_resamples=4000, starts=HOFFMANN, seed=1)``, median of 3 repeats after a first call.

With ``--baseline DIR`` (a checkout of another commit, e.g. ``/work/main``) every part runs for both
code trees side by side, alternating, so ratios hold on a loaded machine. ``--quick``: the
no-recompile check on fewer sizes and resample counts, 50 sets instead of 200.

Usage: ``python benchmarks/bench_latency.py [--baseline ../main] [--quick]``
-> ``benchmarks/results/bench_latency_cpu.json``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, write  # noqa: E402

SESSION = r'''
import json, sys, time
T0 = time.perf_counter()
import numpy as np, pandas as pd
import jaxscale as js
t_import = time.perf_counter() - T0
if hasattr(js, "enable_compilation_cache"):
    js.enable_compilation_cache()     # the session's --cache: a no-op where the cache is already on by default
runs = js.datasets.chinchilla()
toy = js.datasets.synthetic()
rng = np.random.default_rng(0)
x = np.logspace(18, 23, 12)
pl = pd.DataFrame({"x": x, "loss": (1.8 + 40 * x ** -0.12) * np.exp(0.004 * rng.standard_normal(12))})
groups = pd.concat([js.datasets.synthetic(sizes_per_budget=6, noise=0.01, seed=g).assign(g=g) for g in range(20)],
                   ignore_index=True)
calls = [
    ("fit chinchilla 240 rows", lambda: js.fit(runs)),
    ("fit chinchilla subset C<1e21", lambda: js.fit(runs[runs.C < 1e21])),
    ("fit kaplan", lambda: js.fit(runs, law="kaplan")),
    ("bootstrap 1000 best", lambda: js.bootstrap(runs, n_resamples=1000, starts="best", progress=False)),
    ("bootstrap 4000 best", lambda: js.bootstrap(runs, n_resamples=4000, starts="best", progress=False)),
    ("fit power_law 12 pts", lambda: js.fit(pl, law="power_law")),
    ("fit by= 20 groups", lambda: js.fit(groups, by="g", progress=False)),
    ("extrapolation", lambda: js.extrapolation(runs, split="compute", holdout=1)),
    ("isoflop 100 resamples", lambda: js.isoflop(toy, n_resamples=100)),
    ("bootstrap toy 500 best", lambda: js.bootstrap(toy, n_resamples=500, starts="best", progress=False)),
]
out = {"import_s": t_import, "calls": []}
for name, call in calls:
    t = time.perf_counter(); call(); first = time.perf_counter() - t
    t = time.perf_counter(); call(); repeat = time.perf_counter() - t
    out["calls"].append({"call": name, "first_s": first, "repeat_s": repeat})
out["session_s"] = time.perf_counter() - T0
out["first_calls_s"] = sum(c["first_s"] for c in out["calls"])
out["repeats_s"] = sum(c["repeat_s"] for c in out["calls"])
for (name, call), row in zip(calls, out["calls"]):  # two more repeats: each call's best repeat
    times = [row["repeat_s"]]
    for _ in range(2):
        t = time.perf_counter(); call(); times.append(time.perf_counter() - t)
    row["repeat_best_s"] = min(times)
print("RESULT " + json.dumps(out))
'''

RECOMPILE = r'''
import json, sys, time
import numpy as np, pandas as pd
import jaxscale as js
cfg = json.loads(sys.argv[1])
runs = js.datasets.chinchilla()
def rows(n):
    if n <= len(runs):
        return runs.sample(n, random_state=n).reset_index(drop=True)
    budgets = np.geomspace(6e18, 3e23, 12)
    big = js.datasets.synthetic(budgets=budgets, sizes_per_budget=-(-n // len(budgets)), seed=n)
    return big.sample(n, random_state=n).reset_index(drop=True)
def bucket(n):
    try:
        from jaxscale.engine.batching import row_bucket
        return row_bucket(n)
    except ImportError:
        return n
def first_and_repeat(call):
    t = time.perf_counter(); call(); first = time.perf_counter() - t
    t = time.perf_counter(); call(); repeat = time.perf_counter() - t
    return first, repeat
out = {"fit": [], "bootstrap": []}
seen = set()
for n in cfg["sizes"]:
    frame = rows(n)
    first, repeat = first_and_repeat(lambda: js.fit(frame))
    b = bucket(n)
    out["fit"].append({"rows": n, "bucket": b, "new_bucket": b not in seen, "first_s": first, "repeat_s": repeat,
                       "within_goal": first <= 1.5 * repeat + 0.2})
    seen.add(b)
for n_res in cfg["resamples"]:
    first, repeat = first_and_repeat(lambda: js.bootstrap(runs, n_resamples=n_res, starts="best", progress=False))
    out["bootstrap"].append({"n_resamples": n_res, "first_s": first, "repeat_s": repeat,
                             "within_goal": first <= 1.5 * repeat + 0.2})
print("RESULT " + json.dumps(out))
'''

GROUPS = r'''
import json, sys, time
import numpy as np, pandas as pd
sys.path.insert(0, sys.argv[2])
from bench_groups import small_sets
import jaxscale as js
cfg = json.loads(sys.argv[1])
data = small_sets(cfg["sets"])
t = time.perf_counter()
if cfg["mode"] == "grouped":
    res = js.fit(data, law="power_law", x="x", by="set", progress=False)
else:
    for g, part in data.groupby("set"):
        js.fit(part, law="power_law", x="x")
print("RESULT " + json.dumps({"seconds": time.perf_counter() - t}))
'''

STEADY = r'''
import json, sys, time, statistics
import numpy as np
import jaxscale as js
runs = js.datasets.chinchilla()
HOFFMANN = np.array([6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083])
out = {}
for name, call in [("fit(runs)", lambda: js.fit(runs)),
                   ("bootstrap(runs, n_resamples=4000, starts=HOFFMANN, seed=1)",
                    lambda: js.bootstrap(runs, n_resamples=4000, starts=HOFFMANN, seed=1, progress=False))]:
    t = time.perf_counter(); call(); first = time.perf_counter() - t
    times = []
    for _ in range(3):
        t = time.perf_counter(); call(); times.append(time.perf_counter() - t)
    out[name] = {"first_s": first, "repeat_median_s": statistics.median(times), "repeats_s": times}
print("RESULT " + json.dumps(out))
'''


def child(code: str, tree: Path, cache: str, *args: str) -> dict:
    """Run ``code`` in a fresh Python process on the code tree ``tree`` with JAXSCALE_CACHE_DIR=``cache``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")
           and k != "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"}
    env.update(PYTHONPATH=str(tree), JAXSCALE_CACHE_DIR=cache)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          cwd=str(tree))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"child on {tree} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    result["process_wall_s"] = time.perf_counter() - start
    return result


def git_commit(tree: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"


def show_session(label: str, result: dict) -> None:
    print(f"  {label}: session {result['session_s']:.1f} s (import {result['import_s']:.1f} s, first calls "
          f"{result['first_calls_s']:.1f} s, repeats {result['repeats_s']:.1f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=None, help="another code tree to time side by side")
    parser.add_argument("--quick", action="store_true", help="fewer sizes and resample counts, 50 sets")
    parser.add_argument("--out", default="bench_latency_cpu.json")
    args = parser.parse_args()
    trees = {"branch": ROOT}
    if args.baseline is not None:
        trees = {"baseline": args.baseline.resolve(), "branch": ROOT}
    sizes = ([240, 200, 150, 100, 60, 1000] if args.quick
             else [240, 217, 200, 150, 129, 120, 100, 90, 60, 1000, 900, 5000, 4500, 10000, 9000])
    resamples = [1000, 2000, 300] if args.quick else [1000, 2000, 300, 4000, 10000]
    n_sets = 50 if args.quick else 200
    report = {"command": "python benchmarks/bench_latency.py " + " ".join(sys.argv[1:]), "machine": machine(),
              "trees": {k: {"path": str(v), "git_commit": git_commit(v)} for k, v in trees.items()},
              "note": "each number from a fresh subprocess; baseline and branch alternate in one run",
              "load_average_start": os.getloadavg(), "session": {}, "recompile": {}, "groups": {}, "steady": {}}
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    print("1. the ten-call session, cold then warm cache", flush=True)
    for phase in ("cold", "warm"):  # trees alternate, so load drift hits both alike
        for name, tree in trees.items():
            result = child(SESSION, tree, str(work / f"session-{name}"))
            show_session(f"{name} {phase}", result)
            report["session"].setdefault(name, {})[phase] = result
    write(args.out, {**report, "partial": "sessions only so far"})  # a long run keeps what it measured
    print("2. no recompilation within a bucket (cache off)", flush=True)
    for name, tree in trees.items():
        result = child(RECOMPILE, tree, "off", json.dumps({"sizes": sizes, "resamples": resamples}))
        report["recompile"][name] = result
        for row in result["fit"]:
            print(f"  {name} fit {row['rows']:6d} rows (bucket {row['bucket']}{', new' if row['new_bucket'] else ''}): "
                  f"first {row['first_s']:.2f} s repeat {row['repeat_s']:.2f} s "
                  f"{'ok' if row['within_goal'] else 'RECOMPILED'}", flush=True)
        for row in result["bootstrap"]:
            print(f"  {name} bootstrap {row['n_resamples']:6d}: first {row['first_s']:.2f} s repeat "
                  f"{row['repeat_s']:.2f} s {'ok' if row['within_goal'] else 'RECOMPILED'}", flush=True)
    write(args.out, {**report, "partial": "sessions and recompile check so far"})
    print(f"3. grouped fit of {n_sets} sets vs a loop of single fits (fresh processes)", flush=True)
    rows = {name: {} for name in trees}
    for phase in ("cold", "warm"):
        for mode in ("grouped", "loop"):
            for name, tree in trees.items():
                cache = str(work / f"groups-{name}-{mode}")
                cfg = json.dumps({"sets": n_sets, "mode": mode})
                rows[name][f"{mode}_{phase}_s"] = child(GROUPS, tree, cache, cfg, str(ROOT / "benchmarks"))["seconds"]
    for name, row in rows.items():
        row["speedup_cold"] = row["loop_cold_s"] / row["grouped_cold_s"]
        row["speedup_warm"] = row["loop_warm_s"] / row["grouped_warm_s"]
        report["groups"][name] = row
        print(f"  {name}: grouped {row['grouped_cold_s']:.2f} s cold / {row['grouped_warm_s']:.2f} s warm; loop "
              f"{row['loop_cold_s']:.2f} / {row['loop_warm_s']:.2f} s; speedup {row['speedup_cold']:.1f}x cold, "
              f"{row['speedup_warm']:.1f}x warm", flush=True)
    write(args.out, {**report, "partial": "no steady state yet"})
    print("4. steady state (median of 3 repeats)", flush=True)
    for name, tree in trees.items():
        report["steady"][name] = child(STEADY, tree, str(work / f"session-{name}"))
        for call, row in report["steady"][name].items():
            if isinstance(row, dict):
                print(f"  {name} {call}: {row['repeat_median_s']:.3f} s", flush=True)
    report["load_average_end"] = os.getloadavg()
    write(args.out, report)


if __name__ == "__main__":
    main()
