"""CLI parity (issue 21): every public decision helper has a subcommand whose --json agrees with the API on the
same data; fit/bootstrap --by; bootstrap --cluster; custom laws by module path or file; bad input exits 2 in one
line. Most checks call ``jaxscale.cli.main`` in-process (shared compiled programs, low cost); the --help listing
and a custom law from a module on PYTHONPATH run as subprocesses, as a user runs them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from conftest import JIT_CACHE
from jaxscale.cli import main
from jaxscale.kernels.laws import LAWS

EPOCH_COLUMNS = ["--n-col", "Model Size", "--c-col", "Training FLOP"]
PARITY_COMMANDS = ("approach1", "approaches", "delta-sweep", "next-run", "inference-optimal", "two-step",
                   "metric-artefact")


def run_cli(*args, env=None):
    full_env = {**os.environ, **JIT_CACHE, **(env or {})}
    return subprocess.run([sys.executable, "-m", "jaxscale", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=full_env)


def cli_json(capsys, *args) -> tuple[dict, str]:
    """Run ``jaxscale ARGS --json`` in this process: (parsed stdout, stderr)."""
    code = main([*map(str, args), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out), out.err


@pytest.fixture(scope="module")
def epoch(chinchilla_csv):
    """Epoch's 245 Chinchilla runs as the CLI reads them, and the same columns for the API."""
    columns = js.Columns.from_keywords(n="Model Size", c="Training FLOP")
    return chinchilla_csv, pd.read_csv(chinchilla_csv), columns


# ---------------------------------------------------------------------- subprocess: what a user types
def test_help_lists_every_decision_command_and_why_others_have_none():
    out = run_cli("--help")
    assert out.returncode == 0, out.stderr
    for name in PARITY_COMMANDS + ("isoflop", "extrapolate", "compare", "plan", "curves", "arms"):
        assert f"\n    {name} " in out.stdout, name
    helpers = {"approach1": "approach1", "compare_approaches": "approaches", "delta_sweep": "delta-sweep",
               "rank_next_runs": "next-run", "inference_optimal": "inference-optimal", "two_step": "two-step",
               "metric_artefact": "metric-artefact", "register_law": "--law module.path:NAME"}
    for helper, command in helpers.items():
        assert f"{helper} -> {command}" in out.stdout, helper
    assert "no command (building blocks" in out.stdout


def test_custom_law_from_a_module_on_pythonpath_fits_saves_and_reloads(tmp_path, monkeypatch, capsys):
    """--law mylaws:MY_POWER, as a subprocess with the module's folder on PYTHONPATH; the saved result is read back
    by a later command naming the law again (in this process; refused without it: test_custom_law_from_a_file)."""
    (tmp_path / "mylaws.py").write_text(textwrap.dedent("""
        import numpy as np
        import jaxscale as js

        MY_POWER = js.Law("my_power_cli", ("x",), ("a", "alpha"), ("a", "alpha"), lambda t, x: t[0] - t[1] * x[:, 0],
                          (False, False), lambda: np.array([[0.5, 0.1], [1.0, 0.3], [2.0, 0.6]]))
    """))
    x = np.logspace(1, 4, 30)
    noise = np.exp(np.random.default_rng(0).normal(0.0, 0.01, x.size))
    pd.DataFrame({"x": x, "loss": np.exp(1.0 - 0.3 * np.log(x)) * noise}).to_csv(tmp_path / "runs.csv", index=False)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    saved = tmp_path / "fit.npz"
    out = run_cli("fit", tmp_path / "runs.csv", "--law", "mylaws:MY_POWER", "--json", "--out", saved, env=env)
    assert out.returncode == 0, out.stderr
    params = json.loads(out.stdout)["params"]
    assert params["alpha"] == pytest.approx(0.3, abs=0.01) and params["a"] == pytest.approx(1.0, abs=0.05)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        code = main(["optimal", "-C", "1e20", "--from", str(saved), "--law", "mylaws:MY_POWER"])
    finally:
        LAWS.pop("my_power_cli", None)
        sys.modules.pop("mylaws", None)
    # read back: it fails only because a law of x has no compute-optimal allocation, not at loading
    err = capsys.readouterr().err
    assert code == 2 and "compute_optimal needs a law with log-scale inputs N and D" in err, err


