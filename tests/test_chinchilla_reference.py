"""The reference procedure on real data, checked against the published minimum and against scipy."""
import numpy as np
import pytest

import jaxscale as js
from conftest import reference_objective, scipy_fit

REF_OBJECTIVE = 0.00101827401780
REF_THETA = np.array([6.1692464, 7.6701567, 0.5973068, 0.3473105, 0.3671724])
REF_NATURAL = {"A": 477.83, "B": 2143.42, "E": 1.81722}


def test_data_is_epochs_240_rows(chinchilla_240):
    assert len(chinchilla_240) == 240
    assert list(chinchilla_240.index[:3]) == [5, 6, 7]  # rows 0-4 (highest loss) dropped
    np.testing.assert_allclose(chinchilla_240["D"], chinchilla_240["C"] / (6 * chinchilla_240["N"]))


def test_grid_fit_reaches_reference_minimum(grid_fit):
    assert abs(grid_fit.objective - REF_OBJECTIVE) <= 1e-11
    assert grid_fit.converged
    p = grid_fit.params
    for name, j in (("alpha", 3), ("beta", 4)):
        assert p[name] == pytest.approx(REF_THETA[j], rel=1e-4)
    assert p["E"] == pytest.approx(REF_NATURAL["E"], rel=1e-4)
    assert p["A"] == pytest.approx(REF_NATURAL["A"], rel=0.01)
    assert p["B"] == pytest.approx(REF_NATURAL["B"], rel=0.01)
    assert len(grid_fit.starts) == 4500


def test_reported_objective_matches_independent_numpy(grid_fit, chinchilla_240):
    log_n, log_d, log_l = (np.log(chinchilla_240[c].to_numpy()) for c in ("N", "D", "loss"))
    value, grad = reference_objective(grid_fit.theta, log_n, log_d, log_l)
    assert value == pytest.approx(grid_fit.objective, rel=1e-12, abs=1e-17)
    assert np.max(np.abs(grad)) < 1e-6  # a stationary point of the independent objective
    # per-start end objectives are honest too
    row = grid_fit.starts.sample(5, random_state=1)
    for _, r in row.iterrows():
        v, _ = reference_objective(r[["a", "b", "e", "alpha", "beta"]].to_numpy(float), log_n, log_d, log_l)
        assert v == pytest.approx(r["objective"], rel=1e-10)


def test_starts_frame_is_in_given_order(grid_fit):
    np.testing.assert_array_equal(grid_fit.starts[[f"start_{p}" for p in ("a", "b", "e", "alpha", "beta")]],
                                  js.chinchilla_grid())
    assert {"objective", "converged", "iterations", "grad_norm"} <= set(grid_fit.starts.columns)


def test_per_start_honesty_against_scipy(grid_fit, chinchilla_240):
    """For 50 random grid starts: our end objective <= scipy L-BFGS-B (exact gradient) + 1e-9, or flagged."""
    log_n, log_d, log_l = (np.log(chinchilla_240[c].to_numpy()) for c in ("N", "D", "loss"))
    picks = np.random.default_rng(2024).choice(4500, size=50, replace=False)
    worse = []
    for k in picks:
        row = grid_fit.starts.iloc[k]
        ref = scipy_fit(js.chinchilla_grid()[k], log_n, log_d, log_l, ftol=1e-15, gtol=1e-12, maxiter=15000)
        if row["converged"] and not row["objective"] <= ref.fun + 1e-9:
            worse.append((k, row["objective"], ref.fun))
    assert not worse, f"converged lanes worse than scipy from the same start: {worse}"


def test_polish_off_still_reaches_minimum_from_grid(chinchilla_240):
    """The grid alone (no final polish) already lands in the reference basin."""
    fit = js.fit(chinchilla_240, starts=js.chinchilla_grid()[::45], polish=0)
    assert abs(fit.objective - REF_OBJECTIVE) < 1e-9
