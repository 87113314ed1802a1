"""Proof, per law, that the default start grid reaches the optimum a wide search finds (issue 18 item 12).

    python benchmarks/bench_law_grids.py [--seeds 2] [--wide 2000] [--out bench_law_grids_cpu.json]

For every registered law with an ``example`` (natural parameters and input ranges): data sets drawn from the
law itself (inputs log-uniform over the example's ranges, raw inputs uniform; 1 % log-normal noise on a loss,
additive noise of 1 % of the mean on a raw target), then

- default: ``js.fit(data, law=name)`` exactly as a user writes it (the law's grid, pruned when large);
- wide: ``--wide`` seeded random starts in the default grid's bounding box widened by its own width on each
  side (log-scale parameters: e-fold ranges three times as wide), every start run to convergence
  (``prune=None``; the data-constrained law, 7 parameters: 3x ``--wide`` starts, the 256 best screened continued).

The default passes when its objective is at most the wide search's plus 1e-9 (relative). Where the wide
optimum is not attained (a log-scale parameter runs off to 0 or infinity, e.g. R_D* when data never reach
the decay) both end on the same valley floor and the difference is reported; the fit's notes say so
(``flat optimum`` / ``vanishing term``).

The data-constrained law is also fitted as Muennighoff et al. do, the base law held fixed and only
``R_N*, R_D*`` fitted, on runs of 7 sizes N on 5 unique-data sizes U repeated 1 to 60 epochs (245 runs, 1-2 %
noise) with true R_D* in {2, 15, 95, 200, 1000} and R_N* in {5.31, 95}; the base held at the truth and at a
base fitted (Chinchilla law) on the single-epoch runs only. There the old grid (R* in {1, 5, 25}), the default
and a dense 40 x 40 log grid over R* in [0.02, 1e6] are compared.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from common import machine, write

OLD_DECAYS = (1.0, 5.0, 25.0)
EPOCHS = (1, 2, 4, 8, 16, 30, 60)


def law_data(law, rng, n_rows: int = 60) -> pd.DataFrame:
    """``n_rows`` runs of the law's example: inputs over its ranges, noisy targets from ``law.predict``."""
    example = law.example
    truth = law.from_natural(np.array([example["params"][n] for n in law.natural_names], np.float64))
    columns = {}
    for name, scale in zip(law.inputs, law.input_scale):
        low, high = example["inputs"][name]
        u = rng.uniform(size=n_rows)
        columns[name] = np.exp(np.log(low) + u * np.log(high / low)) if scale == "log" else low + u * (high - low)
    y = law.predict(truth, np.column_stack([columns[n] for n in law.inputs]))
    noise = rng.standard_normal(n_rows)
    y = y * np.exp(0.01 * noise) if law.target_scale == "log" else y + 0.01 * np.mean(np.abs(y)) * noise
    return pd.DataFrame({**columns, "loss": y})


def repeated_runs(rng, r_d_star: float, r_n_star: float, noise: float) -> pd.DataFrame:
    """245 data-constrained runs: N in [1e7, 9e9] (7) x U in [1e8, 2.5e10] (5) x 1..60 epochs (7)."""
    import jaxscale as js

    law = js.LAWS["data_constrained"]
    params = dict(js.kernels.laws.MUENNIGHOFF_PARAMS, R_N_star=r_n_star, R_D_star=r_d_star)
    N, U, epochs = (a.ravel() for a in np.meshgrid(np.geomspace(1e7, 9e9, 7), [1e8, 4e8, 1.5e9, 6e9, 2.5e10], EPOCHS,
                                                  indexing="ij"))
    truth = law.from_natural(np.array([params[n] for n in law.natural_names]))
    loss = law.predict(truth, np.column_stack([N, U * epochs, U]))
    return pd.DataFrame({"N": N, "D": U * epochs, "U": U, "loss": loss * np.exp(noise * rng.standard_normal(N.size))})


def wide_starts(law, k: int, seed: int) -> np.ndarray:
    """``k`` uniform starts in the default grid's bounding box widened by its width on both sides."""
    grid = law.grid()
    low, high = grid.min(axis=0), grid.max(axis=0)
    width = np.maximum(high - low, 1.0)
    return low - width + 3 * width * np.random.default_rng(seed).random((k, law.n_params))


def compare(default, wide, extra: dict | None = None) -> dict:
    rel = (default.objective - wide.objective) / abs(wide.objective)
    return {**(extra or {}), "default_objective": default.objective, "wide_objective": wide.objective,
            "default_minus_wide_relative": rel, "pass_1e-9": bool(rel <= 1e-9),
            "default_params": {k: float(v) for k, v in default.params.items()},
            "wide_params": {k: float(v) for k, v in wide.params.items()},
            "default_converged": bool(default.converged), "default_starts": len(default.starts),
            "default_notes": default.notes()}


def fit_quiet(*args, **kwargs):
    import jaxscale as js

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        out = js.fit(*args, **kwargs)
        return out, time.perf_counter() - t0


