"""Training curves (issue 19, part 1): schedule areas against the papers' formulas written out in numpy loops,
recovery of known curve-law parameters under cosine, linear and WSD schedules, the run bootstrap, and the
final loss of the largest run predicted from the smaller runs' curves beside a final-loss-only fit."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale.api.curves import CurveColumns, final_loss_check
from jaxscale.kernels.schedules import annealing_area, annealing_momentum, forward_area, lr_schedule, schedule_areas


# ---------------------------------------------------------------- the papers' formulas, plain loops
def tissue_np(lr, lam=0.999, warmup_steps=0):
    """Tissue et al. (2024): S1 = sum eta_i; S2 = sum m_i, m_i = lam m_{i-1} + (eta_{i-1} - eta_i), eta_0 = eta_1."""
    s1 = s2 = m = 0.0
    out1, out2 = [], []
    for i, eta in enumerate(lr):
        prev = lr[i - 1] if i > 0 else lr[0]
        m = lam * m + ((prev - eta) if i >= warmup_steps else 0.0)
        s1 += eta
        s2 += m
        out1.append(s1)
        out2.append(s2)
    return np.array(out1), np.array(out2)


def wang_np(steps, lrs, beta1=0.9, beta2=0.999, epsilon=1e-8, vi_scale=1e5):
    """Wang et al. (2026) reference code's compute_S2, transcribed."""
    T = len(lrs)
    m, v, S = np.zeros(T), np.zeros(T), np.zeros(T)
    for i in range(1, T):
        delta = (lrs[i - 1] - lrs[i]) * (steps[i] - steps[i - 1])
        m[i] = beta1 * m[i - 1] + (1 - beta1) * delta
        v[i] = beta2 * v[i - 1] + (1 - beta2) * delta ** 2
        m_hat = m[i] / (1 - beta1 ** (i + 1))
        v_hat = v[i] / (1 - beta2 ** (i + 1)) * vi_scale
        S[i] = S[i - 1] + m_hat / (np.sqrt(v_hat + epsilon) + epsilon)
    return S


@pytest.mark.parametrize("kind", ["constant", "cosine", "linear", "wsd"])
def test_areas_equal_the_papers_formulas(kind):
    lr = lr_schedule(kind, 3000, 3e-4, warmup=0.02, decay=0.3, final_lr=3e-5)
    s1, s2 = tissue_np(lr, 0.999, warmup_steps=60)
    np.testing.assert_allclose(forward_area(lr), s1, rtol=1e-13)
    np.testing.assert_allclose(annealing_area(lr, 0.999, warmup_steps=60), s2, rtol=1e-10, atol=1e-15 * s1[-1])
    np.testing.assert_allclose(annealing_area(lr, 0.99), tissue_np(lr, 0.99)[1], rtol=1e-10, atol=1e-18)
    steps = np.arange(1, lr.size + 1)
    np.testing.assert_allclose(annealing_momentum(lr), wang_np(steps, lr), rtol=1e-10, atol=1e-12)
    logged = np.arange(10, 3001, 10)  # Wang et al.'s code over logged steps with widths
    np.testing.assert_allclose(annealing_momentum(lr[logged - 1], logged), wang_np(logged, lr[logged - 1]),
                               rtol=1e-10, atol=1e-12)


def test_schedule_shapes():
    T, peak, final = 1000, 2.0, 0.2
    cos = lr_schedule("cosine", T, peak, warmup=0.1, final_lr=final)
    np.testing.assert_allclose(cos[:100], peak * np.arange(1, 101) / 100)
    u = (np.arange(101, T + 1) - 100) / 900
    np.testing.assert_allclose(cos[100:], final + (peak - final) * 0.5 * (1 + np.cos(np.pi * u)))
    wsd = lr_schedule("wsd", T, peak, decay=0.2)
    assert np.all(wsd[:800] == peak) and wsd[-1] == 0.0 and np.all(np.diff(wsd[800:]) < 0)
    lin = lr_schedule("linear", T, peak)
    assert lin[-1] == 0.0 and np.allclose(np.diff(lin), -peak / T)
    # rounding once gave the last WSD step -4e-19 (peak * K / K != peak), which check_lr then refused
    wsd_long = lr_schedule("wsd", 17075, 3e-3, warmup=0.01)
    assert wsd_long.min() >= 0.0 and wsd_long[-1] == 0.0
    with pytest.raises(ValueError, match="unknown"):
        lr_schedule("step", T)
    with pytest.raises(ValueError, match="exceed"):
        lr_schedule("wsd", T, warmup=0.5, decay=0.6)
    with pytest.raises(ValueError, match="outside the schedule"):
        schedule_areas(lin, [0, 5])


