"""Cluster arrays without a Python executor (issue 21): ``bootstrap --plan DIR``, ``run-chunk DIR --index I`` as
separate processes (shuffled, one index twice at once, one killed mid-way and rerun), ``gather DIR`` equal to a
local ``bootstrap`` bit for bit; and the errors (index out of range, missing or corrupt chunks, a directory that
is not a plan, a plan of another format or setup).

Cost: one plan and one local bootstrap in this process (Epoch's 240 runs, 16 resamples from the full-data
optimum), four short ``run-chunk`` processes (two at a time), the rest in-process.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jaxscale as js
from conftest import JIT_CACHE
from jaxscale import cli
from jaxscale.api import chunks
from jaxscale.engine.npzfile import read_npz, write_npz

#: 16 resamples in chunks of 8 fits (one start each): 2 chunks. The local reference runs with the DEFAULT
#: chunking (one chunk of 16): the gathered result must not depend on the chunks.
OPTIONS = ["--resamples", "16", "--starts", "best", "--no-progress"]
N_CHUNKS = 2


def run_chunk_process(plan: Path, index: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "jaxscale", "run-chunk", str(plan), "--index", str(index)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **JIT_CACHE})


def finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def cli_run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str) -> str:
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("jaxscale: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def runs_csv(chinchilla_240, tmp_path_factory) -> Path:
    """Epoch's 240 Chinchilla runs as a CSV of N, D, loss (the fixture skips, with the reason, without the data)."""
    path = tmp_path_factory.mktemp("runs") / "chinchilla.csv"
    chinchilla_240.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def reference(runs_csv, tmp_path_factory) -> Path:
    """The local bootstrap, default chunking, saved by the CLI."""
    out = tmp_path_factory.mktemp("local") / "local.npz"
    assert cli.main(["bootstrap", str(runs_csv), *OPTIONS, "--out", str(out), "--json"]) == 0
    return out


@pytest.fixture(scope="module")
def planned(runs_csv, tmp_path_factory) -> tuple[Path, dict]:
    """``bootstrap --plan DIR --json`` (in this process) and what it printed; tests work on copies of DIR."""
    plan = tmp_path_factory.mktemp("planned") / "plan"
    argv = ["bootstrap", str(runs_csv), *OPTIONS, "--chunk-size", "8", "--plan", str(plan), "--json"]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert cli.main(argv) == 0
    return plan, json.loads(out.getvalue())


def copy_of(planned, tmp_path: Path) -> Path:
    return Path(shutil.copytree(planned[0], tmp_path / "plan"))