# ---------------------------------------------------------------------- the decision subcommands vs the API
def test_delta_sweep_and_next_run_agree_with_the_api(capsys, epoch):
    csv, frame, columns = epoch
    payload, _ = cli_json(capsys, "delta-sweep", csv, *EPOCH_COLUMNS, "--deltas", 1e-3, 1e-2, "--starts", 4)
    api = js.delta_sweep(frame, deltas=[1e-3, 1e-2], columns=columns, search=js.Search(starts=4))
    assert [r["alpha"] for r in payload["rows"]] == pytest.approx(api["alpha"].tolist(), rel=1e-9)
    assert [r["N_opt"] for r in payload["rows"]] == pytest.approx(api["N_opt"].tolist(), rel=1e-9)

    args = ("next-run", csv, *EPOCH_COLUMNS, "--starts", 4, "--target", "N_opt@1e24", "--n", 1e9, 5e9, "--d", 2e10,
            1e11, "--outcomes", 2, "--resamples", 10)
    payload, _ = cli_json(capsys, *args)
    candidates = pd.DataFrame({"Model Size": [1e9, 5e9], "Training FLOP": [6 * 1e9 * 2e10, 6 * 5e9 * 1e11]})
    api = js.rank_next_runs(frame, candidates, ("N_opt", 1e24), n_outcomes=2, n_resamples=10, columns=columns,
                            search=js.Search(starts=4))
    assert payload["target"] == api.attrs["target"] and payload["ranked_by"] == "shrinkage_per_flop"
    assert [r["width_after"] for r in payload["rows"]] == pytest.approx(api["width_after"].tolist(), rel=1e-9)
    assert [r["rank"] for r in payload["rows"]] == [1, 2]


def test_approaches_and_two_step_agree_with_the_api(capsys, epoch, tmp_path):
    csv, frame, columns = epoch
    budgets = list(js.HOFFMANN_BUDGETS)
    payload, err = cli_json(capsys, "approaches", csv, *EPOCH_COLUMNS, "-C", 1e24, "--budgets", *budgets,
                            "--resamples", 10, "--starts", 4)
    api = js.compare_approaches(frame, 1e24, n_resamples=10, columns=columns, search=js.Search(starts=4),
                                isoflop_options={"budget": budgets})
    rows = {r["approach"]: r for r in payload["rows"]}
    assert set(rows) == {"Approach 2", "Approach 3"}
    for approach in rows:
        assert rows[approach]["a"] == pytest.approx(api.loc[approach, "a"], rel=1e-9)
    # the API's warning (runs far from every budget) is on stderr and in --json
    assert any("runs lie farther than" in n for n in payload["notes"]) and "jaxscale: warning: isoflop" in err

    # two-step: Epoch's runs for the loss law, a metric of the loss (an accuracy curve) as JSON Lines
    rng = np.random.default_rng(0)
    loss = frame["loss"].to_numpy()
    metric = pd.DataFrame({"loss": loss, "accuracy": 0.25 + 0.6 / (1 + np.exp(6 * (loss - 2.8)))
                           + rng.normal(0, 0.01, loss.size)})
    metric.to_json(tmp_path / "metric.jsonl", orient="records", lines=True)
    payload, _ = cli_json(capsys, "two-step", csv, tmp_path / "metric.jsonl", *EPOCH_COLUMNS, "--starts", 4,
                          "--resamples", 10, "--n", 1e9, 1e10, "--d", 2e10, 2e11)
    api = js.two_step(frame, metric, n_resamples=10, loss_starts=4, columns=columns).predict(
        N=np.array([1e9, 1e10]), D=np.array([2e10, 2e11]))
    assert [r["metric"] for r in payload["rows"]] == pytest.approx(api["metric"].tolist(), rel=1e-9)
    assert [r["metric_high"] for r in payload["rows"]] == pytest.approx(api["metric_high"].tolist(), rel=1e-9)
    assert payload["metric_params"]["k"] == pytest.approx(6.0, rel=0.1)


def test_approach1_reads_training_curves_as_jsonl(capsys, tmp_path):
    """No public Chinchilla training curves exist: Approach 1 runs on the synthetic curves of the datasets module."""
    curves = js.datasets.training_curves()
    curves.to_json(tmp_path / "curves.jsonl", orient="records", lines=True)
    payload, _ = cli_json(capsys, "approach1", tmp_path / "curves.jsonl", "--resamples", 20, "-C", 1e21)
    api = js.approach1(curves, n_resamples=20)
    assert payload["allocation"]["a"]["estimate"] == pytest.approx(api.allocation.loc["a", "estimate"], rel=1e-12)
    assert payload["allocation"]["a"]["upper"] == pytest.approx(api.allocation.loc["a", "upper"], rel=1e-12)
    assert payload["optimal"][0]["N_opt"] == pytest.approx(api.optimal(1e21)["N_opt"].iloc[0], rel=1e-12)
    assert len(payload["envelope"]) == 64 and payload["notes"] == []


