"""Does ``compare_laws`` prefer the law the data came from? Each registered law as the truth X.

    python benchmarks/bench_compare_laws.py [--datasets 8] [--resamples 200] [--noise 0.01]

For every registered law X data are simulated from X with i.i.d. noise of sd ``--noise`` (log-normal on
losses, additive on the raw downstream metrics), and ``compare_laws`` (rolling splits: fit the lower budgets,
forecast the next one) compares X with the registered laws a user would put beside it:

- laws of N and D (``chinchilla``, ``kaplan``): isoFLOP design, 7 budgets x 7 model sizes, at the registry
  example parameters (``Law.example``); candidates {chinchilla, kaplan};
- ``data_constrained`` (N, D, U): the same design, every other run with a small unique-token budget U (up
  to ~40 epochs) so that repetition matters; candidates {data_constrained, chinchilla};
- laws of one input x (``power_law``, ``pure_power_law``, ``broken_power_law``): 48 values of x grouped into
  8 budgets, fit from 4 budgets; candidates all three. ``broken_power_law``'s x runs over 1e6..1e12 (its
  example range 1e5..1e11 shifted up a decade) so that its break (d1 = 1e8) lies inside EVERY split's
  training budgets: a break the training data never show cannot be identified by any method;
- training curves (``lr_annealing``, ``forward_momentum``): checkpoints every 200 steps of cosine and WSD runs
  (:func:`jaxscale.api.curves.synthetic_curves`, areas from :func:`jaxscale.api.curves.curve_areas`), budgets
  = 8 bins of 6 N x tokens, fit from 4 bins. ``lr_annealing``: one model size, runs of 2000/4000/8000 steps,
  truth at its example parameters; candidates {lr_annealing, power_law in S1 (no annealing term)}.
  ``forward_momentum``: 3 sizes x 2 lengths (``synthetic_curves``' own truth); candidates {forward_momentum,
  chinchilla with D = tokens (no schedule), lr_annealing (no size term)};
- downstream metrics (``exponential_metric``, ``sigmoid``): 48 losses x over the example range, the
  forecast going to LOWER loss (budgets ordered by exp(-4 x)); ``sigmoid`` as an error rate (a = 0.45,
  b = 0.3: 1 - the registry's example accuracy), the quantity ``exponential_metric`` describes; candidates
  both.

Identifiability: a pair (X, Y) is identifiable when Y does not contain X as a special case or limit. Not
identifiable: power_law inside broken_power_law (c1 = 0), pure_power_law inside power_law (E -> 0) and
inside broken_power_law (a -> 0, c1 = 0), exponential_metric inside sigmoid (its upper half as x0 -> -inf).
For those pairs the larger law fits X's data as well up to estimation noise, so an interval containing 0 is
the right answer.

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
METRIC = ["exponential_metric", "sigmoid"]
CANDIDATES = {"chinchilla": ["chinchilla", "kaplan"], "kaplan": ["kaplan", "chinchilla"],
              "data_constrained": ["data_constrained", "chinchilla"],
              **{law: [law] + [o for o in ONE_D if o != law] for law in ONE_D},
              "lr_annealing": ["lr_annealing", "power_law"],
              "forward_momentum": ["forward_momentum", "chinchilla", "lr_annealing"],
              **{law: [law] + [o for o in METRIC if o != law] for law in METRIC}}
NESTED = {("power_law", "broken_power_law"), ("pure_power_law", "power_law"), ("pure_power_law", "broken_power_law"),
          ("exponential_metric", "sigmoid")}
# broken_power_law's data reach a decade further down than its registry example range (1e5..1e11) shifted
# up, so that the break (d1 = 1e8) lies inside EVERY rolling split's training budgets (see the docstring)
BROKEN_RANGE = (1e6, 1e12)
# sigmoid as the truth: the registry example as an ERROR (1 - accuracy: a > 0), the quantity
# exponential_metric describes, so the two laws compete on the same kind of data
SIGMOID_ERROR = {"a": 0.45, "b": 0.3, "k": 4.0, "x0": 2.8}


def isoflop_design(budgets: np.ndarray, per_budget: int = 7) -> pd.DataFrame:
    rows = []
    for C in budgets:
        centre = 0.09 * (C / 6.0) ** 0.5
        for N in centre * 10.0 ** np.linspace(-1.0, 1.0, per_budget):
            rows.append({"N": N, "D": C / (6.0 * N), "C": C})
    return pd.DataFrame(rows)


def curve_design(law_name: str, rng: np.random.Generator, noise: float) -> tuple[pd.DataFrame, dict]:
    """Checkpoints of cosine and WSD runs (:func:`jaxscale.api.curves.synthetic_curves`'s schedules)."""
    import jaxscale as js
    from jaxscale.api.curves import curve_areas, synthetic_curves

    sizes, steps = ((3e7, 1e8, 3e8), (2000, 4000)) if law_name == "forward_momentum" else ((1e8,), (2000, 4000, 8000))
    seed = int(rng.integers(2**31))
    data = curve_areas(synthetic_curves(sizes=sizes, steps=steps, noise=noise, seed=seed))
    if law_name == "lr_annealing":
        law = js.get_law(law_name)
        theta = law.from_natural(np.array([law.example["params"][k] for k in law.natural_names]))
        clean = law.predict(theta, data[list(law.inputs)].to_numpy(np.float64))
        data["loss"] = clean * np.exp(rng.normal(0.0, noise, len(data)))
    data["D"] = data["tokens"]
    data["C"] = 6.0 * data["N"] * data["tokens"]
    budgets = list(np.geomspace(data["C"].min(), data["C"].max(), 8))
    columns = js.Columns(inputs={"x": "S1"} if "power_law" in CANDIDATES[law_name] else {})
    return data, {"budgets": budgets, "min_train": 4, "columns": columns}


def simulate(law_name: str, rng: np.random.Generator, noise: float) -> tuple[pd.DataFrame, dict]:
    """Data from law X (its example parameters unless said above), and the compare_laws options for its design."""
    import jaxscale as js

    if law_name in ("lr_annealing", "forward_momentum"):
        return curve_design(law_name, rng, noise)
    law = js.get_law(law_name)
    params = SIGMOID_ERROR if law_name == "sigmoid" else law.example["params"]
    theta = law.from_natural(np.array([params[k] for k in law.natural_names]))
    if law_name in ONE_D + METRIC:
        lo, hi = BROKEN_RANGE if law_name == "broken_power_law" else law.example["inputs"]["x"]
        x = np.geomspace(lo, hi, 48) if law_name in ONE_D else np.linspace(lo, hi, 48)
        # budgets grow with x for losses vs compute; for metrics vs loss the forecast goes to LOWER loss
        data = pd.DataFrame({"x": x, "C": x if law_name in ONE_D else np.exp(-4.0 * x)})
        options = {"budgets": list(np.geomspace(data["C"].min(), data["C"].max(), 8)), "min_train": 4}
    else:
        budgets = 10.0 ** np.arange(16.0, 19.6, 0.5) if law_name == "kaplan" else 10.0 ** np.arange(18.0, 21.1, 0.5)
        data = isoflop_design(budgets)
        options = {"min_train": 3}
        if law_name == "data_constrained":
            data["U"] = np.where(np.arange(len(data)) % 2 == 0, data["D"] / 40.0, data["D"] * 2.0)
    clean = law.predict(theta, data[list(law.inputs)].to_numpy(np.float64))
    # log-normal noise on losses; additive noise of the same size on raw metrics (an error rate)
    data["loss"] = clean * np.exp(rng.normal(0.0, noise, len(data))) if law.target_scale == "log" \
        else clean + rng.normal(0.0, noise, len(data))
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
    parser.add_argument("--datasets", type=int, default=8)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--starts", type=int, default=32, help="random starts per fit (fast settings)")
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--laws", nargs="*", default=list(CANDIDATES))
    parser.add_argument("--out", default="bench_compare_laws_cpu.json")
    args = parser.parse_args()
    results, t0, load_start = {}, time.perf_counter(), os.getloadavg()
    for law_name in args.laws:
        t_law = time.perf_counter()
        runs = [one(law_name, j, args) for j in range(args.datasets)]
        results[law_name] = {"candidates": CANDIDATES[law_name], "summary": summarise(law_name, runs), "runs": runs,
                             "seconds": time.perf_counter() - t_law}
        print(law_name, results[law_name]["summary"], f"{results[law_name]['seconds']:.0f}s", flush=True)
    write(args.out, {"description": __doc__, "settings": vars(args), "results": results,
                     "seconds": time.perf_counter() - t0, "machine": machine(),
                     "load_average_start": load_start, "load_average_end": os.getloadavg()})


if __name__ == "__main__":
    main()
