"""Datasets, FitResult derived quantities, and the command line."""
import urllib.request

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale.kernels import allocation

EPOCH = js.datasets.EPOCH_PARAMS


def test_chinchilla_loader_columns(chinchilla_csv):
    full = js.datasets.chinchilla(chinchilla_csv, drop_outliers=False)
    assert full.shape == (245, 4) and list(full.columns) == ["N", "D", "loss", "C"]
    kept = js.datasets.chinchilla(chinchilla_csv)
    assert len(kept) == 240 and kept["loss"].max() < full["loss"].nlargest(5).min()


def test_loader_env_var(chinchilla_csv, monkeypatch):
    monkeypatch.setenv("JAXSCALE_CHINCHILLA_CSV", str(chinchilla_csv))
    assert len(js.datasets.chinchilla()) == 240


def test_loader_offline_message(monkeypatch, tmp_path):
    monkeypatch.delenv("JAXSCALE_CHINCHILLA_CSV", raising=False)
    monkeypatch.setenv("JAXSCALE_CACHE", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError, match=r"Offline\?.*chinchilla\(path="):
        js.datasets.chinchilla()


def test_loader_uses_verified_cache(chinchilla_csv, monkeypatch, tmp_path):
    monkeypatch.delenv("JAXSCALE_CHINCHILLA_CSV", raising=False)
    monkeypatch.setenv("JAXSCALE_CACHE", str(tmp_path))
    (tmp_path / "svg_extracted_data.csv").write_bytes(chinchilla_csv.read_bytes())
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("must not download"))
    assert len(js.datasets.chinchilla()) == 240


def test_synthetic_is_seeded():
    a, b = js.datasets.synthetic(seed=3), js.datasets.synthetic(seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not js.datasets.synthetic(seed=4)["loss"].equals(a["loss"])
    np.testing.assert_allclose(a["C"], 6 * a["N"] * a["D"])


def test_compute_optimal_reference_values():
    """Epoch's estimate at C = 5.88e23: N_opt 7.31e10, D_opt 1.34e12, D/N 18.3."""
    n_opt, d_opt = allocation.compute_optimal(EPOCH["A"], EPOCH["B"], EPOCH["alpha"], EPOCH["beta"], 5.88e23)
    assert n_opt == pytest.approx(7.31e10, rel=5e-3)
    assert d_opt == pytest.approx(1.34e12, rel=5e-3)
    assert d_opt / n_opt == pytest.approx(18.3, rel=5e-3)


def test_compute_optimal_is_the_isoflop_minimum():
    fit = js.fit(js.datasets.synthetic(noise=0.0), starts=16)
    opt = fit.compute_optimal(1e22)
    n = opt["N_opt"] * np.logspace(-0.2, 0.2, 41)
    losses = fit.predict(N=n, D=1e22 / (6 * n))
    assert np.argmin(losses) == 20
    assert opt["loss"] == pytest.approx(losses[20], rel=1e-12)
    frontier = fit.compute_optimal(np.array([1e20, 1e22, 1e24]))
    assert list(frontier.columns) == ["C", "N_opt", "D_opt", "D_over_N", "loss"] and len(frontier) == 3
    assert "alpha" in fit.summary() and "N_opt ~ C^" in fit.summary()


def test_fit_save_load_roundtrip_and_published_law(tmp_path):
    fit = js.fit(js.datasets.synthetic(), starts=8)
    again = js.load(fit.save(tmp_path / "fit.npz"))
    assert isinstance(again, js.FitResult)
    np.testing.assert_array_equal(again.theta, fit.theta)
    pd.testing.assert_frame_equal(again.starts, fit.starts)
    assert again.objective == fit.objective and again.recipe == fit.recipe
    hoffmann = js.FitResult.from_params(js.datasets.HOFFMANN_PARAMS, source="Hoffmann et al. (2022)")
    assert hoffmann.params.to_dict() == pytest.approx(js.datasets.HOFFMANN_PARAMS, rel=1e-12)
    opt = hoffmann.compute_optimal(5.88e23)
    n_opt, _ = allocation.compute_optimal(406.4, 410.7, 0.34, 0.28, 5.88e23)
    assert opt["N_opt"] == pytest.approx(n_opt, rel=1e-12)
    assert js.load(hoffmann.save(tmp_path / "h.npz")).starts.empty
    with pytest.raises(ValueError, match="missing"):
        js.FitResult.from_params({"A": 1.0})
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a jaxscale result file"):
        js.load(tmp_path / "junk.npz")
