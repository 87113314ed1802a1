"""Every CLI subcommand run as a subprocess: readable table, --json, --csv, and exit 2 on bad input."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from conftest import JIT_CACHE

EPOCH = js.datasets.EPOCH_PARAMS


def run_cli(*args, env=None):
    full_env = {**os.environ, **JIT_CACHE, **(env or {})}
    return subprocess.run([sys.executable, "-m", "jaxscale", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=full_env)


def ok(out):
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "runs.csv"
    js.datasets.synthetic(noise=0.0).rename(columns={"N": "params", "D": "tokens"}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fit and a small bootstrap saved by the CLI itself."""
    folder = tmp_path_factory.mktemp("saved")
    data = folder / "runs.csv"
    js.datasets.synthetic().to_csv(data, index=False)
    ok(run_cli("fit", data, "--starts", 8, "--out", folder / "fit.npz"))
    text = ok(run_cli("bootstrap", data, "--resamples", 24, "--starts", 8, "--seed", 3, "--out", folder / "boot.npz"))
    return {"data": data, "fit": folder / "fit.npz", "boot": folder / "boot.npz", "boot_text": text}


def test_demo_prints_fitted_table():
    text = ok(run_cli("demo"))
    assert "alpha" in text and "Compute-optimal" in text and "N_opt" in text
    alpha = float(re.search(r"^alpha\s+(\S+)", text, flags=re.M).group(1))
    assert alpha == pytest.approx(EPOCH["alpha"], rel=0.05)


def test_fit_json_csv_and_custom_columns(runs_csv):
    common = ("fit", runs_csv, "--n-col", "params", "--d-col", "tokens", "--starts", 8)
    payload = json.loads(ok(run_cli(*common, "--json")))
    assert payload["params"]["alpha"] == pytest.approx(EPOCH["alpha"], rel=1e-6)
    assert [row["parameter"] for row in payload["rows"]] == ["A", "B", "E", "alpha", "beta"]
    table = pd.read_csv(io.StringIO(ok(run_cli(*common, "--csv"))))
    assert table.set_index("parameter").loc["beta", "estimate"] == pytest.approx(EPOCH["beta"], rel=1e-6)


def test_bootstrap_table_and_saved_result(saved):
    assert "24 resamples x 8 starts" in saved["boot_text"] and "a_opt" in saved["boot_text"]
    boot = js.load(saved["boot"])
    assert isinstance(boot, js.BootstrapResult) and boot.n_resamples == 24 and boot.recipe["seed"] == 3
    again = js.bootstrap(js.datasets.synthetic(), n_resamples=24, starts=8, seed=3)
    np.testing.assert_array_equal(again.theta, boot.theta)


def test_bootstrap_json_with_bca(saved):
    payload = json.loads(ok(run_cli("bootstrap", saved["data"], "--resamples", 12, "--starts", 4, "--method", "bca",
                                    "--level", 0.9, "--json")))
    rows = {row["parameter"]: row for row in payload["rows"]}
    assert payload["method"] == "bca" and payload["recipe"]["n_resamples"] == 12
    assert rows["alpha"]["ci_low"] <= rows["alpha"]["ci_high"]


def test_bootstrap_checkpoint_resumes(tmp_path, saved):
    args = ("bootstrap", saved["data"], "--resamples", 6, "--starts", 4, "--checkpoint", tmp_path / "ck", "--csv")
    first = ok(run_cli(*args))
    assert any(p.name.startswith("chunk_") for p in (tmp_path / "ck").iterdir())
    assert ok(run_cli(*args)) == first


