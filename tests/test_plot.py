"""jaxscale.plot: every kind rendered with Agg on synthetic isoFLOP data, checked for what it draws."""
from __future__ import annotations

import dataclasses
import importlib
import sys

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402

import jaxscale as js  # noqa: E402
from jaxscale import plot  # noqa: E402
from jaxscale.kernels import allocation  # noqa: E402

HOFFMANN = js.datasets.HOFFMANN_PARAMS
N_RESAMPLES = 50


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return js.datasets.synthetic()


@pytest.fixture(scope="module")
def fit(data):
    return js.fit(data, starts=64, seed=0)


@pytest.fixture(scope="module")
def boot(data, fit):
    return js.bootstrap(data, n_resamples=N_RESAMPLES, starts="best", seed=0, estimate=fit)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def by_gid(ax, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def dn_ratio(params, C):
    n_opt, d_opt = allocation.compute_optimal(params["A"], params["B"], params["alpha"], params["beta"], C)
    return d_opt / n_opt


# ---------------------------------------------------------------------- isoflop
def test_isoflop_one_curve_and_one_optimum_per_budget(fit, data):
    ax = plot.isoflop(fit, data)
    budgets = np.sort(data["C"].unique())
    assert len(budgets) == 9
    curves = [line for line in ax.get_lines() if line.get_gid() == "isoflop-curve"]
    assert len(curves) == len(budgets)
    assert [c.get_label() for c in curves] == [plot.flop_label(b) for b in budgets]
    assert "$6{\\times}10^{18}$ FLOP" == curves[0].get_label()
    # Each curve is the law along C = 6ND: recompute from its own N values.
    for curve, budget in zip(curves, budgets):
        n_line, loss_line = curve.get_data()
        np.testing.assert_allclose(loss_line, fit.predict(N=n_line, D=budget / (6 * n_line)), rtol=1e-10)
    (optima,) = by_gid(ax, "isoflop-optima")
    table = fit.compute_optimal(budgets)
    np.testing.assert_allclose(optima.get_offsets()[:, 0], table["N_opt"], rtol=1e-10)
    np.testing.assert_allclose(optima.get_offsets()[:, 1], table["loss"], rtol=1e-10)
    # The marked optimum is the minimum of its curve.
    for curve, loss_opt in zip(curves, table["loss"]):
        assert curve.get_ydata().min() >= loss_opt - 1e-12
    (points,) = by_gid(ax, "isoflop-data")
    assert len(points.get_offsets()) == len(data)
    np.testing.assert_allclose(points.get_array(), data["C"])
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "parameters N"
    assert "nats/token" in ax.get_ylabel()
    assert ax.get_legend() is not None and len(ax.get_legend().get_texts()) == 3
    colorbar_axes = [a for a in ax.figure.axes if a is not ax]
    assert len(colorbar_axes) == 1 and "FLOP" in colorbar_axes[0].get_ylabel()


def test_isoflop_without_compute_column_and_given_budgets(fit, data):
    ax = plot.isoflop(fit, data.drop(columns="C"), budgets=[1e19, 1e20])
    assert len([line for line in ax.get_lines() if line.get_gid() == "isoflop-curve"]) == 2
    (points,) = by_gid(ax, "isoflop-data")
    np.testing.assert_allclose(points.get_array(), 6 * data["N"] * data["D"])


def test_default_budgets_rounds_repeats_and_bins_continuous_compute():
    assert list(plot.default_budgets([6e18, 6.0000001e18, 1e19])) == [6e18, 1e19]
    rng = np.random.default_rng(0)
    spread = np.concatenate([1e19 * np.exp(0.1 * rng.standard_normal(20)), 3e20 * np.exp(0.1 * rng.standard_normal(20)),
                             [5e22]])
    np.testing.assert_allclose(plot.default_budgets(spread), [1e19, 3e20])


def test_isoflop_into_given_axes_returns_them(fit, data):
    fig, (left, right) = plt.subplots(1, 2)
    assert plot.isoflop(fit, data, ax=right) is right
    assert not left.get_lines()


def test_isoflop_rejects_missing_columns(fit, data):
    with pytest.raises(ValueError, match="lacks columns"):
        plot.isoflop(fit, data.drop(columns="loss"))


# ---------------------------------------------------------------------- contours
def test_contours_frontier_is_the_compute_optimum_and_band_only_with_bootstrap(fit, boot):
    ax = plot.contours(fit)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert ax.get_xlim() == pytest.approx((1e7, 1e12))
    assert ax.get_ylim() == pytest.approx((1e8, 1e14))
    assert ax.get_xlabel() == "parameters N" and ax.get_ylabel() == "training tokens D"
    (frontier,) = by_gid(ax, "contours-frontier")
    n_line, d_line = frontier.get_data()
    table = fit.compute_optimal(6 * n_line * d_line)
    np.testing.assert_allclose(n_line, table["N_opt"], rtol=1e-9)
    (loss_set,) = by_gid(ax, "contours-loss")
    assert len(loss_set.levels) >= 5
    assert len(loss_set.labelTexts) == len(loss_set.levels)  # every contour labelled
    assert all(t.get_text() == f"{v:.2f}" for t, v in zip(loss_set.labelTexts, loss_set.levels))
    assert by_gid(ax, "contours-compute")
    assert not by_gid(ax, "contours-band")
    assert len(ax.get_legend().get_texts()) == 3

    ax_boot = plot.contours(fit, boot, level=0.9)
    (band,) = by_gid(ax_boot, "contours-band")
    # Per budget across the window: (N_low, D_high) out, (N_high, D_low) back.
    table = boot.compute_optimal(np.geomspace(6 * 1e7 * 1e8, 6 * 1e12 * 1e14, 60), level=0.9)
    expected = np.vstack([np.c_[table["N_opt_low"], table["D_opt_high"]],
                          np.c_[table["N_opt_high"], table["D_opt_low"]][::-1]])
    np.testing.assert_allclose(band.get_xy()[:len(expected)], expected, rtol=1e-10)
    assert np.all(table["N_opt_low"] < table["N_opt"]) and np.all(table["N_opt"] < table["N_opt_high"])
    assert "90% bootstrap band" in ax_boot.get_legend().get_texts()[-1].get_text()


def test_contours_accepts_a_bootstrap_alone_and_options(boot):
    ax = plot.contours(boot, n_range=(1e8, 1e11), d_range=(1e9, 1e12), loss_levels=[2.2, 2.5, 3.0],
                       compute_lines=False)
    assert by_gid(ax, "contours-band")
    assert not by_gid(ax, "contours-compute")
    (loss_set,) = by_gid(ax, "contours-loss")
    np.testing.assert_allclose(loss_set.levels, [2.2, 2.5, 3.0])
    assert ax.get_xlim() == pytest.approx((1e8, 1e11))


# ---------------------------------------------------------------------- pairs
def test_pairs_grid_and_intervals(boot):
    fig = plot.pairs(boot)
    assert len(fig.axes) == 4 ** 2
    axes = np.array(fig.axes).reshape(4, 4)
    for i, name in enumerate(("alpha", "beta", "E", "a_opt")):
        diag = axes[i, i]
        lo, hi = boot.ci(name)
        assert f"[{lo:.4g}, {hi:.4g}]" in diag.get_title()
        estimate = boot.summary().loc[name, "estimate"]
        vertical = sorted(line.get_xdata()[0] for line in diag.get_lines())
        np.testing.assert_allclose(vertical, sorted([lo, hi, estimate]), rtol=1e-12)
        assert sum(p.get_height() for p in diag.patches) == N_RESAMPLES
    scatter = [c for c in axes[1, 0].collections if isinstance(c, PathCollection)]
    assert len(scatter) == 1 and len(scatter[0].get_offsets()) == N_RESAMPLES
    assert axes[3, 0].get_xlabel() == r"$\alpha$" and "nats/token" in axes[2, 0].get_ylabel()
    r = np.corrcoef(boot.draws["alpha"], boot.draws["beta"])[0, 1]
    assert axes[0, 1].texts[0].get_text() == f"r = {r:+.2f}"
    assert fig.legends and len(fig.legends[0].get_texts()) == 3


def test_pairs_other_names_log_axes_and_needs_bootstrap(boot, fit):
    fig = plot.pairs(boot, names=("B", "beta"))
    assert len(fig.axes) == 4
    if plot._wide_positive(boot.draws["B"].to_numpy()):
        assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(TypeError, match="BootstrapResult"):
        plot.pairs(fit)
    with pytest.raises(ValueError, match="unknown quantity"):
        plot.pairs(boot, names=("alpha", "gamma"))


# ---------------------------------------------------------------------- tokens per parameter
def test_tokens_band_only_with_bootstrap_and_comparison_lines(fit, boot):
    C = np.geomspace(1e19, 1e25, 50)
    ax_fit = plot.tokens_per_parameter(fit, C=C)
    assert not by_gid(ax_fit, "tokens-band")
    (line,) = by_gid(ax_fit, "tokens-estimate")
    np.testing.assert_allclose(line.get_ydata(), fit.compute_optimal(C)["D_over_N"], rtol=1e-10)
    assert ax_fit.get_xscale() == "log" and ax_fit.get_xlabel() == "compute C (FLOP)"
    assert "D_{opt}/N_{opt}" in ax_fit.get_ylabel()

    ax = plot.tokens_per_parameter(boot, C=C, compare={"Hoffmann et al. (2022)": HOFFMANN, "same fit": fit})
    (band,) = by_gid(ax, "tokens-band")
    table = boot.compute_optimal(C)
    vertices = band.get_paths()[0].vertices
    inside = vertices[(vertices[:, 0] > C[0] * 1.01) & (vertices[:, 0] < C[-1] / 1.01)]
    expected_low = np.interp(np.log(inside[:, 0]), np.log(C), table["D_over_N_low"])
    expected_high = np.interp(np.log(inside[:, 0]), np.log(C), table["D_over_N_high"])
    assert np.all(np.isclose(inside[:, 1], expected_low, rtol=1e-6) | np.isclose(inside[:, 1], expected_high, rtol=1e-6))
    compare = by_gid(ax, "tokens-compare")
    assert [c.get_label() for c in compare] == ["Hoffmann et al. (2022)", "same fit"]
    np.testing.assert_allclose(compare[0].get_ydata(), dn_ratio(HOFFMANN, C), rtol=1e-10)
    np.testing.assert_allclose(compare[1].get_ydata(), table["D_over_N"], rtol=1e-10)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(labels) == 5 and any("95% bootstrap interval" in t for t in labels)
    assert any(t.startswith("extrapolation") for t in labels)  # the compute outside the fitted runs is shaded


def test_tokens_rejects_bad_inputs(fit):
    with pytest.raises(ValueError, match="compute values"):
        plot.tokens_per_parameter(fit, C=[1e20])
    with pytest.raises(ValueError, match="missing"):
        plot.tokens_per_parameter(fit, compare={"bad": {"A": 1.0}})


# ---------------------------------------------------------------------- residuals
def test_residuals_two_panels_values_and_delta_band(fit, data):
    fig = plot.residuals(fit, data)
    ax_n, ax_d = fig.axes[:2]
    assert len(fig.axes) == 3  # two panels and a colour bar
    expected = np.log(data["loss"]) - np.log(fit.predict(N=data["N"], D=data["D"]))
    for ax, column, label in ((ax_n, "N", "parameters N"), (ax_d, "D", "training tokens D")):
        (points,) = by_gid(ax, "residuals-data")
        np.testing.assert_allclose(points.get_offsets()[:, 0], data[column])
        np.testing.assert_allclose(points.get_offsets()[:, 1], expected, atol=1e-12)
        assert ax.get_xscale() == "log" and ax.get_xlabel() == label
        (band,) = by_gid(ax, "residuals-delta")
        ys = band.get_path().transformed(band.get_patch_transform()).vertices[:, 1] \
            if hasattr(band, "get_patch_transform") else band.get_xy()[:, 1]
        assert ys.min() == pytest.approx(-1e-3) and ys.max() == pytest.approx(1e-3)
        assert by_gid(ax, "residuals-zero")
    assert "log" in ax_n.get_ylabel()
    assert ax_n.get_legend() is not None and "0.001" in ax_n.get_legend().get_texts()[0].get_text()


# ---------------------------------------------------------------------- landscape
def test_landscape_counts_sum_to_starts(fit):
    ax = plot.landscape(fit)
    bars = by_gid(ax, "landscape-bar")
    heights = [b.get_height() for b in bars]
    assert sum(heights) == len(fit.starts) == 64
    assert heights[0] == fit.n_at_best()
    assert ax.get_title().startswith(f"{fit.n_at_best()} / 64 starts reach the best basin")
    assert ax.get_ylabel() == "number of starts"
    assert ax.get_legend() is not None


def test_landscape_groups_basins_lumps_the_rest_and_counts_non_finite(fit):
    objectives = np.r_[np.full(30, 1.0), 1.0 + 5e-10, np.full(20, 2.0), np.arange(3.0, 13.0), np.nan, np.inf, 0.5]
    objectives = objectives[:64] if objectives.size >= 64 else np.r_[objectives, np.full(64 - objectives.size, 50.0)]
    starts = fit.starts.copy()
    starts["objective"] = objectives
    fake = dataclasses.replace(fit, starts=starts)
    table = plot.basins(objectives, tol=1e-9)
    assert table["count"].sum() == 64
    assert table["objective"].iloc[0] == 0.5 and table["count"].iloc[1] == 31
    assert np.isnan(table["objective"].iloc[-1]) and table["count"].iloc[-1] == 2

    ax = plot.landscape(fake, max_basins=4)
    heights = [b.get_height() for b in by_gid(ax, "landscape-bar")]
    assert sum(heights) == 64
    assert heights[:4] == [1, 31, 20, 1]
    assert heights[-1] == 2  # non-finite
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert "more basins" in labels[-2] and labels[-1] == "non-finite"
    assert ax.get_title().startswith("1 / 64 starts")

    empty = dataclasses.replace(fit, starts=fit.starts.iloc[:0])
    with pytest.raises(ValueError, match="no per-start results"):
        plot.landscape(empty)


# ---------------------------------------------------------------------- every kind
def render(kind, fit, boot, data):
    result = boot if kind in plot.NEEDS_BOOTSTRAP else fit
    args = (result, data) if kind in plot.NEEDS_DATA else (result,)
    return plot.KINDS[kind](*args)


def test_kinds_registry():
    assert set(plot.KINDS) == {"isoflop", "contours", "pairs", "tokens", "residuals", "landscape"}
    assert plot.NEEDS_BOOTSTRAP == {"pairs"}
    assert plot.KINDS["tokens"] is plot.tokens_per_parameter


@pytest.mark.parametrize("kind", sorted(plot.KINDS))
def test_every_kind_saves_a_png_without_show_or_global_changes(kind, fit, boot, data, tmp_path, monkeypatch):
    def no_show(*args, **kwargs):
        raise AssertionError("plot functions must not call show()")

    monkeypatch.setattr(plt, "show", no_show)
    backend = matplotlib.get_backend()
    rc_before = dict(matplotlib.rcParams)
    out = render(kind, fit, boot, data)
    fig = out if isinstance(out, matplotlib.figure.Figure) else out.figure
    assert isinstance(out, (matplotlib.figure.Figure, matplotlib.axes.Axes))
    path = tmp_path / f"{kind}.png"
    fig.savefig(path, dpi=60)
    payload = path.read_bytes()
    assert payload[:8] == b"\x89PNG\r\n\x1a\n" and len(payload) > 5_000
    assert matplotlib.get_backend() == backend
    assert dict(matplotlib.rcParams) == rc_before
    for ax in fig.axes:
        for text in [ax.xaxis.label, ax.yaxis.label, ax.title]:
            assert "None" not in text.get_text()


def test_missing_matplotlib_gives_install_hint(monkeypatch):
    monkeypatch.delitem(sys.modules, "jaxscale.plot")
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "jaxscale\[plot\]"'):
        importlib.import_module("jaxscale.plot")
