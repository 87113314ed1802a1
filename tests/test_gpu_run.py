"""benchmarks/gpu_run.py (the one-run accelerator proof) works end to end before any GPU time is spent."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import JIT_CACHE, REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_run  # noqa: E402

REF_OBJECTIVE = 0.00101827401780


def test_tiny_run_end_to_end(tmp_path, chinchilla_csv):
    env = {**os.environ, **JIT_CACHE, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "benchmarks/gpu_run.py", "--tiny", "--data", str(chinchilla_csv),
                          "--out", str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    import jax

    kind = jax.default_backend()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [f"gpu_run_tiny_{kind}.json"]  # on a CPU no *_gpu.json is ever written
    report = json.loads((tmp_path / files[0]).read_text())
    assert report["tiny"] is True and report["data"] == str(chinchilla_csv.resolve())
    env_info = report["environment"]
    for key in ("device_kind", "device_platform", "backend", "jax", "jaxlib", "environment_info", "devices"):
        assert env_info[key], key
    assert env_info["backend"] == kind
    smoke = report["smoke_tests"]
    assert smoke["status"] == "passed" and smoke["counts"]["passed"] == 2 and smoke["per_test"] == {"passed": 2}
    for name in ("default", "exhaustive"):
        assert abs(report["P1"][name]["objective"] - REF_OBJECTIVE) <= 1e-9
        assert report["P1"][name]["repeat_identical_objective"]
    p3 = report["P3"]
    assert p3["resamples"] == 8 and p3["repeat_max_abs_objective_diff"] == 0.0 and p3["converged_share"] == 1.0
    p2 = report["P2"]
    assert p2["complete"] and p2["n_done"] == 8 and p2["fits_done"] == 8 * 30
    assert sum(c["resamples"] for c in p2["calls"]) == 8 and p2["fits_per_s_after_first_call"] > 0
    for strategy in ("subgrid", "best"):
        a = p2["agreement"][strategy]
        low, high = a["wilson95"]
        assert 0 <= low <= a["share"] <= high <= 1 and a["within_tolerance"] <= 8
    assert p2["agreement"]["subgrid"]["starts_per_resample"] == 16
    assert "P2 exhaustive: 8/8 resamples" in out.stdout and report["total_s"] < report["budget_s"]


def fake_bootstrap(seconds_per_resample):
    """Stands in for js.bootstrap in the budget logic: the exhaustive grid sleeps in proportion to the resamples."""
    def call(js, runs, indices, starts, estimate=None, exhaustive=False, chunk=None):
        time.sleep(seconds_per_resample * len(indices) if exhaustive else 0.0)
        return SimpleNamespace(objective=np.zeros(len(indices)), recipe={"n_starts": 1})
    return call


@pytest.mark.parametrize("budget_s, complete", [(0.6, False), (30.0, True)])
def test_p2_stops_at_a_prefix_that_fits_the_budget(monkeypatch, budget_s, complete):
    monkeypatch.setattr(gpu_run, "call_bootstrap", fake_bootstrap(0.01))
    grid = np.zeros((3, 5))
    started = time.perf_counter()
    entry = gpu_run.p2(None, None, np.zeros((200, 4), int), grid, None, chunk=4,
                       deadline=started + budget_s, reserve_s=0.0, tol=1e-9)
    elapsed = time.perf_counter() - started  # the agreement step's fakes take no time
    assert entry["complete"] is complete
    assert sum(c["resamples"] for c in entry["calls"]) == entry["n_done"] and entry["fits_done"] == 3 * entry["n_done"]
    if complete:
        assert entry["n_done"] == 200 and entry["stop_reason"] == "all resamples done"
    else:  # 200 resamples need 2 s: a prefix, in whole chunks, said so, and the budget kept
        assert 8 <= entry["n_done"] < 200 and entry["n_done"] % 4 == 0
        assert entry["stop_reason"].startswith("time budget")
        assert elapsed < budget_s + 0.3
    assert entry["agreement"]["resamples"] == entry["n_done"]


def test_p2_shrinks_the_chunk_on_a_slow_device(monkeypatch):
    """At P1's rate two chunks of 50 would not fit 0.6 s: the chunk shrinks, and it is reported."""
    monkeypatch.setattr(gpu_run, "call_bootstrap", fake_bootstrap(0.01))
    entry = gpu_run.p2(None, None, np.zeros((200, 4), int), np.zeros((3, 5)), None, chunk=50,
                       deadline=time.perf_counter() + 0.6, reserve_s=0.0, tol=1e-9, prior_fits_per_s=110.0)
    assert entry["chunk_resamples_asked"] == 50 and entry["chunk_resamples"] == 8  # int(0.4 * ~0.6 * 110 / 3)
    assert entry["calls"][0]["resamples"] == 8 and not entry["complete"]
