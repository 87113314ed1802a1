"""Proof, per law, that the default start grid reaches the optimum a wide search finds (issue 18 item 12).

    python benchmarks/bench_law_grids.py [--seeds 2] [--wide 1000] [--random 12] [--out bench_law_grids_cpu.json]

For every registered law with an ``example`` (natural parameters and input ranges): data sets drawn from the
law itself (inputs log-uniform over the example's ranges, raw inputs uniform; 1 % log-normal noise on a loss,
additive noise of 1 % of the mean on a raw target), then

- default: ``js.fit(data, law=name)`` exactly as a user writes it (the law's grid, pruned when large);
- wide: ``--wide`` seeded random starts in the default grid's bounding box widened by its own width on each
  side, every start run to convergence (``prune=None``; the data-constrained law, 7 parameters: 3x ``--wide``
  starts, the 256 lowest after screening continued).

The default passes when its objective is at most the wide search's plus 1e-9 (relative). Where the optimum is
not attained (a log-scale parameter runs off to 0 or infinity, e.g. R_D* when the data never reach the decay)
runs end on the same valley floor, within ~1e-10, and the fit's notes say so (``flat optimum``).

The data-constrained law is also fitted as Muennighoff et al. do, the base law held fixed and only
``R_N*, R_D*`` fitted (9 starts), against a dense 40 x 40 log grid over R* in [0.02, 1e6], and with the old
starts R* in {1, 5, 25}:

- runs of 7 sizes N on 5 unique-data sizes U repeated 1 to 60 epochs (245 runs, 1-2 % noise) with true R_D* in
  {2, 15, 95, 200, 1000} and R_N* in {5.31, 95}; the base held at the truth, or fitted (Chinchilla law) on the
  single-epoch runs only;
- the 12 runs of ``tests/test_law_grids.py`` (a trap the old starts fell into) and ``--random`` seeded random
  designs (:func:`random_design`: misspecified decay, base held off the truth).

And all 7 parameters on the 245-run design (R_D* 15 and 95): default vs old grid vs the wide search.
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


def old_grid(free: int = 7) -> np.ndarray:
    """The data-constrained grid before issue 18 (R* in {1, 5, 25}): all 7 columns, or the last ``free`` ones."""
    from jaxscale.kernels.laws import product_grid

    scales, exponents = np.arange(0.0, 30.0, 5.0), np.array([0.2, 0.5, 1.0])
    grid = product_grid(a=scales, b=scales, e=np.array([-1.0, 0.0, 1.0]), alpha=exponents, beta=exponents,
                        log_R_N_star=np.log(OLD_DECAYS), log_R_D_star=np.log(OLD_DECAYS))
    return np.unique(grid[:, -free:], axis=0) if free < 7 else grid


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
    old = old_grid(2)
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


def twelve_runs():
    """The 12 runs of tests/test_law_grids.py (found by :func:`random_design`'s search) and their fixed base."""
    N = np.repeat([1.8e7, 1.37e8, 1.04e9], 4)
    U = np.full(12, 4.9e8)
    loss = [4.5398, 4.3262, 4.0136, 3.9075, 3.9132, 3.6976, 3.5163, 3.3329, 4.0077, 3.7382, 3.4995, 3.2789]
    data = pd.DataFrame({"N": N, "D": U * np.tile([1, 3.6, 13.2, 48], 3), "U": U, "loss": loss})
    return data, {"A": 333.2, "B": 1591.7, "E": 1.6951, "alpha": 0.3869, "beta": 0.3189}


def random_design(rng):
    """A random data-constrained design: 1-5 U in [1e8, 3e9], 3-7 sizes N, 4-8 epoch counts from 1 to 10-80,
    0.5-2 % noise; losses from the law (R* log-uniform in [1, 2000] / [1, 500]) or, 2 times in 3, from the law
    with repeated tokens worth ``U (D/U)^g`` (g in [0.3, 0.9]) instead of the decay; the base held fixed off the
    truth (A, B up to e^0.5 times, E up to e^0.1, alpha, beta up to e^0.2)."""
    import jaxscale as js

    law, truth = js.LAWS["data_constrained"], js.kernels.laws.MUENNIGHOFF_PARAMS
    us = np.sort(np.exp(rng.uniform(np.log(1e8), np.log(3e9), rng.integers(1, 6))))
    ns = np.geomspace(10 ** rng.uniform(7, 8), 10 ** rng.uniform(9, 10), rng.integers(3, 8))
    epochs = np.unique(np.round(np.geomspace(1, rng.uniform(10, 80), rng.integers(4, 9)), 1))
    x = np.array([(n, u * e, u) for u in us for n in ns for e in epochs])
    r_d, r_n = np.exp(rng.uniform(0, np.log(2000))), np.exp(rng.uniform(0, np.log(500)))
    noise = rng.uniform(0.005, 0.02)
    if rng.integers(0, 3):
        x_eff = x.copy()
        x_eff[:, 1] = x[:, 2] * (x[:, 1] / x[:, 2]) ** rng.uniform(0.3, 0.9)
        params = dict(truth, R_N_star=r_n, R_D_star=1e30)
    else:
        x_eff, params = x, dict(truth, R_N_star=r_n, R_D_star=r_d)
    y = law.predict(law.from_natural(np.array([params[n] for n in law.natural_names])), x_eff)
    data = pd.DataFrame({"N": x[:, 0], "D": x[:, 1], "U": x[:, 2], "loss": y * np.exp(noise * rng.standard_normal(len(x)))})
    shift = rng.uniform(-1, 1, 5) * np.array([0.5, 0.5, 0.1, 0.2, 0.2])
    return data, {k: truth[k] * np.exp(d) for k, d in zip(("A", "B", "E", "alpha", "beta"), shift)}


def decay_only_hard(n_random: int) -> dict:
    """Decay-only fits on the 12-run trap and ``n_random`` seeded random designs: old grid, default, dense grid."""
    import jaxscale as js

    axis = np.linspace(np.log(0.02), np.log(1e6), 40)
    dense = np.array([(a, b) for a in axis for b in axis])
    rng = np.random.default_rng(2026)
    sets = [("twelve runs (tests/test_law_grids.py)", *twelve_runs())]
    sets += [(f"random design {i}", *random_design(rng)) for i in range(n_random)]
    out = {}
    for name, data, base in sets:
        default, t_default = fit_quiet(data, law="data_constrained", fixed=base)
        before, _ = fit_quiet(data, law="data_constrained", fixed=base, search=js.Search(starts=old_grid(2)))
        wide, t_wide = fit_quiet(data, law="data_constrained", fixed=base, search=js.Search(starts=dense, prune=None))
        entry = compare(default, wide, {"rows": len(data), "base": base, "wide_starts": len(dense),
                                        "default_seconds": t_default, "wide_seconds": t_wide})
        entry["old_grid_minus_wide_relative"] = (before.objective - wide.objective) / abs(wide.objective)
        out[name] = entry
        print(f"decay-only {name:40s} rows {len(data):4d} rel {entry['default_minus_wide_relative']:+.2e} (old grid "
              f"{entry['old_grid_minus_wide_relative']:+.2e}) notes {len(entry['default_notes'])}", flush=True)
    return out


def full_repeated(n_wide: int) -> dict:
    """All 7 parameters fitted on the repeated-epochs design (R_D* 15 and 95): default, old grid, wide search."""
    import jaxscale as js

    law = js.LAWS["data_constrained"]
    out = {}
    for r_d in (15.0, 95.0):
        data = repeated_runs(np.random.default_rng(int(r_d)), r_d, 5.31, 0.01)
        search = js.Search(starts=wide_starts(law, n_wide, 0), prune=256)
        default, t_default = fit_quiet(data, law="data_constrained")
        before, t_before = fit_quiet(data, law="data_constrained", search=js.Search(starts=old_grid()))
        wide, t_wide = fit_quiet(data, law="data_constrained", search=search)
        entry = compare(default, wide, {"true_R_D_star": r_d, "rows": len(data), "wide_starts": n_wide,
                                        "default_seconds": t_default, "old_grid_seconds": t_before,
                                        "wide_seconds": t_wide})
        entry["old_grid_minus_wide_relative"] = (before.objective - wide.objective) / abs(wide.objective)
        out[f"full fit, R_D*={r_d:g}"] = entry
        print(f"full fit R_D*={r_d:g}: rel {entry['default_minus_wide_relative']:+.2e} (old grid "
              f"{entry['old_grid_minus_wide_relative']:+.2e}) R_D* {default.params['R_D_star']:.4g} vs "
              f"{wide.params['R_D_star']:.4g} ({t_default:.1f} s, old {t_before:.1f} s, wide {t_wide:.1f} s)", flush=True)
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
    parser.add_argument("--wide", type=int, default=1000)
    parser.add_argument("--random", type=int, default=12, help="random designs for the decay-only fits")
    parser.add_argument("--out", default="bench_law_grids_cpu.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    laws = every_law(args.seeds, args.wide)
    decay = decay_only() | decay_only_hard(args.random)
    full = full_repeated(3 * args.wide)
    report = {"benchmark": "default start grid of every law vs a wide search (issue 18 item 12)",
              "command": f"python benchmarks/bench_law_grids.py --seeds {args.seeds} --wide {args.wide} "
                         f"--random {args.random}",
              "machine": machine(), "laws": laws, "data_constrained_decay_only": decay,
              "data_constrained_full_repeated": full,
              "summary": {"laws": summarise(laws), "data_constrained_decay_only": summarise(decay),
                          "data_constrained_full_repeated": summarise(full),
                          "old_grid_full_failing": [k for k, e in full.items()
                                                    if e["old_grid_minus_wide_relative"] > 1e-9],
                          "old_grid_decay_only_failing": [k for k, e in decay.items()
                                                          if e["old_grid_minus_wide_relative"] > 1e-9],
                          "seconds": time.perf_counter() - t0}}
    print(report["summary"])
    write(args.out, report)


if __name__ == "__main__":
    main()
