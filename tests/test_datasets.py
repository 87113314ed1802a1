"""Loaders of public scaling-law data sets beyond Chinchilla: Muennighoff et al. (2023), Gadre et al. (2024).

Offline, the loaders are tested on files with the real layout through ``path=``:
- tests/data/muennighoff_excerpt.ipynb: 32 runs of datablations' utils/parametric_fit.ipynb (commit 13701315),
  copied verbatim; datablations is Apache-2.0, which allows redistribution with attribution (in the file).
- Gadre et al.: github.com/mlfoundations/scaling has no licence file in the indexed copy, so none of its
  files is committed; the tests write model JSON files in the same schema with synthetic numbers.
Tests that need the full published files skip, saying why, when they cannot be downloaded.
"""
from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jaxscale as js

DATA = Path(__file__).resolve().parent / "data"
EXCERPT = DATA / "muennighoff_excerpt.ipynb"
EPOCH = js.datasets.EPOCH_PARAMS


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt raises, as it does on a machine without network."""
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    for var in ("JAXSCALE_MUENNIGHOFF_IPYNB", "JAXSCALE_GADRE_DIR"):
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("JAXSCALE_CACHE", str(cache))
    return cache


# ----------------------------------------------------------------------------------------- Muennighoff
def test_muennighoff_excerpt_columns_and_values():
    runs = js.datasets.muennighoff(EXCERPT)
    assert list(runs.columns) == ["N", "D", "U", "loss", "C", "epochs", "seed", "name"]
    # 32 dict entries: 2 unfinished (loss 0) and 2 dedup runs are not runs of the table, 2 '*opt*' runs left out
    assert len(runs) == 26
    assert not runs["name"].str.contains("dedup|opt").any()
    assert "3b926b400m" not in set(runs["name"]) and "220m200b1b5" not in set(runs["name"])
    row = runs.set_index("name").loc["146m5b9100m"]
    assert (row["N"], row["D"], row["U"], row["loss"]) == (146.5e6, 5.9e9, 100e6, 3.718068)
    assert row["epochs"] == pytest.approx(59.0, rel=1e-12)
    row = runs.set_index("name").loc["2b855b1b25c4seed1"]  # name ends in '25': U is 1.25B, not 25B
    assert (row["N"], row["D"], row["U"], row["seed"]) == (2.81e9, 55e9, 1.25e9, 1)
    assert runs.set_index("name").loc["4b284b84bc4v2seed1", "seed"] == 1
    assert runs.set_index("name").loc["7m100m100m", "N"] == 7098752.0
    np.testing.assert_array_equal(runs["C"].to_numpy(), 6.0 * runs["N"].to_numpy() * runs["D"].to_numpy())
    np.testing.assert_array_equal(runs["epochs"].to_numpy(), runs["D"].to_numpy() / runs["U"].to_numpy())
    assert (runs["U"] <= runs["D"]).all()


def test_muennighoff_opt_runs_only_on_request():
    runs = js.datasets.muennighoff(EXCERPT, include_opt=True)
    assert len(runs) == 28
    opt2 = runs.set_index("name").loc["4b284b12bc4opt2"]
    # kept as the notebook decoded it (documented quirk): D = 84.1e9, U = 2.2e9 for '...84b12b...opt2'
    assert (opt2["N"], opt2["D"], opt2["U"], opt2["loss"]) == (4.2465e9, 84.1e9, 2.2e9, 2.520537)
    assert list(runs["name"]).index("4b284b12bc4opt2") == 7  # rows keep the notebook's order


def _edit_printed(tmp_path, edit) -> Path:
    notebook = json.loads(EXCERPT.read_text())
    cell = next(c for c in notebook["cells"] if c.get("outputs"))
    cell["outputs"][0]["text"] = edit(cell["outputs"][0]["text"])
    out = tmp_path / "edited.ipynb"
    out.write_text(json.dumps(notebook))
    return out


def test_muennighoff_rejects_a_table_that_does_not_line_up(tmp_path):
    changed = _edit_printed(tmp_path, lambda lines: [l.replace("3.718068", "3.718069") for l in lines])
    with pytest.raises(ValueError, match=r"'146m5b9100m' has loss 3\.718068.*do not line up"):
        js.datasets.muennighoff(changed)
    shorter = _edit_printed(tmp_path, lambda lines: lines[:-1])
    with pytest.raises(ValueError, match=r"28 finished non-dedup runs but the notebook printed 27"):
        js.datasets.muennighoff(shorter)


def test_muennighoff_rejects_other_files(tmp_path):
    (tmp_path / "x.ipynb").write_text("not json")
    with pytest.raises(ValueError, match="not a Jupyter notebook"):
        js.datasets.muennighoff(tmp_path / "x.ipynb")
    (tmp_path / "y.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x = 1"}]}))
    with pytest.raises(ValueError, match="no cell defining NAMES_TO_VAL_LOSSES"):
        js.datasets.muennighoff(tmp_path / "y.ipynb")
    (tmp_path / "z.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code",
                                                              "source": "NAMES_TO_VAL_LOSSES = load()"}]}))
    with pytest.raises(ValueError, match="cannot read NAMES_TO_VAL_LOSSES as a Python literal"):
        js.datasets.muennighoff(tmp_path / "z.ipynb")  # read, never executed
    with pytest.raises(FileNotFoundError, match="no file at"):
        js.datasets.muennighoff(tmp_path / "missing.ipynb")


def test_muennighoff_offline_message(empty_cache, no_network):
    with pytest.raises(FileNotFoundError, match=r"could not download .*parametric_fit\.ipynb.*Offline\?.*"
                                                r"muennighoff\(path=.*JAXSCALE_MUENNIGHOFF_IPYNB"):
        js.datasets.muennighoff()
    with pytest.raises(FileNotFoundError, match=r"not cached at .* download=False"):
        js.datasets.muennighoff(download=False)


def test_muennighoff_env_var_and_download_once(empty_cache, monkeypatch):
    monkeypatch.setenv("JAXSCALE_MUENNIGHOFF_IPYNB", str(EXCERPT))
    assert len(js.datasets.muennighoff()) == 26
    monkeypatch.delenv("JAXSCALE_MUENNIGHOFF_IPYNB")
    calls = []

    def serve(url, timeout=None):
        calls.append(url)
        return io.BytesIO(EXCERPT.read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    first = js.datasets.muennighoff()
    second = js.datasets.muennighoff()
    assert calls == [js.datasets.MUENNIGHOFF_URL] and "13701315b163f1c54642b94ad237b2699187c3ee" in calls[0]
    assert (empty_cache / js.datasets.MUENNIGHOFF_FILE).read_bytes() == EXCERPT.read_bytes()
    pd.testing.assert_frame_equal(first, second)


def test_muennighoff_excerpt_fits():
    runs = js.datasets.muennighoff(EXCERPT)
    fit = js.fit(runs, starts=8)
    assert np.isfinite(fit.objective) and fit.params["alpha"] > 0 and fit.params["beta"] > 0


def test_muennighoff_full_notebook():  # the real cache: downloaded once
    try:
        runs = js.datasets.muennighoff()
    except FileNotFoundError as err:
        pytest.skip(f"the full datablations notebook cannot be downloaded here: {err}")
    assert len(runs) > 200 and (runs["U"] <= runs["D"]).all()
    assert set(runs["seed"]) == {0, 1, 2, 3, 4}
    assert runs.set_index("name").loc["146m5b9100m", "loss"] == 3.718068


# ----------------------------------------------------------------------------------------- Gadre
# Parameter counts of the six architectures (scaling/constants.py of mlfoundations/scaling)
SIZES = {"d=96_l=8_h=4": 10569312, "d=512_l=8_h=4": 78914048, "d=576_l=24_h=8": 153677376,
         "d=1024_l=24_h=8": 411616256, "open_lm_1b": 1439795200, "open_lm_7b": 6889410560}
EVALS = {"openlm": "training/eval_data/val_tok_mult/openlm/shard_00000000.tar",
         "c4_val": "training/eval_data/c4_val/shard-{0000000..0000010}.tar",
         "paloma_c4_en": "training/eval_data/val_tok_mult/paloma_c4_en/00000001.tar",
         "paloma_dolma_100_programing_languages":
             "training/eval_data/val_tok_mult/paloma_dolma_100_programing_languages/00000001.tar",
         "paloma_falcon-refinedweb": "training/eval_data/val_tok_mult/paloma_falcon-refinedweb/00000001.tar",
         "paloma_ptb": "training/eval_data/val_tok_mult/paloma_ptb/00000001.tar",
         "paloma_redpajama": "training/eval_data/val_tok_mult/paloma_redpajama/00000001.tar",
         "val_de-en_100": "training/eval_data/val_tok_mult/de-en/val_de-en_100.tar"}
OFFSET = {key: 0.0 if key == "c4_val" else 0.1 * (k + 1) for k, key in enumerate(EVALS)}


def chinchilla_loss(N, D, p=EPOCH):
    return p["E"] + p["A"] / N ** p["alpha"] + p["B"] / D ** p["beta"]


def synthetic_model_json(dataset: str, model: str, mult: float) -> str:
    """One model file in the schema of exp_data/models/*.json, with synthetic numbers: the C4 loss follows
    Epoch's Chinchilla law exactly; the other validation sets add a fixed offset each."""
    n = SIZES[model]
    tokens = int(round(20 * mult * n))
    config = model if model.startswith("open_lm") else f"training/open_lm_configs/{model}.json"
    name = f"{dataset}-{model}-{mult}"
    results = [{"loss": chinchilla_loss(n, tokens) + OFFSET[key], "loss_sequences_lower_95": 0.0,
                "loss_sequences_upper_95": 0.0, "sequences": 1, "tokens": 1, "val_data": [path], "model": model}
               for key, path in EVALS.items()]
    return json.dumps({"name": name, "dataset_name": dataset, "dataset_uuid": "synthetic",
                       "hyperparameters": {"model": config, "tokens": tokens, "params": n,
                                           "params_no_embed": n // 2, "chinchilla_multiplier": mult},
                       "results": results, "uuid": "synthetic"}, indent=4)


GRID = [(model, mult) for model in SIZES if not model.startswith("open_lm")
        for mult in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)] + [("open_lm_1b", 1.0), ("open_lm_7b", 1.0)]


@pytest.fixture(scope="module")
def gadre_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for model, mult in GRID:
        (folder / f"rpj-{model}-{mult}.json").write_text(synthetic_model_json("rpj", model, mult))
    return folder


def test_gadre_columns_and_units(gadre_folder):
    runs = js.datasets.gadre(gadre_folder)
    assert list(runs.columns) == ["N", "D", "loss", "C", "dataset", "M", "model", "eval", "name", "N_no_embed"]
    assert len(runs) == len(GRID) and set(runs["eval"]) == {"c4_val"} and set(runs["dataset"]) == {"rpj"}
    row = runs.set_index("name").loc["rpj-d=96_l=8_h=4-4.0"]
    assert (row["N"], row["D"], row["M"], row["model"]) == (10569312, 845544960, 80.0, "d=96_l=8_h=4")
    assert row["loss"] == chinchilla_loss(10569312, 845544960) and row["N_no_embed"] == 10569312 // 2
    assert runs.set_index("name").loc["rpj-open_lm_7b-1.0", "model"] == "open_lm_7b"
    np.testing.assert_array_equal(runs["C"].to_numpy(), 6.0 * runs["N"].to_numpy() * runs["D"].to_numpy())
    np.testing.assert_allclose(runs["D"] / runs["N"], runs["M"], rtol=1e-6)


def test_gadre_validation_sets(gadre_folder):
    every = js.datasets.gadre(gadre_folder, eval_set=None)
    assert len(every) == 8 * len(GRID) and set(every["eval"]) == set(EVALS)
    ptb = js.datasets.gadre(gadre_folder, eval_set="paloma_ptb")
    c4 = js.datasets.gadre(gadre_folder)
    np.testing.assert_allclose(ptb["loss"] - c4["loss"], OFFSET["paloma_ptb"], rtol=1e-12)
    with pytest.raises(ValueError, match=r"eval_set='c4' is not among the validation sets \[.*'c4_val'"):
        js.datasets.gadre(gadre_folder, eval_set="c4")


def test_gadre_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder of model JSON files"):
        js.datasets.gadre(tmp_path)
    (tmp_path / "rpj-open_lm_1b-1.0.json").write_text(synthetic_model_json("rpj", "open_lm_7b", 1.0))
    with pytest.raises(ValueError, match=r"describes run 'rpj-open_lm_7b-1\.0', not 'rpj-open_lm_1b-1\.0'"):
        js.datasets.gadre(tmp_path)
    (tmp_path / "rpj-open_lm_1b-1.0.json").write_text('{"name": "rpj-open_lm_1b-1.0"}')
    with pytest.raises(ValueError, match=r"not a model file of github.com/mlfoundations/scaling.*KeyError"):
        js.datasets.gadre(tmp_path)


def test_gadre_offline_message(empty_cache, no_network):
    with pytest.raises(FileNotFoundError, match=r"could not download .*Offline\?.*gadre\(path=.*JAXSCALE_GADRE_DIR"):
        js.datasets.gadre()
    with pytest.raises(FileNotFoundError, match=r"104 of the 104 .* download=False"):
        js.datasets.gadre(download=False)


def test_gadre_downloads_each_pinned_file_once(empty_cache, monkeypatch):
    calls = []

    def serve(url, timeout=None):
        calls.append(url)
        dataset, model, mult = url.rsplit("/", 1)[1].removesuffix(".json").rsplit("-", 2)
        return io.BytesIO(synthetic_model_json(dataset, model, float(mult)).encode())

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    runs = js.datasets.gadre()
    expected = {f"{js.datasets.GADRE_RAW}/{commit}/exp_data/models/{stem}.json"
                for commit, stems in js.datasets.GADRE_FILES.items() for stem in stems}
    assert len(calls) == 104 and set(calls) == expected
    assert all(len(u.split("/")[5]) == 40 for u in calls)  # every URL is pinned at a full commit hash
    assert len(runs) == 104 and runs.groupby("dataset").size().to_dict() == {"c4_original": 34, "rpj": 35,
                                                                            "rw_original": 35}
    again = js.datasets.gadre()
    assert len(calls) == 104
    pd.testing.assert_frame_equal(runs, again)
    monkeypatch.setenv("JAXSCALE_GADRE_DIR", str(empty_cache / js.datasets.GADRE_DIR))
    assert len(js.datasets.gadre(eval_set=None)) == 8 * 104


def test_gadre_fit_recovers_the_law_behind_the_files(gadre_folder):
    """Noise-free synthetic runs from Epoch's law: the fit through the loader must give the law back, so the
    loader's N and D are the parameter and token counts the losses were made from."""
    fit = js.fit(js.datasets.gadre(gadre_folder), starts=8)
    for name in ("A", "B", "E", "alpha", "beta"):
        assert fit.params[name] == pytest.approx(EPOCH[name], rel=1e-4), name


def test_gadre_full_files():  # the real cache: downloaded once
    try:
        runs = js.datasets.gadre(eval_set=None)
    except FileNotFoundError as err:
        pytest.skip(f"Gadre et al.'s 104 model files cannot be downloaded here: {err}")
    assert len(runs) == 8 * 104 and set(runs["eval"]) == set(EVALS)
    c4 = runs[runs["eval"] == "c4_val"]
    assert set(c4["N"].astype(int)) == set(SIZES.values()) and set(c4["model"]) == set(SIZES)
    np.testing.assert_allclose(c4["D"] / c4["N"], c4["M"], rtol=0.05)
    assert c4["loss"].between(1.5, 8.0).all()