def test_plan_run_chunks_as_processes_gather_equals_local_bootstrap(planned, reference, tmp_path, capsys):
    payload = planned[1]
    assert payload["n_chunks"] == N_CHUNKS and payload["slurm_array"] == f"0-{N_CHUNKS - 1}"
    assert payload["run_chunk"] == f"jaxscale run-chunk {planned[0]} --index I"
    assert sorted(p.name for p in planned[0].iterdir()) == ["plan.npz", "recipe.json"]  # no resample computed
    plan = copy_of(planned, tmp_path)  # a plan directory can move (a shared file system mounted elsewhere)
    first, second = 1, 0  # out of order; two tasks at a time, as an array on a busy cluster runs them
    task, victim = run_chunk_process(plan, first), run_chunk_process(plan, second)
    assert victim.stderr.readline().startswith(f"jaxscale run-chunk: chunk {second} of {N_CHUNKS}")
    victim.send_signal(signal.SIGKILL)  # mid-way: it said it started, it has not written its chunk
    victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    assert f"chunk {first} (resamples 8..15) computed" in finished(task)
    code, _, err = cli_run(capsys, "gather", plan, "--out", tmp_path / "early.npz")
    line = one_line_error(code, err)
    assert f"chunk {second} missing of {N_CHUNKS}" in line and f"run-chunk {plan} --index I' for I in {second}" in line
    assert not (tmp_path / "early.npz").exists()
    # the killed index reruns while the other index runs a second time (a requeued task): harmless
    rerun, again = run_chunk_process(plan, second), run_chunk_process(plan, first)
    assert f"chunk {second} (resamples 0..7) computed" in finished(rerun)
    assert f"chunk {first} (resamples 8..15) already complete, skipped" in finished(again)

    gathered = tmp_path / "gathered.npz"
    code, out, err = cli_run(capsys, "gather", plan, "--out", gathered, "--json")
    assert code == 0, err
    assert json.loads(out)["recipe"]["n_resamples"] == 16
    local, mine = js.load(reference), js.load(gathered)
    for name in ("estimate", "theta", "objective", "converged", "n_at_best", "log_x", "log_y", "weights"):
        a, b = getattr(local, name), getattr(mine, name)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True), name
    assert mine.estimate_objective == local.estimate_objective and mine.recipe == local.recipe
    assert mine.law.name == local.law.name and mine.loss == local.loss
    assert gathered.read_bytes() == reference.read_bytes()  # the saved files too, byte for byte

    # running an index again: skipped when complete, identical bytes when forced (here, in this process)
    path = chunks.read_plan(plan).chunk_path(first)
    before = path.read_bytes()
    assert not chunks.run_planned_chunk(plan, first).computed
    assert chunks.run_planned_chunk(plan, first, force=True).computed and path.read_bytes() == before

    # a partial chunk (what a non-atomic writer killed mid-write would leave) is never gathered
    (plan / f".{path.name}.dead.tmp").write_bytes(before[:100])  # a killed writer's temporary file: ignored
    path.write_bytes(before[: len(before) // 2])
    code, _, err = cli_run(capsys, "gather", plan)
    assert f"chunk {first} corrupt" in one_line_error(code, err)
    with pytest.warns(RuntimeWarning, match="recomputing chunk"):
        assert chunks.run_planned_chunk(plan, first).computed
    assert path.read_bytes() == before and chunks.chunk_status(plan)["done"] == list(range(N_CHUNKS))


def test_plan_errors_name_the_index_the_file_and_the_fix(runs_csv, planned, reference, tmp_path, capsys):
    plan = copy_of(planned, tmp_path)

    code, _, err = cli_run(capsys, "run-chunk", plan, "--index", N_CHUNKS)
    assert f"--index {N_CHUNKS} is out of range: plan {plan} has {N_CHUNKS} chunks, indices 0..{N_CHUNKS - 1}" \
        in one_line_error(code, err)
    with pytest.raises(SystemExit) as stop:
        cli.main(["run-chunk", str(plan), "--index", "-1"])
    assert stop.value.code == 2 and "--index" in capsys.readouterr().err
    code, _, err = cli_run(capsys, "gather", plan)
    assert f"chunks 0-{N_CHUNKS - 1} missing" in one_line_error(code, err)

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli_run(capsys, "run-chunk", empty, "--index", 0)
    assert f"{empty} is not a jaxscale plan (it has no plan.npz)" in one_line_error(code, err)
    code, _, err = cli_run(capsys, "gather", tmp_path / "nowhere")
    assert "no plan directory" in one_line_error(code, err)
    (empty / "plan.npz").write_bytes(reference.read_bytes())  # a result, not a plan
    code, _, err = cli_run(capsys, "gather", empty)
    assert "is a jaxscale bootstrap result, not a bootstrap plan" in one_line_error(code, err)

    meta, arrays = read_npz(plan / "plan.npz")
    write_npz(empty / "plan.npz", arrays, {**meta, "plan_format": 99}, checksum=True)
    code, _, err = cli_run(capsys, "gather", empty)
    assert "is a plan of format 99" in one_line_error(code, err) and "reads plan format 1" in err
    versions = {**meta["versions"], "jaxscale": "0.0.1"}  # as made by another version: its own fingerprint
    write_npz(empty / "plan.npz", arrays, {**meta, "versions": versions, "fingerprint": "0" * 64}, checksum=True)
    code, _, err = cli_run(capsys, "run-chunk", empty, "--index", 0)
    assert "planned on another setup (jaxscale '0.0.1' there" in one_line_error(code, err)
    raw = bytearray((plan / "plan.npz").read_bytes())
    raw[-300] ^= 1  # a flipped byte (in the data or the meta)
    (empty / "plan.npz").write_bytes(bytes(raw))
    code, _, err = cli_run(capsys, "run-chunk", empty, "--index", 0)
    assert "empty/plan.npz" in one_line_error(code, err)

    code, _, err = cli_run(capsys, "gather", plan, "--out", plan / "plan.npz")
    assert "never written over" in one_line_error(code, err)
    code, _, err = cli_run(capsys, "bootstrap", runs_csv, *OPTIONS, "--plan", plan, "--out", tmp_path / "x.npz")
    assert "--plan takes no --out" in one_line_error(code, err)
    code, _, err = cli_run(capsys, "bootstrap", runs_csv, *OPTIONS, "--seed", 1, "--plan", plan)
    assert "already holds a plan of another bootstrap" in one_line_error(code, err)
    assert sorted(p.name for p in plan.iterdir()) == ["plan.npz", "recipe.json"]


def test_shipped_slurm_and_kubernetes_examples_run_the_documented_commands():
    """examples/cluster (included by docs/guide/cluster.md): a Slurm array and a Kubernetes Indexed Job whose
    jaxscale command lines are ones this CLI parses, with the index from the scheduler's variable."""
    import shlex

    from conftest import REPO

    folder = REPO / "examples" / "cluster"
    commands = {
        "bootstrap_array.sbatch": ['jaxscale bootstrap runs.csv --resamples 4000 --plan "$PWD/plan"',
                                   'jaxscale run-chunk "$PLAN" --index "$SLURM_ARRAY_TASK_ID"',
                                   "jaxscale gather $PWD/plan --out bootstrap.npz", "#SBATCH --array=0-"],
        "bootstrap_indexed_job.yaml": ["jaxscale bootstrap runs.csv --resamples 4000 --plan /plans/bootstrap",
                                       'jaxscale run-chunk /plans/bootstrap --index \\"$JOB_COMPLETION_INDEX\\"',
                                       "jaxscale gather /plans/bootstrap --out /plans/bootstrap.npz",
                                       "completionMode: Indexed"]}
    guide = (REPO / "docs" / "guide" / "cluster.md").read_text()
    assert sorted(f.name for f in folder.iterdir()) == sorted(commands)
    for name, lines in commands.items():
        text = (folder / name).read_text()
        assert f"../../examples/cluster/{name}" in guide
        for line in lines:
            assert line in text, (name, line)
            if line.startswith("jaxscale"):
                words = shlex.split(line.replace("\\", "").replace("$PLAN", "plan").replace("$PWD", ".")
                                    .replace("$SLURM_ARRAY_TASK_ID", "0").replace("$JOB_COMPLETION_INDEX", "0"))
                args = cli.build_parser().parse_args(words[1:])
                assert args.run.__name__ in ("_bootstrap_or_plan", "cmd_run_chunk", "cmd_gather"), line
