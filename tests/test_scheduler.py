"""Chunk scheduling: atomic checksummed chunk files, fingerprints, resume after SIGKILL, retries, progress."""
from __future__ import annotations

import concurrent.futures as cf
import io
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import jaxscale as js
from conftest import JIT_CACHE
from jaxscale.api.problem import prepare
from jaxscale.engine import scheduler
from jaxscale.engine.batching import resolve_devices
from jaxscale.engine.multistart import best_of_starts
from jaxscale.engine.npzfile import CorruptFile, read_npz, write_npz
from jaxscale.engine.scheduler import RowsJob, progress_bar, run_rows

STARTS = js.chinchilla_grid()[::900]  # 5 starts


@pytest.fixture(scope="module")
def job():
    data = js.datasets.synthetic(noise=0.02, seed=11)
    problem = prepare(data)
    law, loss, solver, log_x, log_y = problem.law, problem.loss, problem.solver, problem.log_x, problem.log_y
    return RowsJob(solver, law, loss, log_x, log_y, STARTS, seed=4)


@pytest.fixture(scope="module")
def reference(job):
    return run_rows(job, 12, chunk_size=10 ** 6, progress=False)


def same_rows(a, b):
    for name in ("theta", "value", "converged", "n_at_best"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_npz_bytes_are_reproducible_and_corruption_is_detected(tmp_path):
    arrays = {"theta": np.arange(12.0).reshape(4, 3), "flag": np.array([True, False])}
    first, second = (write_npz(tmp_path / name, arrays, {"lo": 0}, checksum=True) for name in ("a.npz", "b.npz"))
    assert first.read_bytes() == second.read_bytes()  # a retried chunk writes the same bytes
    meta, back = read_npz(first, verify=True)
    np.testing.assert_array_equal(back["theta"], arrays["theta"])
    assert meta["lo"] == 0 and back["flag"].dtype == bool
    assert np.load(first)["theta"].shape == (4, 3)  # still a plain .npz
    raw = bytearray(first.read_bytes())
    offset = raw.index(np.float64(5.0).tobytes())
    raw[offset + 3] ^= 0x10  # one flipped bit inside the theta values
    first.write_bytes(bytes(raw))
    with pytest.raises(CorruptFile):
        read_npz(first)
    second.write_bytes(second.read_bytes()[:-40])  # truncated
    with pytest.raises(CorruptFile, match="unreadable"):
        read_npz(second)
    with pytest.raises(ValueError):
        write_npz(tmp_path / "c.npz", {"x": np.array([{"a": 1}], dtype=object)})  # would need pickle
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupt_chunks_are_recomputed_and_other_runs_never_reused(job, reference, tmp_path):
    folder = tmp_path / "ck"
    same_rows(run_rows(job, 12, checkpoint=folder, chunk_size=15, progress=False), reference)
    chunks = sorted(folder.glob("chunk_*.npz"))
    assert len(chunks) == 4 and all(job.fingerprint[:16] in p.name for p in chunks)
    good = {p.name: p.read_bytes() for p in chunks}
    raw = bytearray(chunks[1].read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped byte
    chunks[1].write_bytes(bytes(raw))
    chunks[2].write_bytes(good[chunks[2].name][:100])  # a torn write from a non-atomic copy
    with pytest.warns(RuntimeWarning, match="recomputing rows"):
        again = run_rows(job, 12, checkpoint=folder, chunk_size=15, progress=False)
    same_rows(again, reference)
    assert again.stats["corrupt"] == 2 and again.stats["chunks_reused"] == 2 and again.stats["chunks_computed"] == 2
    assert {p.name: p.read_bytes() for p in folder.glob("chunk_*.npz")} == good  # recomputed bit for bit

    (folder / "recipe.json").unlink()  # no guard left but the fingerprinted names
    other = RowsJob(job.solver, job.law, job.loss, job.log_x, job.log_y, STARTS, seed=5)
    mixed = run_rows(other, 12, checkpoint=folder, chunk_size=15, progress=False)
    assert mixed.stats["chunks_reused"] == 0 and other.fingerprint != job.fingerprint
    same_rows(mixed, run_rows(other, 12, chunk_size=60, progress=False))
    with pytest.raises(ValueError, match="different run"):
        run_rows(job, 12, checkpoint=folder, progress=False)  # recipe.json now names the seed-5 run


def test_resume_with_other_chunk_sizes_and_more_rows(job, reference, tmp_path):
    folder = tmp_path / "ck"
    run_rows(job, 7, checkpoint=folder, chunk_size=10, progress=False)  # rows 0..6 in chunks of 2
    longer = run_rows(job, 12, checkpoint=folder, chunk_size=20, progress=False)
    assert longer.stats["chunks_reused"] == 4 and longer.stats["chunks_computed"] == 2  # rows 7..10, 11
    same_rows(longer, reference)


class FlakyExecutor(cf.ThreadPoolExecutor):
    """Fails the first submission of every chunk (a worker lost mid-chunk)."""

    def __init__(self):
        super().__init__(max_workers=2)
        self.failed = set()

    def submit(self, fn, *args, **kwargs):
        lo = args[1]
        if lo not in self.failed:
            self.failed.add(lo)
            future = cf.Future()
            future.set_exception(ConnectionError(f"worker lost while running rows from {lo}"))
            return future
        return super().submit(fn, *args, **kwargs)


def test_executor_retries_failed_chunks(job, reference, tmp_path):
    with FlakyExecutor() as pool:
        out = run_rows(job, 12, executor=pool, retries=1, chunk_size=15, checkpoint=tmp_path / "ck", progress=False)
    same_rows(out, reference)
    assert out.stats["retries"] == 4 and len(list((tmp_path / "ck").glob("chunk_*.npz"))) == 4
    with FlakyExecutor() as pool, pytest.raises(RuntimeError, match=r"chunk of rows \d+\.\.\d+ failed 1 time.*worker lost"):
        run_rows(job, 12, executor=pool, retries=0, chunk_size=15, progress=False)
    with cf.ThreadPoolExecutor(1) as pool, pytest.raises(ValueError, match="devices must be None"):
        run_rows(job, 12, executor=pool, devices=resolve_devices(), progress=False)


def test_explicit_weight_rows_on_an_executor_equal_one_local_call(job):
    """Grouped fits are rows of 0/1 weights: chunks shipped to workers give what one local call gives."""
    rng = np.random.default_rng(0)
    masks = (rng.random((9, job.n_data)) < 0.7).astype(float)  # 9 "groups" of rows
    grouped = RowsJob(job.solver, job.law, job.loss, job.log_x, job.log_y, STARTS, weights=masks)
    with cf.ThreadPoolExecutor(2) as pool:
        out = run_rows(grouped, executor=pool, chunk_size=10, progress=False)  # 2 rows per chunk
    direct = best_of_starts(job.solver, job.law, job.loss, job.log_x, job.log_y, masks, STARTS)
    np.testing.assert_array_equal(out.theta, direct.theta)
    np.testing.assert_array_equal(out.value, direct.value)
    assert out.stats["chunks_computed"] == 5
    with pytest.raises(ValueError, match="only 9 explicit weight rows"):
        run_rows(grouped, 10, progress=False)


class JobLike:
    """A submitit-style job: done()/result()/cancel(), not a concurrent.futures.Future."""

    def __init__(self, fn, args):
        self.fn, self.args, self.polls = fn, args, 0

    def done(self):
        self.polls += 1
        return self.polls > 2  # "running" for the first two polls

    def result(self):
        return self.fn(*self.args)

    def cancel(self):
        return False


class SubmititLike:
    def submit(self, fn, *args):
        return JobLike(fn, args)


def test_executor_with_non_standard_futures(job, reference):
    same_rows(run_rows(job, 12, executor=SubmititLike(), chunk_size=30, progress=False), reference)


def test_timed_chunks_split_a_job_a_task_count_rule_kept_whole(job, reference, tmp_path):
    """A few thousand fits were one 65,536-task chunk; with a checkpoint (or an executor) a tight time
    budget cuts them into many chunks."""
    probe = -(-scheduler.PROBE_LANE_LOADS * job.n_lanes // job.n_starts)
    out = run_rows(job, probe + 6, chunk_seconds=1e-6, progress=False, checkpoint=tmp_path / "ck")
    assert out.stats["probe_rows"] == probe and out.stats["rows_per_chunk"] == 1
    assert out.stats["chunks_computed"] == 1 + 6
    same_rows(RowsResultSlice(out, 12), reference)  # the first rows never depend on the row count


def test_local_run_needs_no_probe(job, reference):
    """Issue 16: a local run without a checkpoint is not timed: a job that fits in one chunk runs as one
    (no probe chunk, no second compiled shape), whatever chunk_seconds says."""
    out = run_rows(job, 40, chunk_seconds=1e-6, progress=False)
    assert out.stats["probe_rows"] is None and out.stats["chunks_computed"] == 1
    same_rows(RowsResultSlice(out, 12), reference)


def RowsResultSlice(result, n):
    return result._replace(**{name: getattr(result, name)[:n] for name in ("theta", "value", "converged", "n_at_best")})


def test_progress_rate_counts_only_this_session():
    bar = progress_bar(1000, initial=900, enabled=True, file=io.StringIO(), mininterval=0)
    time.sleep(0.2)
    bar.update(100)
    info = bar.format_dict
    line = bar.format_meter(**info)
    bar.close()
    shown = re.search(r"([\d.]+)(k?)fits/s", line)
    assert shown is not None and "1.00k/1.00k" in line, line
    rate = float(shown.group(1)) * (1000 if shown.group(2) else 1)
    # a resumed run's 900 fits do not count: 100 fits in this session over the elapsed time
    assert rate == pytest.approx(100 / info["elapsed"], rel=0.01)
    assert progress_bar(10, enabled=False).disable


def test_bootstrap_progress_bar_on_stderr(capsys):
    data = js.datasets.synthetic(noise=0.02, seed=11)
    est = js.fit(data, starts=STARTS)
    js.bootstrap(data, n_resamples=4, starts="best", estimate=est, progress=True)
    assert "fits/s" in capsys.readouterr().err
    js.bootstrap(data, n_resamples=4, starts="best", estimate=est, progress=False)
    assert capsys.readouterr().err == ""


KILLED_ARGS = ("bootstrap", "synthetic", "--resamples", 120, "--starts", 4, "--seed", 2, "--chunk-size", 16,
               "--no-progress")


def test_sigkill_of_cli_run_then_rerun_is_bit_identical(tmp_path):
    folder = tmp_path / "ck"
    cmd = [sys.executable, "-m", "jaxscale", *map(str, KILLED_ARGS), "--checkpoint", str(folder),
           "--out", str(tmp_path / "boot.npz")]
    env = {**os.environ, **JIT_CACHE}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while len(list(folder.glob("chunk_*.npz"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("chunk_*.npz")}
    assert 3 <= len(before) < 30  # killed partway: 120 resamples x 4 starts in chunks of 16 fits
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    after = {p.name: p.stat().st_mtime_ns for p in folder.glob("chunk_*.npz")}
    assert len(after) == 30 and all(after[name] == stamp for name, stamp in before.items())  # reused, not rewritten
    resumed = js.load(tmp_path / "boot.npz")
    straight = js.bootstrap(js.datasets.synthetic(), n_resamples=120, starts=4, seed=2)
    for name in ("theta", "objective", "converged", "n_at_best"):
        np.testing.assert_array_equal(getattr(resumed, name), getattr(straight, name), err_msg=name)
