"""Bootstrap: Epoch parity on real data, determinism, resumability, persistence, intervals."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale.engine.resampling import counts_from_indices, resample_counts

HOFFMANN = np.array([6.0073404, 6.0179186, 0.5267228, 0.33917084, 0.2849083])
EPOCH_DRAW0 = {"A": 349.5564, "B": 2356.2483, "E": 1.79333, "alpha": 0.328633, "beta": 0.371855}
EPOCH_SE = {"A": 124.52, "B": 1293.28, "E": 0.0257, "alpha": 0.0154, "beta": 0.0206}


def epoch_indices(data, n_resamples=4000):
    """Epoch's exact protocol: np.random.seed(42); all resamples drawn before any fit."""
    np.random.seed(42)
    kept = np.arange(5, 245)
    labels = np.array([np.random.choice(kept, size=240, replace=True) for _ in range(n_resamples)])
    positions = data.index.get_indexer(labels.ravel()).reshape(labels.shape)
    assert (positions >= 0).all()
    return positions


@pytest.fixture(scope="module")
def epoch_boot(chinchilla_240):
    return js.bootstrap(chinchilla_240, indices=epoch_indices(chinchilla_240), starts=HOFFMANN)


def test_epoch_draw0(epoch_boot):
    draw0 = epoch_boot.draws.iloc[0]
    for name, value in EPOCH_DRAW0.items():
        assert draw0[name] == pytest.approx(value, rel=1e-4), name


def test_epoch_standard_errors(epoch_boot):
    table = epoch_boot.summary()
    for name, se in EPOCH_SE.items():
        assert table.loc[name, "se"] == pytest.approx(se, rel=0.02), name
    assert epoch_boot.converged.mean() > 0.99
    assert table.loc["a_opt", "estimate"] == pytest.approx(0.514, abs=2e-3)


def test_counts_from_indices_and_errors():
    counts = counts_from_indices(np.array([[0, 0, 2], [1, 2, 2]]), 3)
    np.testing.assert_array_equal(counts, [[2, 0, 1], [0, 1, 2]])
    with pytest.raises(ValueError, match=r"indices\[0, 1\] = 7 .*get_indexer"):
        counts_from_indices(np.array([[0, 7]]), 3)


def test_resamples_depend_only_on_seed_and_index():
    whole = resample_counts(3, np.arange(10), 50)
    parts = np.concatenate([resample_counts(3, np.arange(0, 4), 50), resample_counts(3, np.arange(4, 10), 50)])
    np.testing.assert_array_equal(whole, parts)
    assert (whole.sum(axis=1) == 50).all()
    assert not np.array_equal(whole, resample_counts(4, np.arange(10), 50))


@pytest.fixture(scope="module")
def small_data():
    return js.datasets.synthetic(noise=0.02, seed=11)


def small_boot(data, **kw):
    kw.setdefault("starts", js.chinchilla_grid()[::500])
    kw.setdefault("n_resamples", 12)
    return js.bootstrap(data, seed=5, estimate=js.fit(data, starts=kw["starts"]), **kw)


