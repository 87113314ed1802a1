"""Every bad input gets a ValueError naming the column/row and the fix; nothing is dropped silently."""
import numpy as np
import pandas as pd
import pytest

import jaxscale as js


@pytest.fixture
def good():
    return js.datasets.synthetic(noise=0.01).reset_index(drop=True)


def fit(data, **kw):
    return js.fit(data, starts=2, **kw)


@pytest.mark.parametrize("column", ["N", "D", "loss"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(good, column, bad):
    good.loc[7, column] = bad
    with pytest.raises(ValueError, match=rf"column '{column}'.*row 7 .*(drop|fix)"):
        fit(good)


@pytest.mark.parametrize("column", ["N", "D", "loss"])
@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_non_positive(good, column, bad):
    good.loc[4, column] = bad
    with pytest.raises(ValueError, match=rf"column '{column}'.*row 4 .*must be > 0"):
        fit(good)


def test_row_label_is_named(good):
    good.index = good.index + 100
    good.loc[105, "loss"] = np.nan
    with pytest.raises(ValueError, match=r"row 5 \(index label 105\)"):
        fit(good)


def test_too_few_rows(good):
    with pytest.raises(ValueError, match=r"only 5 row.*at least 6"):
        fit(good.iloc[:5])


@pytest.mark.parametrize("column,option", [("N", "N"), ("D", "D")])
def test_single_distinct_value(good, column, option):
    good[column] = 1e9
    with pytest.raises(ValueError, match=rf"column '{column}'.*single distinct value.*several values of {option}"):
        fit(good)


def test_missing_column_names_option(good):
    with pytest.raises(ValueError, match=r"column 'tokens' .*not found.*d=\.\.\."):
        fit(good, d="tokens")
    renamed = good.rename(columns={"N": "params"})
    with pytest.raises(ValueError, match=r"column 'N' .*not found.*'params'.*n=\.\.\."):
        fit(renamed)
    assert fit(renamed, n="params").n_points == len(good)


def test_non_numeric_column(good):
    good["D"] = good["D"].astype(object)
    good.loc[3, "D"] = "lots"
    with pytest.raises(ValueError, match=r"column 'D'.*not numeric.*row 3 holds 'lots'.*pd.to_numeric"):
        fit(good)


def test_mismatched_lengths():
    with pytest.raises(ValueError, match=r"column 'D' has 3 values but 'N' has 4"):
        fit({"N": [1e8, 2e8, 3e8, 4e8], "D": [1e9, 2e9, 3e9], "loss": [3.0, 2.9, 2.8, 2.7]})


def test_bad_starts_and_weights(good):
    with pytest.raises(ValueError, match=r"starts has shape \(3, 4\).*\(K, 5\)"):
        js.fit(good, starts=np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"starts row 1, column 'e'"):
        js.fit(good, starts=np.array([[0, 0, 0, 0, 0], [0, 0, np.nan, 0, 0]]))
    with pytest.raises(ValueError, match=r"weights has 3 values but data has"):
        fit(good, weights=[1, 2, 3])
    w = np.ones(len(good))
    w[2] = -1
    with pytest.raises(ValueError, match=r"weights row 2"):
        fit(good, weights=w)


def test_unknown_names(good):
    with pytest.raises(ValueError, match="unknown law"):
        fit(good, law="kaplan2")
    with pytest.raises(ValueError, match="unknown solver"):
        fit(good, solver="adam")
    with pytest.raises(ValueError, match="unknown loss"):
        fit(good, loss="l1")
    with pytest.raises(ValueError, match="DataFrame"):
        fit([1, 2, 3])


def test_compute_optimal_rejects_bad_budget(good):
    result = fit(good)
    with pytest.raises(ValueError, match="compute C"):
        result.compute_optimal(-1.0)


# ---------------------------------------------------------------------- issue 9 §3: no silent coercion
@pytest.mark.parametrize("call,kwargs,match", [
    ("bootstrap", {"n_resamples": 2.7}, r"n_resamples must be an integer >= 1, got 2.7"),
    ("bootstrap", {"n_resamples": "3"}, r"n_resamples must be an integer >= 1, got '3'"),
    ("bootstrap", {"n_resamples": True}, r"n_resamples must be an integer >= 1, got True"),
    ("bootstrap", {"seed": 1.5}, r"seed must be an integer in \[0, 4294967295\], got 1.5"),
    ("fit", {"seed": 1.5}, r"seed must be an integer in \[0, 4294967295\], got 1.5"),
    ("fit", {"polish": -1}, r"polish must be an integer >= 0"),
    ("fit", {"polish": 2.5}, r"polish must be an integer >= 0"),
    ("bootstrap", {"polish": True}, r"polish must be an integer >= 0, got True \(a bool\)"),
    ("bootstrap", {"polish": -1}, r"polish must be an integer >= 0"),
    ("fit", {"prune": 0}, r"prune must be an integer >= 1 or None, got 0"),
    ("fit", {"prune": 2, "prune_iter": 0}, r"prune_iter must be an integer >= 1 or None, got 0"),
    ("bootstrap", {"starts": "prune", "prune": 0}, r"prune must be an integer >= 1 or None, got 0"),
    ("bootstrap", {"starts": "prune", "prune_iter": -5}, r"prune_iter must be an integer >= 1 or None, got -5"),
    ("bootstrap", {"starts": "subgrid", "n_subgrid": 0}, r"n_subgrid must be an integer >= 2, got 0"),
    ("bootstrap", {"chunk_size": 0}, r"chunk_size must be an integer >= 1 or None, got 0"),
    ("bootstrap", {"chunk_size": -4}, r"chunk_size must be an integer >= 1 or None, got -4"),
    ("fit", {"chunk_size": 0}, r"chunk_size must be an integer >= 1 or None, got 0"),
    ("fit", {"n_lanes": -1}, r"n_lanes must be an integer >= 1 or None, got -1"),
    ("bootstrap", {"n_lanes": 0}, r"n_lanes must be an integer >= 1 or None, got 0"),
])
def test_integer_options_are_checked_not_coerced(good, call, kwargs, match):
    kwargs = {"starts": 2, **kwargs}
    if call == "bootstrap":
        kwargs.setdefault("n_resamples", 2)
    with pytest.raises(ValueError, match=match):
        getattr(js, call)(good, **kwargs)


@pytest.mark.parametrize("seed", [-1, 2**32, np.int64(-3)])
def test_seed_out_of_range_names_the_range(good, seed):
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        js.bootstrap(good, n_resamples=2, starts=2, seed=seed)
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        fit(good, seed=seed)


def test_largest_seed_is_accepted(good):
    result = fit(good, seed=2**32 - 1)
    np.testing.assert_array_equal(result.starts[[f"start_{p}" for p in result.law.param_names]].to_numpy(),
                                  js.engine.random_starts(result.law, 2, 2**32 - 1))


def test_weights_series_is_matched_by_label(good):
    """A Series of weights counts by index label, not by position (a reversed index must not matter)."""
    by_position = np.ones(len(good))
    by_position[[3, 10, 50]] = 0.0
    series = pd.Series(by_position, index=good.index)[::-1]  # same labels, reversed order
    assert not np.array_equal(series.to_numpy(), by_position)
    np.testing.assert_array_equal(fit(good, weights=series).theta, fit(good, weights=by_position).theta)
    with pytest.raises(ValueError, match=r"index does not match.*no weight for data labels \[0\].*reindex"):
        fit(good, weights=pd.Series(np.ones(len(good) - 1), index=good.index[1:]))
    with pytest.raises(ValueError, match=r"labels \[1000\] are not in the data"):
        fit(good, weights=pd.Series(np.ones(len(good)), index=list(good.index[1:]) + [1000]))


def test_two_dimensional_dict_values_are_refused(good):
    columns = {k: good[k].to_numpy() for k in ("N", "D", "loss")}
    columns["N"] = columns["N"].reshape(-1, 1)
    with pytest.raises(ValueError, match=r"column 'N' is 2-D \(shape \(108, 1\)\).*1-D"):
        fit(columns)


def test_duplicate_column_names_are_named(good):
    doubled = pd.concat([good, good[["D"]]], axis=1)
    with pytest.raises(ValueError, match=r"column 'D' \(input D\) appears 2 times.*rename or drop"):
        fit(doubled)


@pytest.mark.parametrize("delta", ["0.1", "abc", True, None])
def test_delta_must_be_a_number(good, delta):
    with pytest.raises(ValueError, match=r"delta must be a finite number > 0"):
        fit(good, delta=delta)
    with pytest.raises(ValueError, match=r"delta must be a finite number > 0"):
        js.bootstrap(good, n_resamples=2, starts=2, delta=delta)


def test_header_only_csv_says_no_rows(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text("N,D,loss\n")
    with pytest.raises(ValueError, match=r"no rows \(a CSV with only a header\?\)"):
        fit(pd.read_csv(path))


# ---------------------------------------------------------------------- degenerate results
@pytest.fixture(scope="module")
def small_boot():
    data = js.datasets.synthetic(noise=0.01).reset_index(drop=True)
    estimate = js.fit(data, starts=2)
    return js.bootstrap(data, n_resamples=6, starts="best", seed=1, estimate=estimate)


@pytest.mark.parametrize("N", [0.0, -1e9, np.nan])
def test_predict_refuses_non_positive_inputs(good, small_boot, N):
    with pytest.raises(ValueError, match=r"input N must be finite and > 0"):
        fit(good).predict(N=N, D=1e10)
    with pytest.raises(ValueError, match=r"input N must be finite and > 0"):
        small_boot.predict(N=N, D=1e10)
    with pytest.raises(ValueError, match=r"input D must be finite and > 0"):
        small_boot.predict(N=1e9, D=[1e10, 0.0])


@pytest.mark.parametrize("level", [0, 1, 0.0, -0.5, 1.5, "0.9", True, np.nan])
def test_level_outside_unit_interval_is_refused(small_boot, level):
    for call in (lambda: small_boot.ci("alpha", level=level), lambda: small_boot.summary(level=level),
                 lambda: small_boot.predict(N=1e9, D=1e10, level=level),
                 lambda: small_boot.compute_optimal(1e22, level=level)):
        with pytest.raises(ValueError, match=r"level must be a number in \(0, 1\)"):
            call()


def test_summary_reports_draws_used_and_warns(small_boot):
    """Non-finite draws are left out of every table, counted in attrs and named in a warning."""
    import dataclasses

    objective = small_boot.objective.copy()
    objective[2] = np.nan
    theta = small_boot.theta.copy()
    theta[4, 3] = np.inf
    broken = dataclasses.replace(small_boot, objective=objective, theta=theta)
    with pytest.warns(RuntimeWarning, match=r"using 4 of 6 resamples; left out 2 failed"):
        table = broken.summary(level=0.8)
    assert table.attrs["n_resamples"] == 6 and table.attrs["n_used"] == 4 and table.attrs["n_failed"] == 2
    alpha = theta[[0, 1, 3, 5], 3]  # alpha is not log-scaled: its draws are theta's column 3
    np.testing.assert_allclose([table.loc["alpha", "ci_low"], table.loc["alpha", "ci_high"]],
                               np.quantile(alpha, [0.1, 0.9]), rtol=1e-12)
    assert table.loc["alpha", "se"] == pytest.approx(np.std(alpha, ddof=1), rel=1e-12)
    with pytest.warns(RuntimeWarning, match=r"using 4 of 6"):
        band = broken.predict(N=1e9, D=1e10, level=0.8)
    expected = js.kernels.laws.get_law("chinchilla").predict(theta[[0, 1, 3, 5]], np.array([[1e9, 1e10]]))
    np.testing.assert_allclose(band[["loss_low", "loss_high"]].to_numpy().ravel(),
                               np.quantile(expected.ravel(), [0.1, 0.9]), rtol=1e-12)


def test_bootstrap_where_every_resample_failed_is_clear(good):
    estimate = fit(good)
    far = np.full((1, 5), 1e6)  # exp(1e6) = inf: every resample ends with non-finite parameters
    with pytest.warns(RuntimeWarning, match=r"every one of the 3 bootstrap resamples failed"):
        boot = js.bootstrap(good, n_resamples=3, starts=far, estimate=estimate)
    with pytest.raises(ValueError, match=r"none of the 3 bootstrap resamples can be used: 3 failed"):
        boot.summary()
    with pytest.raises(ValueError, match=r"none of the 3"):
        boot.ci("alpha")


def test_bootstrap_repr_is_short(small_boot):
    text = repr(small_boot)
    assert len(text) < 400 and "\n" not in text
    assert "n_resamples=6" in text and "law='chinchilla'" in text and "alpha=" in text


# ---------------------------------------------------------------------- too few points
def _grid_runs(n_levels=(2, 8), noise=0.0):
    """Runs on an N x D grid (row-major in N), Epoch's law times log-normal noise."""
    N, D = np.meshgrid(np.logspace(8, 10, n_levels[0]), np.logspace(9, 12, n_levels[1]), indexing="ij")
    N, D = N.ravel(), D.ravel()
    p = js.datasets.EPOCH_PARAMS
    loss = (p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]) * np.exp(
        noise * np.random.default_rng(0).standard_normal(N.size))
    return pd.DataFrame({"N": N, "D": D, "loss": loss})


def test_fit_refuses_weights_that_leave_too_few_points(good):
    w = np.zeros(len(good))
    w[[4, 40, 90]] = 2.0
    with pytest.raises(ValueError, match=r"weights: the rows with weight > 0 hold only 3 distinct input point"
                                         r".*5 free parameters.*at least 6"):
        fit(good, weights=w)
    runs = _grid_runs((3, 8))  # 3 sizes: chinchilla needs 3 distinct N (issue 18)
    one_n = (runs["N"] == runs["N"].min()).to_numpy(float)  # 8 runs, all at one model size
    with pytest.raises(ValueError, match=r"column 'N' \(input N\) has a single distinct value"):
        fit(runs, weights=one_n)
    duplicated = pd.concat([runs.iloc[[0, 1, 8]]] * 4, ignore_index=True)  # 12 rows, 3 distinct points
    with pytest.raises(ValueError, match=r"12 rows hold only 3 distinct input point"):
        fit(duplicated)


def test_bootstrap_flags_unidentifiable_resamples():
    """On 9 runs many resamples draw at most 5 distinct runs: they are flagged, left out of the intervals
    (with a warning giving the count) and kept on request."""
    from jaxscale.engine.resampling import resample_counts

    runs = _grid_runs((3, 3), noise=0.01)
    boot = js.bootstrap(runs, n_resamples=30, starts="best", seed=4, estimate=fit(runs))
    assert not boot.failed.any()
    counts = resample_counts(4, np.arange(30), 9)  # the documented draws of (seed, r)
    drawn = counts > 0
    expected = (drawn.sum(1) >= 6) & np.array([len(set(runs["N"][d])) > 2 and len(set(runs["D"][d])) > 2
                                               for d in drawn])  # chinchilla needs 3 values per input (issue 18)
    assert 0 < expected.sum() < 30
    np.testing.assert_array_equal(boot.draws["identifiable"].to_numpy(), expected)
    n_out = int((~expected).sum())
    with pytest.warns(RuntimeWarning, match=rf"using {expected.sum()} of 30 resamples; left out {n_out} "
                                            r"unidentifiable"):
        table = boot.summary()
    assert table.attrs["n_used"] == expected.sum() and table.attrs["n_unidentifiable"] == n_out
    alpha = boot.draws["alpha"].to_numpy()
    np.testing.assert_allclose([table.loc["alpha", "ci_low"], table.loc["alpha", "ci_high"]],
                               np.quantile(alpha[expected], [0.025, 0.975]), rtol=1e-12)
    everything = boot.summary(include_unidentifiable=True)
    assert everything.attrs["n_used"] == 30
    np.testing.assert_allclose(everything.loc["alpha", ["ci_low", "ci_high"]].to_numpy(float),
                               np.quantile(alpha, [0.025, 0.975]), rtol=1e-12)


# ---------------------------------------------------------------------- estimate= and c=
def test_bootstrap_estimate_must_match_data_law_and_loss(good):
    estimate = fit(good)
    with pytest.raises(ValueError, match=r"estimate was fitted with law 'chinchilla'.*same law, loss and delta"):
        js.bootstrap(good, n_resamples=2, starts="best", estimate=estimate, fixed={"alpha": 0.3})
    with pytest.raises(ValueError, match=r"estimate was fitted with .*delta.*same law, loss and delta"):
        js.bootstrap(good, n_resamples=2, starts="best", estimate=estimate, delta=1e-2)
    weights = np.ones(len(good))
    weights[0] = 0.0
    with pytest.raises(ValueError, match=r"fitted to 107 points but this bootstrap's data has 108 rows"):
        js.bootstrap(good, n_resamples=2, starts="best", estimate=fit(good, weights=weights))
    other = good.assign(loss=good["loss"] * 1.02)
    with pytest.raises(ValueError, match=r"estimate's objective .* on this bootstrap's data: it was fitted to other"):
        js.bootstrap(other, n_resamples=2, starts="best", estimate=estimate)
    with pytest.raises(ValueError, match=r"fitted on columns \{'N': 'N', 'D': 'D'\}.*\{'N': 'P', 'D': 'D'\}"):
        js.bootstrap(good.rename(columns={"N": "P"}), n="P", n_resamples=2, starts="best", estimate=estimate)
    assert js.bootstrap(good, n_resamples=2, starts="best", estimate=estimate).n_resamples == 2


def test_compute_column_derives_tokens(good):
    """Epoch's CSV has model size and training FLOP, not tokens: c= derives D = C / (6 N)."""
    epoch_style = pd.DataFrame({"Model Size": good["N"], "Training FLOP": 6.0 * good["N"] * good["D"],
                                "loss": good["loss"]})
    derived = fit(epoch_style, n="Model Size", c="Training FLOP")
    np.testing.assert_allclose(derived.theta, fit(good).theta, rtol=1e-9)
    assert derived.recipe["columns"]["D"] == "Training FLOP / (6 Model Size)"
    boot = js.bootstrap(epoch_style, n="Model Size", c="Training FLOP", n_resamples=2, starts="best",
                        estimate=derived)
    assert boot.n_resamples == 2
    with pytest.raises(ValueError, match=r"column 'FLOP' \(compute C\) not found.*c=\.\.\."):
        fit(epoch_style, n="Model Size", c="FLOP")
    with pytest.raises(ValueError, match=r"c= derives D = C / \(6 N\) for laws with inputs N and D"):
        js.fit({"x": np.logspace(8, 10, 8), "C": np.logspace(18, 20, 8), "loss": np.linspace(3, 2, 8)},
               law="power_law", starts=2, c="C")