def test_optimal_published_fit_and_bootstrap(saved):
    text = ok(run_cli("optimal", "--compute", "5.76e23"))
    assert "Epoch AI" in text and "N_opt" in text
    row = pd.read_csv(io.StringIO(ok(run_cli("optimal", "-C", "5.76e23", "--csv")))).iloc[0]
    n_opt, d_opt = js.kernels.allocation.compute_optimal(EPOCH["A"], EPOCH["B"], EPOCH["alpha"], EPOCH["beta"], 5.76e23)
    assert row["N_opt"] == pytest.approx(n_opt, rel=1e-9) and row["D_opt"] == pytest.approx(d_opt, rel=1e-9)
    from_fit = json.loads(ok(run_cli("optimal", "-C", 1e22, 1e24, "--from", saved["fit"], "--json")))
    expected = js.load(saved["fit"]).compute_optimal(np.array([1e22, 1e24]))
    assert [r["N_opt"] for r in from_fit["rows"]] == pytest.approx(expected["N_opt"].tolist(), rel=1e-12)
    with_ci = pd.read_csv(io.StringIO(ok(run_cli("optimal", "-C", 1e24, "--from", saved["boot"], "--csv"))))
    assert {"N_opt_low", "N_opt_high", "D_over_N_low"} <= set(with_ci.columns)
    assert (with_ci["N_opt_low"] <= with_ci["N_opt"]).all() and (with_ci["N_opt"] <= with_ci["N_opt_high"]).all()


def test_predict_from_fit_bootstrap_and_data(saved):
    rows = json.loads(ok(run_cli("predict", "--n", 1e9, 2e9, "--d", 2e10, "--from", saved["fit"], "--json")))["rows"]
    expected = js.load(saved["fit"]).predict(N=np.array([1e9, 2e9]), D=2e10)
    assert [r["loss"] for r in rows] == pytest.approx(expected.tolist(), rel=1e-12)
    table = pd.read_csv(io.StringIO(ok(run_cli("predict", "--n", 1e9, "--d", 2e10, "--from", saved["boot"], "--csv"))))
    assert table.loc[0, "loss_low"] <= table.loc[0, "loss"] <= table.loc[0, "loss_high"]
    text = ok(run_cli("predict", "--n", 1e9, "--d", 2e10, "--data", saved["data"], "--starts", 8))
    assert "fit to" in text and "loss" in text


@pytest.mark.parametrize("kind,source,extra", [
    ("isoflop", "fit", []), ("residuals", "boot", []), ("landscape", "fit", []), ("pairs", "boot", []),
    ("tokens", "boot", []), ("contours", "fit", ["--resamples", "20"]), ("tokens", None, ["--starts", "8", "--resamples", "0"]),
])
def test_plot_writes_image(tmp_path, saved, kind, source, extra):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"{kind}.png"
    source_args = ["--from", saved[source]] if source else []
    text = ok(run_cli("plot", kind, "--data", saved["data"], *source_args, *extra, "--out", out))
    assert f"wrote {out}" in text
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


