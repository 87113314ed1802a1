"""Decisions: prediction intervals for a new run, cluster/wild-cluster bootstrap, extrapolation audit,
next-run ranking (against brute force), inference-aware optimum, delta sweep, plan, CLI.

Every check compares with an independent computation: numpy formulas written out here, scipy on the
same objective, or the public single-fit API run once per case.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp, softmax

import jaxscale as js
from jaxscale.api.extrapolation import fit_splits, make_splits, split_counts
from jaxscale.engine.cluster_resampling import WEBB_POINTS, cluster_counts, webb_weights

DELTA = 1e-3
#: One resample count and one start count throughout: equal shapes reuse compiled kernels (fast tests).
R = 12


# ---------------------------------------------------------------------- numpy reference of the Chinchilla law
def np_log_predict(theta, N, D):
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * np.log(N), b - beta * np.log(D), np.full(np.shape(N), e)], axis=-1)
    return logsumexp(terms, axis=-1)


def np_jacobian(theta, N, D):
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * np.log(N), b - beta * np.log(D), np.full(np.shape(N), e)], axis=-1)
    s = softmax(terms, axis=-1)
    return np.stack([s[:, 0], s[:, 1], s[:, 2], -s[:, 0] * np.log(N), -s[:, 1] * np.log(D)], axis=1)


def np_corrected(theta, frame, clusters=None, rows=None):
    """Leverage-corrected residuals written out: IRLS Huber weights, hat matrix, 1/sqrt(1-h) or CR2 blocks."""
    N, D, L = (frame[c].to_numpy() for c in ("N", "D", "loss"))
    keep = np.ones(len(N), bool) if rows is None else rows
    r = np.log(L) - np_log_predict(theta, N, D)
    J = np_jacobian(theta, N, D)
    c = np.where(keep, np.minimum(1.0, DELTA / np.abs(r)), 0.0)
    bread = np.linalg.inv((J * c[:, None]).T @ J)
    if clusters is None:
        h = c * np.einsum("ij,jk,ik->i", J, bread, J)
        return np.where(keep, r / np.sqrt(1 - h), r)
    Hs = (J * np.sqrt(c)[:, None]) @ bread @ (J * np.sqrt(c)[:, None]).T
    out = r.copy()
    for g in np.unique(clusters):
        idx = np.flatnonzero(clusters == g)
        vals, vecs = np.linalg.eigh(np.eye(idx.size) - Hs[np.ix_(idx, idx)])
        out[idx] = (vecs @ np.diag(vals**-0.5) @ vecs.T @ (np.sqrt(c[idx]) * r[idx])) / np.sqrt(c[idx])
    return out


def np_new_run(draw_thetas, residuals, N, D, level):
    z = np.array([np_log_predict(t, N, D) for t in draw_thetas])  # (R, m)
    tail = (1 - level) / 2
    return np.array([np.quantile((z[:, j][:, None] + residuals[None, :]).ravel(), [tail, 1 - tail])
                     for j in range(z.shape[1])])


@pytest.fixture(scope="module")
def toy():
    return js.datasets.synthetic()  # 108 runs on 9 isoFLOP budgets from a known law


@pytest.fixture(scope="module")
def toy_fit(toy):
    return js.fit(toy, starts=24, seed=3)


@pytest.fixture(scope="module")
def toy_boot(toy, toy_fit):
    return js.bootstrap(toy, n_resamples=R, starts="best", seed=1, estimate=toy_fit)


# ---------------------------------------------------------------------- 1. prediction intervals
def test_new_run_interval_matches_numpy_and_contains_mean_interval(toy, toy_boot):
    N, D = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    new = toy_boot.predict(N=N, D=D, kind="new_run", level=0.9)
    mean = toy_boot.predict(N=N, D=D, level=0.9)
    assert list(new.columns)[:5] == ["N", "D", "loss", "loss_new_run_low", "loss_new_run_high"]
    assert list(new.columns)[5:] == ["beyond_log10_C", "beyond_log10_N", "beyond_log10_D", "regime"]
    assert new.attrs["kind"] == "new_run" and mean.attrs["kind"] == "mean"
    expected = np.exp(np_new_run(toy_boot.theta, np_corrected(toy_boot.estimate, toy), N, D, 0.9))
    np.testing.assert_allclose(new[["loss_new_run_low", "loss_new_run_high"]].to_numpy(), expected, rtol=1e-10)
    np.testing.assert_allclose(toy_boot.residuals(), np_corrected(toy_boot.estimate, toy), rtol=1e-8, atol=1e-13)
    assert np.all(new["loss_new_run_low"] < mean["loss_low"]) and np.all(new["loss_new_run_high"] > mean["loss_high"])
    with pytest.raises(ValueError, match="kind must be 'mean'"):
        toy_boot.predict(N=1e9, D=1e10, kind="prediction")


# ---------------------------------------------------------------------- 2. cluster resampling engine
def test_cluster_counts_whole_clusters_and_chunk_invariant():
    codes = np.array([0, 0, 1, 2, 2, 2, -1, 1])
    counts = cluster_counts(5, np.arange(50), codes)
    assert counts.shape == (50, 8)
    for g in range(3):
        rows = np.flatnonzero(codes == g)
        assert np.all(counts[:, rows] == counts[:, rows[:1]])  # a cluster is drawn whole
    per_cluster = np.stack([counts[:, np.flatnonzero(codes == g)[0]] for g in range(3)], axis=1)
    assert np.all(per_cluster.sum(axis=1) == 3) and np.all(counts[:, 6] == 0)
    np.testing.assert_array_equal(cluster_counts(5, np.arange(20, 30), codes), counts[20:30])
    assert not np.array_equal(cluster_counts(5, np.arange(10), codes, stream=1), counts[:10])
    v = webb_weights(0, np.arange(4000), 7)
    assert set(np.unique(v)) <= set(WEBB_POINTS) and abs(v.mean()) < 0.03 and abs(v.var() - 1) < 0.03
    with pytest.raises(ValueError, match="skip"):
        cluster_counts(0, [0], np.array([0, 2]))


# ---------------------------------------------------------------------- 3. cluster / wild cluster bootstrap
def test_cluster_bootstrap_draws_are_refits_on_whole_cluster_weights(toy, toy_fit, tmp_path):
    with pytest.warns(UserWarning, match="only 9 clusters"):
        boot = js.bootstrap(toy, n_resamples=R, starts="best", seed=2, estimate=toy_fit, resample="cluster",
                            cluster="budget")
    assert boot.recipe["resample"] == "cluster" and boot.recipe["n_clusters"] == 9
    labels = js.budget_labels(toy["C"])
    _, codes = np.unique(labels, return_inverse=True)
    counts = cluster_counts(2, np.arange(R), codes)
    for r in (0, 5):
        ref = js.fit(toy, weights=counts[r], starts=toy_fit.theta, polish=1)
        np.testing.assert_allclose(boot.theta[r], ref.theta, rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="BCa's jackknife"):
        boot.ci("alpha", method="bca")
    again = js.load(boot.save(tmp_path / "cluster.npz"))
    assert np.array_equal(again.theta, boot.theta) and again.recipe["resample"] == "cluster"


def test_wild_cluster_bootstrap_refits_perturbed_targets(toy, toy_fit):
    codes = (np.arange(len(toy)) // 4) % 12  # 12 clusters of 9 rows, interleaved across budgets
    boot = js.bootstrap(toy, n_resamples=R, starts="best", seed=4, estimate=toy_fit, resample="wild-cluster",
                        cluster=codes)
    assert boot.recipe["multipliers"] == "Webb six-point"
    r_tilde = np_corrected(toy_fit.theta, toy, clusters=codes)
    v = webb_weights(4, np.arange(R), 12)
    z_hat = np_log_predict(toy_fit.theta, toy["N"].to_numpy(), toy["D"].to_numpy())
    for r in (0, 4):
        perturbed = toy[["N", "D"]].assign(loss=np.exp(z_hat + v[r, codes] * r_tilde))
        ref = js.fit(perturbed, starts=toy_fit.theta, polish=1)
        np.testing.assert_allclose(boot.theta[r], ref.theta, rtol=1e-7, atol=1e-9)


def test_resample_arguments_are_checked(toy, toy_fit):
    with pytest.raises(ValueError, match="resample must be one of"):
        js.bootstrap(toy, n_resamples=2, starts="best", estimate=toy_fit, resample="block")
    with pytest.raises(ValueError, match="not 'budget', 'size' or a column"):
        js.bootstrap(toy, n_resamples=2, starts="best", estimate=toy_fit, resample="cluster", cluster="nope")
    with pytest.raises(ValueError, match="only used with resample"):
        js.bootstrap(toy, n_resamples=2, starts="best", estimate=toy_fit, cluster="budget")
    with pytest.raises(ValueError, match="cannot be combined"):
        js.bootstrap(toy, starts="best", estimate=toy_fit, resample="cluster", cluster="budget",
                     indices=np.zeros((2, 108), int))
    with pytest.raises(ValueError, match="one label per row"):
        js.bootstrap(toy, n_resamples=2, starts="best", estimate=toy_fit, resample="cluster", cluster=[1, 2])


def test_budget_labels():
    C = np.array([5.5e18, 6.4e18, 1.1e19, 2.9e21, 1.3e22])
    np.testing.assert_allclose(js.budget_labels(C, budgets=[6e18, 1e19, 3e21]), [6e18, 6e18, 1e19, 3e21, 3e21])
    np.testing.assert_allclose(js.budget_labels(C), 10.0 ** np.array([18.7, 18.8, 19.0, 21.5, 22.1]))
    with pytest.raises(ValueError, match="row 1"):
        js.budget_labels([1e20, -1.0])


# ---------------------------------------------------------------------- 4. extrapolation audit
def test_split_modes(toy):
    held, labels, names = make_splits(toy, "compute", "holdout", 2, 3, "N", "D", None, 0.1)
    top = np.sort(np.unique(labels))[-2:]
    np.testing.assert_array_equal(held[0], np.isin(labels, top))
    held, _, names = make_splits(toy, "compute", "leave-one-out", 1, 3, "N", "D", None, 0.1)
    assert held.shape == (9, 108) and np.all(held.sum(axis=0) == 1)
    held, labels, names = make_splits(toy, "N", "rolling", 1, 3, "N", "D", None, 0.5)
    assert names[0] == "fit budgets 1-3, predict 4" and held.shape[0] == len(np.unique(labels)) - 3
    with pytest.raises(ValueError, match="hold out between 1 and 8"):
        make_splits(toy, "compute", "holdout", 9, 3, "N", "D", None, 0.1)
    with pytest.raises(ValueError, match="boolean mask"):
        make_splits(toy, np.ones(5, bool), "holdout", 1, 3, "N", "D", None, 0.1)


def test_extrapolation_matches_single_fits_and_numpy_intervals(toy, toy_fit):
    starts = np.concatenate([toy_fit.theta[None, :] + 0.3, js.random_starts(js.CHINCHILLA, 7, seed=1)])
    table = js.extrapolation(toy, holdout=2, n_resamples=R, seed=3, starts=starts, level=0.9)
    held, labels, _ = make_splits(toy, "compute", "holdout", 2, 3, "N", "D", None, 0.1)
    train = ~held
    assert len(table) == held.sum() and set(table["row"]) == set(np.flatnonzero(held[0]))
    law, loss = js.CHINCHILLA, js.huber(DELTA)
    log_x = np.log(toy[["N", "D"]].to_numpy())
    estimates, draws = fit_splits(js.LevenbergMarquardt(), law, loss, log_x, np.log(toy["loss"].to_numpy()), train,
                                  R, 3, starts)
    single = js.fit(toy, weights=train[0], starts=starts)
    np.testing.assert_allclose(estimates[0], single.theta, rtol=1e-8, atol=1e-10)
    counts = split_counts(train, R, 3)
    assert np.all(counts[:, held[0]] == 0) and np.all(counts.sum(axis=1) == train[0].sum())
    ref = js.fit(toy, weights=counts[7], starts=estimates[0], polish=1)
    np.testing.assert_allclose(draws[0, 7], ref.theta, rtol=1e-7, atol=1e-9)
    res = np_corrected(estimates[0], toy, rows=train[0])[train[0]]
    rows = table["row"].to_numpy()
    N, D = toy["N"].to_numpy()[rows], toy["D"].to_numpy()[rows]
    bounds = np.exp(np_new_run(draws[0], res, N, D, 0.9))
    np.testing.assert_allclose(table[["lower", "upper"]].to_numpy(), bounds, rtol=1e-9)
    np.testing.assert_allclose(table["predicted"], single.predict(N=N, D=D), rtol=1e-10)
    assert np.array_equal(table["inside"], (table["lower"] <= table["actual"]) & (table["actual"] <= table["upper"]))
    np.testing.assert_allclose(table["log_residual"], np.log(table["actual"] / table["predicted"]), atol=1e-12)
    assert np.all(table["lower"] < table["mean_lower"]) and np.all(table["upper"] > table["mean_upper"])
    assert table.attrs["level"] == 0.9 and "prediction interval" in table.attrs["interval"]


def test_extrapolation_plot_draws_every_run(toy, toy_fit):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from jaxscale import plot

    table = pd.DataFrame({"budget": [1e21, 1e21, 3e21], "predicted": [2.3, 2.4, 2.2], "actual": [2.31, 2.6, 2.21],
                          "lower": [2.2, 2.3, 2.1], "upper": [2.4, 2.5, 2.3], "mean_lower": [2.28, 2.38, 2.18],
                          "mean_upper": [2.32, 2.42, 2.22]})
    table["inside"] = (table["lower"] <= table["actual"]) & (table["actual"] <= table["upper"])
    ax = plot.extrapolation(table)
    gids = [line.get_gid() for line in ax.lines]
    assert gids.count("prediction-interval") == 3 and gids.count("outside") == 1 and gids.count("inside") == 2
    assert ax.get_title().startswith("2 / 3 held-out runs")
    with pytest.raises(ValueError, match="lacks columns"):
        plot.extrapolation(table.drop(columns="lower"))


# ---------------------------------------------------------------------- 5. next runs vs brute force
def test_rank_next_runs_matches_brute_force(toy, toy_fit):
    candidates = pd.DataFrame({"N": [3e8, 2e9, 1e10], "D": [6e9, 4e10, 3e11]})
    target = ("N_opt", 1e24)
    table = js.rank_next_runs(toy, candidates, target, n_outcomes=2, n_resamples=R, seed=5, estimate=toy_fit)
    outcomes = table.attrs["outcomes"]
    # the outcomes are draw predictions plus corrected residuals (common random numbers)
    current = js.bootstrap(toy, n_resamples=R, starts="best", seed=5, estimate=toy_fit)
    res = np_corrected(toy_fit.theta, toy)
    for s, (r, u) in enumerate(zip(table.attrs["draw_index"], table.attrs["residual_index"])):
        expected = np_log_predict(current.theta[r], candidates["N"].to_numpy(), candidates["D"].to_numpy()) + res[u]
        np.testing.assert_allclose(outcomes[:, s], expected, rtol=1e-10)

    def width(boot):
        n_opt = boot.compute_optimal(1e24)
        return float(n_opt["N_opt_high"].iloc[0] - n_opt["N_opt_low"].iloc[0])

    brute = np.zeros((3, 2))
    for c in range(3):
        for s in range(2):
            aug = pd.concat([toy[["N", "D", "loss"]], pd.DataFrame({"N": [candidates["N"][c]], "D": [candidates["D"][c]],
                                                                   "loss": [np.exp(outcomes[c, s])]})],
                            ignore_index=True)
            refit = js.fit(aug, starts=toy_fit.theta, polish=1)
            brute[c, s] = width(js.bootstrap(aug, n_resamples=R, starts="best", seed=5, estimate=refit))
    by_candidate = table.sort_index()
    np.testing.assert_allclose(by_candidate["width_after"], brute.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(by_candidate["width_now"], width(current), rtol=1e-12)
    score = (width(current) - brute.mean(axis=1)) / width(current) / (6 * candidates["N"] * candidates["D"])
    assert table.index[0] == int(np.argmax(score.to_numpy()))
    assert list(table["rank"]) == [1, 2, 3]


# ---------------------------------------------------------------------- 6. inference-aware optimum
def test_inference_optimal_against_closed_form_and_scipy(toy_fit):
    from scipy.optimize import minimize_scalar

    A, B, E, alpha, beta = toy_fit.params[["A", "B", "E", "alpha", "beta"]]
    target = 2.05
    table = js.inference_optimal(toy_fit, loss=target, inference_tokens=[0.0, 2e13])
    # no inference: the compute-optimal model that reaches the target loss
    N0, D0 = table.loc[0, ["N", "D_train"]]
    assert E + A / N0**alpha + B / D0**beta == pytest.approx(target, rel=1e-10)
    assert toy_fit.compute_optimal(6 * N0 * D0)["N_opt"] == pytest.approx(N0, rel=1e-6)

    def cost(log_n, d_inf):
        gap = target - E - A * np.exp(-alpha * log_n)
        if gap <= 0:
            return np.inf
        D = (B / gap) ** (1 / beta)
        return np.log(6 * np.exp(log_n) * D + 2 * np.exp(log_n) * d_inf)

    ref = minimize_scalar(cost, args=(2e13,), bounds=(np.log(N0) - 3, np.log(N0) + 1), method="bounded",
                          options={"xatol": 1e-10})
    assert table.loc[1, "N"] == pytest.approx(np.exp(ref.x), rel=1e-5)
    assert table.loc[1, "N"] < N0 and table.loc[1, "tokens_per_parameter"] > table.loc[0, "tokens_per_parameter"]
    with pytest.raises(ValueError, match="not reachable"):
        js.inference_optimal(toy_fit, loss=E * 0.9, inference_tokens=0)


def test_inference_optimal_intervals_from_draws(toy_boot):
    table = js.inference_optimal(toy_boot, loss=2.05, inference_tokens=1e13, level=0.8)
    assert table.loc[0, "N_low"] < table.loc[0, "N"] < table.loc[0, "N_high"]
    assert table.attrs["unreachable_draws"] == 0


# ---------------------------------------------------------------------- 7. delta sweep
def test_delta_sweep_equals_one_fit_per_delta(toy, toy_fit):
    from conftest import reference_objective

    starts = np.concatenate([toy_fit.theta[None, :], js.random_starts(js.CHINCHILLA, 7, seed=2)])
    deltas = np.array([1e-4, 3e-2, 1e2])
    sweep = js.delta_sweep(toy, deltas, starts=starts, C=1e23)
    log_n, log_d, log_l = (np.log(toy[c].to_numpy()) for c in ("N", "D", "loss"))
    for i, delta in enumerate(deltas):
        theta = js.CHINCHILLA.from_natural(sweep.loc[i, ["A", "B", "E", "alpha", "beta"]].to_numpy(float))
        value, grad = reference_objective(theta, log_n, log_d, log_l, delta=delta)  # numpy Huber-delta objective
        assert sweep.loc[i, "objective"] == pytest.approx(value, rel=1e-10)
        assert np.max(np.abs(grad)) < 1e-9 * max(1.0, delta)  # a stationary point of that delta's objective
        r = log_l - np_log_predict(theta, toy["N"].to_numpy(), toy["D"].to_numpy())
        assert sweep.loc[i, "inside_delta"] == np.sum(np.abs(r) <= delta)
        assert sweep.loc[i, "N_opt"] == pytest.approx(js.FitResult.from_params(
            dict(zip(["A", "B", "E", "alpha", "beta"], js.CHINCHILLA.to_natural(theta)))).compute_optimal(1e23)["N_opt"])
    single = js.fit(toy, delta=deltas[1], starts=starts)  # the same fit, run on its own
    assert sweep.loc[1, "objective"] == pytest.approx(single.objective, rel=1e-9)
    np.testing.assert_allclose(sweep.loc[1, ["A", "B", "E", "alpha", "beta"]].to_numpy(float),
                               single.params.to_numpy(), rtol=1e-6)
    assert sweep["inside_delta"].is_monotonic_increasing
    with pytest.raises(ValueError, match="deltas must be"):
        js.delta_sweep(toy, [1e-3, -1.0])


# ---------------------------------------------------------------------- 8. plan
def test_plan_grid_flops_and_gpu_hours(toy_fit):
    table = js.plan([1e21, 1e23], result=toy_fit, n_per_budget=5, span=100.0, peak_flops=1e15, utilisation=0.5)
    assert len(table) == 10
    np.testing.assert_allclose(table["flops"], table["budget"], rtol=1e-12)
    np.testing.assert_allclose(table["gpu_hours"], table["budget"] / (1e15 * 0.5) / 3600, rtol=1e-12)
    centre = table[table["centre"]]
    np.testing.assert_allclose(centre["N"], toy_fit.compute_optimal(np.array([1e21, 1e23]))["N_opt"], rtol=1e-12)
    first = table[table["budget"] == 1e21]["N"].to_numpy()
    assert first.max() / first.min() == pytest.approx(100.0) and np.allclose(np.diff(np.log(first)), np.log(10) / 2)
    rule = js.plan(6e20, n_per_budget=1)
    assert rule.loc[0, "tokens_per_parameter"] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="utilisation"):
        js.plan(1e21, utilisation=1.5)


# ---------------------------------------------------------------------- 9. CLI
def test_cli_extrapolate_and_plan(toy, tmp_path, capsys):
    from jaxscale.cli import main

    csv = tmp_path / "runs.csv"
    toy.to_csv(csv, index=False)
    assert main(["extrapolate", str(csv), "--starts", "8", "--resamples", str(R), "--holdout", "1", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["held_out"] == 12 and len(payload["rows"]) == 12 and {"lower", "upper", "inside"} <= set(
        payload["rows"][0])
    assert main(["plan", "-C", "1e21", "--per-budget", "3", "--tokens-per-parameter", "20", "--csv"]) == 0
    plan = pd.read_csv(pd.io.common.StringIO(capsys.readouterr().out))
    assert len(plan) == 3 and plan["tokens_per_parameter"].iloc[1] == pytest.approx(20.0)
    assert main(["extrapolate", str(csv), "--holdout", "20", "--starts", "4", "--resamples", "2"]) == 2
    assert "hold out between 1 and 8" in capsys.readouterr().err


# ---------------------------------------------------------------------- 10. emergence
def test_metric_artefact_against_closed_form(toy_fit, toy_boot):
    from scipy.optimize import brentq

    A, B, E, alpha, beta = toy_fit.params[["A", "B", "E", "alpha", "beta"]]
    N = np.logspace(8, 12, 5)
    table = js.metric_artefact(toy_fit, answer_tokens=4, N=N, tokens_per_parameter=10.0, threshold=0.3)
    ell = A / N**alpha + B / (10.0 * N) ** beta  # the reducible loss
    np.testing.assert_allclose(table["task_loss"], ell, rtol=1e-8)
    np.testing.assert_allclose(table["exact_match"], np.exp(-4 * ell), rtol=1e-8)
    np.testing.assert_allclose(table["per_token"], np.exp(-ell), rtol=1e-8)
    n_star = np.exp(brentq(lambda u: A * np.exp(-alpha * u) + B * (10.0 * np.exp(u)) ** -beta + np.log(0.3) / 4,
                           np.log(1e3), np.log(1e20), xtol=1e-13))
    assert table.attrs["N_star"] == pytest.approx(n_star, rel=1e-8)
    banded = js.metric_artefact(toy_boot, answer_tokens=4, N=N)
    assert banded.attrs["N_star_low"] < banded.attrs["N_star"] < banded.attrs["N_star_high"]
    assert np.all(banded["exact_match_low"] <= banded["exact_match_high"])


def test_two_step_chains_both_fits_and_bootstraps_jointly(toy, toy_fit):
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(0)
    losses = np.linspace(2.0, 3.0, 25)
    accuracy = 0.2 + 0.7 / (1 + np.exp(10 * (losses - 2.4))) + rng.normal(0, 0.01, losses.size)
    metric_data = pd.DataFrame({"loss": losses, "accuracy": accuracy})
    chain = js.two_step(toy, metric_data, n_resamples=R, seed=7, loss_starts=toy_fit.theta[None])

    def sigmoid(x, a, b, k, x0):
        return b + a / (1 + np.exp(-k * (x - x0)))

    ref, _ = curve_fit(sigmoid, losses, accuracy, p0=[0.5, 0.25, -8.0, 2.5])  # scipy least squares
    if ref[2] < 0 and "k" in chain.metric_fit.law.base.natural_names:  # registered sigmoid: k > 0, same curve
        ref = np.array([-ref[0], ref[0] + ref[1], -ref[2], ref[3]])
    np.testing.assert_allclose(chain.metric_fit.params.to_numpy(), ref, rtol=1e-5)
    out = chain.predict(N=[1e9, 7e10], D=[2e10, 1.4e12], level=0.9)
    loss_hat = toy_fit.predict(N=np.array([1e9, 7e10]), D=np.array([2e10, 1.4e12]))
    np.testing.assert_allclose(out["loss"], loss_hat, rtol=1e-9)
    np.testing.assert_allclose(out["metric"], sigmoid(loss_hat, *ref), rtol=1e-5)
    # joint draw r: the metric law refitted on resample r (stream 2) of the metric data
    counts = cluster_counts(7, [3], np.arange(len(losses)), stream=2)[0]
    redo = js.fit(metric_data, law=chain.metric_fit.law, loss="squared", x="loss", y="accuracy", weights=counts,
                  starts=chain.metric_fit.theta, polish=1)
    np.testing.assert_allclose(chain.metric_draws[3], redo.theta, rtol=1e-6, atol=1e-9)
    assert np.all(out["metric_high"] > out["metric_low"]) and np.all(out["metric_step2_high"] > out["metric_step2_low"])
    with pytest.raises(ValueError, match="metric law must take one input"):
        js.two_step(toy, metric_data, metric="chinchilla")
