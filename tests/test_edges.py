"""Issue 18: honest answers at the edges of real data. Each test uses the issue's own reproduction."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from conftest import JIT_CACHE
from jaxscale import cli


def monotone_sweep():
    """The issue's reproduction: loss falls monotonically with N in every budget."""
    t = js.datasets.synthetic()
    t["loss"] = 2 + 1e10 / t.N
    return t


def three_sizes_in_one_budget():
    """Synthetic isoFLOP runs where budget 4 (1e20 FLOP) keeps only 3 runs around its minimum: a resample brackets
    it only when it draws all 3 (6/27 = 22 % of resamples)."""
    data = js.datasets.synthetic(noise=0.0)
    rows = data.index[data["C"] == 1e20]
    n_opt = data.loc[rows].sort_values("loss")["N"].iloc[0]
    keep = data.loc[rows, "N"].sub(n_opt).abs().sort_values().index[:3]
    return data.drop(index=rows.difference(keep)).reset_index(drop=True)


# ---------------------------------------------------------------------- 1. isoflop: unbracketed minima
@pytest.mark.parametrize("method", ["parabola", "profile"])
def test_isoflop_refuses_profiles_without_a_bracketed_minimum(method):
    with pytest.raises(ValueError, match=r"only 0 of 9 budget.*bracketed minimum.*does not look like an isoFLOP design"):
        js.isoflop(monotone_sweep(), n_resamples=20, method=method)


def test_isoflop_unbracketed_vertices_flagged_when_kept():
    result = js.isoflop(monotone_sweep(), n_resamples=20, exclude_unbracketed=False)
    assert not result.minima["bracketed"].any()
    assert (result.minima["unbracketed_share"] == 1.0).all()
    text = result.summary()
    assert "invented vertex" in text and text.count("does not look like an isoFLOP design") == 1


def test_isoflop_leaves_unbracketed_budgets_out_with_a_warning_naming_them():
    data = js.datasets.synthetic(noise=0.0)
    top = data["C"] == 3e21
    data.loc[top, "loss"] = 2 + 1e10 / data.loc[top, "N"]  # the largest budget: loss still falling at the largest N
    with pytest.warns(UserWarning, match=r"1 of 9 budget\(s\) have no bracketed minimum.*budget 8 \(C ≈ 3e\+21"):
        result = js.isoflop(data, n_resamples=8)
    assert result.minima["used"].tolist() == [True] * 8 + [False]
    assert not result.minima["bracketed"].iloc[8]
    clean = js.isoflop(js.datasets.synthetic(noise=0.0).loc[~top], n_resamples=8)
    assert result.allocation.loc["a", "estimate"] == pytest.approx(clean.allocation.loc["a", "estimate"], rel=1e-12)
    assert np.isnan(result.vertex_draws[:, 8]).all()  # per resample, too: never in a resample's power law


def test_isoflop_interval_from_a_minority_of_resamples_is_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the full data bracket every budget: no warning
        result = js.isoflop(three_sizes_in_one_budget(), n_resamples=100)
    row = result.minima.loc[4]
    assert row["bracketed"] and row["n_sizes"] == 3
    assert 0.1 < row["usable_share"] < 0.35  # ~22 %: a zero-width interval before the fix
    assert np.isnan(row["lower"]) and np.isnan(row["upper"])
    others = result.minima.drop(index=4)
    assert np.all(others["lower"] < others["upper"])
    assert "budget 4: " in result.summary() and "interval not reported (NaN bounds)" in result.summary()


