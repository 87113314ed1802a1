"""The default multi-start strategy: pruned screening + resumed continuation, warm bootstraps, lanes, cores.

The full proof (Epoch's data and 33 synthetic data sets against the exhaustive grid) is
``benchmarks/bench_strategy.py`` (results in ``benchmarks/results/bench_strategy_cpu.json``); these
tests check the same properties on a few data sets.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale.engine.batching import LANE_MEMORY, default_lanes
from jaxscale.engine.multistart import PRUNE_ITER, PRUNE_KEEP, SUBSAMPLE_ROWS, subsample

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from proof_datasets import HARD, SPECS, make  # noqa: E402

HOFFMANN = np.array([6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083])


def spec_frame(name: str) -> pd.DataFrame:
    for i, spec in enumerate(SPECS):
        if spec[0] == name:
            return make(spec, 1000 + i)
    spec, seed = next((s, seed) for s, seed in HARD if s[0] == name)
    return make(spec, seed)


@pytest.fixture(scope="module")
def few():
    frame = spec_frame("few-24")
    return frame, js.fit(frame), js.fit(frame, prune=None)


def test_continued_starts_end_exactly_where_unpruned_runs_end(few):
    """A continued start resumes its lane state: same end point, bit for bit, as running it alone."""
    _, pruned, full = few
    kept = pruned.starts["status"] != "pruned"  # continued, or stopped on their own while screened
    assert kept.sum() >= PRUNE_KEEP
    cols = ["a", "b", "e", "alpha", "beta", "objective", "iterations", "converged"]
    pd.testing.assert_frame_equal(pruned.starts.loc[kept, cols], full.starts.loc[kept, cols])
    # the best of all 4500 converged starts is the same optimum (other starts end on it to rounding)
    assert abs(pruned.objective - full.objective) <= 1e-12 * full.objective


def test_pruned_starts_are_flagged(few):
    _, pruned, _ = few
    st = pruned.starts
    gone = st[st["status"] == "pruned"]
    # the others were continued (PRUNE_KEEP) or stopped on their own while screened
    assert 0.9 * len(st) <= len(gone) <= len(st) - PRUNE_KEEP
    assert not gone["converged"].any()
    assert (gone["iterations"] == PRUNE_ITER).all()  # screened for PRUNE_ITER evaluations, then stopped
    assert "pruned multi-start" in pruned.summary()
    assert pruned.recipe["prune"] == PRUNE_KEEP and pruned.recipe["prune_iter"] == PRUNE_ITER


@pytest.mark.parametrize("name", ["few-24", "hard-grid-negbeta"])
def test_default_reaches_exhaustive_irls_optimum(name):
    """On a hard landscape (38 of 4500 starts reach the best basin) too."""
    frame = spec_frame(name)
    reference = js.fit(frame, solver="lm-irls", prune=None, polish=8)
    default = js.fit(frame)
    assert default.objective <= reference.objective + 1e-11


def test_results_do_not_depend_on_devices(few):
    import jax

    if jax.local_device_count() < 2:
        pytest.skip("one local device")
    frame, pruned, _ = few
    one = js.fit(frame, devices=1)
    pd.testing.assert_frame_equal(one.starts, pruned.starts)
    np.testing.assert_array_equal(one.theta, pruned.theta)


def test_continued_starts_are_honest_against_scipy(grid_fit, chinchilla_240):
    """Every sampled continued start: end objective <= scipy L-BFGS-B (exact gradient) + 1e-9, or flagged."""
    from conftest import scipy_fit

    log_n, log_d, log_l = (np.log(chinchilla_240[c].to_numpy()) for c in ("N", "D", "loss"))
    st = grid_fit.starts
    kept = st.index[st["status"] != "pruned"].to_numpy()
    worse = []
    for k in np.random.default_rng(7).choice(kept, size=12, replace=False):
        ref = scipy_fit(js.chinchilla_grid()[k], log_n, log_d, log_l, ftol=1e-15, gtol=1e-12, maxiter=15000)
        if st.loc[k, "converged"] and not st.loc[k, "objective"] <= ref.fun + 1e-9:
            worse.append((k, st.loc[k, "objective"], ref.fun))
    assert not worse


def test_warm_bootstrap_matches_irls_per_resample(chinchilla_240, grid_fit):
    """One start per resample: the default solver is lm-warm, and every resample's optimum is the IRLS one."""
    warm = js.bootstrap(chinchilla_240, n_resamples=64, starts=HOFFMANN, seed=3, estimate=grid_fit)
    irls = js.bootstrap(chinchilla_240, n_resamples=64, starts=HOFFMANN, seed=3, estimate=grid_fit, solver="lm-irls")
    assert warm.recipe["solver"] == "lm-warm" and irls.recipe["solver"] == "lm-irls"
    assert warm.converged.all()
    np.testing.assert_allclose(warm.objective, irls.objective, rtol=0, atol=1e-11)