def test_inference_optimal_and_metric_artefact_agree_with_the_api(capsys):
    law = js.FitResult.from_params(js.datasets.EPOCH_PARAMS)
    payload, _ = cli_json(capsys, "inference-optimal", "--loss", 2.0, "--inference-tokens", 0, 1e13)
    api = js.inference_optimal(law, 2.0, [0, 1e13])
    assert [r["N"] for r in payload["rows"]] == pytest.approx(api["N"].tolist(), rel=1e-12)
    assert payload["rows"][1]["N"] < payload["rows"][0]["N"]  # serving many tokens favours a smaller model
    assert "no interval" in payload["interval"]

    payload, _ = cli_json(capsys, "metric-artefact", "--answer-tokens", 5)
    api = js.metric_artefact(law, answer_tokens=5)
    assert payload["N_star"] == pytest.approx(api.attrs["N_star"], rel=1e-12)
    assert len(payload["rows"]) == 13


# ---------------------------------------------------------------------- --by, --cluster, --law FILE
def test_fit_and_bootstrap_by_group(capsys, tmp_path):
    runs = pd.concat([js.datasets.synthetic().assign(lab="a"), js.datasets.synthetic(noise=0.02).assign(lab="b")])
    runs.to_csv(tmp_path / "runs.csv", index=False)
    saved = tmp_path / "grouped.npz"
    payload, _ = cli_json(capsys, "fit", tmp_path / "runs.csv", "--by", "lab", "--starts", 4, "--out", saved)
    api = js.fit(runs, by="lab", search=js.Search(starts=4))
    assert [g["group"] for g in payload["groups"]] == [{"lab": "a"}, {"lab": "b"}]
    assert list(payload["rows"][0])[0] == "lab"  # the group column first
    for group in payload["groups"]:
        assert group["params"]["alpha"] == pytest.approx(api[group["group"]["lab"]].params["alpha"], rel=1e-9)
    assert js.load(saved).params.loc["b", "beta"] == pytest.approx(api["b"].params["beta"], rel=1e-12)

    payload, _ = cli_json(capsys, "bootstrap", tmp_path / "runs.csv", "--by", "lab", "--starts", 4,
                          "--resamples", 10, "--no-progress")
    api = js.bootstrap(runs, by="lab", n_resamples=10, search=js.Search(starts=4)).summary()
    rows = pd.DataFrame(payload["rows"]).set_index(["lab", "parameter"])
    assert rows.loc[("b", "alpha"), "ci_high"] == pytest.approx(api.loc[("b", "alpha"), "ci_high"], rel=1e-9)
    assert payload["groups"] == [{"lab": "a"}, {"lab": "b"}]


def test_cluster_bootstrap_warns_about_few_clusters(capsys, epoch):
    csv, frame, columns = epoch
    payload, err = cli_json(capsys, "bootstrap", csv, *EPOCH_COLUMNS, "--cluster", "budget", "--cluster-budgets",
                            "hoffmann", "--resamples", 10, "--starts", 4, "--no-progress")
    api = js.bootstrap(frame, n_resamples=10, columns=columns, search=js.Search(starts=4),
                       resample=js.ClusterResample(by="budget", budgets=js.HOFFMANN_BUDGETS)).summary()
    rows = {r["parameter"]: r for r in payload["rows"]}
    assert rows["alpha"]["ci_low"] == pytest.approx(api.loc["alpha", "ci_low"], rel=1e-9)
    assert payload["recipe"]["resample"] == "cluster"
    assert "jaxscale: warning: --cluster: only 9 clusters" in err
    assert any("only 9 clusters" in n for n in payload["notes"])


def test_cluster_budgets_read_the_compute_column(epoch):
    """The bug this CLI work found: with Columns(compute=...) the budget clusters looked for a 'D' column
    ("budgets need a 'C' column or the columns 'Model Size' and 'D'") instead of reading the compute column."""
    from jaxscale.api.cluster import cluster_codes

    _, frame, _ = epoch
    codes, labels = cluster_codes(frame, "budget", n="Model Size", d="D", budgets=js.HOFFMANN_BUDGETS,
                                  c="Training FLOP")
    assert list(labels) == sorted(js.HOFFMANN_BUDGETS) and codes.shape == (len(frame),)
    near = js.budget_labels(frame["Training FLOP"].to_numpy(), js.HOFFMANN_BUDGETS)
    assert np.array_equal(labels[codes], near)