def every_law(seeds: int, n_wide: int) -> dict:
    import jaxscale as js

    out = {}
    for name, law in sorted(js.LAWS.items()):
        if not law.example:
            continue
        for seed in range(seeds):
            data = law_data(law, np.random.default_rng(seed), 105 if name == "data_constrained" else 60)
            big = law.n_params >= 7
            search = js.Search(starts=wide_starts(law, 3 * n_wide if big else n_wide, seed),
                               prune=256 if big else None)
            default, t_default = fit_quiet(data, law=name)
            wide, t_wide = fit_quiet(data, law=name, search=search)
            entry = compare(default, wide, {"rows": len(data), "wide_starts": len(search.starts),
                                            "default_seconds": t_default, "wide_seconds": t_wide})
            out[f"{name}/seed{seed}"] = entry
            print(f"{name:20s} seed {seed} rel {entry['default_minus_wide_relative']:+.2e} starts "
                  f"{entry['default_starts']:5d} vs {entry['wide_starts']:5d} notes {len(entry['default_notes'])} "
                  f"({t_default:.1f} s vs {t_wide:.1f} s)", flush=True)
    return out


def decay_only() -> dict:
    """The paper's procedure: base law fixed, R_N* and R_D* fitted; old grid, default and a dense wide grid."""
    import jaxscale as js

    base_names = ("A", "B", "E", "alpha", "beta")
    old = np.log([(a, b) for a in OLD_DECAYS for b in OLD_DECAYS])
    axis = np.linspace(np.log(0.02), np.log(1e6), 40)
    dense = np.array([(a, b) for a in axis for b in axis])
    out = {}
    for r_d in (2.0, 15.0, 95.0, 200.0, 1000.0):
        for r_n in (5.31, 95.0):
            for how in ("true base", "base fitted on single-epoch runs"):
                rng = np.random.default_rng(int(r_d * 7 + r_n))
                noise = 0.01 if how == "true base" else 0.02
                data = repeated_runs(rng, r_d, r_n, noise)
                if how == "true base":
                    base = {k: js.kernels.laws.MUENNIGHOFF_PARAMS[k] for k in base_names}
                else:
                    one = data[data["D"] == data["U"]]
                    chin, _ = fit_quiet(one, law="chinchilla")
                    base = {k: float(chin.params[k]) for k in base_names}
                default, t_default = fit_quiet(data, law="data_constrained", fixed=base)
                before, _ = fit_quiet(data, law="data_constrained", fixed=base, search=js.Search(starts=old))
                wide, t_wide = fit_quiet(data, law="data_constrained", fixed=base,
                                         search=js.Search(starts=dense, prune=None))
                entry = compare(default, wide, {"true_R_D_star": r_d, "true_R_N_star": r_n, "base": how,
                                                "noise": noise, "rows": len(data), "wide_starts": len(dense),
                                                "default_seconds": t_default, "wide_seconds": t_wide})
                entry["old_grid_minus_wide_relative"] = (before.objective - wide.objective) / abs(wide.objective)
                entry["old_grid_params"] = {k: float(before.params[k]) for k in ("R_N_star", "R_D_star")}
                out[f"R_D*={r_d:g},R_N*={r_n:g},{how}"] = entry
                print(f"decay-only R_D*={r_d:<6g} R_N*={r_n:<5g} {how:33s} rel {entry['default_minus_wide_relative']:+.2e}"
                      f" (old grid {entry['old_grid_minus_wide_relative']:+.2e}) R_D* {default.params['R_D_star']:.3g}"
                      f" vs {wide.params['R_D_star']:.3g} notes {len(entry['default_notes'])}", flush=True)
    return out


def summarise(entries: dict) -> dict:
    values = list(entries.values())
    flat = [e for e in values if any("flat optimum" in n for n in e["default_notes"])]
    return {"sets": len(values), "pass_1e-9": sum(e["pass_1e-9"] for e in values),
            "max_default_minus_wide_relative": max(e["default_minus_wide_relative"] for e in values),
            "failing": [k for k, e in entries.items() if not e["pass_1e-9"]],
            "with_flat_optimum_note": len(flat)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--wide", type=int, default=2000)
    parser.add_argument("--out", default="bench_law_grids_cpu.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    laws = every_law(args.seeds, args.wide)
    decay = decay_only()
    report = {"benchmark": "default start grid of every law vs a wide search (issue 18 item 12)",
              "command": f"python benchmarks/bench_law_grids.py --seeds {args.seeds} --wide {args.wide}",
              "machine": machine(), "laws": laws, "data_constrained_decay_only": decay,
              "summary": {"laws": summarise(laws), "data_constrained_decay_only": summarise(decay),
                          "old_grid_decay_only_failing": [k for k, e in decay.items()
                                                          if e["old_grid_minus_wide_relative"] > 1e-9],
                          "seconds": time.perf_counter() - t0}}
    print(report["summary"])
    write(args.out, report)


if __name__ == "__main__":
    main()