def test_lanes_fit_the_memory_budget():
    assert default_lanes(240, 5, backend="cpu") == 64
    for rows in (10**3, 10**4, 10**5, 10**6, 10**7):
        lanes = default_lanes(rows, 5, backend="cpu")
        assert lanes >= 1 and lanes & (lanes - 1) == 0
        assert lanes == 1 or lanes * rows * (5 + 12) * 8 <= LANE_MEMORY
    assert default_lanes(10**6, 5, backend="gpu") * 10**6 * 17 * 8 <= LANE_MEMORY


def test_large_data_screens_on_a_subsample():
    """More than SUBSAMPLE_ROWS rows: screening on a fixed subsample, the best ends fitted to all rows;
    the optimum equals the exhaustive full-data fit from the same starts."""
    rng = np.random.default_rng(5)
    n = SUBSAMPLE_ROWS + 1904
    N, D = 10 ** rng.uniform(7, 10.5, n), 10 ** rng.uniform(9, 12.5, n)
    frame = pd.DataFrame({"N": N, "D": D, "loss": (1.8 + 480 / N**0.35 + 2000 / D**0.37)
                          * np.exp(0.02 * rng.standard_normal(n))})
    starts = js.chinchilla_grid()[::45]
    fast = js.fit(frame, starts=starts, prune=8)
    full = js.fit(frame, starts=starts, prune=None)
    assert abs(fast.objective - full.objective) <= 1e-11 * max(1.0, full.objective)
    assert np.isnan(fast.starts["objective"]).sum() == len(starts) - 8  # only seen on the subsample
    rows = subsample(n)
    assert len(rows) == SUBSAMPLE_ROWS and np.array_equal(rows, subsample(n))


def _python(code: str, **env) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES", ENV)}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


ENV = "JAXSCALE_CPU_DEVICES"
REPORT = "import jax, jaxscale as js; print(jax.local_device_count(), '|', js.cpu_devices_note())"


def test_import_asks_for_cpu_devices_and_respects_the_opt_out():
    count, note = _python(REPORT, **{ENV: "3"}).split(" | ")
    assert count == "3" and "3 CPU devices" in note
    count, note = _python(REPORT, **{ENV: "1"}).split(" | ")
    assert count == "1" and ENV in note
    count, note = _python("import jax; jax.numpy.zeros(1); " + REPORT, **{ENV: "3"}).split(" | ")
    assert count == "1" and "initialised before" in note and "jax_num_cpu_devices" in note
    count, note = _python(REPORT, **{ENV: "3", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}).split(" | ")
    assert count == "2" and "left as configured" in note


def test_bad_cpu_devices_value_is_a_clear_error():
    full = {**os.environ, ENV: "many"}
    out = subprocess.run([sys.executable, "-c", "import jaxscale"], capture_output=True, text=True, env=full,
                         timeout=120)
    assert out.returncode != 0 and f"{ENV}='many'" in out.stderr


def test_cli_keeps_compiled_programs_on_disk(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COMPILATION_CACHE")}
    env["JAXSCALE_CACHE_DIR"] = str(tmp_path / "xla")
    out = subprocess.run([sys.executable, "-m", "jaxscale", "demo", "--json"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert any((tmp_path / "xla").iterdir())
