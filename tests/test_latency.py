"""Issue 16, the first answer fast: shape buckets that are exact, samplers that draw the same integers on
padded shapes, no recompilation within a bucket, the compilation cache on by default (never over the
user's own JAX cache directory)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale.engine import cluster_resampling, resampling
from jaxscale.engine.batching import default_lanes, pad_data, row_bucket

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------- the samplers before issue 16, written out
@partial(jax.jit, static_argnames=("n_rows", "n_draws"))
def _reference_counts(seed, ids, n_rows: int, n_draws: int):
    base = jax.random.PRNGKey(seed)

    def one(r):
        rows = jax.random.randint(jax.random.fold_in(base, r), (n_draws,), 0, n_rows)
        return jnp.zeros(n_rows, jnp.int32).at[rows].add(1)

    return jax.vmap(one)(ids)


@partial(jax.jit, static_argnames=("max_size",))
def _reference_stratified(seed, ids, sizes, max_size: int):
    base = jax.random.PRNGKey(seed)
    slots = jnp.arange(max_size)

    def one(r):
        key_r = jax.random.fold_in(base, r)

        def group(g, size):
            key_g = jax.random.fold_in(key_r, g)
            draw = jax.vmap(lambda j: jax.random.randint(jax.random.fold_in(key_g, j), (), 0, jnp.maximum(size, 1)))
            return jnp.zeros(max_size, jnp.int32).at[draw(slots)].add((slots < size).astype(jnp.int32))

        return jax.vmap(group)(jnp.arange(sizes.shape[0]), sizes)

    return jax.vmap(one)(ids)


def _reference_cluster(seed, stream, ids, codes, n_draws):
    n_clusters = int(codes.max()) + 1
    base = jax.random.fold_in(jax.random.PRNGKey(jnp.asarray(seed, jnp.uint32)), jnp.asarray(stream, jnp.uint32))
    keys = jax.vmap(lambda r: jax.random.fold_in(base, r))(jnp.asarray(ids, jnp.uint32))
    picks = jax.vmap(lambda key: jax.random.randint(key, (n_draws,), 0, n_clusters))(keys)
    counts = np.stack([np.bincount(np.asarray(p), minlength=n_clusters + 1) for p in picks])
    counts[:, n_clusters] = 0
    return counts[:, np.where(codes < 0, n_clusters, codes)].astype(np.float64)


@pytest.mark.parametrize("n_rows, n_draws, ids", [(217, None, range(5, 1005)), (12, 30, [3, 9])])
def test_case_resamples_are_the_same_integers_on_padded_shapes(n_rows, n_draws, ids):
    ids = np.array(list(ids))
    expected = np.asarray(_reference_counts(jnp.asarray(1, jnp.uint32), jnp.asarray(ids, jnp.uint32), n_rows,
                                            n_draws or n_rows))
    got = resampling.resample_counts(1, ids, n_rows, n_draws)
    assert got.shape == expected.shape and np.array_equal(got, expected)


def test_stratified_and_cluster_resamples_are_the_same_integers():
    sizes = np.array([5, 9, 3], np.int32)
    ids = np.arange(100, 177)
    expected = np.asarray(_reference_stratified(jnp.asarray(2, jnp.uint32), jnp.asarray(ids, jnp.uint32),
                                                jnp.asarray(sizes), 9))
    assert np.array_equal(resampling.stratified_counts(2, ids, sizes), expected)
    codes = np.array([0, 0, 1, 2, -1, 2, 3, 3, 1])
    for ids, stream, draws in ((np.arange(50, 300), 1, 7),):
        got = cluster_resampling.cluster_counts(3, ids, codes, stream=stream, n_draws=None if draws == 4 else draws)
        assert np.array_equal(got, _reference_cluster(3, stream, ids, codes, draws))


# ---------------------------------------------------------------------- buckets
def _power_law_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e6, 1e10, n)
    return pd.DataFrame({"x": x, "loss": (1.8 + 40 * x ** -0.12) * np.exp(0.004 * rng.standard_normal(n))})


def test_row_buckets_and_lanes_follow_the_bucket():
    assert [row_bucket(n) for n in (1, 12, 64, 65, 217, 240, 256, 257, 8192, 8193, 10_000)] == \
        [64, 64, 64, 128, 256, 256, 256, 512, 8192, 16384, 16384]
    assert default_lanes(217) == default_lanes(240) == default_lanes(256) == 64
    assert default_lanes(30) == 256 and default_lanes(108) == 128


def test_padding_adds_exact_zeros_to_the_objective():
    """A padded data set minimises the same function: weight-0 copies of a real row add exactly 0."""
    from jaxscale.engine.precision import float64
    from jaxscale.kernels.solvers.objective import evaluate

    runs = js.datasets.synthetic(sizes_per_budget=5, seed=3)  # 45 rows -> bucket 64
    log_x = np.log(runs[["N", "D"]].to_numpy())
    log_y = np.log(runs["loss"].to_numpy())
    weights = np.random.default_rng(0).integers(0, 3, size=(2, len(runs))).astype(float)
    px, py, pw = pad_data(log_x, log_y, weights)
    assert px.shape == (64, 2) and py.shape == (64,) and pw.shape == (2, 64)
    assert np.all(pw[:, len(runs):] == 0) and np.all(px[len(runs):] == log_x[0])
    theta = np.array([6.0, 6.0, 0.5, 0.34, 0.28])
    at = jax.jit(partial(evaluate, js.CHINCHILLA, js.huber(1e-3)))
    with float64():
        for w, w_padded in zip(weights, pw):
            a = at(jnp.asarray(theta), jnp.asarray(log_x), jnp.asarray(log_y), jnp.asarray(w))
            b = at(jnp.asarray(theta), jnp.asarray(px), jnp.asarray(py), jnp.asarray(w_padded))
            np.testing.assert_allclose(float(b.value), float(a.value), rtol=1e-14)
            np.testing.assert_allclose(np.asarray(b.grad), np.asarray(a.grad), rtol=1e-12, atol=1e-300)
            np.testing.assert_allclose(np.asarray(b.gauss_newton), np.asarray(a.gauss_newton), rtol=1e-12)


def test_padded_fit_reports_the_numpy_objective_of_its_end_point():
    """A fit on 100 rows runs on 128 (28 weight-0 rows); its objective is the Huber sum over the 100 real
    rows, written out in numpy (power law L = E + A x^-alpha, theta = (log A, log E, alpha))."""
    data = _power_law_data(100, seed=5)
    res = js.fit(data, law="power_law")
    a, e, alpha = np.asarray(res.theta)
    log_x = np.log(data.x.to_numpy())
    r = np.log(data.loss.to_numpy()) - np.logaddexp(a - alpha * log_x, e)
    huber = np.where(np.abs(r) <= 1e-3, 0.5 * r * r, 1e-3 * (np.abs(r) - 0.5e-3)).sum()
    assert abs(res.objective - huber) <= 1e-12 * huber


# ---------------------------------------------------------------------- no recompilation within a bucket
class _Compiles:
    def __init__(self):
        self.count = 0
        jax.monitoring.register_event_duration_secs_listener(self)

    def __call__(self, event, seconds, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            self.count += 1


_COUNTER = _Compiles()


def test_no_recompile_for_another_row_count_or_n_resamples_in_a_bucket():
    first = _power_law_data(70)
    js.fit(first, law="power_law")
    js.bootstrap(first, law="power_law", n_resamples=40, search=js.Search(starts="best"), runner=js.Runner(progress=False))
    before = _COUNTER.count
    for n in (100, 128, 90):  # all in the bucket of 128 rows
        data = _power_law_data(n, seed=n)
        js.fit(data, law="power_law")
        js.bootstrap(data, law="power_law", n_resamples=n + 17, search=js.Search(starts="best"), runner=js.Runner(progress=False))
    assert _COUNTER.count == before


def test_one_lane_program_serves_fit_bootstrap_and_every_levenberg_marquardt_variant():
    """Issue 16's "one program per (law, loss, solver, stage)": after a fit (screening + continuation), a
    warm-start bootstrap (lm-warm), a subgrid bootstrap (lm, every start), an lm-exact fit and another
    n_resamples build no new lane program; the settings and the budget are values of the one program."""
    from jaxscale.engine.batching import lane_program

    data = _power_law_data(300, seed=5)  # the bucket of 512 rows: no other test fits power_law there
    before = lane_program.cache_info().misses
    js.fit(data, law="power_law")
    after_fit = lane_program.cache_info().misses
    assert after_fit - before <= 1
    quiet = js.Runner(progress=False)
    js.bootstrap(data, law="power_law", n_resamples=30, search=js.Search(starts="best"), runner=quiet)
    js.bootstrap(data, law="power_law", n_resamples=1, search=js.Search(starts="best"), runner=quiet)  # 1 task
    js.bootstrap(data, law="power_law", n_resamples=50, search=js.Search(starts="subgrid"), runner=quiet)
    js.fit(data, law="power_law", search=js.Search(solver="lm-exact"))
    js.fit(data.iloc[:260], law="power_law", search=js.Search(starts=40, prune=8))
    assert lane_program.cache_info().misses == after_fit


# ---------------------------------------------------------------------- the compilation cache at import
def _import_note(**env) -> dict:
    code = ("import json, jax, jaxscale as js; print(json.dumps({'dir': jax.config.jax_compilation_cache_dir, "
            "'min': jax.config.jax_persistent_cache_min_compile_time_secs, 'note': js.compilation_cache_note()}))")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "JAXSCALE_CACHE",
                                                                    "JAX_PERSISTENT_CACHE"))}
    base.update(env, PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_compilation_cache_on_at_import_off_by_env_and_never_over_the_users(tmp_path):
    mine = _import_note(JAXSCALE_CACHE_DIR=str(tmp_path / "mine"))
    assert mine["dir"] == str(tmp_path / "mine") and mine["min"] == 0.0 and "turns it off" in mine["note"]
    assert _import_note(JAXSCALE_CACHE_DIR="off")["dir"] in (None, "")
    users = _import_note(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "users"))
    assert users["dir"] == str(tmp_path / "users") and "left as configured" in users["note"]
