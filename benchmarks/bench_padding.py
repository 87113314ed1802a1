"""Padding is exact: ``js.fit(data)`` on bucketed shapes reaches the optimum of the unpadded code (issue 16).

For Epoch's 240 rows and the synthetic proof sets of ``proof_datasets.py`` (24 shapes plus 9 hard
ones, 24 to 2000 rows), the default ``js.fit(frame)`` runs in a fresh process on this tree and on
``--baseline`` (a checkout without row buckets, e.g. ``/work/main``); the objectives must agree
within 1e-12 relative. Also Epoch's ``js.bootstrap(runs, n_resamples=200, starts="best", seed=1)``
(every resample's objective).

Usage: ``python benchmarks/bench_padding.py --baseline ../main`` -> ``benchmarks/results/bench_padding_cpu.json``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from common import ROOT, machine, write  # noqa: E402

CHILD = r'''
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from proof_datasets import proof_datasets
from common import chinchilla_240
import jaxscale as js
runs = chinchilla_240()
out = {}
for name, frame in [("epoch-240", runs)] + proof_datasets():
    res = js.fit(frame)
    out[name] = {"rows": len(frame), "objective": float(res.objective), "theta": np.asarray(res.theta).tolist()}
boot = js.bootstrap(runs, n_resamples=200, starts="best", seed=1, progress=False)
out["bootstrap-200"] = {"objective": np.asarray(boot.objective).tolist()}
print("RESULT " + json.dumps(out))
'''


def run(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), JAXSCALE_CACHE_DIR="off")
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "benchmarks")], env=env, capture_output=True,
                          text=True, cwd=str(tree))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{tree}: {done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    args = parser.parse_args()
    base, branch = run(args.baseline.resolve()), run(ROOT)
    rows, worst = [], 0.0
    for name in base:
        a, b = np.asarray(base[name]["objective"]), np.asarray(branch[name]["objective"])
        rel = float(np.max(np.abs(b - a) / np.maximum(np.abs(a), 1e-300)))
        worst = max(worst, rel)
        rows.append({"set": name, "rows": base[name].get("rows"), "baseline": base[name]["objective"] if a.ndim == 0
                     else None, "branch": branch[name]["objective"] if b.ndim == 0 else None, "max_rel_diff": rel,
                     "branch_lower": bool(np.all(b <= a))})
        print(f"{name:28s} max rel diff {rel:.2e}", flush=True)
    report = {"command": "python benchmarks/bench_padding.py " + " ".join(sys.argv[1:]), "machine": machine(),
              "baseline": str(args.baseline), "max_rel_diff": worst, "within_1e-12": worst <= 1e-12, "sets": rows}
    print(f"worst {worst:.2e} ({'within' if worst <= 1e-12 else 'ABOVE'} 1e-12)")
    write("bench_padding_cpu.json", report)


if __name__ == "__main__":
    import numpy as np

    main()
