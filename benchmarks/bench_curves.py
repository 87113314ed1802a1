"""Training curves at scale: 1000 runs x up to 1000 checkpoints (1e6 rows), time and peak memory (issue 19).

    python benchmarks/bench_curves.py [--sizes 100000,1000000] [--out bench_curves_cpu.json]

For each size a NEW process builds ``runs = 1000`` runs of ``size / 1000`` checkpoints (sizes log-spaced over
1e7..1e10, lengths 2000..20000 steps, cosine / WSD / linear in turn, Chinchilla-like forward-momentum law with
1 % noise), computes the areas (``js.curve_areas`` from each run's schedule description), fits
``js.fit_curves(law="forward_momentum")`` with its defaults twice (first call: compile + run; second: run), and,
side by side in the same process for a ratio that does not depend on the machine's load, the default
``js.fit`` of Chinchilla on the same number of rows (the final-loss fits' row bound of ``bench_rows.py``). Peak
resident memory is ``ru_maxrss`` at the end.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import ROOT, machine, write

CHILD = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
import jaxscale as js
rows = int(sys.argv[1]); runs = 1000; per = rows // runs
rng = np.random.default_rng(rows)
sizes = 10 ** rng.uniform(7, 10, runs); lengths = rng.integers(2000, 20001, runs)
kinds = np.array(["cosine", "wsd", "linear"])[np.arange(runs) % 3]
parts, schedules = [], {}
for r in range(runs):
    T = int(lengths[r]); at = np.unique(np.linspace(T / per, T, per).astype(int))
    schedules[r] = {"kind": str(kinds[r]), "total_steps": T, "peak_lr": 3e-3, "warmup": 0.01}
    parts.append(pd.DataFrame({"run": r, "step": at, "N": sizes[r]}))
frame = pd.concat(parts, ignore_index=True)
t0 = time.perf_counter(); areas = js.curve_areas(frame, schedules=schedules); t_areas = time.perf_counter() - t0
clean = 1.82 + 2.2 * areas["S1"] ** -0.37 + 482.0 * areas["N"] ** -0.35 - 1e-3 * areas["M"]
frame["loss"] = clean * np.exp(0.01 * rng.standard_normal(len(frame)))
t0 = time.perf_counter(); fit = js.fit_curves(frame, law="forward_momentum", schedules=schedules); first = time.perf_counter() - t0
t0 = time.perf_counter(); fit = js.fit_curves(frame, law="forward_momentum", schedules=schedules); second = time.perf_counter() - t0
chin = pd.DataFrame({"N": frame["N"], "D": 10 ** rng.uniform(9, 12.5, len(frame))})
chin["loss"] = (1.8169 + 482.01 / chin.N**0.3478 + 2085.43 / chin.D**0.3659) * np.exp(0.02 * rng.standard_normal(len(chin)))
t0 = time.perf_counter(); js.fit(chin); c_first = time.perf_counter() - t0
t0 = time.perf_counter(); js.fit(chin); c_second = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({"rows": len(frame), "runs": runs, "areas_s": t_areas, "curves_first_call_s": first,
                  "curves_run_s (includes areas)": second, "chinchilla_first_call_s": c_first, "chinchilla_run_s": c_second,
                  "run_ratio curves/chinchilla": second / c_second, "peak_rss_gb (whole process)": peak,
                  "params": fit.params.to_dict(), "truth": {"L0": 1.82, "A": 2.2, "B": 482.0, "alpha_S": 0.37,
                  "alpha_N": 0.35, "C": 1e-3}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--out", default="bench_curves_cpu.json")
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, "-c", CHILD, str(size)], capture_output=True, text=True, cwd=ROOT,
                             check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1], indent=1), flush=True)
    write(args.out, {"benchmark": __doc__.split("\n")[0], "command": "python benchmarks/bench_curves.py"
                     + (f" --sizes {args.sizes}" if args.sizes != "100000,1000000" else ""),
                     "machine": machine(), "note": "measured on a shared 2-core machine under load: compare the "
                     "curves/chinchilla ratio, not absolute seconds", "sizes": results})


if __name__ == "__main__":
    main()
