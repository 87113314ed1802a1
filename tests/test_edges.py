"""Issue 18: honest answers at the edges of real data. Each test uses the issue's own reproduction."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
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
