"""Arm versus arm (issue 19, part 2): shared parameters across arms in one fit, the effective compute
multiplier and loss gap with a joint bootstrap, P(B better), and shared-vs-separate on held-out budgets.
The coverage of the multiplier's interval over 200 data sets: benchmarks/arms_coverage.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale.api.arms import ARM_CODE, _arm_frame, resample_weights, synthetic_arms
from jaxscale.kernels.allocation import chinchilla_loss

C_GRID = np.array([1e19, 1e20, 1e21, 1e23])


def numpy_multiplier(p_a, p_b, C):
    """Compute A needs for B's compute-optimal loss at C, by brute force in numpy (grid over N, then bisection)."""
    def best_loss(p, c):
        N = np.geomspace(1e5, c / 6 / 1e5, 20001)
        return np.min(chinchilla_loss(p["A"], p["B"], p["E"], p["alpha"], p["beta"], N, c / (6 * N)))

    out = []
    for c in C:
        target, lo, hi = best_loss(p_b, c), np.log(c) - 10, np.log(c) + 10
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if best_loss(p_a, np.exp(mid)) > target else (lo, mid)
        out.append(np.exp(0.5 * (lo + hi)) / c)
    return np.array(out)


def test_noise_free_arms_give_multiplier_two_everywhere():
    data = synthetic_arms(2.0, noise=0.0)
    result = js.fit_arms(data)
    params = result.params
    assert np.allclose(params["E"], js.datasets.EPOCH_PARAMS["E"], rtol=1e-6)
    assert params.loc["A", "alpha"] == params.loc["B", "alpha"]  # shared: one parameter
    table = result.compare(C_GRID, baseline="A", other="B")
    np.testing.assert_allclose(table["multiplier"], 2.0, rtol=1e-6)
    assert np.all(table["gap"] < 0)
    # against brute force in numpy on the fitted parameters (independent of the closed form)
    np.testing.assert_allclose(table["multiplier"], numpy_multiplier(params.loc["A"], params.loc["B"], C_GRID),
                               rtol=2e-3)
    back = result.compare(C_GRID, baseline="B", other="A")
    np.testing.assert_allclose(back["multiplier"], 0.5, rtol=1e-6)
    assert "extrapolation" in table.attrs["note"] and "1e+23" in table.attrs["note"]
    # an arm's law labels its predictions against that arm's own runs (api/reach.py)
    own = data[data["arm"] == "A"]
    N, D = np.array([own["N"].iloc[0], own["N"].max() * 100]), np.array([own["D"].iloc[0], own["D"].max()])
    labelled = result.arm("A").predict(N=N, D=D, labelled=True)
    assert list(labelled["regime"]) == ["interpolation", "extrapolation"]
    np.testing.assert_allclose(labelled["beyond_log10_N"], [0.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(labelled["loss"], result.arm("A").predict(N=N, D=D), rtol=1e-14)


def test_separate_arms_equal_separate_fits():
    """shared=() is the separate fit of each arm: the joint objective equals the sum of the two fits' (from the
    same 20 spread starts, each arm's copy at the same value)."""
    from jaxscale.api.arms import arms_law
    from jaxscale.kernels.laws import CHINCHILLA

    data = synthetic_arms(2.0, noise=0.01, seed=4)
    rows = np.linspace(0, 4499, 20).astype(int)
    base_starts, joint_law = CHINCHILLA.grid()[rows], arms_law(CHINCHILLA, 2, ())
    joint_starts = joint_law.grid()[rows]
    np.testing.assert_array_equal(joint_starts[:, [0, 2, 4, 6, 8]], base_starts)  # a[0], b[0], e[0], ...
    joint = js.fit_arms(data, shared=(), starts=joint_starts)
    alone = sum(js.fit(data[data.arm == a], search=js.Search(starts=base_starts)).objective for a in ("A", "B"))
    assert joint.fit.objective == pytest.approx(alone, rel=1e-9, abs=1e-14)
    assert joint_law.n_params == 10 and arms_law(CHINCHILLA, 2, ("E", "alpha", "beta")).n_params == 7
    assert arms_law(CHINCHILLA, 3, ("E",)).n_params == 13


def test_bootstrap_interval_covers_two_and_is_chunk_invariant():
    data = synthetic_arms(2.0, noise=0.01, seed=0)
    result = js.bootstrap_arms(data, n_resamples=100)
    row = result.compare([1e20]).iloc[0]
    assert row["multiplier"] == pytest.approx(2.0, rel=0.05)
    assert row["multiplier_low"] < 2.0 < row["multiplier_high"]
    assert row["p_better"] == 1.0 and row["gap_high"] < 0
    again = js.bootstrap_arms(data, n_resamples=100, chunk=33)
    np.testing.assert_array_equal(again.draws, result.draws)


def test_identical_arms_half_chance_and_interval_covers_one():
    """The same runs under two labels, each arm resampled on its own: by symmetry P(B better) ~ 0.5."""
    one = js.datasets.synthetic(sizes_per_budget=8, noise=0.01, seed=3)
    data = pd.concat([one.assign(arm="A"), one.assign(arm="B")], ignore_index=True)
    result = js.bootstrap_arms(data, n_resamples=200)
    row = result.compare([1e20]).iloc[0]
    assert row["multiplier"] == pytest.approx(1.0, abs=1e-6)
    assert abs(row["p_better"] - 0.5) < 0.1
    assert row["multiplier_low"] < 1.0 < row["multiplier_high"]
    assert row["gap_low"] < 0 < row["gap_high"]


def test_resample_weights_stratified_and_paired():
    frame, _ = _arm_frame(synthetic_arms(2.0, noise=0.0), "arm", None)
    w = resample_weights(frame, 0, np.arange(50))
    arm = frame[ARM_CODE].to_numpy()
    for k in (0, 1):  # each arm keeps its number of runs in every resample
        assert np.all(w[:, arm == k].sum(axis=1) == np.sum(arm == k))
    paired = resample_weights(frame, 0, np.arange(50), paired="config")
    a, b = paired[:, arm == 0], paired[:, arm == 1]
    order_a, order_b = frame.config[arm == 0].to_numpy(), frame.config[arm == 1].to_numpy()
    np.testing.assert_array_equal(a[:, np.argsort(order_a)], b[:, np.argsort(order_b)])
    np.testing.assert_array_equal(resample_weights(frame, 0, np.arange(10, 20)), w[10:20])


def test_compare_sharing_on_held_out_budgets():
    data = synthetic_arms(2.0, noise=0.01, seed=2)
    table = js.compare_sharing(data, holdout=2)
    assert list(table.index) == ["shared E, alpha, beta", "separate"]
    assert table.loc["shared E, alpha, beta", "n_params"] == 7 and table.loc["separate", "n_params"] == 10
    assert len(table.attrs["heldout_budgets"]) == 2 and max(table.attrs["heldout_budgets"]) > 2e21
    assert np.all(np.isfinite(table[["rmse", "mae", "bias"]].to_numpy()))
    assert table["heldout_runs"].iloc[0] == 2 * 2 * 8


def test_law_of_compute_alone_multiplier_numerically():
    """power_law in C: L_B(C) = L_A(3C) exactly; the grid inverse gives 3 to 1e-3."""
    C = np.geomspace(1e18, 1e22, 12)
    law = lambda c, A: 1.7 + A * c ** -0.05  # noqa: E731
    data = pd.DataFrame({"C": np.concatenate([C, C]), "loss": np.concatenate([law(C, 30.0), law(C, 30.0 * 3 ** -0.05)]),
                         "arm": ["A"] * 12 + ["B"] * 12})
    result = js.fit_arms(data, law="power_law", shared=("E", "alpha"), x="C")
    np.testing.assert_allclose(result.compare([1e20])["multiplier"], 3.0, rtol=1e-3)


def test_bad_arms_inputs():
    data = synthetic_arms(2.0, noise=0.0)
    with pytest.raises(ValueError, match="arm column 'group' not found"):
        js.fit_arms(data, arm="group")
    with pytest.raises(ValueError, match="no parameters \\['gamma'\\]"):
        js.fit_arms(data, shared=("gamma",))
    with pytest.raises(ValueError, match="at least two"):
        js.fit_arms(data[data.arm == "A"])
    with pytest.raises(ValueError, match="no arm 'C'"):
        js.fit_arms(data).compare([1e20], other="C")


def test_cli_arms_table_json_plot_and_bad_input(tmp_path, capsys):
    import json

    from jaxscale.cli import main

    pytest.importorskip("matplotlib")
    path = tmp_path / "arms.csv"
    synthetic_arms(2.0, noise=0.01, seed=1).to_csv(path, index=False)
    image = tmp_path / "arms.png"
    assert main(["arms", str(path), "--resamples", "20", "-C", "1e20", "--plot", str(image), "--json"]) == 0
    body = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert body["shared"] == ["E", "alpha", "beta"] and body["rows"][0]["multiplier"] == pytest.approx(2.0, rel=0.1)
    assert image.stat().st_size > 1000
    assert main(["arms", str(path), "--shared", "gamma", "--resamples", "0"]) == 2
    assert "no parameters ['gamma']" in capsys.readouterr().err
