"""Grid fit time and peak memory against the number of rows (1e3 to 1e6), default call.

    python benchmarks/bench_rows.py [--sizes 1000,10000,100000,1000000] [--out bench_rows_cpu.json]

For each size a NEW process draws a synthetic data set (log-uniform N in [1e7, 3e10], D in [1e9, 3e12],
Epoch's law, 2 % log-normal noise, ``numpy.random.default_rng(size)``), runs ``js.fit(frame)`` twice
(first call: compile + run; second: run) and reports its peak resident memory (``ru_maxrss`` after the
default calls). The default screens the 4500 starts on a fixed subsample of 2048 rows when there are
more rows, and fits the best 8 end points to every row; lanes are capped by a memory budget
(``jaxscale.engine.batching.default_lanes``).

Same optimum: up to ``--reference-max-rows`` rows the default is compared with the exhaustive IRLS grid
on all rows (``solver="lm-irls", prune=None``, every one of the 4500 starts); above, with an exhaustive
full-data fit from every ``--reference-stride``-th grid start (``prune=None``; on this design LM reaches
the best basin from almost every start), which is much cheaper than the full grid on 1e5+ rows.
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
n, ref_max, stride = (int(v) for v in sys.argv[1:4])
rng = np.random.default_rng(n)
N, D = 10 ** rng.uniform(7, 10.5, n), 10 ** rng.uniform(9, 12.5, n)
loss = (1.8169 + 482.01 / N**0.3478 + 2085.43 / D**0.3659) * np.exp(0.02 * rng.standard_normal(n))
frame = pd.DataFrame({"N": N, "D": D, "loss": loss})
t0 = time.perf_counter(); fit = js.fit(frame); first = time.perf_counter() - t0
t0 = time.perf_counter(); fit = js.fit(frame); second = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
out = {"rows": n, "first_call_s (compile + run)": first, "run_s": second, "peak_rss_gb": peak,
       "objective": fit.objective, "params": fit.params.to_dict(),
       "starts_fitted_to_all_rows": int((fit.starts["status"] != "pruned").sum())}
if n <= ref_max:
    t0 = time.perf_counter()
    ref = js.fit(frame, solver="lm-irls", prune=None, polish=8)
    out["reference"] = "exhaustive IRLS grid, 4500 starts, all rows"
else:
    t0 = time.perf_counter()
    ref = js.fit(frame, starts=js.chinchilla_grid()[::stride], prune=None)
    out["reference"] = f"exhaustive fit of all rows from every {stride}-th grid start"
out["reference_s"] = time.perf_counter() - t0
out["reference_objective"] = ref.objective
out["default_minus_reference"] = fit.objective - ref.objective
out["relative_difference"] = (fit.objective - ref.objective) / ref.objective
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--reference-max-rows", type=int, default=10000)
    parser.add_argument("--reference-stride", type=int, default=45)
    parser.add_argument("--out", default="bench_rows_cpu.json")
    args = parser.parse_args()
    report = {"benchmark": "default js.fit(frame) on synthetic data of growing size (4500-start grid)",
              "command": "python benchmarks/bench_rows.py " + " ".join(
                  f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
              "machine": machine(), "sizes": []}
    for size in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, "-c", CHILD, str(size), str(args.reference_max_rows),
                              str(args.reference_stride)], capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            entry = {"rows": size, "error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
        else:
            entry = json.loads(out.stdout.strip().splitlines()[-1])
        report["sizes"].append(entry)
        print(json.dumps(entry), flush=True)
    write(args.out, report)


if __name__ == "__main__":
    main()
