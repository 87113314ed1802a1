"""A real Dask LocalCluster (2 worker processes): chunks run remotely give the local bits, even when a worker dies."""
from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import jaxscale as js
from conftest import JIT_CACHE
from jaxscale.api.problem import prepare
from jaxscale.engine.scheduler import RowsJob, run_rows

distributed = pytest.importorskip("distributed")

STARTS = js.chinchilla_grid()[::900]  # 5 starts
RUN = dict(n_resamples=24, starts=STARTS, seed=7, progress=False)


@pytest.fixture(scope="module")
def client():
    # worker processes share a persistent XLA cache: a restarted worker reloads instead of recompiling
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       env={**JIT_CACHE, "JAX_PLATFORMS": "cpu"})
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    return js.datasets.synthetic(noise=0.02, seed=11)


@pytest.fixture(scope="module")
def estimate(data):
    return js.fit(data, starts=STARTS)


@pytest.fixture(scope="module")
def local(data, estimate):
    return js.bootstrap(data, estimate=estimate, **RUN)


def same_draws(a, b):
    for name in ("theta", "objective", "converged", "n_at_best"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_cluster_bit_identical_to_local(client, data, estimate, local):
    same_draws(js.bootstrap(data, estimate=estimate, executor=client, chunk_size=20, **RUN), local)
    # the plain concurrent.futures view of the same cluster, other chunks
    same_draws(js.bootstrap(data, estimate=estimate, executor=client.get_executor(pure=False), chunk_size=30, **RUN),
               local)


def test_workers_compile_once_per_shape_not_per_chunk(client, data):
    """12 equal chunks on 2 workers: at most each worker's first chunk compiles. (A new Levenberg-Marquardt
    setting, max_iter=397, is a value of the compiled program: workers that already ran the law compile
    nothing at all.)"""
    problem = prepare(data)
    law, loss, _, log_x, log_y = problem.law, problem.loss, problem.solver, problem.log_x, problem.log_y
    job = RowsJob(js.LevenbergMarquardt(max_iter=397), law, loss, log_x, log_y, STARTS, seed=7)
    out = run_rows(job, 24, executor=client, chunk_size=10, progress=False)
    compiling = [t for t in out.stats["chunk_timings"] if t[3] > 0]
    assert len(out.stats["chunk_timings"]) == 12 and len(compiling) <= 2, out.stats["chunk_timings"]


def test_worker_killed_mid_run(client, data, estimate, local, tmp_path):
    folder = tmp_path / "ck"
    outcome = {}

    def run():
        try:
            outcome["boot"] = js.bootstrap(data, estimate=estimate, executor=client, chunk_size=10, retries=3,
                                           checkpoint=folder, **RUN)
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = err

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 300
    while not list(folder.glob("chunk_*.npz")) and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    victim = sorted(client.run(os.getpid).values())[0]
    os.kill(victim, signal.SIGKILL)
    written_at_kill = len(list(folder.glob("chunk_*.npz")))
    worker.join(timeout=600)
    assert "error" not in outcome, outcome.get("error")
    assert 1 <= written_at_kill < 12  # 24 resamples in chunks of 2: the kill came partway
    assert victim not in client.run(os.getpid).values()  # that worker really died (the nanny started another)
    same_draws(outcome["boot"], local)


def test_cli_runs_on_a_dask_scheduler(client, tmp_path):
    """`jaxscale bootstrap ... --dask ADDRESS` sends the chunks to the cluster and matches a local run."""
    import subprocess
    import sys

    address = client.scheduler.address
    out = subprocess.run([sys.executable, "-m", "jaxscale", "bootstrap", "synthetic", "--resamples", "12", "--starts",
                          "4", "--seed", "1", "--chunk-size", "16", "--dask", address, "--no-progress", "--out",
                          str(tmp_path / "boot.npz")], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **JIT_CACHE})
    assert out.returncode == 0, out.stderr
    same_draws(js.load(tmp_path / "boot.npz"), js.bootstrap(js.datasets.synthetic(), n_resamples=12, starts=4, seed=1))
