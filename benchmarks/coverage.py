"""Coverage of jaxscale's bootstrap intervals on data simulated from a known Chinchilla law.

    python benchmarks/coverage.py [--datasets 250] [--resamples 1000] [--noise residuals heavy gaussian]

Truth and design
    theta_true = the exhaustive-grid Huber fit (delta = 1e-3) of Epoch's 240 rows; the design is
    the real (N, D) of those rows. Every simulated data set keeps that design and draws
    ``log L*_i = log L_true(N_i, D_i) + eps_i``.

Noise models
    residuals  eps_i drawn with replacement from the real fit's log residuals r_i, *centred at
               their Huber location* c (the root of sum_i psi_delta(r_i - c) = 0). With that
               centring E[psi_delta(eps)] = 0 exactly, so for this fixed design theta_true
               solves the estimator's population equation sum_i E[psi(eps_i)] grad log L_i = 0:
               theta_true is the parameter the Huber fit targets. Centring at the mean would move
               the target (the residuals are right-skewed: mean 6.6e-4, median 1.4e-4). On the
               real fit the Huber location is already ~0 (measured 1.8e-15): the gradients in
               a, b, e are sum_i psi(r_i) s_ki with softmax weights s_ki summing to 1 over k, so
               their sum, sum_i psi(r_i), vanishes at the optimum. The centring is kept (and its
               value recorded) so the script stays right for laws without that property.
    heavy      eps_i = s * t_3, Student-t with 3 degrees of freedom, s chosen so that the noise's
               MAD equals the residuals' MAD (s = MAD(r) / t_3.ppf(0.75)); symmetric, so centred.
    gaussian   eps_i ~ N(0, (1.4826 MAD(r))^2).

Per data set
    full-data fit ``fit(sim, prune=--prune)`` (pruned grid; on the first ``--grid-checks`` data sets
    of each model it is compared with the exhaustive grid), then
    ``bootstrap(sim, n_resamples=R, starts=--starts, estimate=that_fit)``; on the first
    ``--subgrid-checks`` data sets the resamples' objectives are compared with the "subgrid"
    strategy on the same resamples. For alpha, beta, E, a_opt (and A, B) the --level percentile
    and BCa intervals are recorded, with whether they contain the truth.

Errors correlated within a budget (``--clustered``)
    ``log L*_i = log L_true(N_i, D_i) + u_{b(i)} + e_i``: a random effect ``u_b ~ N(0, s_u^2)`` shared by
    the runs of budget ``b`` plus independent noise ``e_i ~ N(0, s_e^2)``, with
    ``s_u^2 = --budget-share * s^2``, ``s_e^2 = (1 - --budget-share) * s^2`` and ``s = 1.4826 MAD(r)`` (the
    Gaussian model's scale). Budgets: ``--budgets hoffmann`` assigns every run to the nearest of Hoffmann
    et al.'s nine isoFLOP budgets (6e18 ... 3e21 FLOP) in log C; ``--budgets step`` rounds log10 C to
    0.1 decade (36 budgets on these runs). Each data set is bootstrapped with ``--resample`` methods
    (case, cluster, wild-cluster; clusters = the same budgets, ``starts="best"``); the full-data fit
    starts from the truth and 15 spread grid starts. Percentile intervals; results in
    ``coverage_clustered_<budgets>_cpu.json`` (or ``--out``).

Report
    per noise model x method x quantity: coverage (with a Wilson 95 % interval on it), misses
    below/above, mean and median width, data sets, resamples, seconds. Results are written every
    ``--save-every`` rounds (a cut-off run leaves evidence) and ``--resume`` continues a partial file
    with the same settings. All randomness is seeded from ``--seed``: noise of data set j under
    model m from SeedSequence([seed, m, j]), its bootstrap seed from SeedSequence([seed, m, j, 1]).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")  # both cores, before jax

import numpy as np  # noqa: E402

from common import RESULTS, chinchilla_240, machine, wilson, write  # noqa: E402

NOISE_MODELS = ("residuals", "heavy", "gaussian")
METHODS = ("percentile", "bca")
QUANTITIES = ("alpha", "beta", "E", "a_opt", "A", "B")
HEADLINE = ("alpha", "beta", "E", "a_opt")


def huber_location(r: np.ndarray, delta: float, tol: float = 1e-15) -> float:
    r"""Root ``c`` of :math:`\sum_i \psi_\delta(r_i - c) = 0`, :math:`\psi_\delta(u) = \max(-\delta, \min(\delta, u))`.

    The sum is non-increasing in ``c``, positive at ``min r - delta`` and negative at ``max r + delta``;
    bisection to ``tol``.
    """
    lo, hi = float(r.min()) - delta, float(r.max()) + delta
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if np.sum(np.clip(r - mid, -delta, delta)) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def mad(x: np.ndarray) -> float:
    return float(np.median(np.abs(x - np.median(x))))


def noise_sampler(model: str, residuals: np.ndarray):
    """``draw(rng, n)`` for one noise model (see the module docstring)."""
    from scipy import stats

    scale = mad(residuals)
    if model == "residuals":
        return lambda rng, n: rng.choice(residuals, size=n, replace=True)
    if model == "heavy":
        s = scale / stats.t.ppf(0.75, 3)
        return lambda rng, n: s * rng.standard_t(3, size=n)
    if model == "gaussian":
        sigma = 1.482602218505602 * scale
        return lambda rng, n: sigma * rng.standard_normal(n)
    raise ValueError(f"unknown noise model {model!r}; choose from {NOISE_MODELS}")


def summarise(records: list[dict], truth: dict, models, level: float) -> dict:
    table = {}
    for model in models:
        recs = [r for r in records if r["noise"] == model]
        if not recs:
            continue
        per_method = {}
        for method in METHODS:
            per_q = {}
            for q in QUANTITIES:
                lo = np.array([r["intervals"][method][q][0] for r in recs])
                hi = np.array([r["intervals"][method][q][1] for r in recs])
                ok = np.isfinite(lo) & np.isfinite(hi)
                below = int(np.sum(ok & (truth[q] < lo)))  # interval entirely above the truth
                above = int(np.sum(ok & (truth[q] > hi)))
                n = int(ok.sum())
                k = n - below - above
                w_lo, w_hi = wilson(k, n)
                width = hi[ok] - lo[ok]
                per_q[q] = {"coverage": k / n if n else float("nan"), "wilson95": [w_lo, w_hi], "covered": k,
                            "n": n, "truth_below_interval": below, "truth_above_interval": above,
                            "mean_width": float(width.mean()) if n else float("nan"),
                            "median_width": float(np.median(width)) if n else float("nan"),
                            "in_93_97": bool(0.93 <= (k / n if n else -1) <= 0.97)}
            per_method[method] = per_q
        est = np.array([[r["estimate"][q] for q in QUANTITIES] for r in recs])
        se = np.array([[r["bootstrap_se"][q] for q in QUANTITIES] for r in recs])
        truth_vec = np.array([truth[q] for q in QUANTITIES])
        times = np.array([[r["seconds"]["fit"], r["seconds"]["bootstrap"], r["seconds"]["bca_jackknife"]]
                          for r in recs])
        table[model] = {
            "datasets": len(recs), "level": level, "methods": per_method,
            "estimator": {q: {"mean_estimate_minus_truth": float(np.mean(est[:, j] - truth_vec[j])),
                              "sd_of_estimates": float(np.std(est[:, j], ddof=1)) if len(recs) > 1 else None,
                              "mean_bootstrap_se": float(np.mean(se[:, j]))}
                          for j, q in enumerate(QUANTITIES)},
            "seconds": {"fit_total": float(times[:, 0].sum()), "bootstrap_total": float(times[:, 1].sum()),
                        "bca_jackknife_total": float(times[:, 2].sum()), "per_dataset_median": float(
                            np.median(times.sum(axis=1)))},
            "bootstrap_converged_share_min": float(min(r["converged_share"] for r in recs))}
    return table


def print_table(summary: dict) -> None:
    print(f"{'noise':<10}{'method':<11}{'quantity':<8}{'cover':>7}  {'Wilson 95%':<16}{'lo/hi miss':>11}"
          f"{'mean width':>13}{'n':>5}")
    for model, block in summary.items():
        for method, per_q in block["methods"].items():
            for q in HEADLINE:
                c = per_q[q]
                print(f"{model:<10}{method:<11}{q:<8}{c['coverage']:>7.3f}  "
                      f"[{c['wilson95'][0]:.3f}, {c['wilson95'][1]:.3f}]"
                      f"{c['truth_below_interval']:>5}/{c['truth_above_interval']:<5}"
                      f"{c['mean_width']:>13.4g}{c['n']:>5}")


RESAMPLE_METHODS = ("case", "cluster", "wild-cluster")


def clustered(args) -> None:
    """The correlated-errors study (see the module docstring); one record per data set."""
    import warnings

    import jax

    import jaxscale as js
    from jaxscale.api.cluster import HOFFMANN_BUDGETS, budget_labels

    t_start = time.perf_counter()
    command = shlex.join(["python", "benchmarks/coverage.py"] + sys.argv[1:])
    out = args.out if args.out != "coverage_cpu.json" else f"coverage_clustered_{args.budgets}_cpu.json"
    frame = chinchilla_240()
    truth_fit = js.fit(frame)
    log_true = np.log(truth_fit.predict(N=frame["N"].to_numpy(), D=frame["D"].to_numpy()))
    residuals = np.log(frame["loss"].to_numpy()) - log_true
    scale = 1.482602218505602 * mad(residuals)
    s_u, s_e = scale * np.sqrt(args.budget_share), scale * np.sqrt(1.0 - args.budget_share)
    labels = budget_labels(frame["C"].to_numpy(), HOFFMANN_BUDGETS if args.budgets == "hoffmann" else None, 0.1)
    _, codes = np.unique(labels, return_inverse=True)
    n_budgets = int(codes.max()) + 1
    natural = truth_fit.params
    truth = {q: float(natural[q]) for q in ("A", "B", "E", "alpha", "beta")}
    truth["a_opt"] = truth["beta"] / (truth["alpha"] + truth["beta"])
    grid = truth_fit.law.grid()
    fit_starts = np.concatenate([truth_fit.theta[None, :], grid[np.linspace(0, len(grid) - 1, 15).round().astype(int)]])
    records = []

    def summary() -> dict:
        table = {}
        for method in args.resample:
            per_q = {}
            for q in QUANTITIES:
                lo = np.array([r["intervals"][method][q][0] for r in records])
                hi = np.array([r["intervals"][method][q][1] for r in records])
                below, above = int(np.sum(truth[q] < lo)), int(np.sum(truth[q] > hi))
                n = len(records)
                k = n - below - above
                per_q[q] = {"coverage": k / n, "wilson95": list(wilson(k, n)), "covered": k, "n": n,
                            "truth_below_interval": below, "truth_above_interval": above,
                            "mean_width": float(np.mean(hi - lo)), "in_93_97": bool(0.93 <= k / n <= 0.97)}
            table[method] = per_q
        return table

    def report(final: bool) -> None:
        write(out, {"command": command, "complete": final, "settings": {k: v for k, v in vars(args).items()
                                                                         if k not in ("resume", "out")},
                    "machine": machine(), "devices_used": len(jax.local_devices()),
                    "wall_seconds": time.perf_counter() - t_start,
                    "noise": {"model": "u_budget + e_i", "s_total": scale, "s_budget": s_u, "s_run": s_e,
                              "budgets": args.budgets, "n_budgets": n_budgets,
                              "runs_per_budget": np.bincount(codes).tolist()},
                    "truth": truth, "summary": summary(), "records": records})

    for j in range(args.datasets):
        rng = np.random.default_rng([args.seed, 7, j])
        boot_seed = int(np.random.SeedSequence([args.seed, 7, j, 1]).generate_state(1)[0])
        sim = frame[["N", "D", "C"]].copy()
        sim["loss"] = np.exp(log_true + rng.normal(0.0, s_u, n_budgets)[codes] + rng.normal(0.0, s_e, len(frame)))
        t0 = time.perf_counter()
        estimate = js.fit(sim, starts=fit_starts)
        record = {"dataset": j, "boot_seed": boot_seed, "estimate_objective": estimate.objective,
                  "intervals": {}, "seconds": {"fit": time.perf_counter() - t0}}
        for method in args.resample:
            t1 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "only 9 clusters": expected, recorded in the JSON
                boot = js.bootstrap(sim, n_resamples=args.resamples, starts="best", seed=boot_seed, estimate=estimate,
                                    resample=method, cluster=None if method == "case" else codes)
            record["intervals"][method] = {q: list(boot.ci(q, args.level)) for q in QUANTITIES}
            record["seconds"][method] = time.perf_counter() - t1
        records.append(record)
        covered = {m: sum(lo <= truth[q] <= hi for q, (lo, hi) in ((q, record["intervals"][m][q]) for q in HEADLINE))
                   for m in args.resample}
        print(f"[{time.perf_counter() - t_start:7.0f} s] data set {j:4d}: covered of {len(HEADLINE)}: "
              + ", ".join(f"{k} {v}" for k, v in covered.items()), flush=True)
        if (j + 1) % args.save_every == 0:
            report(final=False)
    report(final=True)
    table = summary()
    print(f"{'method':<14}" + "".join(f"{q:>18}" for q in HEADLINE))
    for method, per_q in table.items():
        print(f"{method:<14}" + "".join(f"{per_q[q]['coverage']:>8.3f} [{per_q[q]['wilson95'][0]:.2f},"
                                        f"{per_q[q]['wilson95'][1]:.2f}]" for q in HEADLINE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=250, help="simulated data sets per noise model")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per data set")
    parser.add_argument("--noise", nargs="+", default=list(NOISE_MODELS), choices=NOISE_MODELS)
    parser.add_argument("--starts", default="best", choices=("best", "subgrid", "grid", "prune"),
                        help="bootstrap start strategy per resample")
    parser.add_argument("--prune", type=int, default=64, help="full-data fit: starts kept after pruning")
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--grid-checks", type=int, default=3,
                        help="data sets per model whose pruned fit is checked against the exhaustive grid")
    parser.add_argument("--subgrid-checks", type=int, default=2,
                        help="data sets per model whose bootstrap is checked against starts='subgrid'")
    parser.add_argument("--subgrid-resamples", type=int, default=100)
    parser.add_argument("--save-every", type=int, default=5, help="write the JSON every this many rounds")
    parser.add_argument("--resume", action="store_true", help="continue a partial --out with the same settings")
    parser.add_argument("--out", default="coverage_cpu.json")
    parser.add_argument("--clustered", action="store_true", help="errors correlated within a budget (see above)")
    parser.add_argument("--budgets", default="hoffmann", choices=("hoffmann", "step"),
                        help="--clustered: Hoffmann's nine isoFLOP budgets or 0.1-decade compute bins")
    parser.add_argument("--budget-share", type=float, default=0.5, help="--clustered: variance share of the budget effect")
    parser.add_argument("--resample", nargs="+", default=list(RESAMPLE_METHODS), choices=RESAMPLE_METHODS)
    args = parser.parse_args()
    if args.clustered:
        return clustered(args)

    import jax
    from scipy.stats import t as t_dist

    import jaxscale as js

    t_start = time.perf_counter()
    command = shlex.join(["python", "benchmarks/coverage.py"] + sys.argv[1:])
    settings = {k: v for k, v in vars(args).items() if k not in ("datasets", "resume", "save_every", "out")}

    frame = chinchilla_240()
    truth_fit = js.fit(frame)  # exhaustive Hoffmann grid
    delta = float(dict(truth_fit.loss.params)["delta"])
    log_true = np.log(truth_fit.predict(N=frame["N"].to_numpy(), D=frame["D"].to_numpy()))
    raw_residuals = np.log(frame["loss"].to_numpy()) - log_true
    centre = huber_location(raw_residuals, delta)
    residuals = raw_residuals - centre
    natural = truth_fit.params
    truth = {q: float(natural[q]) for q in ("A", "B", "E", "alpha", "beta")}
    truth["a_opt"] = truth["beta"] / (truth["alpha"] + truth["beta"])
    samplers = {m: noise_sampler(m, residuals) for m in args.noise}
    model_index = {m: NOISE_MODELS.index(m) for m in args.noise}

    records: list[dict] = []
    checks = {"pruned_fit_vs_grid": [], "bootstrap_vs_subgrid": []}
    out_path = RESULTS / args.out
    if args.resume and out_path.is_file():
        old = json.loads(out_path.read_text())
        if old.get("settings") != settings:
            raise SystemExit(f"{out_path} was written with other settings {old.get('settings')}; not resuming")
        records, checks = old["records"], old["checks"]
        print(f"resuming: {len(records)} data sets already done")
    done = {(r["noise"], r["dataset"]) for r in records}

    def report(final: bool) -> None:
        summary = summarise(records, truth, args.noise, args.level)
        payload = {
            "command": command, "complete": final, "settings": settings, "datasets_requested": args.datasets,
            "machine": machine(), "devices_used": len(jax.local_devices()),
            "wall_seconds_this_invocation": time.perf_counter() - t_start,
            "truth": {"source": "exhaustive Hoffmann-grid Huber fit of the 240 real rows",
                      "objective": truth_fit.objective, "log_params": truth_fit.theta.tolist(), **truth},
            "noise": {"residual_huber_location_subtracted": centre, "raw_residual_mean": float(raw_residuals.mean()),
                      "raw_residual_median": float(np.median(raw_residuals)), "residual_mad": mad(residuals),
                      "residual_sd": float(residuals.std()),
                      "heavy_scale": mad(residuals) / t_dist.ppf(0.75, 3),
                      "gaussian_sigma": 1.482602218505602 * mad(residuals)},
            "summary": summary, "checks": checks, "records": records}
        write(args.out, payload)

    rounds = 0
    for j in range(args.datasets):
        for model in args.noise:
            if (model, j) in done:
                continue
            m = model_index[model]
            rng = np.random.default_rng([args.seed, m, j])
            boot_seed = int(np.random.SeedSequence([args.seed, m, j, 1]).generate_state(1)[0])
            sim = frame[["N", "D"]].copy()
            sim["loss"] = np.exp(log_true + samplers[model](rng, len(frame)))

            t0 = time.perf_counter()
            estimate = js.fit(sim, prune=args.prune)
            t1 = time.perf_counter()
            boot = js.bootstrap(sim, n_resamples=args.resamples, starts=args.starts, seed=boot_seed,
                                estimate=estimate)
            t2 = time.perf_counter()
            boot._jackknife_values("alpha")  # the leave-one-out fits BCa needs (cached on the result)
            t3 = time.perf_counter()
            intervals = {meth: {q: list(boot.ci(q, args.level, meth)) for q in QUANTITIES} for meth in METHODS}
            est_values = {q: boot._values(q)[0] for q in QUANTITIES}
            se_values = {q: float(np.nanstd(boot._values(q)[1], ddof=1)) for q in QUANTITIES}
            records.append({
                "noise": model, "dataset": j, "boot_seed": boot_seed, "estimate_objective": estimate.objective,
                "estimate": est_values, "bootstrap_se": se_values, "intervals": intervals,
                "converged_share": float(boot.converged.mean()),
                "seconds": {"fit": t1 - t0, "bootstrap": t2 - t1, "bca_jackknife": t3 - t2}})

            if j < args.grid_checks:
                grid_fit = js.fit(sim)
                checks["pruned_fit_vs_grid"].append({
                    "noise": model, "dataset": j, "pruned_objective": estimate.objective,
                    "grid_objective": grid_fit.objective,
                    "pruned_minus_grid": estimate.objective - grid_fit.objective,
                    "match_1e-9": bool(estimate.objective <= grid_fit.objective + 1e-9),
                    "max_abs_log_param_diff": float(np.max(np.abs(estimate.theta - grid_fit.theta)))})
            if j < args.subgrid_checks:
                k = min(args.subgrid_resamples, args.resamples)
                sub = js.bootstrap(sim, n_resamples=k, starts="subgrid", seed=boot_seed, estimate=estimate)
                worse = boot.objective[:k] > sub.objective + 1e-9
                checks["bootstrap_vs_subgrid"].append({
                    "noise": model, "dataset": j, "resamples_compared": k, "starts": args.starts,
                    "worse_than_subgrid_by_1e-9": int(worse.sum()),
                    "max_objective_excess": float(np.max(boot.objective[:k] - sub.objective))})

            covered = {meth: sum(lo <= truth[q] <= hi for q, (lo, hi) in
                                 ((q, intervals[meth][q]) for q in HEADLINE)) for meth in METHODS}
            n_model = sum(r["noise"] == model for r in records)
            print(f"[{time.perf_counter() - t_start:7.0f} s] {model:<9} data set {j:4d} ({n_model}/{args.datasets}): "
                  f"fit {t1 - t0:5.2f} s, bootstrap {t2 - t1:5.2f} s, jackknife {t3 - t2:5.2f} s; "
                  f"covered of {len(HEADLINE)}: " + ", ".join(f"{k} {v}" for k, v in covered.items()), flush=True)
        rounds += 1
        if rounds % args.save_every == 0:
            report(final=False)
    report(final=True)
    print_table(summarise(records, truth, args.noise, args.level))


if __name__ == "__main__":
    main()