@pytest.mark.parametrize("args,message", [
    (["fit", "does-not-exist.csv"], "no such file"),
    (["fit", "{csv}", "--n-col", "size"], "column 'size'"),
    (["fit", "{csv}", "--starts", "x"], "use grid, best, prune, subgrid"),
    (["fit", "{csv}", "--delta", "-1"], "must be a finite number > 0"),
    (["bootstrap", "{csv}", "--resamples", "0"], "argument --resamples: must be an integer >= 1, got 0"),
    (["bootstrap", "{csv}", "--level", "1.5"], "level must be in (0, 1)"),
    (["optimal", "-C", "1e24", "--level", "95"], "level must be in (0, 1)"),
    (["optimal", "--compute", "-1"], "must be a finite number > 0"),
    (["optimal", "--compute", "1e24", "--from", "missing.npz"], "no such result file"),
    (["optimal", "--compute", "1e24", "--from", "{csv}"], "not a jaxscale result file"),
    (["predict", "--n", "1e9", "2e9", "3e9", "--d", "1e10", "2e10"], "give equally many"),
    (["predict", "--n", "1e9"], "the following arguments are required: --d"),
    (["plot", "violin", "--out", "x.png", "--data", "{csv}"], "unknown plot kind 'violin'"),
    (["plot", "pairs", "--out", "x.png", "--data", "{csv}", "--starts", "4", "--resamples", "0"], "needs a bootstrap"),
    (["demo", "--json", "--csv"], "not allowed with argument"),
    (["nonsense"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    path = tmp_path / "runs.csv"
    js.datasets.synthetic().to_csv(path, index=False)
    out = run_cli(*[a.format(csv=path) for a in args])
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------- issue 9 §3: the CLI as a newcomer meets it
@pytest.mark.parametrize("args,message", [
    (["bootstrap", "{csv}", "--seed", "-1"], "argument --seed: must be an integer in [0, 4294967295], got -1"),
    (["bootstrap", "{csv}", "--seed", "4294967296"], "argument --seed: must be an integer in [0, 4294967295]"),
    (["bootstrap", "{csv}", "--seed", "1.5"], "argument --seed: '1.5' is not an integer"),
    (["bootstrap", "{csv}", "--resamples", "2.7"], "argument --resamples: '2.7' is not an integer"),
    (["bootstrap", "{csv}", "--chunk-size", "0"], "argument --chunk-size: must be an integer >= 1, got 0"),
    (["fit", "{csv}", "--prune", "0"], "argument --prune: '0': the number of starts to keep must be >= 1"),
    (["plot", "tokens", "--out", "x.png", "--seed", "-2"], "argument --seed: must be an integer in [0, 4294967295]"),
    (["fit", "{header}"], "the data has no rows (a CSV with only a header?)"),
    (["fit", "{csv}", "--n-col", "size"], "Name the right one with --n-col"),
    (["fit", "{csv}", "--c-col", "FLOP"], "column 'FLOP' (compute C) not found"),
    (["fit", "{nan}"], "fix or drop those rows explicitly in the file"),
    (["fit", "{text}"], "row 2 holds 'lots'. Fix those values in the file"),
])
def test_cli_messages_name_options_not_python(tmp_path, args, message):
    paths = {"csv": tmp_path / "runs.csv", "header": tmp_path / "header.csv", "nan": tmp_path / "nan.csv",
             "text": tmp_path / "text.csv"}
    runs = js.datasets.synthetic()
    runs.to_csv(paths["csv"], index=False)
    paths["header"].write_text("N,D,loss\n")
    runs.assign(loss=runs["loss"].where(runs.index != 3)).to_csv(paths["nan"], index=False)
    runs.astype({"loss": object}).assign(loss=lambda f: f["loss"].where(f.index != 2, "lots")).to_csv(
        paths["text"], index=False)
    out = run_cli(*[a.format(**paths) for a in args])
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    for python_advice in ("n=...", "dropna", "pd.to_numeric", "OverflowError"):
        assert python_advice not in out.stderr


def test_cli_reads_the_epoch_csv_with_a_compute_column(chinchilla_csv):
    """Epoch's svg_extracted_data.csv by path: 'Model Size' and 'Training FLOP', D = C / (6 N)."""
    payload = json.loads(ok(run_cli("fit", chinchilla_csv, "--n-col", "Model Size", "--c-col", "Training FLOP",
                                    "--starts", 8, "--json")))
    expected = js.fit(js.datasets.chinchilla(chinchilla_csv, drop_outliers=False), starts=8)
    assert payload["n_points"] == 245
    assert [payload["params"][k] for k in expected.params.index] == pytest.approx(expected.params.tolist(), rel=1e-9)


def test_cli_fits_a_one_input_law_on_a_named_column(tmp_path):
    """--x-col maps a column to the input of a one-input law (power_law of compute, per benchmark)."""
    C = np.geomspace(1e18, 1e22, 12)
    path = tmp_path / "by_compute.csv"
    pd.DataFrame({"C": C, "loss": 1.7 + 300.0 * C ** -0.12}).to_csv(path, index=False)
    missing = run_cli("fit", path, "--law", "power_law")
    assert missing.returncode == 2 and "--x-col" in missing.stderr and "Traceback" not in missing.stderr
    params = json.loads(ok(run_cli("fit", path, "--law", "power_law", "--x-col", "C", "--json")))["params"]
    assert params["alpha"] == pytest.approx(0.12, rel=1e-6) and params["E"] == pytest.approx(1.7, rel=1e-6)


def test_cli_bootstrap_says_the_job_size_and_defaults_to_subgrid(tmp_path):
    path = tmp_path / "runs.csv"
    js.datasets.synthetic().to_csv(path, index=False)
    out = run_cli("bootstrap", path, "--resamples", 12, "--starts", 4, "--csv")  # shapes as test_bootstrap_json_with_bca
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith("jaxscale bootstrap: 12 resamples x 4 starts (random) = 48 fits")
    from jaxscale.cli import build_parser, work_estimate

    assert build_parser().parse_args(["bootstrap", "runs.csv"]).starts == "subgrid"
    assert "4,000 resamples x 16 starts (subgrid) = 64,000 fits" in work_estimate("chinchilla", "subgrid", 4000)

    grid = work_estimate("chinchilla", "grid", 4000)
    assert "18,000,000 fits" in grid and re.search(r"about \d+\.\d h", grid)
    assert "long job" not in work_estimate("chinchilla", "subgrid", 4000)
    help_text = " ".join(ok(run_cli("bootstrap", "--help")).split())
    assert "subgrid (default" in help_text and "grid (Hoffmann's 4500 starts per resample" in help_text


def test_cli_help_says_it_uses_every_cpu_core():
    assert "every local CPU core" in " ".join(ok(run_cli("--help")).split())


def test_cli_bootstrap_warns_about_unidentifiable_resamples_in_one_line(tmp_path):
    path = tmp_path / "nine.csv"
    N, D = np.meshgrid(np.logspace(8, 10, 3), np.logspace(9, 12, 3), indexing="ij")
    p = EPOCH
    pd.DataFrame({"N": N.ravel(), "D": D.ravel(), "loss": p["E"] + p["A"] / N.ravel() ** p["alpha"]
                  + p["B"] / D.ravel() ** p["beta"]}).to_csv(path, index=False)
    out = run_cli("bootstrap", path, "--resamples", 20, "--starts", 4, "--seed", 4, "--csv", "--no-progress")
    assert out.returncode == 0, out.stderr
    warning = [line for line in out.stderr.splitlines() if line.startswith("jaxscale: warning:")]
    assert len(warning) == 1 and "unidentifiable" in warning[0] and "--include-unidentifiable" in warning[0]
    assert "include_unidentifiable=True" not in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("error,code,message", [
    (KeyboardInterrupt(), 130, "jaxscale: interrupted"),
    (MemoryError(), 1, "jaxscale: error: out of memory"),
    ("xla", 1, "jaxscale: error: out of memory"),
])
def test_cli_interrupt_and_out_of_memory_are_one_line(monkeypatch, capsys, error, code, message):
    from jaxscale import cli

    if error == "xla":
        import jax

        error = jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.2TiB")

    def fail(args):
        raise error

    monkeypatch.setattr(cli, "cmd_fit", fail)
    try:
        returned = cli.main(["fit", "synthetic"])
    except BaseException as escaped:  # a KeyboardInterrupt escaping here would stop the whole pytest session
        pytest.fail(f"main let {type(escaped).__name__} escape instead of exiting with {code}")
    assert returned == code
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    monkeypatch.setattr(cli, "cmd_fit", lambda args: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):  # other errors are not hidden
        cli.main(["fit", "synthetic"])


def test_cli_ctrl_c_during_a_bootstrap(tmp_path):
    """A real SIGINT while a bootstrap runs: one line, exit 130, no traceback."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "jaxscale", "bootstrap", "synthetic", "--resamples", "100000",
                             "--starts", "grid", "--checkpoint", str(tmp_path / "ck")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **JIT_CACHE})
    first = proc.stderr.readline()  # the job-size line comes right before the work starts
    assert "resamples x 4,500 starts (grid, screened, 64 continued)" in first and "long job" in first
    stamp = tmp_path / "ck" / "recipe.json"  # written when the chunked resamples start: interrupt mid-work
    deadline = time.monotonic() + 180
    while not stamp.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        _, rest = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 30, "Ctrl-C took more than 30 s to act"
    assert proc.returncode == 130, rest
    assert rest.strip().splitlines() == ["jaxscale: interrupted (rerun the same command to resume from --checkpoint)"]


def test_readme_test_command_shows_skip_reasons_and_matches_ci():
    """The CI runs exactly the README's test command, which reports why tests skip (-rs) and installs the extras
    the docs build and the type check need."""
    from conftest import REPO

    readme = [line for line in (REPO / "README.md").read_text().splitlines() if "-m pytest" in line]
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if "-m pytest" in line]
    assert len(readme) == 1 and ci == readme
    assert re.search(r"-m pytest -q -rs( -n 2 --dist worksteal)?$", readme[0])
    # CI builds the docs with -W and type-checks the public API (tests/test_docs.py, tests/test_typing.py)
    assert '".[test,docs,typecheck]"' in readme[0]
