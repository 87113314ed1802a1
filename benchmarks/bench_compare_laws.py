"""Does ``compare_laws`` prefer the law the data came from? Each registered final-loss law as the truth X.

    python benchmarks/bench_compare_laws.py [--datasets 3] [--resamples 100] [--noise 0.01]

For every registered law X that predicts a final loss (all but ``sigmoid``, a downstream-accuracy law) data
are simulated from X at its registry example parameters (``Law.example``) with i.i.d. log-normal noise sd
``--noise``, and ``compare_laws`` (rolling splits: fit the lower budgets, forecast the next one) compares X
with the other laws of the same inputs:

- laws of N and D (``chinchilla``, ``kaplan``): isoFLOP design, 7 budgets x 7 model sizes; candidates
  {chinchilla, kaplan};
- ``data_constrained`` (N, D, U): the same design, every other run with a small unique-token budget U (up
  to ~40 epochs) so that repetition matters; candidates {data_constrained, chinchilla};
- laws of one input x (``power_law``, ``pure_power_law``, ``broken_power_law``): 48 values of x over the
  example range, grouped into 8 budgets; candidates all three.

Identifiability: a pair (X, Y) is identifiable when Y does not contain X as a special case or limit. Not
identifiable: power_law inside broken_power_law (c1 = 0), pure_power_law inside power_law (E -> 0) and
inside broken_power_law (a -> 0, c1 = 0). For those pairs the larger law fits X's data as well up to
estimation noise, so an interval containing 0 is the right answer.

Report per X and competitor Y: in how many data sets X had the lower out-of-sample score and in how many
the 95 % paired-bootstrap interval of score(X) - score(Y) lay below 0 (X better, excluding 0), plus
seconds. JSON: ``benchmarks/results/bench_compare_laws_cpu.json``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.common import machine, write  # noqa: E402

ONE_D = ["power_law", "pure_power_law", "broken_power_law"]
CANDIDATES = {"chinchilla": ["chinchilla", "kaplan"], "kaplan": ["kaplan", "chinchilla"],
              "data_constrained": ["data_constrained", "chinchilla"],
              **{law: [law] + [o for o in ONE_D if o != law] for law in ONE_D}}
NESTED = {("power_law", "broken_power_law"), ("pure_power_law", "power_law"), ("pure_power_law", "broken_power_law")}


def isoflop_design(budgets: np.ndarray, per_budget: int = 7) -> pd.DataFrame:
    rows = []
    for C in budgets:
        centre = 0.09 * (C / 6.0) ** 0.5
        for N in centre * 10.0 ** np.linspace(-1.0, 1.0, per_budget):
            rows.append({"N": N, "D": C / (6.0 * N), "C": C})
    return pd.DataFrame(rows)


def simulate(law_name: str, rng: np.random.Generator, noise: float) -> tuple[pd.DataFrame, dict]:
    """Data from law X at its example parameters, and the compare_laws options for its design."""
    import jaxscale as js

    law = js.get_law(law_name)
    theta = law.from_natural(np.array([law.example["params"][k] for k in law.natural_names]))
    if law_name in ONE_D:
        lo, hi = law.example["inputs"]["x"]
        x = np.geomspace(lo, hi, 48)
        data = pd.DataFrame({"x": x, "C": x})
        options = {"budgets": list(np.geomspace(lo, hi, 8)), "min_train": 4}
    else:
        budgets = 10.0 ** np.arange(16.0, 19.6, 0.5) if law_name == "kaplan" else 10.0 ** np.arange(18.0, 21.1, 0.5)
        data = isoflop_design(budgets)
        options = {"min_train": 3}
        if law_name == "data_constrained":
            data["U"] = np.where(np.arange(len(data)) % 2 == 0, data["D"] / 40.0, data["D"] * 2.0)
    x = data[list(law.inputs)].to_numpy(np.float64)
    data["loss"] = law.predict(theta, x) * np.exp(rng.normal(0.0, noise, len(data)))
    return data, options


def one(law_name: str, j: int, args) -> dict:
    import jaxscale as js
    from jaxscale.api.compare import compare_laws

    rng = np.random.default_rng(np.random.SeedSequence([args.seed, j, len(law_name)]))
    data, options = simulate(law_name, rng, args.noise)
    t0 = time.perf_counter()
    cmp = compare_laws(data, CANDIDATES[law_name], mode="rolling", n_resamples=args.resamples, seed=j,
                       search=js.Search(starts=args.starts), **options)
    diffs = cmp.differences[cmp.differences["law"] == law_name]
    return {"best": cmp.best, "scores": cmp.scores["score"].to_dict(), "weights": cmp.weights.to_dict(),
            "seconds": time.perf_counter() - t0,
            "versus": {row["other"]: {"difference": row["difference"], "low": row["low"], "high": row["high"],
                                      "x_better_excluding_0": bool(row["high"] < 0)}
                       for _, row in diffs.iterrows()}}


def summarise(law_name: str, runs: list[dict]) -> dict:
    out = {"x_ranked_first": sum(r["best"] == law_name for r in runs), "datasets": len(runs), "versus": {}}
    for other in CANDIDATES[law_name][1:]:
        out["versus"][other] = {
            "identifiable": (law_name, other) not in NESTED,
            "x_better_excluding_0": sum(r["versus"][other]["x_better_excluding_0"] for r in runs),
            "other_better_excluding_0": sum(r["versus"][other]["low"] > 0 for r in runs),
            "median_difference": float(np.median([r["versus"][other]["difference"] for r in runs]))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=100)
    parser.add_argument("--starts", type=int, default=32, help="random starts per fit (fast settings)")
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--laws", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--out", default="bench_compare_laws_cpu.json")
    args = parser.parse_args()
    results, t0 = {}, time.perf_counter()
    for law_name in args.laws:
        t_law = time.perf_counter()
        runs = [one(law_name, j, args) for j in range(args.datasets)]
        results[law_name] = {"candidates": CANDIDATES[law_name], "summary": summarise(law_name, runs), "runs": runs,
                             "seconds": time.perf_counter() - t_law}
        print(law_name, results[law_name]["summary"], f"{results[law_name]['seconds']:.0f}s", flush=True)
    write(args.out, {"description": __doc__, "settings": vars(args), "results": results,
                     "seconds": time.perf_counter() - t0, "machine": machine(),
                     "note": "machine shared by ~6 processes on 2 cores (loaded)"})


if __name__ == "__main__":
    main()
