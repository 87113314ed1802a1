"""Issue 17: one clear API. Data and the statistical question in the call; columns, search and execution in
three small validated objects; the former spelling maps onto them bit for bit with one DeprecationWarning."""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale import cli

HELPERS = [js.extrapolation, js.delta_sweep, js.rank_next_runs, js.two_step]


@pytest.fixture(scope="module")
def data():
    return js.datasets.synthetic(sizes_per_budget=5, seed=3)


def calls_old(fn, *args, **kwargs):
    """Call with the former spelling: exactly one DeprecationWarning, naming the new spelling."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(w.message) for w in caught]
    return out, str(deprecations[0].message)


# ---------------------------------------------------------------------- signatures
def test_public_calls_are_small_and_every_helper_takes_the_three_objects():
    assert len(inspect.signature(js.fit).parameters) <= 14
    assert len(inspect.signature(js.bootstrap).parameters) <= 16
    for helper in HELPERS:
        params = inspect.signature(helper).parameters
        assert {"columns", "search", "runner"} <= set(params), helper.__name__
        assert not {"n", "d", "x", "y", "c", "starts", "solver", "n_lanes", "devices"} & set(params), helper.__name__


def test_option_objects_are_frozen_and_validated():
    with pytest.raises(ValueError, match="starts='many'"):
        js.Search(starts="many")
    with pytest.raises(ValueError, match="unknown solver 'newton'"):
        js.Search(solver="newton")
    with pytest.raises(ValueError, match="n_lanes must be an integer >= 1"):
        js.Runner(n_lanes=0)
    with pytest.raises(ValueError, match="wild"):
        js.ClusterResample(by="budget", wild="yes")
    with pytest.raises(Exception):
        js.Search().starts = 3  # frozen
    assert js.search.exhaustive().prune is None and js.search.warm().starts == "best"
    assert js.search.subgrid(8).n_subgrid == 8
    columns = js.Columns(inputs={"N": "params"}, compute="flop")
    assert columns.column("N") == "params" and columns.column("U") == "U"
    with pytest.raises(TypeError):
        columns.inputs["D"] = "tokens"  # the mapping is read-only


# ---------------------------------------------------------------------- the former spelling, bit for bit
def test_fit_old_spelling_equals_new_bit_for_bit(data):
    frame = data.rename(columns={"N": "params", "D": "tokens"})
    new = js.fit(frame, columns={"N": "params", "D": "tokens"}, search=js.Search(starts=6, polish=2),
                 runner=js.Runner(n_lanes=8))
    old, message = calls_old(js.fit, frame, "chinchilla", 6, "huber", 1e-3, None, "params", "tokens", polish=2,
                             n_lanes=8)
    assert "search=js.Search(starts=6, solver=None, polish=2)" in message and "runner=js.Runner(n_lanes=8)" in message
    assert "columns=js.Columns(inputs={'N': 'params', 'D': 'tokens'})" in message
    assert np.array_equal(old.theta, new.theta) and old.objective == new.objective
    pd.testing.assert_frame_equal(old.starts, new.starts)
    assert old.recipe == new.recipe


def test_bootstrap_old_spelling_equals_new_bit_for_bit(data):
    new = js.bootstrap(data, n_resamples=3, seed=5, search=js.search.subgrid(4))
    old, message = calls_old(js.bootstrap, data, "chinchilla", 3, "subgrid", 5, n_subgrid=4)
    assert "seed=5" in message and "search=js.Search(starts='subgrid', n_subgrid=4)" in message
    for name in ("theta", "objective", "converged", "n_at_best", "estimate"):
        assert np.array_equal(getattr(old, name), getattr(new, name)), name


def test_cluster_bootstrap_old_spelling_equals_new(data):
    with pytest.warns(UserWarning, match="only 9 clusters"):
        new = js.bootstrap(data, n_resamples=2, search=js.search.warm(),
                           resample=js.ClusterResample(by="budget", budgets=js.HOFFMANN_BUDGETS))
    old, message = calls_old(js.bootstrap, data, n_resamples=2, starts="best", resample="cluster",
                             cluster="budget", budgets=js.HOFFMANN_BUDGETS)
    assert "resample=js.ClusterResample(by='budget'" in message
    assert np.array_equal(old.theta, new.theta)
    assert new.recipe["resample"] == "cluster" and {"fixed", "tied", "solver_options", "prune"} <= set(new.recipe)


def test_grouped_fit_and_a_helper_old_spelling_equal_new(data):
    frame = data.assign(arm=np.arange(len(data)) % 2)
    new = js.fit(frame, by="arm", search=js.Search(starts=5))
    old, _ = calls_old(js.fit, frame, by="arm", starts=5)
    assert np.array_equal(old.params.to_numpy(), new.params.to_numpy())
    new_sweep = js.delta_sweep(data, [1e-3, 1e-1], search=js.Search(starts=5))
    old_sweep, message = calls_old(js.delta_sweep, data, [1e-3, 1e-1], starts=5, n="N")
    assert "search=js.Search(starts=5)" in message
    pd.testing.assert_frame_equal(old_sweep, new_sweep)


def test_both_spellings_at_once_are_refused_and_unknown_keywords_named(data):
    with pytest.raises(TypeError, match="n_lanes= and runner= both given"):
        js.fit(data, n_lanes=4, runner=js.Runner())
    with pytest.raises(TypeError, match="starts= and search= both given"):
        js.bootstrap(data, starts="best", search=js.search.warm())
    with pytest.raises(TypeError, match="n= and columns= both given"):
        js.fit(data, n="N", columns=js.Columns())
    with pytest.raises(TypeError, match="unexpected keyword argument 'startz'"):
        js.fit(data, startz=4)
    with pytest.raises(TypeError, match="prune_keep= is the former name of prune="):
        js.bootstrap(data, prune_keep=3, prune=4)


# ---------------------------------------------------------------------- the quoted bugs
def test_rank_next_runs_takes_a_compute_column(data):
    """Issue 17: 'rank_next_runs cannot take a compute column'. The candidates are read from the data's
    own columns: N and the compute column; D = C / (6 N) for both."""
    frame = data.drop(columns="D")
    candidates = pd.DataFrame({"N": [2e9, 8e9], "C": [1e21, 2e21]})
    options = dict(n_outcomes=2, n_resamples=3, search=js.Search(starts=5))
    ranked = js.rank_next_runs(frame, candidates, ("N_opt", 1e22), columns=js.Columns(compute="C"), **options)
    direct = js.rank_next_runs(data, candidates.assign(D=candidates["C"] / (6 * candidates["N"])),
                               ("N_opt", 1e22), **options)
    np.testing.assert_allclose(ranked["D"].to_numpy(), direct["D"].to_numpy(), rtol=1e-15)
    np.testing.assert_allclose(ranked["width_after"].to_numpy(), direct["width_after"].to_numpy(), rtol=1e-9)


def test_rank_next_runs_takes_extra_inputs_from_their_columns():
    """Issue 17: 'rank_next_runs cannot take ... extra inputs' (the data-constrained law's U)."""
    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(np.log(1e8), np.log(1e10), 40))
    d = np.exp(rng.uniform(np.log(1e9), np.log(1e11), 40))
    u = d / rng.uniform(1, 8, 40)
    law = js.get_law("data_constrained")
    theta = law.grid()[len(law.grid()) // 2]
    loss = law.base.predict(theta, np.stack([n, d, u], axis=1)) * np.exp(rng.normal(0, 0.01, 40))
    frame = pd.DataFrame({"N": n, "D": d, "unique": u, "loss": loss})
    candidates = pd.DataFrame({"N": [3e9], "D": [3e10], "unique": [1e10]})
    ranked = js.rank_next_runs(frame, candidates, ("loss", {"N": 1e10, "D": 1e11, "U": 2e10}), law=law,
                               n_outcomes=2, n_resamples=2, columns={"U": "unique"}, search=js.Search(starts=4))
    assert list(ranked["U"]) == [1e10] and np.isfinite(ranked["width_after"]).all()


def test_cli_extrapolate_passes_the_compute_and_x_columns_on(monkeypatch, tmp_path):
    """Issue 17: the CLI's ``extrapolate`` accepted --c-col/--x-col and never passed them on."""
    from jaxscale.api import extrapolation as module

    seen = {}

    def fake(data, **kwargs):
        seen.update(kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr(module, "extrapolation", fake)
    path = tmp_path / "runs.csv"
    js.datasets.synthetic(sizes_per_budget=4).to_csv(path, index=False)
    assert cli.main(["extrapolate", str(path), "--c-col", "C", "--x-col", "C", "--n-col", "N"]) == 2
    assert seen["columns"].compute == "C" and seen["columns"].column("x") == "C"


def test_cli_choices_come_from_the_registries():
    parser = cli.build_parser()
    args = parser.parse_args(["fit", "synthetic", "--solver", "optax-lbfgs", "--law", "kaplan"])
    assert args.solver == "optax-lbfgs" and args.law == "kaplan"
    columns, search, runner = cli.call_options(args)
    assert isinstance(columns, js.Columns) and search.solver == "optax-lbfgs" and isinstance(runner, js.Runner)


def test_summary_returns_one_type(data):
    """summary() is a Summary everywhere: the table (a DataFrame) with its title and notes printed around it."""
    from jaxscale.api.results.summary import Summary

    fit = js.fit(data, search=js.Search(starts=5))
    boot = js.bootstrap(data, n_resamples=2, estimate=fit, search=js.search.warm())
    grouped = js.fit(data.assign(arm=np.arange(len(data)) % 2), by="arm", search=js.Search(starts=5))
    for summary in (fit.summary(), boot.summary(), grouped.summary()):
        assert isinstance(summary, Summary) and isinstance(summary, pd.DataFrame)
        assert summary.text.startswith("jaxscale") and str(summary) == summary.text == repr(summary)
    table = fit.summary()
    assert table.loc["alpha", "estimate"] == fit.params["alpha"] and "N_opt ~ C^" in table
    assert "confidence interval of the law" in boot.summary() and boot.summary().attrs["n_used"] == 2
    assert type(boot.summary().reset_index()) is pd.DataFrame  # derived tables are plain