def curve_runs(kind, law_params, lengths=(2000, 4000, 6000), every=100, noise=0.0, seed=0):
    """Checkpoints of runs of one schedule kind from Tissue et al.'s law (numpy loops for the areas)."""
    rng = np.random.default_rng(seed)
    rows = []
    for run, T in enumerate(lengths):
        lr = lr_schedule(kind, T, 3e-3, warmup=0.01)
        s1, s2 = tissue_np(lr, 0.999, warmup_steps=int(round(0.01 * T)))
        at = np.arange(every, T + 1, every)
        p = law_params
        loss = p["L0"] + p["A"] * s1[at - 1] ** -p["alpha"] - p["C"] * s2[at - 1]
        loss = loss * np.exp(noise * rng.standard_normal(loss.shape))
        rows.append(pd.DataFrame({"run": f"{kind}-{T}", "step": at, "loss": loss, "T": T, "kind": kind}))
    return pd.concat(rows, ignore_index=True)


TRUTH = {"L0": 2.1, "A": 0.8, "alpha": 0.5, "C": 0.04}


@pytest.mark.parametrize("kind", ["cosine", "linear", "wsd"])
def test_noise_free_curves_recover_the_law(kind):
    runs = curve_runs(kind, TRUTH)
    schedules = js.schedules_from_columns(runs, peak_lr=3e-3, warmup=0.01)
    result = js.fit_curves(runs, law="lr_annealing", schedules=schedules)
    for name, value in TRUTH.items():
        assert result.params[name] == pytest.approx(value, rel=1e-3), (kind, name)
    assert "lr_annealing" in js.LAWS and "forward_momentum" in js.LAWS


def test_lr_column_logged_every_100_steps_gives_the_schedule_areas():
    """An LR column at checkpoints only is linearly interpolated to every step: exact for linear pieces."""
    lr = lr_schedule("wsd", 3000, 3e-3, decay=0.2)
    at = np.arange(100, 3001, 100)
    data = pd.DataFrame({"run": 0, "step": at, "lr": lr[at - 1], "loss": 3.0})
    from_column = js.curve_areas(data)
    exact = schedule_areas(lr, at)
    for key in ("S1", "S2", "M"):
        np.testing.assert_allclose(from_column[key].to_numpy(), exact[key], rtol=1e-12, atol=1e-12)


def test_lr_column_at_every_step_finds_the_warmup():
    lr = lr_schedule("cosine", 3000, 3e-3, warmup=0.02)
    data = pd.DataFrame({"run": 0, "step": np.arange(1, 3001), "lr": lr, "loss": 3.0})
    described = js.curve_areas(data, schedules={"kind": "cosine", "peak_lr": 3e-3, "warmup": 0.02})
    from_column = js.curve_areas(data)
    for key in ("S1", "S2", "M"):
        np.testing.assert_allclose(from_column[key], described[key], rtol=1e-12, atol=1e-15)
    assert from_column["S2"].min() >= 0  # the rising warm-up adds no (negative) annealing


def test_bad_inputs_name_the_problem():
    runs = curve_runs("cosine", TRUTH, lengths=(1000,))
    with pytest.raises(ValueError, match="no learning rates"):
        js.curve_areas(runs)
    with pytest.raises(ValueError, match="no entry for run"):
        js.curve_areas(runs, schedules={"other": {"kind": "cosine"}})
    with pytest.raises(ValueError, match="two checkpoints at one step"):
        js.curve_areas(pd.concat([runs, runs.iloc[:1]]), schedules={"kind": "cosine", "total_steps": 1000})
    with pytest.raises(ValueError, match="a checkpoint is at step 1000"):
        js.curve_areas(runs, schedules={"kind": "cosine", "total_steps": 500})
    with pytest.raises(ValueError, match="not a curve law"):
        js.fit_curves(runs, law="chinchilla", schedules={"kind": "cosine"})


@pytest.fixture(scope="module")
def six_sizes():
    sizes = np.geomspace(2e7, 1.6e9, 6)
    runs = js.synthetic_curves(sizes=sizes, steps=(2000, 4000, 8000), kinds=("cosine", "wsd"), noise=0.005, seed=0)
    schedules = js.schedules_from_columns(runs, peak_lr=3e-3, warmup=0.01)
    target = runs[(runs.N == sizes[-1]) & (runs["T"] == 8000) & (runs.kind == "cosine")].run.iloc[0]
    return runs[(runs.N < sizes[-1]) | (runs.run == target)], target, schedules


@pytest.mark.slow
def test_largest_run_final_loss_from_small_runs_curves(six_sizes):
    """Issue 19: all checkpoints of the smaller runs predict the largest run's final loss at least as
    accurately as the final-loss-only (Chinchilla) fit of the same runs, and the new-run interval covers it."""
    data, target, schedules = six_sizes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fewer than 10 clusters is not the case here (30 runs); others: noise
        table = final_loss_check(data, target, schedules=schedules, n_resamples=60, runner=js.Runner(progress=False))
    curves, final = table.loc["curves"], table.loc["final loss only"]
    assert curves["rel_error"] <= final["rel_error"], table
    assert curves["covered"], table
    assert table.attrs["train_runs"] == 30


