"""Many data sets in one compiled call: fit(data, by=...)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jaxscale as js


def _twelve_sets() -> pd.DataFrame:
    """12 Chinchilla-style data sets of different sizes, ranges and truths."""
    frames = []
    rng = np.random.default_rng(7)
    for g in range(12):
        truth = {"A": 300 + 40 * g, "B": 1500 + 200 * g, "E": 1.6 + 0.03 * g,
                 "alpha": 0.30 + 0.01 * g, "beta": 0.28 + 0.012 * g}
        budgets = np.geomspace(1e18 * (1 + g), 1e21 * (1 + g), 4 + g % 3)  # three sizes: 24, 30, 36 rows
        part = js.datasets.synthetic(truth, budgets=budgets, sizes_per_budget=6, noise=0.01, seed=g)
        part["dataset"] = f"set{g:02d}"
        part["variant"] = rng.choice(["a", "b"])
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def twelve():
    return _twelve_sets()


@pytest.fixture(scope="module")
def starts():
    return js.random_starts(js.CHINCHILLA, 48, seed=3)


def test_grouped_equals_separate_fits(twelve, starts):
    grouped = js.fit(twelve, by="dataset", starts=starts)
    assert isinstance(grouped, js.GroupedFitResult) and len(grouped) == 12
    assert list(grouped.params.columns) == ["A", "B", "E", "alpha", "beta"]
    assert grouped.params.index.name == "dataset"
    for key, rows in twelve.groupby("dataset"):
        alone = js.fit(rows, starts=starts)
        res = grouped[key]
        assert res.n_points == len(rows)
        np.testing.assert_allclose(res.objective, alone.objective, rtol=1e-12)
        np.testing.assert_allclose(grouped.objective[key], alone.objective, rtol=1e-12)
        np.testing.assert_allclose(res.params.to_numpy(), alone.params.to_numpy(), rtol=1e-6)
        assert res.recipe["data_span"] == alone.recipe["data_span"]  # each group labelled against its own runs
    table = grouped.summary()
    assert {"objective", "n_points", "converged"} <= set(table.columns) and len(table) == 12


def test_groups_by_several_columns_and_tidy_outputs(twelve, starts):
    grouped = js.fit(twelve, by=["variant", "dataset"], starts=starts[:8], polish=1)
    assert grouped.params.index.names == ["variant", "dataset"]
    key = next(iter(grouped))
    assert isinstance(key, tuple) and grouped[key].params.shape == (5,)
    pred = grouped.predict(N=[1e9, 1e10], D=[2e10, 2e11])
    assert len(pred) == 2 * len(grouped) and {"variant", "dataset", "N", "D", "prediction"} <= set(pred.columns)
    one = pred[(pred["variant"] == key[0]) & (pred["dataset"] == key[1])]["prediction"].to_numpy()
    np.testing.assert_allclose(one, grouped[key].predict(N=[1e9, 1e10], D=[2e10, 2e11]), rtol=1e-14)
    opt = grouped.compute_optimal([1e21, 1e22])
    assert len(opt) == 2 * len(grouped) and "N_opt" in opt.columns


def test_group_errors_name_the_group(twelve):
    bad = twelve.copy()
    bad.loc[bad.index[bad["dataset"] == "set03"][2], "loss"] = -1.0
    with pytest.raises(ValueError, match=r"group 'set03'.*column 'loss'.*row 2"):
        js.fit(bad, by="dataset", starts=4)
    with pytest.raises(ValueError, match="by: column"):
        js.fit(twelve, by="nope", starts=4)
    holes = twelve.copy()
    holes.loc[5, "dataset"] = None
    with pytest.raises(ValueError, match="by: column 'dataset' row 5 is missing"):
        js.fit(holes, by="dataset", starts=4)
    tiny = twelve[twelve["dataset"] != "set01"].copy()
    tiny = pd.concat([tiny, twelve[twelve["dataset"] == "set01"].head(4)])
    with pytest.raises(ValueError, match="group 'set01'.*only 4 row"):
        js.fit(tiny, by="dataset", starts=4)


def test_grouped_one_variable_law_with_fixed_parameter():
    rng = np.random.default_rng(0)
    rows = []
    for g, (A, E, alpha) in enumerate([(50.0, 1.5, 0.3), (80.0, 2.0, 0.25), (20.0, 1.2, 0.4)]):
        x = np.geomspace(1e6, 1e10, 8 + 2 * g)
        y = (E + A * x ** -alpha) * np.exp(0.001 * rng.standard_normal(x.size))
        rows.append(pd.DataFrame({"C": x, "loss": y, "bench": f"b{g}"}))
    data = pd.concat(rows, ignore_index=True)
    grouped = js.fit(data, law="power_law", x="C", by="bench", fixed={"alpha": 0.3})
    assert (grouped.params["alpha"] == 0.3).all()
    assert grouped["b0"].fixed == {"alpha": 0.3}
    free = js.fit(data, law="power_law", x="C", by="bench")
    assert (grouped.objective >= free.objective - 1e-15).all()


def test_grouped_fit_saves_and_loads_bit_exact(twelve, starts, tmp_path):
    grouped = js.fit(twelve, by=["variant", "dataset"], starts=starts[:4], polish=1)
    back = js.load(grouped.save(tmp_path / "groups.npz"))
    assert isinstance(back, js.GroupedFitResult) and list(back) == list(grouped)
    pd.testing.assert_frame_equal(back.params, grouped.params)
    key = next(iter(grouped))
    pd.testing.assert_frame_equal(back[key].starts, grouped[key].starts)
    assert back[key].objective == grouped[key].objective


def test_grouped_bootstrap_equals_separate_bootstraps(twelve):
    three = twelve[twelve["dataset"].isin(["set00", "set05", "set10"])]
    grouped = js.bootstrap(three, by="dataset", n_resamples=6, starts="best", seed=4)
    assert isinstance(grouped, js.api.groups.GroupedBootstrapResult) and len(grouped) == 3
    for key, rows in three.groupby("dataset"):
        alone = js.bootstrap(rows, n_resamples=6, starts="best", seed=4, progress=False)
        res = grouped[key]
        np.testing.assert_allclose(res.estimate, alone.estimate, rtol=1e-8)
        np.testing.assert_allclose(res.objective, alone.objective, rtol=1e-10)
        np.testing.assert_allclose(res.theta, alone.theta, rtol=1e-9, atol=1e-12)
        assert res.recipe["solver"] == alone.recipe["solver"] == "lm-warm"
    table = grouped.summary()
    assert table.index.names == ["dataset", "parameter"] and ("set05", "alpha") in table.index
    opt = grouped.compute_optimal([1e22])
    assert len(opt) == 3 and {"dataset", "N_opt", "N_opt_low", "N_opt_high"} <= set(opt.columns)


def test_grouped_bootstrap_checkpoints_resumes_and_runs_on_an_executor(twelve, tmp_path):
    """Grouped bootstraps are RowsJobs: checkpointed, resumed, chunked and sent to executors like any
    bootstrap, with identical draws whatever the chunk size or executor (default settings)."""
    from concurrent.futures import ThreadPoolExecutor

    three = twelve[twelve["dataset"].isin(["set01", "set02", "set03"])]  # 30, 36 and 24 rows
    call = dict(by="dataset", n_resamples=5, starts="subgrid", n_subgrid=3, seed=11, progress=False)
    plain = js.bootstrap(three, **call)
    saved = js.bootstrap(three, checkpoint=tmp_path / "ck", **call)
    chunks = sorted((tmp_path / "ck").glob("chunk_*.npz"))
    assert chunks
    chunks[0].unlink()  # lose a chunk: the rerun recomputes it and reuses the others
    resumed = js.bootstrap(three, checkpoint=tmp_path / "ck", **call)
    small = js.bootstrap(three, chunk_size=7, **call)
    with ThreadPoolExecutor(2) as pool:
        remote = js.bootstrap(three, executor=pool, chunk_size=9, **call)
    more = js.bootstrap(three, **dict(call, n_resamples=8))
    for key in plain.results:
        for other in (saved, resumed, small, remote):
            np.testing.assert_array_equal(other[key].theta, plain[key].theta)
            np.testing.assert_array_equal(other[key].objective, plain[key].objective)
        np.testing.assert_array_equal(more[key].theta[:5], plain[key].theta)  # draw r ignores n_resamples


def test_grouped_fit_runs_chunked_on_an_executor_and_checkpoints(twelve, starts, tmp_path):
    """fit(by=) is a chunked RowsJob: executor= / checkpoint= / chunk_size= give bit-identical fits and the
    same per-start tables; a single fit refuses executor= with a clear message."""
    from concurrent.futures import ThreadPoolExecutor

    plain = js.fit(twelve, by="dataset", starts=starts)
    with ThreadPoolExecutor(2) as pool:
        remote = js.fit(twelve, by="dataset", starts=starts, executor=pool, chunk_size=3 * len(starts))
    saved = js.fit(twelve, by="dataset", starts=starts, checkpoint=tmp_path / "ck", chunk_size=5 * len(starts))
    assert len(list((tmp_path / "ck").glob("chunk_*.npz"))) == 3  # 12 groups in chunks of 5 + 5 + 2 rows
    resumed = js.fit(twelve, by="dataset", starts=starts, checkpoint=tmp_path / "ck", chunk_size=5 * len(starts))
    for key in plain.results:
        for other in (remote, saved, resumed):
            np.testing.assert_array_equal(other[key].theta, plain[key].theta)
            assert other[key].objective == plain[key].objective
            pd.testing.assert_frame_equal(other[key].starts, plain[key].starts)
    with pytest.raises(ValueError, match="executor= and checkpoint= split many fits"):
        js.fit(twelve[twelve["dataset"] == "set00"], starts=starts, executor=ThreadPoolExecutor(1))
