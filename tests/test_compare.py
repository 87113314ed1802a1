"""compare_laws (which law, score differences, stacking, model-form interval, seed variance), the asymmetric
Huber loss, and the extrapolation-distance label on every prediction path (issue 20)."""
from __future__ import annotations

import itertools
import json
import pickle

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale.api.compare import (LawComparison, compare_laws, replicate_groups, seed_deviations,
                                  stacking_weights)
from jaxscale.api.extrapolation import make_splits, training_rows
from jaxscale.engine import float64
from jaxscale.kernels.losses import get_loss
from jaxscale.api.reach import data_span, label_predictions, reach_note

R = 24
STARTS = 6
TRUTH = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}


def small_data(seed: int = 0, replicates: int = 2, noise: float = 0.01) -> pd.DataFrame:
    """5 isoFLOP budgets x 5 sizes, every (N, D) run ``replicates`` times (seeds) with log-normal noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for C in 10.0 ** np.arange(18.0, 20.1, 0.5):
        for N in 0.09 * (C / 6) ** 0.5 * 10.0 ** np.linspace(-0.8, 0.8, 5):
            for _ in range(replicates):
                rows.append({"N": N, "D": C / (6 * N), "C": C})
    data = pd.DataFrame(rows)
    truth = js.FitResult.from_params(TRUTH)
    data["loss"] = truth.predict(N=data["N"].to_numpy(), D=data["D"].to_numpy()) * np.exp(
        rng.normal(0, noise, len(data)))
    return data


@pytest.fixture(scope="module")
def data():
    return small_data()


@pytest.fixture(scope="module")
def comparison(data) -> LawComparison:
    return compare_laws(data, ["chinchilla", "kaplan"], n_resamples=R, search=js.Search(starts=STARTS), seed=1)


# ---------------------------------------------------------------------- pure pieces
def test_stacking_weights_match_a_brute_force_simplex_search():
    rng = np.random.default_rng(3)
    z = rng.normal(size=12)
    preds = np.stack([z + rng.normal(0, s, 12) + b for s, b in ((0.3, 0.2), (0.5, -0.3), (1.0, 0.0))])
    w = stacking_weights(z, preds)
    assert w.sum() == pytest.approx(1.0) and np.all(w >= 0)
    grid = np.array([(a, b, 1 - a - b) for a, b in itertools.product(np.linspace(0, 1, 201), repeat=2)
                     if a + b <= 1 + 1e-12])
    brute = np.min(np.sum((z[None, :] - grid @ preds) ** 2, axis=1))
    assert np.sum((z - w @ preds) ** 2) <= brute + 1e-12
    # a law that is exactly right takes all the weight
    np.testing.assert_allclose(stacking_weights(z, np.stack([z, z + 1.0])), [1.0, 0.0], atol=1e-12)


def test_replicates_and_seed_deviations_by_hand():
    feats = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0], [1.0, 2.0], [5.0, 6.0]])
    groups = replicate_groups(feats)
    assert groups[0] == groups[1] == groups[3] and len(set(groups)) == 3
    z = np.array([1.0, 2.0, 7.0, 3.0, 9.0])
    dev = seed_deviations(z, groups)  # group {1, 2, 3}: mean 2, scaled by sqrt(3/2)
    np.testing.assert_allclose(np.sort(dev), np.sort(np.array([-1.0, 0.0, 1.0]) * np.sqrt(1.5)))
    assert np.mean(dev ** 2) == pytest.approx(1.0)  # the unbiased within-group variance


def test_label_predictions_by_hand():
    law = js.CHINCHILLA
    span = data_span(law, np.log(np.array([[1e8, 1e10], [1e9, 1e11]])))
    assert span["N"] == pytest.approx([1e8, 1e9]) and span["C"] == pytest.approx([6e18, 6e20])
    table = label_predictions(law, span, np.array([[3e8, 3e10], [1e10, 1e11], [1e7, 1e11], [1e9, 1e11]]))
    assert list(table.columns) == ["beyond_log10_C", "beyond_log10_N", "beyond_log10_D", "regime"]
    np.testing.assert_allclose(table["beyond_log10_N"], [0.0, 1.0, -1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(table["beyond_log10_C"], [0.0, 1.0, 0.0, 0.0], atol=1e-12)
    assert list(table["regime"]) == ["interpolation", "extrapolation", "extrapolation", "interpolation"]
    assert set(label_predictions(law, None, np.array([[1e8, 1e10]]))["regime"]) == {"unknown"}
    assert "EXTRAPOLATE" in reach_note(table) and "N +1.00 decades" in reach_note(table)


# ---------------------------------------------------------------------- the asymmetric Huber loss
def test_asymmetric_huber_matches_numpy_and_penalises_overestimates():
    import jax.numpy as jnp

    loss = js.asymmetric_huber(0.01, overestimate_penalty=4.0)
    r = np.array([-0.5, -0.005, 0.0, 0.005, 0.5])
    huber = np.where(np.abs(r) <= 0.01, 0.5 * r * r, 0.01 * (np.abs(r) - 0.005))
    k = np.where(r < 0, 4.0, 1.0)
    with float64():
        np.testing.assert_allclose(loss.rho(jnp.asarray(r)), k * huber, rtol=1e-14)
        np.testing.assert_allclose(loss.psi(jnp.asarray(r)), k * np.clip(r, -0.01, 0.01), rtol=1e-14)
        np.testing.assert_allclose(loss.curvature(jnp.asarray(r)), k * np.minimum(1, 0.01 / np.maximum(np.abs(r),
                                                                                                      1e-300)))
        assert js.asymmetric_huber(0.01, 1.0).rho(jnp.asarray(r)).tolist() == pytest.approx(huber.tolist(), rel=1e-14)
    assert get_loss("asymmetric_huber", 0.01, 4.0) is loss
    assert pickle.loads(pickle.dumps(loss)) is loss
    with pytest.raises(ValueError, match="overestimate_penalty"):
        js.asymmetric_huber(1e-3, 0.5)


def test_asymmetric_fit_sits_below_the_points_and_round_trips(tmp_path, data):
    plain = js.fit(data, search=js.Search(starts=STARTS))
    lower = js.fit(data, loss=js.asymmetric_huber(1e-3, 10.0), search=js.Search(starts=STARTS))
    res = lambda f: np.log(data["loss"]) - np.log(f.predict(N=data["N"].to_numpy(), D=data["D"].to_numpy()))
    assert np.mean(res(lower) > 0) > np.mean(res(plain) > 0) + 0.2  # predictions pushed under the runs
    back = js.load(lower.save(tmp_path / "lower.npz"))
    assert back.loss is lower.loss and "overestimate_penalty=10" in back.summary()


# ---------------------------------------------------------------------- compare_laws
def test_compare_prefers_the_true_law_with_an_interval_excluding_zero(comparison):
    assert comparison.best == "chinchilla"
    row = comparison.differences.query("law == 'chinchilla' and other == 'kaplan'").iloc[0]
    assert row["difference"] < 0 and row["high"] < 0 and row["better"] == "chinchilla"
    back = comparison.differences.query("law == 'kaplan' and other == 'chinchilla'").iloc[0]
    assert back["difference"] == pytest.approx(-row["difference"]) and back["low"] == pytest.approx(-row["high"])
    assert comparison.weights.sum() == pytest.approx(1.0) and comparison.weights["chinchilla"] > 0.5
    assert np.isnan(comparison.scores["aic"]).all() and "not a log-likelihood" in comparison.criterion
    text = comparison.summary()
    assert "model-form weight" in text and "chinchilla" in text and "seed variance" in text


def test_compare_errors_are_independent_single_fits_on_rolling_splits(comparison, data):
    held, budget, names = make_splits(data, "compute", "rolling", 1, 2, "N", "D", None, 0.1)
    train = training_rows(held, budget, "rolling")
    assert names[0] == "fit budgets 1-2, predict 3" and not np.any(train[0] & (budget >= budget[held[0]].min()))
    assert comparison.recipe["splits"] == names
    starts = js.random_starts(js.get_law("kaplan"), STARTS, seed=1)
    single = js.fit(data, law="kaplan", weights=train[0].astype(float), search=js.Search(starts=starts))
    part = comparison.errors[comparison.errors["split"] == 0]
    rows = part["row"].to_numpy()
    expected = np.log(data["loss"].to_numpy()[rows]) - np.log(single.predict(N=data["N"].to_numpy()[rows],
                                                                              D=data["D"].to_numpy()[rows]))
    np.testing.assert_allclose(part["error_kaplan"], expected, rtol=1e-6, atol=1e-9)
    assert (comparison.errors["regime"] == "extrapolation").all()  # every rolling forecast is above its data
    assert (comparison.errors["beyond_log10_C"] > 0.49).all()


def test_seed_variance_is_recognised_from_replicates(comparison):
    assert comparison.n_replicate_groups == 25
    assert 0.005 < comparison.seed_sd < 0.02  # simulated sd 0.01
    assert "25 groups of replicate runs" in comparison.summary()


def test_model_form_prediction_is_the_documented_mixture(comparison):
    N, D = np.array([3e8, 3e10]), np.array([2e10, 6e11])
    table = comparison.predict(N=N, D=D, level=0.9)
    assert table.attrs["interval"] == "model-form new-run" and table.attrs["weights"] == comparison.weights.to_dict()
    assert np.all(table["loss_low"] < table["loss"]) and np.all(table["loss"] < table["loss_high"])
    assert list(table["regime"]) == ["interpolation", "extrapolation"] and table["beyond_log10_C"].iloc[1] > 1
    w = comparison.weights
    stacked = sum(w[k] * np.log(table[f"loss_{k}"]) for k in w.index)
    np.testing.assert_allclose(np.log(table["loss"]), stacked, rtol=1e-12)
    # numpy: the weighted mixture of draws + own out-of-sample errors (group means) + seed deviations
    seeds = seed_deviations(comparison._z, comparison._groups)
    values, weights = [], []
    for k in w.index[w > 0]:
        boot = comparison.boots[k]
        draws = np.log(boot.law.predict(boot.theta[boot.usable()], np.array([[N[1], D[1]]]))[:, 0])
        e = comparison.errors
        g = comparison._groups[e["row"].to_numpy()]
        errs = pd.DataFrame({"s": e["split"], "g": g, "e": e[f"error_{k}"]}).groupby(["s", "g"])["e"].mean()
        v = (draws[:, None, None] + errs.to_numpy()[None, :, None] + seeds[None, None, :]).ravel()
        values.append(v)
        weights.append(np.full(v.size, w[k] / v.size))
    v, p = np.concatenate(values), np.concatenate(weights)
    order = np.argsort(v)
    cdf = np.cumsum(p[order])
    lo, hi = v[order][np.searchsorted(cdf, 0.05)], v[order][np.searchsorted(cdf, 0.95)]
    np.testing.assert_allclose(np.log(table[["loss_low", "loss_high"]].to_numpy()[1]), [lo, hi], rtol=1e-12)


def test_compare_rejects_bad_requests(data):
    with pytest.raises(ValueError, match="two or more laws"):
        compare_laws(data, ["chinchilla"])
    with pytest.raises(ValueError, match="score must be one of"):
        compare_laws(data, ["chinchilla", "kaplan"], score="r2")
    with pytest.raises(ValueError, match="repeat a name"):
        compare_laws(data, ["chinchilla", "chinchilla"])
    with pytest.raises(ValueError, match="n_resamples"):
        compare_laws(data, ["chinchilla", "kaplan"], n_resamples=5)


def test_laws_of_different_inputs_share_one_column_mapping():
    # before the fix Columns(inputs={"x": "S1"}) was checked against EVERY law, so power_law (x) could not sit
    # beside lr_annealing (S1, S2): "law 'lr_annealing' has no input 'x'"
    from jaxscale.api.curves import curve_areas, synthetic_curves

    curves = curve_areas(synthetic_curves(sizes=(1e8,), steps=(1000, 2000), every=100, seed=3))
    cmp = compare_laws(curves.assign(C=curves["tokens"]), ["lr_annealing", "power_law"], min_train=6,
                       columns=js.Columns(inputs={"x": "S1"}), n_resamples=R, search=js.Search(starts=STARTS))
    assert cmp.boots["power_law"].recipe["columns"] == {"x": "S1"}
    assert set(cmp.scores.index) == {"lr_annealing", "power_law"} and np.isfinite(cmp.scores["score"]).all()
    with pytest.raises(ValueError, match="none of the laws .* has an input 'U'"):
        compare_laws(curves, ["lr_annealing", "power_law"], columns=js.Columns(inputs={"U": "S1"}))


# ---------------------------------------------------------------------- the label on every prediction path
def test_every_prediction_path_is_labelled(comparison, data, tmp_path):
    N, D = np.array([1e8, 1e11]), np.array([1e10, 1e13])
    fit = js.fit(data, search=js.Search(starts=STARTS))
    table = fit.predict(N=N, D=D, labelled=True)
    np.testing.assert_allclose(table["loss"], fit.predict(N=N, D=D), rtol=1e-14)
    assert list(table["regime"]) == ["interpolation", "extrapolation"]
    assert "data span" in fit.summary()
    saved = js.load(fit.save(tmp_path / "fit.npz"))  # the span travels with the file
    pd.testing.assert_frame_equal(saved.predict(N=N, D=D, labelled=True), table)
    boot = comparison.boots["chinchilla"]
    for kind in ("mean", "new_run"):
        assert list(boot.predict(N=N, D=D, kind=kind)["regime"]) == ["interpolation", "extrapolation"]
    assert "data span" in boot.summary().attrs["data_span"]
    published = js.FitResult.from_params(TRUTH).predict(N=N, D=D, labelled=True)
    assert set(published["regime"]) == {"unknown"}


def test_extrapolation_rolling_fits_only_lower_budgets_and_labels_rows(data):
    # before the fix a rolling split trained on every budget but the held-out one (higher ones included)
    table = js.extrapolation(data, mode="rolling", min_train=3, n_resamples=R, search=js.Search(starts=STARTS))
    held, budget, _ = make_splits(data, "compute", "rolling", 1, 3, "N", "D", None, 0.1)
    for s in range(len(held)):
        below = int(np.sum(budget < budget[held[s]].min()))
        assert (table.loc[table["split"] == s, "n_train"] == below).all()
    assert (table["regime"] == "extrapolation").all() and (table["beyond_log10_C"] > 0).all()


def test_cli_and_plot_show_the_label(tmp_path, data, comparison):
    from jaxscale.cli import main

    path = tmp_path / "runs.csv"
    data.to_csv(path, index=False)
    fit_path = tmp_path / "fit.npz"
    js.fit(data, search=js.Search(starts=STARTS)).save(fit_path)
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        main(["predict", "--n", "1e8", "1e11", "--d", "1e10", "1e13", "--from", str(fit_path), "--json"])
    payload = json.loads(buf.getvalue())
    assert [r["regime"] for r in payload["rows"]] == ["interpolation", "extrapolation"]
    assert "EXTRAPOLATE" in payload["reach"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):  # the comparison itself, same settings as the fixture
        main(["compare", str(path), "--starts", str(STARTS), "--resamples", str(R), "--seed", "1", "--n", "3e8",
              "--d", "2e10", "--json"])
    payload = json.loads(buf.getvalue())
    assert payload["weights"] == pytest.approx(comparison.weights.to_dict(), rel=1e-9)
    assert payload["interval"] == "model-form new-run" and payload["rows"][0]["regime"] == "interpolation"
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    table = js.extrapolation(data, holdout=1, n_resamples=R, search=js.Search(starts=STARTS))
    ax = js.plot.extrapolation(table)
    assert "EXTRAPOLATE" in ax.get_title()
    ax = js.plot.tokens_per_parameter(comparison.boots["chinchilla"], C=np.geomspace(1e17, 1e24, 50))
    shaded = [p for p in ax.patches if p.get_gid() == "extrapolation"]
    assert len(shaded) == 2  # below 1e18 and above 1e20 FLOP, the span of the runs
