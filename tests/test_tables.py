"""Run records in: CSV, JSON (records / columns), JSONL and parquet through one reader, and the CLI on each."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from jaxscale.api.tables import read_table, table_format
from test_cli import ok, run_cli


def write_jsonl(frame: pd.DataFrame, path) -> None:
    """One record per line with Python's exact float repr (pandas' to_json rounds to 10 digits)."""
    with open(path, "w") as handle:
        for record in frame.to_dict(orient="records"):
            handle.write(json.dumps(record) + "\n")


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = np.repeat([1e8, 4e8, 1.6e9], 4)
    d = np.tile([2e9, 8e9, 3.2e10, 1.28e11], 3)
    return pd.DataFrame({"N": n, "D": d, "loss": 1.8 + 480 * n ** -0.35 + 2000 * d ** -0.37 + rng.normal(0, 1e-3, 12),
                         "name": [f"run{i}" for i in range(12)]})


def test_every_format_reads_the_same_frame(tmp_path, runs):
    paths = {"csv": tmp_path / "r.csv", "records": tmp_path / "r.json", "columns": tmp_path / "c.json",
             "pandas": tmp_path / "p.json", "jsonl": tmp_path / "r.jsonl", "gz": tmp_path / "r.jsonl.gz"}
    runs.to_csv(paths["csv"], index=False)
    paths["records"].write_text(json.dumps(runs.to_dict(orient="records")))
    paths["columns"].write_text(json.dumps(runs.to_dict(orient="list")))
    paths["pandas"].write_text(runs.to_json(double_precision=15))  # pandas' default orient: {column: {row: value}}
    write_jsonl(runs, paths["jsonl"])
    with gzip.open(paths["gz"], "wt") as handle:
        handle.write(paths["jsonl"].read_text() + "\n\n")  # blank lines are skipped
    for name, path in paths.items():
        frame = read_table(path)
        assert list(frame.columns) == ["N", "D", "loss", "name"], name
        np.testing.assert_array_equal(frame[["N", "D"]].to_numpy(float), runs[["N", "D"]].to_numpy(), err_msg=name)
        np.testing.assert_allclose(frame["loss"].to_numpy(float), runs["loss"].to_numpy(), rtol=1e-15, err_msg=name)
        assert frame["name"].tolist() == runs["name"].tolist(), name


def test_parquet_reads_the_same_frame(tmp_path, runs):
    pytest.importorskip("pyarrow", reason="pyarrow (the optional 'parquet' extra) is not installed")
    runs.to_parquet(tmp_path / "r.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "r.parquet"), runs, check_dtype=False)


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    (tmp_path / "r.parquet").write_bytes(b"PAR1")
    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(ValueError, match=r"needs pyarrow.*pip install 'jaxscale\[parquet\]'"):
        read_table(tmp_path / "r.parquet")


@pytest.mark.parametrize("name,content,message", [
    ("runs.xlsx", "x", r"cannot tell the format of .*runs\.xlsx: name it \.csv, \.json"),
    ("runs", "N,D,loss\n1,2,3\n", "cannot tell the format"),
    ("runs.parquet.gz", "x", "cannot tell the format"),
    ("empty.csv", "", r"empty\.csv is empty \(no header, no rows\)"),
    ("header.csv", "N,D,loss\n", r"the data has no rows \(a CSV with only a header\?\).*\['N', 'D', 'loss'\]"),
    ("empty.json", "[]", r"the data has no rows \(an empty list"),
    ("empty.jsonl", "\n\n", r"the data has no rows \(no records in the file\?\)"),
    ("bad.json", "[{\"N\": 1,}]", r"bad\.json is not valid JSON"),
    ("scalars.json", "[1, 2]", r"record 0 is int, not an object"),
    ("flat.json", "{\"N\": 1, \"D\": 2}", "an object of columns"),
    ("ragged.json", "{\"N\": [1, 2], \"D\": [3]}", r"different lengths \{'N': 2, 'D': 1\}"),
    ("bad.jsonl", "{\"N\": 1}\n{\"N\": 2\n", r"bad\.jsonl, line 2 is not valid JSON"),
    ("list.jsonl", "{\"N\": 1}\n[2]\n", r"line 2 is list, not an object"),
    ("latin.csv", b"N,D,loss\n1,2,\xe9\n", "it is not UTF-8 text"),
    ("broken.csv", "N,D,loss\n1,2,3\n1,2,3,4,5\n", r"could not read .*broken\.csv as CSV"),
    ("bad.jsonl.gz", b"not gzip", "could not decompress"),
    ("bad.parquet", b"not parquet", r"could not read .*bad\.parquet as parquet|needs pyarrow"),
])
def test_bad_tables_say_what_is_wrong(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message):
        read_table(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_table(tmp_path / "nope.jsonl")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(ValueError, match="is not a file"):
        read_table(tmp_path / "dir.csv")


def test_format_from_suffix():
    assert [table_format(p) for p in ("a.CSV", "a.json", "b.ndjson", "c.jsonl.gz", "d.pq", "e.v2.parquet")] == [
        "csv", "json", "jsonl", "jsonl", "parquet", "parquet"]


# ---------------------------------------------------------------------- the CLI, on Epoch's Chinchilla runs
CHINCHILLA_ARGS = ("--n-col", "Model Size", "--c-col", "Training FLOP", "--starts", 8, "--json")


def test_cli_fits_jsonl_and_json_as_csv(tmp_path, chinchilla_csv):
    """The same 245 runs as CSV, JSONL and JSON records give the same fit, bit for bit."""
    frame = pd.read_csv(chinchilla_csv)
    write_jsonl(frame, tmp_path / "runs.jsonl")
    (tmp_path / "runs.json").write_text(json.dumps(frame.to_dict(orient="records")))
    fits = {path.suffix: json.loads(ok(run_cli("fit", path, *CHINCHILLA_ARGS)))
            for path in (chinchilla_csv, tmp_path / "runs.jsonl", tmp_path / "runs.json")}
    assert fits[".csv"]["n_points"] == 245
    assert fits[".jsonl"]["params"] == fits[".csv"]["params"]
    assert fits[".json"]["params"] == fits[".csv"]["params"]


def test_cli_fits_parquet_as_csv(tmp_path, chinchilla_csv):
    pytest.importorskip("pyarrow", reason="pyarrow (the optional 'parquet' extra) is not installed")
    pd.read_csv(chinchilla_csv).to_parquet(tmp_path / "runs.parquet")
    csv = json.loads(ok(run_cli("fit", chinchilla_csv, *CHINCHILLA_ARGS)))
    parquet = json.loads(ok(run_cli("fit", tmp_path / "runs.parquet", *CHINCHILLA_ARGS)))
    assert parquet["params"] == csv["params"] and parquet["n_points"] == 245


def test_cli_table_errors_are_one_line(tmp_path, capsys):
    from jaxscale.cli import main

    (tmp_path / "runs.xlsx").write_text("x")
    (tmp_path / "bad.jsonl").write_text("{\"N\": 1}\n{oops\n")
    for path, message in ((tmp_path / "runs.xlsx", "cannot tell the format"),
                          (tmp_path / "bad.jsonl", "line 2 is not valid JSON"),
                          (tmp_path / "none.jsonl", "no such file")):
        assert main(["fit", str(path)]) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("jaxscale: error:") and len(err.strip().splitlines()) == 1, err


# ---------------------------------------------------------------------- machine-readable output everywhere
def test_every_subcommand_offers_json():
    from jaxscale.cli import build_parser

    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert {"fit", "bootstrap", "isoflop", "optimal", "predict", "plot", "extrapolate", "plan", "demo"} <= set(commands)
    for name, sub in commands.items():
        assert "--json" in sub._option_string_actions, f"'jaxscale {name}' has no --json"


def test_plot_json_says_what_it_wrote(tmp_path, runs):
    pytest.importorskip("matplotlib")
    write_jsonl(runs, tmp_path / "runs.jsonl")
    out = tmp_path / "tokens.png"
    payload = json.loads(ok(run_cli("plot", "tokens", "--data", tmp_path / "runs.jsonl", "--starts", 8,
                                    "--resamples", 0, "--out", out, "--json")))
    assert payload == {"wrote": str(out), "kind": "tokens", "source": None, "n_resamples": None}
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
