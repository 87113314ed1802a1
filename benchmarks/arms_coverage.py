"""Coverage of the arm-versus-arm compute multiplier's bootstrap interval (issue 19).

    python benchmarks/arms_coverage.py [--datasets 200] [--resamples 200] [--multiplier 2] [--paired]

Each simulated data set is :func:`jaxscale.api.arms.synthetic_arms`: arm A from Epoch's Chinchilla law on
Hoffmann's nine budgets (8 sizes each, log-normal noise 1 %), arm B the same law with compute x ``m`` (L_B(C) =
L_A(mC) exactly, so the true multiplier is ``m`` at every budget), independent noise. Per data set: the
joint fit with E, alpha, beta shared and A, B per arm, then the bootstrap of :func:`bootstrap_arms`
(each arm's runs resampled within the arm, or ``--paired`` by matched configuration; every resample from
the full-data optimum with the warm-start solver), and the 95 % percentile interval of the multiplier at
C = 1e20 FLOP from :meth:`ArmsResult.compare`.

Speed: the data sets are stacked, every (data set, start) and (data set, resample) pair one lane of the
same compiled program (``row_group``); the full-data fits start from the joint law's 64 spread grid starts
(checked against ``fit_arms``' default pruned grid on the first ``--checks`` data sets). The multiplier
and its interval are computed by the public ``ArmsResult.compare`` on each data set's draws.

Writes ``benchmarks/results/arms_coverage_cpu.json`` with a top-level ``"coverage"``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from common import RESULTS  # noqa: F401  (also sets single-threaded BLAS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=200)
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--multiplier", type=float, default=2.0)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--budget", type=float, default=1e20)
    parser.add_argument("--paired", action="store_true")
    parser.add_argument("--checks", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import jaxscale as js  # noqa: F401
    from jaxscale.api.arms import (ARM_CODE, ArmsResult, _arm_frame, arms_law, fit_arms, resample_weights,
                                   synthetic_arms)
    from jaxscale.engine.grids import spread_grid
    from jaxscale.engine.multistart import DEFAULT_SOLVER, WARM_SOLVER, best_of_starts
    from jaxscale.kernels.laws import CHINCHILLA
    from jaxscale.kernels.losses import huber

    t0 = time.perf_counter()
    G, R, m = args.datasets, args.resamples, args.multiplier
    law = arms_law(CHINCHILLA, 2, ("E", "alpha", "beta"))
    frames, feats, targets = [], [], []
    for g in range(G):
        frame, labels = _arm_frame(synthetic_arms(m, noise=args.noise, seed=2 * g), "arm", None)
        frames.append(frame)
        feats.append(law.features(frame[["N", "D", ARM_CODE]].to_numpy(np.float64)))
        targets.append(law.target(frame["loss"].to_numpy(np.float64)))
    log_x, log_y = np.stack(feats), np.stack(targets)  # (G, n, 3), (G, n): one design, G noise draws
    n_rows = log_y.shape[1]
    loss = huber(1e-3)

    starts = spread_grid(law, 64)
    full = best_of_starts(DEFAULT_SOLVER, law, loss, log_x, log_y, np.ones((G, n_rows)), starts,
                          row_group=np.arange(G))
    t_fit = time.perf_counter() - t0
    checks = []
    for g in range(min(args.checks, G)):
        ref = fit_arms(frames[g].drop(columns=[ARM_CODE]), "arm", "chinchilla", ("E", "alpha", "beta"))
        checks.append(float(full.value[g] - ref.fit.objective))

    draws = np.empty((G, R, law.n_params))
    t1 = time.perf_counter()
    chunk = max(1, 8192 // R)
    for lo in range(0, G, chunk):
        gs = np.arange(lo, min(lo + chunk, G))
        weights = np.concatenate([resample_weights(frames[g], 0, np.arange(R), paired="config" if args.paired
                                                   else None) for g in gs])
        rows = np.repeat(gs, R)
        best = best_of_starts(WARM_SOLVER, law, loss, log_x, log_y, weights, full.theta[rows][:, None, :],
                              row_group=rows, polish_top=1)
        draws[gs] = np.where(np.isfinite(best.value)[:, None], best.theta, np.nan).reshape(len(gs), R, -1)
    t_boot = time.perf_counter() - t1

    est, low, high, p_better = np.empty(G), np.empty(G), np.empty(G), np.empty(G)
    fit0 = fit_arms(frames[0].drop(columns=[ARM_CODE]), "arm", "chinchilla", ("E", "alpha", "beta"))
    for g in range(G):
        fit0.fit.theta = full.theta[g]
        result = ArmsResult(fit0.fit, ["A", "B"], CHINCHILLA, ("E", "alpha", "beta"), draws[g], fit0.recipe)
        row = result.compare([args.budget], baseline="A", other="B").iloc[0]
        est[g], low[g], high[g], p_better[g] = row["multiplier"], row["multiplier_low"], row["multiplier_high"], \
            row["p_better"]
    covered = (low <= m) & (m <= high)
    seconds = time.perf_counter() - t0
    out = {
        "coverage": float(np.mean(covered)),
        "nominal": 0.95, "datasets": G, "resamples": R, "true_multiplier": m, "budget": args.budget,
        "noise": args.noise, "paired": bool(args.paired), "shared": ["E", "alpha", "beta"],
        "estimate_mean": float(np.mean(est)), "estimate_median": float(np.median(est)),
        "estimate_mean_rel_error": float(abs(np.mean(est) / m - 1.0)),
        "estimate_sd": float(np.std(est, ddof=1)),
        "interval_median_width": float(np.median(high - low)),
        "misses_below": int(np.sum(high < m)), "misses_above": int(np.sum(low > m)),
        "p_better_mean": float(np.mean(p_better)),
        "failed_draws": int(np.sum(~np.isfinite(draws[..., 0]))),
        "full_fit_minus_fit_arms_objective": checks,
        "seconds": {"total": seconds, "full_fits": t_fit, "bootstrap": t_boot},
        "machine": "shared CPU (2 cores, loaded by other jobs)",
        "command": "python benchmarks/arms_coverage.py" + (" --paired" if args.paired else "")
                   + ("" if (G, R, m) == (200, 200, 2.0) else f" --datasets {G} --resamples {R} --multiplier {m}"),
    }
    path = RESULTS / (args.out or ("arms_coverage_cpu.json" if not args.paired else "arms_coverage_paired_cpu.json"))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    tmp.replace(path)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