def assert_same_draws(a, b):
    for name in ("theta", "objective", "converged", "n_at_best"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture(scope="module")
def small_estimate(small_data):
    return js.fit(small_data, starts=js.chinchilla_grid()[::500])


def test_default_settings_bit_identical_across_chunk_sizes(small_data, small_estimate):
    """Default lanes: chunks of 7 fits, 64 fits and the timed default give the same bits."""
    kw = dict(n_resamples=40, starts="best", seed=3, estimate=small_estimate)
    default = js.bootstrap(small_data, **kw)
    for size in (7, 64):
        assert_same_draws(js.bootstrap(small_data, chunk_size=size, **kw), default)
    multi = dict(kw, n_resamples=9, starts=js.chinchilla_grid()[::900])  # 5 starts + polish per resample
    assert_same_draws(js.bootstrap(small_data, chunk_size=7, **multi), js.bootstrap(small_data, **multi))


def test_first_draws_do_not_depend_on_n_resamples(small_data, small_estimate):
    kw = dict(starts="best", seed=3, estimate=small_estimate)
    few, many = js.bootstrap(small_data, n_resamples=10, **kw), js.bootstrap(small_data, n_resamples=200, **kw)
    for name in ("theta", "objective", "converged", "n_at_best"):
        np.testing.assert_array_equal(getattr(many, name)[:10], getattr(few, name), err_msg=name)


def test_resume_equals_uninterrupted(small_data, tmp_path):
    full = small_boot(small_data, chunk_size=20, checkpoint=tmp_path / "full")
    parts = sorted((tmp_path / "full").glob("chunk_*.npz"))
    assert len(parts) == 6  # 10 starts per resample, 2 resamples per chunk
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    shutil.copy(tmp_path / "full" / "recipe.json", interrupted)
    for p in parts[:3]:  # a run killed after three chunks
        shutil.copy(p, interrupted)
    resumed = small_boot(small_data, chunk_size=20, checkpoint=interrupted)
    assert_same_draws(full, resumed)
    assert_same_draws(full, small_boot(small_data))
    longer = small_boot(small_data, chunk_size=30, checkpoint=interrupted, n_resamples=15)  # extends the run
    assert_same_draws(longer, small_boot(small_data, n_resamples=15))
    with pytest.raises(ValueError, match="different run"):
        small_boot(small_data, chunk_size=20, checkpoint=interrupted, starts=js.chinchilla_grid()[::400])


def test_save_load_bit_exact(small_data, tmp_path):
    boot = small_boot(small_data)
    path = boot.save(tmp_path / "run.jaxscale")
    back = js.load(path)
    np.testing.assert_array_equal(back.theta, boot.theta)
    pd.testing.assert_frame_equal(back.summary(), boot.summary())
    assert back.recipe["seed"] == 5 and back.recipe["loss"] == "huber" and back.recipe["delta"] == 1e-3
    assert "jax" in back.recipe["versions"]


def test_summary_ci_and_derived(small_data):
    boot = small_boot(small_data, n_resamples=40)
    table = boot.summary(level=0.9)
    assert list(table.index) == ["A", "B", "E", "alpha", "beta", "a_opt", "b_opt", "G"]
    for name in ("alpha", "beta", "E"):
        lo, hi = boot.ci(name, 0.9)
        assert lo < table.loc[name, "estimate"] < hi
        assert table.loc[name, "se"] > 0
        blo, bhi = boot.ci(name, 0.9, method="bca")
        assert blo < bhi and np.isfinite([blo, bhi]).all()
    frontier = boot.compute_optimal(np.array([1e21, 1e23]))
    assert (frontier["N_opt_low"] <= frontier["N_opt_high"]).all() and len(frontier) == 2
    pred = boot.predict(N=1e9, D=2e10)
    assert pred.loc[0, "loss_low"] <= pred.loc[0, "loss"] <= pred.loc[0, "loss_high"]
    corr = boot.corr()
    np.testing.assert_allclose(np.diag(corr), 1.0)
    assert boot.cov(log=True).shape == (5, 5)


def test_grid_beats_single_start(small_data):
    """Per resample, the full grid's best objective is never worse than the single-start protocol."""
    grid = small_boot(small_data, starts=js.chinchilla_grid()[::45])
    single = small_boot(small_data, starts=HOFFMANN)
    assert (grid.objective <= single.objective + 1e-12).all()


def test_bad_bootstrap_arguments(small_data):
    with pytest.raises(ValueError, match="starts='everything'"):
        js.bootstrap(small_data, starts="everything")
    with pytest.raises(ValueError, match="n_resamples"):
        js.bootstrap(small_data, n_resamples=0, starts=HOFFMANN)


SHARD_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, jaxscale as js, jax
    data = js.datasets.synthetic(noise=0.02, seed=11)
    starts = js.chinchilla_grid()[::900]
    est = js.fit(data, starts=starts)
    for devices in (1, 2, 4):
        boot = js.bootstrap(data, n_resamples=12, starts=starts, seed=5, estimate=est, devices=devices)
        np.save(f"{sys.argv[1]}_{devices}.npy", np.c_[boot.theta, boot.objective, boot.n_at_best])
    print(len(jax.devices()))
""")


def test_same_draws_on_1_2_4_host_devices(tmp_path, small_data):
    """Default settings, one process with 4 host devices sharding over 1, 2 and 4 of them, and this process."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-c", SHARD_SCRIPT, str(tmp_path / "draws")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "4"
    starts = js.chinchilla_grid()[::900]
    here = js.bootstrap(small_data, n_resamples=12, starts=starts, seed=5, estimate=js.fit(small_data, starts=starts))
    expected = np.c_[here.theta, here.objective, here.n_at_best]
    for devices in (1, 2, 4):
        np.testing.assert_array_equal(np.load(tmp_path / f"draws_{devices}.npy"), expected, err_msg=f"{devices}")


def test_subgrid_and_prune_strategies(small_data):
    est = js.fit(small_data, starts=js.chinchilla_grid()[::500])
    sub = js.bootstrap(small_data, n_resamples=6, starts="subgrid", n_subgrid=4, seed=2, estimate=est)
    best = js.bootstrap(small_data, n_resamples=6, starts="best", seed=2, estimate=est)
    assert sub.recipe["n_starts"] == 4 and best.recipe["n_starts"] == 1
    assert (sub.objective <= best.objective + 1e-12).all()
    pruned = js.bootstrap(small_data, n_resamples=3, starts="prune", prune=4, prune_iter=10, seed=2,
                          estimate=est)
    assert pruned.recipe["n_starts"] == 4500 and pruned.converged.all()