def test_curves_beat_final_loss_only_point_estimate(six_sizes):
    """Fast version of the slow test above (point estimates, no bootstrap): the curve law fitted to every
    checkpoint of the smaller runs predicts the largest run's final loss better than Chinchilla fitted to
    their final losses."""
    data, target, schedules = six_sizes
    train, last = data[data.run != target], data[data.run == target].iloc[-1]
    curves = js.fit_curves(train, law="forward_momentum", schedules=schedules)
    by_curves = curves.predict(schedules[target], steps=[int(last.step)], N=last.N)["loss"].iloc[0]
    finals = train.loc[train.groupby("run").step.idxmax()]
    by_final = js.fit(finals, law="chinchilla", columns={"D": "tokens"}).predict(N=last.N, D=last.tokens)
    assert abs(by_curves - last.loss) <= abs(by_final - last.loss), (by_curves, by_final, last.loss)
    assert abs(by_curves / last.loss - 1) < 0.01


def test_run_bootstrap_resamples_runs_and_predicts_a_new_run(six_sizes):
    data, target, schedules = six_sizes
    train = data[data.run != target]
    result = js.bootstrap_curves(train, law="forward_momentum", n_resamples=30, schedules=schedules,
                                 runner=js.Runner(progress=False))
    recipe = result.boot.recipe
    assert recipe["resample"] == "cluster" and recipe["n_clusters"] == train.run.nunique() == 30
    assert set(recipe["cluster_sizes"].values()) == set(train.groupby("run").size().unique())
    longer = {"kind": "cosine", "total_steps": 16000, "peak_lr": 3e-3, "warmup": 0.01}
    table = result.predict(longer, steps=[8000, 16000], N=1e9)
    assert list(table["step"]) == [8000, 16000]
    assert np.all(table["loss_new_run_low"] < table["loss"]) and np.all(table["loss"] < table["loss_new_run_high"])
    assert "extrapolation" in table.attrs["note"] and "longer run" in table.attrs["note"]
    assert table["regime"].iloc[1] == "extrapolation" and table["beyond_log10_S1"].iloc[1] > 0
    mean = result.predict(longer, steps=[16000], N=1e9, kind="mean")
    assert mean["loss_high"].iloc[0] - mean["loss_low"].iloc[0] < \
        table["loss_new_run_high"].iloc[1] - table["loss_new_run_low"].iloc[1]
    with pytest.raises(ValueError, match="model size"):
        result.predict(longer, steps=[100])
    assert "30 runs" in result.summary()


def test_columns_are_configurable():
    runs = curve_runs("linear", TRUTH, lengths=(1500, 3000)).rename(columns={"run": "id", "step": "it", "loss": "val"})
    schedules = js.schedules_from_columns(runs, run="id", peak_lr=3e-3, warmup=0.01)
    result = js.fit_curves(runs, columns=CurveColumns(run="id", step="it", loss="val"), schedules=schedules)
    assert result.params["alpha"] == pytest.approx(TRUTH["alpha"], rel=1e-3)
    longer = {"kind": "linear", "total_steps": 30000, "peak_lr": 3e-3, "warmup": 0.01}
    table = result.predict(longer, steps=[30000])  # no bootstrap: the fit's prediction, labelled too
    assert table["regime"].iloc[0] == "extrapolation" and table["beyond_log10_S1"].iloc[0] > 0


def test_cli_curves_fit_and_new_run(tmp_path, capsys):
    from jaxscale.cli import main

    runs = curve_runs("cosine", TRUTH, lengths=(1500, 3000))
    path = tmp_path / "curves.csv"
    runs.to_csv(path, index=False)
    code = main(["curves", str(path), "--schedule-col", "kind", "--peak-lr", "3e-3", "--warmup", "0.01",
                 "--predict-steps", "6000", "--predict-schedule", "cosine"])
    out = capsys.readouterr().out
    assert code == 0 and "lr_annealing: 45 checkpoints of 2 runs" in out and "alpha" in out
    assert "extrapolation" in out  # 6000 steps: longer than any fitted run
    assert main(["curves", str(path)]) == 2  # no lr column and no schedule
    assert "no learning rates" in capsys.readouterr().err


def test_plot_curves_draws_every_run():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from jaxscale import plot

    runs = curve_runs("wsd", TRUTH, lengths=(1500, 3000))
    result = js.fit_curves(runs, schedules=js.schedules_from_columns(runs, peak_lr=3e-3, warmup=0.01))
    ax = plot.curves(result)
    assert len(ax.get_lines()) == 4  # dots and a line per run
