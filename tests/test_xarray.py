"""result.to_xarray(): labelled datasets of fits and bootstraps (the optional "xarray" extra)."""
from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxscale as js

# The settings of test_plot's and test_groups' fixtures, so the suite compiles their programs once.
STARTS, R = 64, 50


@pytest.fixture(scope="module")
def xr():
    return pytest.importorskip("xarray")


@pytest.fixture(scope="module")
def data():
    return js.datasets.synthetic()


@pytest.fixture(scope="module")
def fit(data):
    return js.fit(data, starts=STARTS, seed=0, progress=False)


@pytest.fixture(scope="module")
def boot(data, fit):
    return js.bootstrap(data, n_resamples=R, starts="best", seed=0, estimate=fit, progress=False)


@pytest.fixture(scope="module")
def twelve():
    from test_groups import _twelve_sets

    return _twelve_sets()


def test_bootstrap_dataset_holds_the_results_own_arrays(xr, boot):
    ds = boot.to_xarray()
    assert isinstance(ds, xr.Dataset)
    names = ["A", "B", "E", "alpha", "beta", "a_opt", "b_opt", "G"]
    assert dict(ds.sizes) == {"resample": R, "parameter": len(names), "log_parameter": 5}
    assert list(ds["parameter"].values) == names
    assert list(ds["log_parameter"].values) == list(boot.law.param_names)
    np.testing.assert_array_equal(ds["resample"].values, np.arange(R))
    assert ds["draws"].dims == ("resample", "parameter") and ds["theta"].dims == ("resample", "log_parameter")
    np.testing.assert_array_equal(ds["theta"].values, boot.theta)
    np.testing.assert_array_equal(ds["draws"].values, boot.draws[names].to_numpy())
    np.testing.assert_array_equal(ds["draws"].sel(parameter="E").values, boot.draws["E"].to_numpy())
    np.testing.assert_array_equal(ds["log_estimate"].values, boot.estimate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = boot.summary()
    np.testing.assert_array_equal(ds["estimate"].sel(parameter=list(summary.index)).values, summary["estimate"])
    for name in ("objective", "converged", "n_at_best", "identifiable"):
        np.testing.assert_array_equal(ds[name].values, np.asarray(getattr(boot, name)))
    np.testing.assert_array_equal(ds["usable"].values, boot.usable())
    # the recipe summary
    assert ds.attrs["law"] == "chinchilla" and ds.attrs["loss"] == "huber" and ds.attrs["loss_delta"] == 1e-3
    assert ds.attrs["seed"] == 0 and ds.attrs["n_resamples"] == R and ds.attrs["starts"] == "best"
    assert "confidence intervals of the law's parameters" in ds.attrs["interval"]
    assert json.loads(ds.attrs["recipe"])["indices"] == boot.recipe["indices"]
    # the same percentile interval as the result's own, from the dataset alone
    usable = ds["draws"].sel(parameter="alpha").where(ds["usable"], drop=True)
    lo, hi = np.quantile(usable.values, [0.025, 0.975])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert (lo, hi) == boot.ci("alpha")


def test_attributes_are_strings_and_numbers_and_netcdf_writes_them(xr, boot, fit, tmp_path):
    pytest.importorskip("scipy")
    for ds in (boot.to_xarray(), fit.to_xarray()):
        for value in ds.attrs.values():
            assert isinstance(value, (str, int, float, np.integer, np.floating)), value
    path = tmp_path / "boot.nc"
    boot.to_xarray().to_netcdf(path, engine="scipy")
    back = xr.open_dataset(path, engine="scipy").load()
    np.testing.assert_array_equal(back["theta"].values, boot.theta)
    assert back.attrs["law"] == "chinchilla"


def test_fit_dataset_is_the_per_start_table(xr, fit):
    ds = fit.to_xarray()
    starts = fit.starts
    params = list(fit.law.param_names)
    assert dict(ds.sizes) == {"start": STARTS, "parameter": 8, "log_parameter": 5}
    np.testing.assert_array_equal(ds["theta"].values, starts[params].to_numpy())
    np.testing.assert_array_equal(ds["start_theta"].values, starts[[f"start_{p}" for p in params]].to_numpy())
    for column in ("objective", "converged", "iterations", "grad_norm", "vanishing"):
        np.testing.assert_array_equal(ds[column].values, starts[column].to_numpy())
    assert list(ds["status"].values) == list(starts["status"].astype(str))
    np.testing.assert_array_equal(ds["estimate"].sel(parameter=list(fit.params.index)).values, fit.params.to_numpy())
    np.testing.assert_array_equal(ds["log_estimate"].values, fit.theta)
    best = int(np.argmin(starts["objective"].to_numpy()))
    np.testing.assert_allclose(ds["params"].isel(start=best).sel(parameter="alpha"), starts["alpha"].iloc[best])
    assert ds.attrs["n_points"] == fit.n_points and ds.attrs["starts"] == STARTS
    given = js.FitResult.from_params(js.datasets.HOFFMANN_PARAMS).to_xarray()  # no starts: an empty start dim
    assert given.sizes["start"] == 0
    assert given["estimate"].sel(parameter="E").item() == js.datasets.HOFFMANN_PARAMS["E"]


def test_grouped_bootstrap_stacks_groups(xr, twelve):
    three = twelve[twelve["dataset"].isin(["set00", "set05", "set10"])]
    grouped = js.bootstrap(three, by="dataset", n_resamples=6, starts="best", seed=4, progress=False)
    ds = grouped.to_xarray()
    assert dict(ds.sizes) == {"group": 3, "resample": 6, "parameter": 8, "log_parameter": 5}
    assert ds["draws"].dims == ("group", "resample", "parameter")
    assert list(ds["group"].values) == ["set00", "set05", "set10"]
    assert list(ds["dataset"].values) == list(ds["group"].values)
    for key in grouped:
        np.testing.assert_array_equal(ds["theta"].sel(group=key).values, grouped[key].theta)
        np.testing.assert_array_equal(ds["usable"].sel(group=key).values, grouped[key].usable())
        np.testing.assert_array_equal(ds["draws"].sel(group=key, parameter="E").values, grouped[key].draws["E"])
    assert ds.attrs["seed"] == 4 and ds.attrs["n_resamples"] == 6 and json.loads(ds.attrs["by"]) == ["dataset"]
    assert ds.attrs["kind"] == "grouped-bootstrap" and "interval" in ds.attrs


def test_grouped_fit_by_two_columns_has_a_multiindex(xr, twelve):
    starts = js.random_starts(js.CHINCHILLA, 48, seed=3)[:4]
    grouped = js.fit(twelve, by=["variant", "dataset"], starts=starts, polish=1, progress=False)
    ds = grouped.to_xarray()
    assert dict(ds.sizes) == {"group": 12, "start": 4, "parameter": 8, "log_parameter": 5}
    assert ds.indexes["group"].names == ["variant", "dataset"]
    for key, res in grouped.items():
        np.testing.assert_array_equal(ds["theta"].sel(group=key).values, res.starts[list(res.law.param_names)])
    key = next(iter(grouped))
    np.testing.assert_array_equal(ds["log_estimate"].sel(dataset=key[1]).squeeze().values, grouped[key].theta)


def test_without_xarray_the_error_says_how_to_install(boot, fit, monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)
    for result in (boot, fit):
        with pytest.raises(ImportError, match=r'pip install "jaxscale\[xarray\]"'):
            result.to_xarray()