def test_custom_law_from_a_file(capsys, tmp_path):
    law_file = tmp_path / "my_law.py"
    law_file.write_text(textwrap.dedent("""
        import numpy as np
        import jaxscale as js

        LAW = js.Law("my_file_law", ("x",), ("a", "alpha"), ("a", "alpha"), lambda t, x: t[0] - t[1] * x[:, 0],
                     (False, False), lambda: np.array([[0.5, 0.1], [1.0, 0.3]]))
        NOT_A_LAW = 3
    """))
    x = np.logspace(1, 4, 20)
    pd.DataFrame({"x": x, "loss": np.exp(0.8 - 0.2 * np.log(x))}).to_csv(tmp_path / "runs.csv", index=False)
    try:
        payload, _ = cli_json(capsys, "fit", tmp_path / "runs.csv", "--law", f"{law_file}:LAW", "--out",
                              tmp_path / "fit.npz")
        assert payload["params"]["alpha"] == pytest.approx(0.2, rel=1e-6) and payload["recipe"]["law"] == "my_file_law"
        assert js.load(tmp_path / "fit.npz").params["alpha"] == pytest.approx(0.2, rel=1e-6)  # registered: loads
    finally:
        LAWS.pop("my_file_law", None)
    # a new session that does not name the law: refused in one line saying which option registers it
    assert main(["optimal", "-C", "1e20", "--from", str(tmp_path / "fit.npz")]) == 2
    err = capsys.readouterr().err
    assert "unknown law 'my_file_law'" in err and "--law module.path:NAME" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------------- bad input: exit 2, one line
@pytest.mark.parametrize("args,message", [
    (["fit", "{csv}", "--law", "{law}:NOT_A_LAW"], "NOT_A_LAW is of type int, not a jaxscale.Law"),
    (["fit", "{csv}", "--law", "{law}:MISSING"], "has no 'MISSING'; the laws it defines: CLASH, LAW"),
    (["fit", "{csv}", "--law", "{dir}/none.py:LAW"], "no such file"),
    (["fit", "{csv}", "--law", "no_such_module_xyz:LAW"], "cannot import module 'no_such_module_xyz'"),
    (["fit", "{csv}", "--law", "{broken}:LAW"], "importing"),
    (["fit", "{csv}", "--law", "chinchila"], "unknown law 'chinchila'; choose one of"),
    (["fit", "{csv}", "--law", "{law}:CLASH"], "a different law named 'chinchilla' is already registered"),
    (["arms", "{csv}", "--law", "{law}:NOT_A_LAW"], "not a jaxscale.Law"),
    (["fit", "{csv}", "--by", "nothere"], "by: column(s) ['nothere'] not found"),
    (["bootstrap", "{csv}", "--by", "lab", "--out", "{dir}/b.npz"], "a grouped bootstrap cannot be saved"),
    (["bootstrap", "{csv}", "--wild"], "--wild needs --cluster"),
    (["bootstrap", "{csv}", "--cluster", "budget", "--checkpoint", "{dir}/ck"], "drop --checkpoint"),
    (["predict", "--n", "1e9", "--d", "1e10", "--from", "{grouped}"], "holds a grouped result (2 groups by ['lab'])"),
    (["bootstrap", "{csv}", "--cluster", "nothere", "--no-progress"], "--cluster 'nothere': not 'budget'"),
    (["next-run", "{csv}", "--target", "N_opt@1e24"], "next-run needs candidate runs"),
    (["next-run", "{csv}", "--target", "N_opt@x", "--n", "1e9", "--d", "1e10"], "argument --target"),
    (["two-step", "{csv}", "{csv}"], "Name the right one with --metric-col"),
    (["approach1", "{csv}"], "run column 'run' not found"),
    (["inference-optimal", "--loss", "1.0", "--inference-tokens", "0"], "is not reachable"),
    (["metric-artefact", "--threshold", "2"], "argument --threshold: '2' must be in (0, 1)"),
])
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, args, message):
    js.datasets.synthetic().assign(lab="a").to_csv(tmp_path / "runs.csv", index=False)
    (tmp_path / "law.py").write_text("import numpy as np\nimport jaxscale as js\nLAW = js.Law('bad_input_law', ('x',), "
                                     "('a',), ('a',), lambda t, x: t[0] + 0 * x[:, 0], (False,), lambda: np.ones((1, 1)))"
                                     "\nNOT_A_LAW = 3\nCLASH = js.Law('chinchilla', ('x',), ('a',), ('a',), LAW.log_predict, (False,), "
                                     "LAW.grid)\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('oops')\n")
    fitted = js.FitResult.from_params(js.datasets.EPOCH_PARAMS)
    js.GroupedFitResult(["lab"], {"a": fitted, "b": fitted}).save(tmp_path / "grouped.npz")
    paths = {"csv": tmp_path / "runs.csv", "law": tmp_path / "law.py", "broken": tmp_path / "broken.py",
             "dir": tmp_path, "grouped": tmp_path / "grouped.npz"}
    try:
        with pytest.raises(SystemExit) as leave:  # argparse errors leave from the parser
            code = main([a.format(**paths) for a in args])
            raise SystemExit(code)
    finally:
        LAWS.pop("bad_input_law", None)
    err = capsys.readouterr().err
    assert leave.value.code == 2, err
    assert message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