def test_isoflop_cli_reports_non_isoflop_design_once(tmp_path, capsys):
    data = js.datasets.synthetic(noise=0.0)
    thin = []
    for c, runs in data.groupby("C"):  # every budget: only 3 sizes around the minimum
        best = runs.sort_values("loss")["N"].iloc[0]
        thin.append(runs.loc[runs["N"].sub(best).abs().sort_values().index[:3]])
    path = tmp_path / "thin.csv"
    pd.concat(thin).to_csv(path, index=False)
    assert cli.main(["isoflop", str(path), "--resamples", "40", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.count("does not look like an isoFLOP design") == 1
    payload = json.loads(captured.out)
    minima = [row for row in payload["rows"] if row["quantity"] == "N_opt"]
    widths = [(r["lower"], r["upper"]) for r in minima]
    assert all(lo is None and hi is None for lo, hi in widths)  # NaN, never [x, x]
    assert sum("does not look like an isoFLOP design" in n for n in payload["notes"]) == 1


def test_absurd_allocation_interval_is_said_in_words():
    result = js.isoflop(js.datasets.synthetic(), n_resamples=8)
    assert "leaves [0, 1]" not in result.summary()
    result.power_law.a_draws = np.linspace(0.2, 1.226, 8)  # b's 95 % bound -0.2: D_opt shrinking with C
    assert "leaves [0, 1]" in result.summary() and "not informative" in result.summary()


# ---------------------------------------------------------------------- 2. unidentified fits
def two_model_sizes():
    """12 runs at only 2 model sizes (6 token counts each), Epoch's law with 1 % noise."""
    p = js.datasets.EPOCH_PARAMS
    N, D = (a.ravel() for a in np.meshgrid([1e8, 1e9], np.logspace(9, 11, 6)))
    noise = np.exp(0.01 * np.random.default_rng(0).standard_normal(N.size))
    return pd.DataFrame({"N": N, "D": D, "loss": (p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"]) * noise})


@pytest.mark.parametrize("law", ["chinchilla", "data_constrained"])
def test_two_model_sizes_do_not_identify_an_additive_law(law):
    data = two_model_sizes().assign(U=1e12)
    with pytest.raises(ValueError, match=r"column 'N' \(input N\) has only 2 distinct values \(1e\+08, 1e\+09\).*"
                                         rf"law '{law}' needs at least 3 distinct values of N.*beside the constant E"):
        js.fit(data, law=law)


def test_distinct_value_rule_is_stated_per_law():
    from jaxscale.kernels.laws import LAWS

    assert LAWS["chinchilla"].distinct_needed == (3, 3) and LAWS["data_constrained"].distinct_needed == (3, 3, 1)
    assert LAWS["power_law"].distinct_needed == (3,) and LAWS["pure_power_law"].distinct_needed == (2,)
    assert LAWS["kaplan"].distinct_needed == (2, 2)
    fixed = js.fit(two_model_sizes(), fixed={"alpha": 0.34}, starts=8, polish=0)  # the exponent given: 2 sizes do
    assert fixed.params["alpha"] == 0.34


def test_bootstrap_resample_with_two_sizes_is_unidentifiable():
    from jaxscale.api.validation import identifiable
    from jaxscale.kernels.laws import CHINCHILLA

    N, D = (a.ravel() for a in np.meshgrid([1e8, 2e8, 4e8], [1e9, 3e9, 1e10]))
    x = np.log(np.stack([N, D], axis=1))
    weights = np.array([N < 3e8, np.ones(9, bool)], float)  # 6 distinct points at 2 sizes; all 9 at 3 sizes
    assert identifiable(CHINCHILLA, x, weights).tolist() == [False, True]


def test_untrustworthy_fit_says_so_in_summary_repr_and_a_warning():
    """Epoch's Chinchilla runs, 8 sampled (random_state=4): the best start does not converge and E runs to 0."""
    sub = js.datasets.chinchilla().sample(8, random_state=4)
    with pytest.warns(UserWarning, match=r"fit \(chinchilla\): not converged.*vanishing term: E"):
        result = js.fit(sub)
    assert not result.converged
    text = result.summary()
    assert text.text.splitlines()[1].startswith("WARNING: this estimate cannot be trusted")
    assert "not a verified minimum" in text and "vanishing term" in repr(result)


def test_fit_notes_name_a_non_positive_exponent_and_an_absurd_allocation():
    import dataclasses

    good = js.fit(js.datasets.synthetic(), starts=8, polish=0)
    assert good.notes() == [] and "WARNING" not in good.summary()
    theta = good.theta.copy()
    theta[3] = -0.029  # alpha, as in the issue
    bad = dataclasses.replace(good, theta=theta)
    said = " ".join(bad.notes())
    assert "non-positive exponent: alpha = -0.029" in said and "N_opt ~ C^1.09" in said and "leaves [0, 1]" in said


def run_cli(*args):
    env = {**os.environ, **JIT_CACHE}
    return subprocess.run([sys.executable, "-m", "jaxscale", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=env)


def test_cli_fit_prints_the_warning_and_json_notes(tmp_path):
    path = tmp_path / "eight.csv"
    js.datasets.chinchilla().sample(8, random_state=4).to_csv(path, index=False)
    out = run_cli("fit", path, "--json")
    assert out.returncode == 0, out.stderr
    assert "jaxscale: warning: fit (chinchilla): not converged" in out.stderr
    assert any("not converged" in n for n in json.loads(out.stdout)["notes"])


# ---------------------------------------------------------------------- 3, 10. bootstrap: unconverged draws, heavy tails
@pytest.fixture(scope="module")
def eight_row_bootstrap():
    """Epoch's Chinchilla runs, 8 sampled (random_state=4): many resamples end unconverged or heavy-tailed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return js.bootstrap(js.datasets.chinchilla().sample(8, random_state=4), n_resamples=40, starts="subgrid",
                            seed=0, progress=False)


def test_unconverged_resamples_are_counted_and_reported(eight_row_bootstrap):
    boot = eight_row_bootstrap
    used = boot.usable()
    expected = int(np.sum(used & ~boot.converged))
    assert expected > 0  # the case: finite objective, converged=False, inside the intervals
    with pytest.warns(RuntimeWarning, match=rf"{expected} of the {used.sum()} resamples used did not converge"):
        table = boot.summary()
    assert table.attrs["n_not_converged"] == expected and table.attrs["n_used"] == used.sum()
    assert any("did not converge" in n for n in table.attrs["notes"])


def test_heavy_tailed_draws_get_a_robust_spread_and_a_note(eight_row_bootstrap):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = eight_row_bootstrap.summary()
    usable = eight_row_bootstrap.usable()
    b_draws = eight_row_bootstrap.draws["B"].to_numpy()[usable]
    assert table.loc["B", "se_robust"] == pytest.approx(1.4826 * np.median(np.abs(b_draws - np.median(b_draws))))
    assert table.loc["B", "se"] > 3 * table.loc["B", "se_robust"]
    assert any(n.startswith("B: se = ") and "heavy-tailed" in n for n in table.attrs["notes"])


# ---------------------------------------------------------------------- 4. grouped bootstrap: name the group, NaN rows
@pytest.fixture(scope="module")
def grouped_with_a_tiny_group():
    """Group 'good': 36 synthetic runs; group 'tiny': 6 runs (3 sizes x 3 token counts), so nearly every resample
    draws at most 5 distinct runs and none is usable."""
    good = js.datasets.synthetic(noise=0.01, seed=1).iloc[::3].assign(arm="good")
    p = js.datasets.EPOCH_PARAMS
    N = np.array([1e8, 1e8, 4e8, 4e8, 1.6e9, 1.6e9])
    D = np.array([2e9, 8e9, 8e9, 3.2e10, 3.2e10, 2e9])
    tiny = pd.DataFrame({"N": N, "D": D, "loss": p["E"] + p["A"] * N ** -p["alpha"] + p["B"] * D ** -p["beta"],
                         "arm": "tiny"})
    data = pd.concat([good, tiny], ignore_index=True)[["N", "D", "loss", "arm"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return js.bootstrap(data, by="arm", n_resamples=12, starts="best", seed=0, progress=False)


def test_grouped_compute_optimal_keeps_good_groups_and_flags_the_unusable_one(grouped_with_a_tiny_group):
    B = grouped_with_a_tiny_group
    with pytest.warns(RuntimeWarning, match=r"group 'tiny': no usable bootstrap"):
        table = B.compute_optimal([1e21])
    table = table.set_index("arm")
    assert table.loc["good", "usable"] and np.isfinite(table.loc["good", ["N_opt", "N_opt_low"]].astype(float)).all()
    assert not table.loc["tiny", "usable"] and np.isnan(table.loc["tiny", "N_opt"])
    assert table.loc["tiny", "C"] == 1e21 and "none of the 12 bootstrap resamples" in table.loc["tiny", "note"]


def test_grouped_summary_warnings_name_their_group(grouped_with_a_tiny_group):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = grouped_with_a_tiny_group.summary()
    messages = [str(w.message) for w in caught]
    assert messages and all(m.startswith("group 'good': ") or m.startswith("group 'tiny': ") for m in messages)
    assert not table.xs("tiny", level="arm")["usable"].any() and table.xs("good", level="arm")["usable"].all()


def test_estimate_outside_its_own_interval_is_said():
    from jaxscale.api import notes

    table = pd.DataFrame({"estimate": [1.052, 0.5], "ci_low": [0.118, 0.4], "ci_high": [0.949, 0.6]},
                         index=["a_opt", "beta"])
    said = notes.outside_own_interval(table, 0.95)
    assert len(said) == 1 and said[0].startswith("a_opt: the estimate 1.052 lies outside its own 95% interval")


def test_fit_compute_optimal_without_an_optimum_is_nan_not_an_error():
    import dataclasses

    good = js.fit(js.datasets.synthetic(), starts=8, polish=0)
    theta = good.theta.copy()
    theta[3] = -0.029
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        row = dataclasses.replace(good, theta=theta).compute_optimal(1e21)
    assert np.isnan(row["N_opt"]) and np.isnan(row["loss"])


# ---------------------------------------------------------------------- 5. one cluster
@pytest.mark.parametrize("resample", ["cluster", "wild-cluster"])
def test_one_cluster_is_refused(resample):
    data = js.datasets.synthetic().assign(lab="all")
    with pytest.raises(ValueError, match=rf"resample='{resample}'.*1 cluster \(\['all'\]\).*at least 2.*zero width"):
        js.bootstrap(data, n_resamples=20, starts="best", resample=resample, cluster="lab")


def test_two_clusters_run_with_the_few_clusters_warning():
    data = js.datasets.synthetic().iloc[::2]
    data = data.assign(lab=np.where(data["N"] < data["N"].median(), "small", "large"))
    with pytest.warns(UserWarning, match=r"only 2 clusters"):
        boot = js.bootstrap(data, n_resamples=4, starts="best", resample="cluster", cluster="lab")
    assert boot.n_resamples == 4


# ---------------------------------------------------------------------- 6. plot --from without --data
@pytest.fixture(scope="module")
def saved_results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    runs = js.datasets.synthetic(noise=0.01, seed=5).iloc[::2].rename(columns={"N": "params"}).reset_index(drop=True)
    fitted = js.fit(runs, n="params", starts=8, polish=0)
    boot = js.bootstrap(runs, n="params", n_resamples=4, starts="best", estimate=fitted, progress=False)
    return runs, fitted.save(folder / "fit.npz"), boot.save(folder / "boot.npz"), boot


@pytest.mark.parametrize("kind", ["residuals", "isoflop"])
def test_plot_from_a_fit_without_data_is_refused(tmp_path, capsys, saved_results, kind):
    pytest.importorskip("matplotlib")
    _, fit_path, _, _ = saved_results
    out = tmp_path / "figure.png"
    assert cli.main(["plot", kind, "--from", str(fit_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is a fit, which holds no data; pass --data" in err and not out.exists()


def test_plot_from_a_bootstrap_draws_its_own_data(tmp_path, capsys, saved_results):
    pytest.importorskip("matplotlib")
    runs, _, boot_path, boot = saved_results
    again = cli.saved_runs(js.load(boot_path))
    assert list(again.columns) == ["params", "D", "loss"] and len(again) == len(runs)
    np.testing.assert_allclose(again.to_numpy(), runs[["params", "D", "loss"]].to_numpy(), rtol=1e-12)
    out = tmp_path / "residuals.png"
    assert cli.main(["plot", "residuals", "--from", str(boot_path), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------- 7. labelled intervals, new-run interval
def test_cli_predict_labels_the_interval_and_offers_the_new_run_one(capsys, saved_results):
    _, _, boot_path, boot = saved_results
    assert cli.main(["predict", "--n", "7e9", "--d", "1.4e11", "--from", str(boot_path)]) == 0
    mean_text = capsys.readouterr().out
    assert "interval of the MEAN curve" in mean_text and "--interval new-run" in mean_text
    assert cli.main(["predict", "--n", "7e9", "--d", "1.4e11", "--from", str(boot_path), "--interval", "new-run",
                     "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert "ONE NEW training run" in payload["interval"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api = js.load(boot_path).predict(7e9, 1.4e11, kind="new_run").iloc[0]
    row = payload["rows"][0]
    assert row["loss_new_run_low"] == pytest.approx(api["loss_new_run_low"], rel=1e-12)
    assert row["loss_new_run_high"] == pytest.approx(api["loss_new_run_high"], rel=1e-12)


def test_cli_predict_new_run_needs_a_bootstrap(capsys, saved_results):
    _, fit_path, _, _ = saved_results
    assert cli.main(["predict", "--n", "7e9", "--d", "1.4e11", "--from", str(fit_path), "--interval", "new-run"]) == 2
    assert "--interval new-run needs a bootstrap" in capsys.readouterr().err


def test_bootstrap_summary_says_what_its_interval_is(eight_row_bootstrap):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = eight_row_bootstrap.summary()
    assert table.attrs["interval"].startswith("95% percentile confidence interval of each parameter")


# ---------------------------------------------------------------------- 11. --out over an input
def test_cli_fit_out_over_the_input_csv_is_refused(tmp_path, capsys):
    data = tmp_path / "data.csv"
    js.datasets.synthetic().to_csv(data, index=False)
    before = data.read_bytes()
    assert cli.main(["fit", str(data), "--starts", "4", "--out", str(data)]) == 2
    assert "is the data this command reads" in capsys.readouterr().err
    assert data.read_bytes() == before


@pytest.mark.parametrize("args,message", [
    (["fit", "synthetic", "--out", "{tmp}/result.csv"], r"written as \.npz.*result\.npz"),
    (["bootstrap", "synthetic", "--out", "{tmp}/boot.json"], r"written as \.npz"),
    (["plot", "tokens", "--out", "{tmp}/figure.csv"], r"written as \.png or \.pdf"),
])
def test_cli_out_needs_its_own_suffix(tmp_path, capsys, args, message):
    assert cli.main([a.format(tmp=tmp_path) for a in args]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_api_save_refuses_a_data_suffix(tmp_path):
    result = js.FitResult.from_params(js.datasets.EPOCH_PARAMS)
    with pytest.raises(ValueError, match=r"data\.csv: a result is saved as an \.npz.*data\.npz"):
        result.save(tmp_path / "data.csv")
    assert js.load(result.save(tmp_path / "fit.jaxscale")).params.equals(result.params)


# ---------------------------------------------------------------------- 8. two_step: degenerate steps; Gadre's law
def exponential_downstream(seed=0):
    """Loss runs and a downstream error that is exponential in the loss (Gadre et al.), with no saturation."""
    runs = js.datasets.synthetic(noise=0.005, seed=2).iloc[::3].reset_index(drop=True)
    L = runs["loss"].to_numpy()
    err = 0.85 - 2.0 * np.exp(-0.9 * L) + 0.002 * np.random.default_rng(seed).standard_normal(L.size)
    return runs, pd.DataFrame({"loss": L, "accuracy": 1 - err, "error": err})


def test_two_step_warns_about_a_degenerate_sigmoid_and_gadre_law_fits():
    runs, metric = exponential_downstream()
    with pytest.warns(UserWarning, match=r"two_step: step 2 \(metric law 'sigmoid'\): degenerate sigmoid.*"
                                         r"metric='exponential_metric'"):
        js.two_step(runs, metric, n_resamples=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chain = js.two_step(runs, metric, metric="exponential_metric", metric_col="error", n_resamples=4)
    np.testing.assert_allclose(chain.metric_fit.params[["eps", "k", "gamma"]], [0.85, 2.0, 0.9], rtol=0.1)


def test_exponential_metric_law_matches_its_formula_and_jacobian():
    import jax

    from jaxscale.kernels.laws import get_law

    law = get_law("exponential_metric")
    theta = law.from_natural(np.array([0.85, 2.0, 0.9]))
    x = np.array([[2.0], [3.0], [4.5]])
    np.testing.assert_allclose(law.predict(theta, x), 0.85 - 2.0 * np.exp(-0.9 * x[:, 0]), rtol=1e-14)
    z, jac = law.log_predict_and_jacobian(theta, x)
    np.testing.assert_allclose(jac, jax.jacfwd(law.log_predict)(theta, x), rtol=1e-12)


# ---------------------------------------------------------------------- 9. input validation
@pytest.fixture(scope="module")
def toy():
    return js.datasets.synthetic(noise=0.01, seed=3).iloc[::2].reset_index(drop=True)


@pytest.mark.parametrize("kwargs,message", [
    ({"d": "N"}, r"inputs N \(n\) and D \(d\) both read column 'N'"),
    ({"columns": {"X": "C"}}, r"columns=\{'X': 'C'\}: law 'chinchilla' has no input 'X'; its inputs are \['N', 'D'\]"),
    ({"columns": ["N"]}, r"columns must map law inputs to column names"),
    ({"fixed": {"alpha": "0.3"}}, r"fixed\['alpha'\] must be a number, got '0.3' \(str\)"),
])
def test_fit_arguments_that_were_silently_accepted(toy, kwargs, message):
    with pytest.raises(ValueError, match=message):
        js.fit(toy, starts=4, **kwargs)


def test_complex_column_is_refused(toy):
    data = toy.assign(loss=toy["loss"].astype(complex))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy ComplexWarning on the way
        with pytest.raises(ValueError, match=r"column 'loss' \(loss\) holds complex numbers"):
            js.fit(data, search=js.Search(starts=4))


@pytest.mark.parametrize("kwargs,message", [
    ({"n_per_budget": 2.5}, r"n_per_budget must be an integer >= 1, got 2.5"),
    ({"span": 1}, r"span=1 would plan the same \(N, D\) 7 times"),
])
def test_plan_refuses_fractional_sizes_and_a_unit_span(kwargs, message):
    with pytest.raises(ValueError, match=message):
        js.plan([1e21], **kwargs)


def test_law_with_duplicate_parameter_names_is_refused():
    with pytest.raises(ValueError, match=r"param_names \('a', 'a'\) name 'a' more than once"):
        js.Law("twice", ("x",), ("a", "a"), ("A", "B"), lambda t, x: t[0] + t[1] * x[:, 0], (False, False),
               lambda: np.zeros((1, 2)))


def test_custom_law_ignoring_a_parameter_is_flagged(toy):
    def log_predict(theta, x):  # the parameter "c" never enters
        return theta[0] - theta[1] * x[:, 0]

    law = js.Law("ignores_c", ("x",), ("a", "alpha", "c"), ("a", "alpha", "c"), log_predict, (False, False, False),
                 lambda: np.array([[1.0, 0.1, 0.0], [2.0, 0.3, 1.0]]))
    with pytest.warns(UserWarning, match=r"unused parameter\(s\) c: law 'ignores_c'"):
        result = js.fit(toy, law=law, x="N", polish=0)
    assert "unused parameter(s) c" in result.summary()


# ---------------------------------------------------------------------- 13. the Python bootstrap default
def test_python_bootstrap_defaults_to_the_subgrid_like_the_cli(toy):
    import inspect

    from jaxscale.api.search import BOOTSTRAP_STARTS

    assert inspect.signature(js.bootstrap).parameters["search"].default is None and BOOTSTRAP_STARTS == "subgrid"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = js.bootstrap(toy, n_resamples=2, progress=False)
    assert boot.recipe["starts"] == "subgrid" and boot.recipe["n_starts"] == 16


# ---------------------------------------------------------------------- 10. an absurd start is not "converged"
def test_absurd_start_is_not_reported_converged(toy):
    good = js.chinchilla_grid()[2000]
    absurd = good.copy()
    absurd[3] = 1e300  # alpha
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = js.fit(toy, starts=np.stack([good, absurd]), polish=0, prune=None)
    table = result.starts
    assert table["status"].tolist()[1] == "absurd" and not table["converged"].iloc[1]
    assert table["converged"].iloc[0] and result.converged


# ---------------------------------------------------------------------- 14. clear errors
@pytest.mark.parametrize("call,message", [
    (lambda t: js.fit(t, starts=10**12), r"starts=1,000,000,000,000 needs at least .* GiB .* use a smaller starts"),
    (lambda t: js.bootstrap(t, n_resamples=10**15, starts="best"), r"n_resamples=.* GiB .* smaller n_resamples"),
    (lambda t: js.delta_sweep(t, ["a"]), r"deltas must be finite numbers > 0 .* got \['a'\]"),
    (lambda t: js.fit(t, starts=4, fixed={"alpha": .34}, tied={"beta": "alpha"}),
     r"'alpha' is fixed, so 'beta' cannot be tied to it"),
    (lambda t: js.bootstrap(t, indices=np.zeros((0, len(t)), int), starts="best"), r"indices has shape \(0, 54\)"),
    (lambda t: js.rank_next_runs(t, {"N": [1e9, 2e9], "D": [1e10]}, ("N_opt", 1e22)),
     r"candidates must be a DataFrame or a dict of equally long columns"),
])
def test_clear_errors_name_the_argument(toy, call, message):
    with pytest.raises(ValueError, match=message):
        call(toy)


@pytest.mark.parametrize("predict,grid,message", [
    (lambda t, x: t[0] + t[1] * x, lambda: np.zeros((2, 2)), r"law 'custom': log_predict.*returns shape \(3, 1\).*x\[:, j\]"),
    (lambda t, x: t[0] + t[1] * x[:, 0], lambda: np.zeros((2, 3)), r"law 'custom': grid\(\) returns shape \(2, 3\); it must be \(K, 2\)"),
])
def test_custom_law_shape_errors_name_the_law(toy, predict, grid, message):
    law = js.Law("custom", ("x",), ("a", "b"), ("a", "b"), predict, (False, False), grid)
    with pytest.raises(ValueError, match=message):
        js.fit(toy, law=law, x="N", polish=0)


def test_polars_frame_is_named():
    class DataFrame:  # stands in for polars.DataFrame (same module name), so the test needs no polars
        pass

    DataFrame.__module__ = "polars.dataframe.frame"
    with pytest.raises(ValueError, match=r"data is a polars DataFrame; .* data\.to_pandas\(\)"):
        js.fit(DataFrame())


def test_load_errors(tmp_path):
    from jaxscale.kernels.laws import LAWS

    path = js.FitResult.from_params(js.datasets.EPOCH_PARAMS).save(tmp_path / "fit.npz")
    with pytest.raises(ValueError, match=r"kind must be one of \('fit', 'bootstrap', 'grouped-fit'\)"):
        js.load(path, kind="bogus")
    law = js.Law("my_power", ("x",), ("a", "alpha"), ("a", "alpha"), lambda t, x: t[0] - t[1] * x[:, 0],
                 (False, False), lambda: np.array([[1.0, 0.3]]))
    js.register_law(law)
    try:
        saved = js.FitResult.from_params({"a": 1.0, "alpha": 0.3}, law="my_power").save(tmp_path / "custom.npz")
    finally:
        LAWS.pop("my_power")
    with pytest.raises(ValueError, match=r"unknown law 'my_power'.*not registered.*register_law\(law\) before"):
        js.load(saved)


def test_chinchilla_csv_pointing_at_a_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXSCALE_CHINCHILLA_CSV", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"a directory; set it to the file itself"):
        js.datasets.chinchilla()


# ---------------------------------------------------------------------- 15. corrupt chunk: no unclosed file
@pytest.mark.parametrize("tear", ["truncated", "garbage"])
def test_corrupt_chunk_read_closes_its_file(tmp_path, tear):
    import gc

    from jaxscale.engine.npzfile import CorruptFile, read_npz, write_npz

    path = write_npz(tmp_path / "chunk.npz", {"x": np.arange(10.0)}, {"lo": 0})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if tear == "truncated" else b"PK\x03\x04garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(CorruptFile, match="unreadable"):
            read_npz(path)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_cli_extrapolate_plot_over_the_input_is_refused(tmp_path, capsys):
    data = tmp_path / "runs.csv"
    js.datasets.synthetic().to_csv(data, index=False)
    before = data.read_bytes()
    assert cli.main(["extrapolate", str(data), "--plot", str(data)]) == 2
    assert "--plot" in capsys.readouterr().err and data.read_bytes() == before
