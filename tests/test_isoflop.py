"""Approaches 1 and 2 (isoFLOP profiles, training-curve envelope) against numpy references and known laws."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from conftest import JIT_CACHE
from jaxscale.api.isoflop import group_budgets
from jaxscale.engine.resampling import stratified_counts

EPOCH = js.datasets.EPOCH_PARAMS
BUDGETS = np.array(js.datasets.HOFFMANN_BUDGETS)


def chinchilla_law(N, D, p=EPOCH):
    return p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]


def true_a(p=EPOCH):
    """Exact allocation exponent of the Chinchilla law: N_opt ∝ C^(beta / (alpha + beta))."""
    return p["beta"] / (p["alpha"] + p["beta"])


def true_n_opt(C, p=EPOCH):
    """argmin_N of E + A N^-alpha + B (C/6N)^-beta, written out: N = (alpha A / (beta B))^(1/(a+b)) (C/6)^(b/(a+b))."""
    return (p["alpha"] * p["A"] / (p["beta"] * p["B"])) ** (1 / (p["alpha"] + p["beta"])) * (C / 6) ** true_a(p)


def isoflop_runs(spread, noise=0.0, seed=0):
    """Runs at N = N_opt(C) * spread for every Hoffmann budget (numpy only)."""
    N = (true_n_opt(BUDGETS)[:, None] * np.asarray(spread)[None, :]).ravel()
    C = np.repeat(BUDGETS, len(spread))
    D = C / (6 * N)
    loss = chinchilla_law(N, D) * np.exp(noise * np.random.default_rng(seed).standard_normal(N.size))
    return pd.DataFrame({"N": N, "D": D, "loss": loss, "C": C})


# ---------------------------------------------------------------------- Approach 2
def test_recovers_allocation_exponents_from_noisy_isoflop_runs():
    result = js.isoflop(js.datasets.synthetic(noise=0.01, seed=3), n_resamples=200)
    table = result.allocation
    assert list(table.index) == ["a", "b"] and list(table.columns[:3]) == ["estimate", "lower", "upper"]
    a = table.loc["a"]
    assert abs(a["estimate"] - true_a()) < 0.02
    assert a["lower"] < true_a() < a["upper"] and a["upper"] - a["lower"] < 0.15
    assert table.loc["b", "estimate"] == pytest.approx(1 - a["estimate"], abs=1e-12)
    assert list(result.minima.columns[:4]) == ["C", "N_opt", "lower", "upper"] and len(result.minima) == 9
    assert np.all(result.minima["lower"] <= result.minima["N_opt"]) and np.all(result.minima["N_opt"] <= result.minima["upper"])


@pytest.mark.parametrize("method", ["parabola", "profile"])
def test_noise_free_minima_and_exponent(method):
    result = js.isoflop(isoflop_runs(np.logspace(-1, 1, 12)), n_resamples=4, method=method, robust=False)
    assert result.allocation.loc["a", "estimate"] == pytest.approx(true_a(), abs=1e-6)
    np.testing.assert_allclose(result.minima["N_opt"], true_n_opt(BUDGETS), rtol=0.02)
    assert result.minima["D_opt"].to_numpy() == pytest.approx((BUDGETS / (6 * result.minima["N_opt"])).to_numpy())


def test_profile_removes_the_parabola_vertex_bias_of_lopsided_sampling():
    """Runs from N_opt/2 to 30 N_opt: the symmetric parabola misplaces the minimum, the Chinchilla profile does not."""
    runs = isoflop_runs(np.logspace(-0.3, 1.5, 12))
    parabola = js.isoflop(runs, n_resamples=4, robust=False).minima["N_opt"].to_numpy()
    profile = js.isoflop(runs, n_resamples=4, robust=False, method="profile").minima["N_opt"].to_numpy()
    truth = true_n_opt(BUDGETS)
    assert np.max(np.abs(np.log(parabola / truth))) > 0.05
    assert np.max(np.abs(np.log(profile / truth))) < 0.01


def test_least_squares_vertex_equals_numpy_polyfit():
    data = js.datasets.synthetic(noise=0.02, seed=7)
    result = js.isoflop(data, robust=False, n_resamples=4)
    for label, row in result.minima.iterrows():
        runs = data[result.assignment == label]
        c2, c1, _ = np.polyfit(np.log(runs["N"]), runs["loss"], 2)
        assert row["N_opt"] == pytest.approx(np.exp(-c1 / (2 * c2)), rel=1e-9)
        assert row["C"] == pytest.approx(runs["C"].iloc[0], rel=1e-12)


def test_robust_fit_ignores_one_gross_outlier():
    data = js.datasets.synthetic(noise=0.003, seed=1)
    spoiled = data.copy()
    spoiled.loc[data.index[data["C"] == 1e20][3], "loss"] *= 1.3
    budget = 4  # the 1e20 budget
    clean = js.isoflop(data, n_resamples=4).minima.loc[budget, "N_opt"]
    robust = js.isoflop(spoiled, n_resamples=4).minima.loc[budget, "N_opt"]
    plain = js.isoflop(spoiled, n_resamples=4, robust=False).minima.loc[budget, "N_opt"]
    assert abs(np.log(robust / clean)) < 0.03
    assert abs(np.log(plain / clean)) > 0.3


def test_budgets_grouped_with_tolerance():
    rng = np.random.default_rng(0)
    nominal = np.repeat([1e19, 1e20, 1e21], 8)
    log_c = np.log10(nominal) + rng.uniform(-0.03, 0.03, nominal.size)
    labels = group_budgets(log_c, 0.1)
    assert np.array_equal(labels, np.repeat([0, 1, 2], 8))
    assert np.unique(group_budgets(log_c, 0.01)).size > 3  # too tight: the jittered runs split
    assert np.unique(group_budgets(log_c, 1.2)).size == 2  # too wide: two decades merge

    sizes = np.tile(np.logspace(-1, 1, 8), 3)
    N = np.repeat(true_n_opt(np.array([1e19, 1e20, 1e21])), 8) * sizes
    C = 10 ** log_c
    data = pd.DataFrame({"N": N, "D": C / (6 * N), "loss": chinchilla_law(N, C / (6 * N))})
    result = js.isoflop(data, n_resamples=4)
    assert result.minima["n_runs"].tolist() == [8, 8, 8]
    np.testing.assert_allclose(result.minima["C"], [10 ** log_c[i * 8:(i + 1) * 8].mean() for i in range(3)], rtol=1e-12)
    by_column = js.isoflop(data.assign(budget=nominal), budget="budget", n_resamples=4)
    np.testing.assert_array_equal(by_column.minima["N_opt"], result.minima["N_opt"])
    by_value = js.isoflop(data, budget=[1e19, 1e20, 1e21], n_resamples=4)
    np.testing.assert_array_equal(by_value.minima["N_opt"], result.minima["N_opt"])
    assert by_value.minima.index.tolist() == [1e19, 1e20, 1e21]


def test_runs_near_no_nominal_budget_are_reported():
    data = js.datasets.synthetic()
    with pytest.warns(UserWarning, match=r"12 of 108 runs lie farther than 0.1 dex"):
        result = js.isoflop(data, budget=BUDGETS[:-1], n_resamples=4)
    assert len(result.minima) == 8 and result.assignment.isna().sum() == 12


def test_minimum_outside_the_sampled_range_is_flagged():
    runs = isoflop_runs(np.logspace(-1, 1, 9))
    budget = 1e20
    shifted = runs["C"] == budget
    # sizes 1.6x .. 4x N_opt: the minimum lies below every sampled size and the parabola extrapolates to it
    runs.loc[shifted, "N"] = true_n_opt(budget) * np.logspace(0.2, 0.6, 9)
    runs.loc[shifted, "D"] = budget / (6 * runs.loc[shifted, "N"])
    runs.loc[shifted, "loss"] = chinchilla_law(runs.loc[shifted, "N"], runs.loc[shifted, "D"])
    result = js.isoflop(runs, n_resamples=16, robust=False)
    flags = result.minima["outside_range"]
    assert flags.sum() == 1 and flags.iloc[4]
    assert result.minima["N_opt"].iloc[4] < result.minima["N_min"].iloc[4]
    assert "vertex extrapolation" in result.summary()
    excluded = js.isoflop(runs, n_resamples=16, robust=False, exclude_outside=True)
    assert not excluded.minima["used"].iloc[4] and excluded.minima["used"].sum() == 8


def test_determinism_and_draws_independent_of_n_resamples():
    data = js.datasets.synthetic(seed=2)
    few = js.isoflop(data, n_resamples=5, seed=11)
    again = js.isoflop(data, n_resamples=5, seed=11)
    many = js.isoflop(data, n_resamples=300, seed=11)  # two compiled chunks of 256
    other = js.isoflop(data, n_resamples=5, seed=12)
    np.testing.assert_array_equal(few.draws.to_numpy(), again.draws.to_numpy())
    np.testing.assert_array_equal(few.draws.to_numpy(), many.draws.to_numpy()[:5])
    np.testing.assert_array_equal(few.vertex_draws, many.vertex_draws[:5])
    assert not np.array_equal(few.draws["a"], other.draws["a"])


def test_stratified_counts_resample_within_groups():
    sizes = np.array([3, 5, 2])
    counts = stratified_counts(4, np.arange(50), sizes, 5)
    assert counts.shape == (50, 3, 5)
    np.testing.assert_array_equal(counts.sum(axis=2), np.broadcast_to(sizes, (50, 3)))
    for g, size in enumerate(sizes):
        assert counts[:, g, size:].sum() == 0
    wider = stratified_counts(4, np.arange(40, 50), sizes, 9)  # other padding, other ids: same draws
    np.testing.assert_array_equal(wider[:, :, :5], counts[40:])
    assert all(counts[:, g, :size].std(axis=0).min() > 0 for g, size in enumerate(sizes))  # they do vary


def test_too_few_sizes_names_the_budget():
    data = js.datasets.synthetic()
    thin = data[~((data["C"] == 1e19) & (data.index % 12 > 1))]  # the 1e19 budget keeps 2 sizes
    with pytest.warns(UserWarning, match=r"budget 1 \(C ≈ 1e\+19 FLOP, 2 run\(s\)"):
        result = js.isoflop(thin, n_resamples=4)
    assert len(result.minima) == 8 and result.excluded.index.tolist() == [1]
    two_sizes = data[data.index % 12 < 2]
    with pytest.raises(ValueError, match=r"at least 2 budgets with >= 3 distinct model sizes.*budget 0"):
        js.isoflop(two_sizes, n_resamples=4)


@pytest.mark.parametrize("kwargs, message", [
    ({"n": "params"}, r"column 'params' \(model size N\) not found"),
    ({"d": "tokens"}, r"column 'tokens'.*not found"),
    ({"c": "flops"}, r"column 'flops' \(compute C"),
    ({"budget": "nominal"}, r"budget column 'nominal' not found"),
    ({"method": "cubic"}, r"method='cubic'"),
    ({"n_resamples": 0}, r"n_resamples must be an integer >= 1"),
    ({"budget_tol": -1.0}, r"budget_tol must be a finite number > 0"),
    ({"level": 1.5}, r"level must be in \(0, 1\)"),
])
def test_bad_inputs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        js.isoflop(js.datasets.synthetic(), **kwargs)


def test_missing_budget_and_bad_loss_rows_are_named():
    data = js.datasets.synthetic().assign(budget=1.0)
    data.loc[5, "budget"] = np.nan
    with pytest.raises(ValueError, match=r"budget column 'budget' row 5 is missing"):
        js.isoflop(data, budget="budget")
    data.loc[7, "loss"] = -1.0
    with pytest.raises(ValueError, match=r"column 'loss' \(loss\) row 7"):
        js.isoflop(data)


def test_summary_repr_and_optimal():
    result = js.isoflop(js.datasets.synthetic(), n_resamples=32)
    assert repr(result).startswith("IsoflopResult(parabola, 9 budgets, 32 resamples: a = ")
    assert "N_opt = k_N C^a" in result.summary()
    opt = result.optimal([1e22, 1e24])
    k = result.coefficients.loc["k_N", "estimate"]
    a = result.allocation.loc["a", "estimate"]
    np.testing.assert_allclose(opt["N_opt"], k * np.array([1e22, 1e24]) ** a, rtol=1e-10)
    assert np.all(opt["N_opt_lower"] <= opt["N_opt"]) and np.all(opt["N_opt"] <= opt["N_opt_upper"])


def test_chinchilla_approach2(chinchilla_240):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nominal = js.isoflop(chinchilla_240, budget=js.datasets.HOFFMANN_BUDGETS, n_resamples=256)
        automatic = js.isoflop(chinchilla_240, n_resamples=256)
    for name, result in (("nominal budgets", nominal), ("automatic grouping", automatic)):
        a = result.allocation.loc["a"]
        print(f"\nChinchilla Approach 2 ({name}, {len(result.minima)} budgets): a = {a['estimate']:.4f} "
              f"[{a['lower']:.4f}, {a['upper']:.4f}] (Hoffmann: 0.49; Epoch's Approach 3: 0.51)")
        assert 0.3 < a["estimate"] < 0.7
    assert len(nominal.minima) == 9 and nominal.minima["n_runs"].min() >= 10


# ---------------------------------------------------------------------- Approach 1
def training_curves(sizes, tokens, p=EPOCH):
    N, D = np.repeat(sizes, tokens.size), np.tile(tokens, sizes.size)
    return pd.DataFrame({"run": np.repeat(np.arange(sizes.size), tokens.size), "N": N, "D": D,
                         "loss": chinchilla_law(N, D, p)})


def test_approach1_recovers_exponent_from_training_curves():
    curves = training_curves(np.logspace(7.5, 10, 24), np.logspace(8, 12, 60))
    pd.testing.assert_frame_equal(js.datasets.training_curves(sizes=np.logspace(7.5, 10, 24), points_per_run=60)
                                  .drop(columns="C"), curves)
    result = js.approach1(curves, n_resamples=100)
    a = result.allocation.loc["a"]
    assert abs(a["estimate"] - true_a()) < 0.015
    assert a["lower"] < true_a() < a["upper"]
    env = result.envelope
    kept = env[~env["censored"]]
    # the envelope's run is the best of the sizes trained: N_opt within one size step of the true optimum
    step = np.log(np.logspace(7.5, 10, 24)[1] / np.logspace(7.5, 10, 24)[0])
    assert np.max(np.abs(np.log(kept["N_opt"] / true_n_opt(kept["C"])))) <= step
    assert env["censored"].iloc[0] and env["censored"].iloc[-1]
    assert repr(result).startswith("EnvelopeResult(24 runs, 100 resamples")


def test_approach1_deterministic_and_bad_inputs():
    curves = js.datasets.training_curves()
    first = js.approach1(curves, n_resamples=10, seed=5)
    np.testing.assert_array_equal(first.draws.to_numpy(), js.approach1(curves, n_resamples=200, seed=5).draws.to_numpy()[:10])
    with pytest.raises(ValueError, match=r"run column 'run' not found"):
        js.approach1(curves.drop(columns="run"))
    mixed = curves.copy()
    mixed.loc[3, "N"] *= 2
    with pytest.raises(ValueError, match=r"run 0 has 2 different model sizes"):
        js.approach1(mixed)
    with pytest.raises(ValueError, match=r"run 0 has 1 distinct compute"):
        js.approach1(curves.drop(index=curves.index[(curves["run"] == 0)][1:]))


def test_compare_approaches_side_by_side():
    curves, runs = js.datasets.training_curves(), js.datasets.synthetic()
    estimate = js.fit(runs, starts=8)  # Approach 3's full-data fit (8 random starts suffice on this data)
    table = js.compare_approaches(runs, C=5.88e23, curves=curves, n_resamples=8, bootstrap_options={"estimate": estimate})
    boot = js.bootstrap(runs, n_resamples=8, starts="best", estimate=estimate)
    assert table.loc["Approach 3", "a"] == boot.summary().loc["a_opt", "estimate"]
    assert table.loc["Approach 3", "N_opt_upper"] == boot.compute_optimal(5.88e23).loc[0, "N_opt_high"]
    assert table.index.tolist() == ["Approach 1", "Approach 2", "Approach 3"]
    for q in ("a", "b", "N_opt", "D_opt"):
        assert np.all(table[f"{q}_lower"] <= table[q]) and np.all(table[q] <= table[f"{q}_upper"])
    assert np.all(np.abs(table["a"] - true_a()) < 0.03)
    np.testing.assert_allclose(table["a"] + table["b"], 1.0, atol=1e-9)


# ---------------------------------------------------------------------- CLI
def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxscale", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **JIT_CACHE})


def test_cli_isoflop_json_and_bad_input(tmp_path):
    path = tmp_path / "runs.csv"
    js.datasets.synthetic().assign(budget=lambda f: f["C"]).to_csv(path, index=False)
    out = run_cli("isoflop", path, "--budget-col", "budget", "--resamples", 20, "--seed", 1, "--json")
    assert out.returncode == 0, out.stderr
    payload = json.loads(out.stdout)
    direct = js.isoflop(pd.read_csv(path), budget="budget", n_resamples=20, seed=1)
    assert payload["allocation"]["a"]["estimate"] == pytest.approx(direct.allocation.loc["a", "estimate"], rel=1e-12)
    assert len(payload["minima"]) == 9 and payload["recipe"]["n_resamples"] == 20
    bad = run_cli("isoflop", path, "--budget-col", "nominal")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "budget column 'nominal'" in bad.stderr
    assert "Traceback" not in bad.stderr