# ---------------------------------------------------------------------- every decision command as a user runs it
def _api_numbers(frame, columns, tmp_path) -> dict:
    """For each subprocess run below: (command arguments, JSON path to a number, the API's number)."""
    law = js.FitResult.from_params(js.datasets.EPOCH_PARAMS)
    curves = js.datasets.training_curves()
    curves.to_json(tmp_path / "curves.jsonl", orient="records", lines=True)
    loss = frame["loss"].to_numpy()
    metric = pd.DataFrame({"loss": loss, "accuracy": 0.25 + 0.6 / (1 + np.exp(6 * (loss - 2.8)))})
    metric.to_csv(tmp_path / "metric.csv", index=False)
    search = js.Search(starts=4)
    return {
        "approach1": (["approach1", tmp_path / "curves.jsonl", "--resamples", 20],
                      lambda p: p["allocation"]["a"]["estimate"],
                      js.approach1(curves, n_resamples=20).allocation.loc["a", "estimate"]),
        "approaches": (["approaches", "{csv}", *EPOCH_COLUMNS, "-C", 1e24, "--budgets", *js.HOFFMANN_BUDGETS,
                        "--resamples", 10, "--starts", 4], lambda p: p["rows"][1]["a"],
                       js.compare_approaches(frame, 1e24, n_resamples=10, columns=columns, search=search,
                                             isoflop_options={"budget": list(js.HOFFMANN_BUDGETS)}).iloc[1]["a"]),
        "delta-sweep": (["delta-sweep", "{csv}", *EPOCH_COLUMNS, "--deltas", 1e-2, "--starts", 4],
                        lambda p: p["rows"][0]["alpha"],
                        js.delta_sweep(frame, deltas=[1e-2], columns=columns, search=search)["alpha"].iloc[0]),
        "next-run": (["next-run", "{csv}", *EPOCH_COLUMNS, "--starts", 4, "--target", "alpha", "--n", 1e9, "--d",
                      2e10, "--outcomes", 2, "--resamples", 10], lambda p: p["rows"][0]["width_after"],
                     js.rank_next_runs(frame, pd.DataFrame({"Model Size": [1e9], "Training FLOP": [1.2e20]}),
                                       "alpha", n_outcomes=2, n_resamples=10, columns=columns,
                                       search=search)["width_after"].iloc[0]),
        "inference-optimal": (["inference-optimal", "--loss", 2.1, "--inference-tokens", 1e12],
                              lambda p: p["rows"][0]["N"], js.inference_optimal(law, 2.1, 1e12)["N"].iloc[0]),
        "two-step": (["two-step", "{csv}", tmp_path / "metric.csv", *EPOCH_COLUMNS, "--starts", 4, "--resamples", 10],
                     lambda p: p["metric_params"]["x0"],
                     js.two_step(frame, metric, n_resamples=10, loss_starts=4, columns=columns).metric_fit.params["x0"]),
        "metric-artefact": (["metric-artefact", "--answer-tokens", 3], lambda p: p["N_star"],
                            js.metric_artefact(law, answer_tokens=3).attrs["N_star"]),
    }


@pytest.mark.slow
def test_every_decision_command_runs_as_a_subprocess_on_real_data(epoch, tmp_path):
    """Issue 21's 'must show': each decision subcommand run as a subprocess on Epoch's runs (Approach 1 on the
    synthetic training curves: no public Chinchilla curves), its --json parsed and a number equal to the API's.
    Slow (a fresh process per command); test_*_agree_with_the_api above run the same commands in-process."""
    csv, frame, columns = epoch
    checks = _api_numbers(frame, columns, tmp_path)
    assert set(checks) == set(PARITY_COMMANDS)
    for name, (args, read, expected) in checks.items():
        out = run_cli(*[str(a).format(csv=csv) for a in args], "--json")
        assert out.returncode == 0 and "Traceback" not in out.stderr, (name, out.stderr)
        assert read(json.loads(out.stdout)) == pytest.approx(expected, rel=1e-9), name
