"""Data sets: Epoch AI's extraction of the Chinchilla runs, Muennighoff et al.'s data-constrained runs,
Gadre et al.'s over-trained runs, and seeded synthetic isoFLOP data."""
from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from ..kernels import allocation

CHINCHILLA_URL = ("https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
                  "92258837425e1b5f2851d624287f0120583a3d0e/data/svg_extracted_data.csv")
CHINCHILLA_SHA256 = "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30"
CHINCHILLA_FILE = "svg_extracted_data.csv"
ENV_VAR = "JAXSCALE_CHINCHILLA_CSV"

#: Epoch AI's estimate (Besiroglu et al. 2024, Table 1), the default truth of :func:`synthetic`.
EPOCH_PARAMS = {"A": 482.01, "B": 2085.43, "E": 1.8169, "alpha": 0.3478, "beta": 0.3659}
#: The Approach 3 law as published by Hoffmann et al. (2022), eq. (10).
HOFFMANN_PARAMS = {"A": 406.4, "B": 410.7, "E": 1.69, "alpha": 0.34, "beta": 0.28}
#: The nine isoFLOP budgets (FLOP) of Approach 2, Hoffmann et al. (2022), Fig. 3.
HOFFMANN_BUDGETS = (6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21)


def cache_dir() -> Path:
    """``$JAXSCALE_CACHE``, else ``$XDG_CACHE_HOME/jaxscale``, else ``~/.cache/jaxscale``."""
    if os.environ.get("JAXSCALE_CACHE"):
        return Path(os.environ["JAXSCALE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxscale"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_atomic(dest: Path, payload: bytes) -> None:
    """Write ``payload`` to ``dest`` through a temporary file in the same folder and ``os.replace``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _download(url: str, dest: Path, sha256: str | None, what: str, manual: str) -> Path:
    """Fetch ``url`` into ``dest`` (atomically); check its sha256 when one is known.

    ``manual`` tells the user how to get the file without the network; it ends the offline error.
    """
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise FileNotFoundError(f"could not download {what} from {url} ({err}). Offline? {manual}") from None
    if sha256 is not None and hashlib.sha256(payload).hexdigest() != sha256:
        raise FileNotFoundError(f"downloaded file from {url} has an unexpected sha256; not using it")
    _write_atomic(dest, payload)
    return dest


def _locate(path, env_var: str, cached: Path, url: str, sha256: str | None, download: bool, what: str,
            manual: str) -> Path:
    """``path``, else ``$env_var``, else the cache (checked by sha256 when known), else download once."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no file at {p}; pass the path of {what}")
        return p
    if os.environ.get(env_var):
        p = Path(os.environ[env_var])
        if p.is_dir():
            raise FileNotFoundError(f"${env_var} points to {p}, a directory; set it to the file itself ({what})")
        if not p.is_file():
            raise FileNotFoundError(f"${env_var} points to {p}, which does not exist")
        return p
    if cached.is_file() and (sha256 is None or _sha256(cached) == sha256):
        return cached
    if not download:
        raise FileNotFoundError(f"{what} not cached at {cached} and download=False. {manual}")
    return _download(url, cached, sha256, what, manual)


def chinchilla_path(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Locate Epoch's CSV: ``path``, else ``$JAXSCALE_CHINCHILLA_CSV``, else the cache (downloaded once)."""
    return _locate(path, ENV_VAR, cache_dir() / CHINCHILLA_FILE, CHINCHILLA_URL, CHINCHILLA_SHA256, download,
                   "Epoch's svg_extracted_data.csv (the Chinchilla data)",
                   f"Download svg_extracted_data.csv from github.com/epoch-research/analyzing-chinchilla yourself "
                   f"and pass jaxscale.datasets.chinchilla(path='.../svg_extracted_data.csv') or set ${ENV_VAR}")


def chinchilla(path: str | os.PathLike | None = None, drop_outliers: bool = True) -> pd.DataFrame:
    """The 245 Chinchilla runs extracted by Epoch AI from Hoffmann et al. (2022), Fig. 4.

    Returns columns ``N`` (parameters), ``D = C / (6 N)`` (tokens), ``loss`` (nats/token) and
    ``C`` (training FLOP), indexed by the row number of the CSV. ``drop_outliers=True`` drops
    the 5 highest-loss runs as Epoch does (240 rows remain). Cite Hoffmann et al. 2022 and
    Besiroglu et al. 2024 when using it.
    """
    raw = pd.read_csv(chinchilla_path(path))
    needed = ["Model Size", "Training FLOP", "loss"]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ValueError(f"{path or 'the file'} lacks columns {missing}; expected Epoch's svg_extracted_data.csv")
    frame = pd.DataFrame({"N": raw["Model Size"].astype(float), "C": raw["Training FLOP"].astype(float),
                          "loss": raw["loss"].astype(float)})
    frame["D"] = frame["C"] / (6.0 * frame["N"])
    frame = frame[["N", "D", "loss", "C"]]
    if drop_outliers:
        frame = frame.drop(index=frame["loss"].nlargest(5).index).sort_index()
    return frame


# ----------------------------------------------------------------------------- Muennighoff et al. (2023)
MUENNIGHOFF_URL = ("https://raw.githubusercontent.com/huggingface/datablations/"
                   "13701315b163f1c54642b94ad237b2699187c3ee/utils/parametric_fit.ipynb")
#: ``None``, because the 3.7 MB notebook could not be read byte-exactly offline, so no file checksum is pinned.
#: The download is pinned by commit (immutable over HTTPS) and its content is cross-checked on parsing.
MUENNIGHOFF_SHA256: str | None = None
MUENNIGHOFF_FILE = "datablations_parametric_fit.ipynb"
MUENNIGHOFF_ENV_VAR = "JAXSCALE_MUENNIGHOFF_IPYNB"

_RUN_LINE = re.compile(r"^(\S+) (\S+) (\S+) (\S+) (\S+)$")


def muennighoff_path(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Locate datablations' ``utils/parametric_fit.ipynb``: ``path``, else ``$JAXSCALE_MUENNIGHOFF_IPYNB``,
    else the cache (downloaded once from :data:`MUENNIGHOFF_URL`, a pinned commit)."""
    return _locate(path, MUENNIGHOFF_ENV_VAR, cache_dir() / MUENNIGHOFF_FILE, MUENNIGHOFF_URL, MUENNIGHOFF_SHA256,
                   download, "datablations' utils/parametric_fit.ipynb (the Muennighoff et al. 2023 runs)",
                   f"Download utils/parametric_fit.ipynb from github.com/huggingface/datablations yourself and pass "
                   f"jaxscale.datasets.muennighoff(path='.../parametric_fit.ipynb') or set ${MUENNIGHOFF_ENV_VAR}")


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _stdout_lines(cell: dict) -> list[str]:
    lines: list[str] = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            text = output.get("text", "")
            lines.extend(("".join(text) if isinstance(text, list) else str(text)).splitlines())
    return lines


def _read_datablations(path: Path) -> tuple[dict, list[tuple[str, float, float, float, float]]]:
    """``NAMES_TO_VAL_LOSSES`` (run name -> final validation loss) and the decoded table the notebook printed."""
    try:
        cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c.get("cell_type") == "code"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a Jupyter notebook ({err}); expected datablations' "
                         "utils/parametric_fit.ipynb") from None
    where = next((i for i, c in enumerate(cells)
                  if re.search(r"^NAMES_TO_VAL_LOSSES\s*=", _cell_source(c), flags=re.M)), None)
    if where is None:
        raise ValueError(f"{path} has no cell defining NAMES_TO_VAL_LOSSES; expected datablations' "
                         "utils/parametric_fit.ipynb")
    losses = None
    try:  # parse and literal_eval only: nothing in the notebook is executed
        for node in ast.parse(_cell_source(cells[where])).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "NAMES_TO_VAL_LOSSES"
                                                    for t in node.targets):
                losses = ast.literal_eval(node.value)
    except (SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: cannot read NAMES_TO_VAL_LOSSES as a Python literal ({err})") from None
    if not isinstance(losses, dict) or not all(isinstance(k, str) and isinstance(v, (int, float))
                                               for k, v in losses.items()):
        raise ValueError(f"{path}: NAMES_TO_VAL_LOSSES is not a literal dict of run name -> loss")
    printer = next((c for c in cells[where + 1:] if "NAMES_TO_VAL_LOSSES.items()" in _cell_source(c)), None)
    if printer is None:
        raise ValueError(f"{path} has no cell decoding NAMES_TO_VAL_LOSSES (the loop that prints "
                         "'name N D U loss'); expected datablations' utils/parametric_fit.ipynb")
    table = []
    for line in _stdout_lines(printer):
        match = _RUN_LINE.match(line.strip())
        if match is None:
            continue  # the notebook's debug prints (e.g. '1b25') are not runs
        try:
            table.append((match[1], *(float(match[i]) for i in range(2, 6))))
        except ValueError:
            raise ValueError(f"{path}: cannot read the printed run line {line!r} as 'name N D U loss'") from None
    return losses, table


def muennighoff(path: str | os.PathLike | None = None, download: bool = True,
                include_opt: bool = False) -> pd.DataFrame:
    r"""Muennighoff et al. (2023)'s data-constrained runs: final validation loss with repeated data.

    Reads the notebook ``utils/parametric_fit.ipynb`` of github.com/huggingface/datablations (pinned at
    commit ``13701315``, :data:`MUENNIGHOFF_URL`), from ``path``, ``$JAXSCALE_MUENNIGHOFF_IPYNB`` or the cache
    (downloaded once). Its dict ``NAMES_TO_VAL_LOSSES`` maps run names such as ``146m5b9100m`` (146M
    parameters, 5.9B tokens, 100M unique tokens) to losses; the notebook decodes the names and prints
    ``name N D U loss`` for every run it fits. This loader takes N, D, U from that printed table (the
    authors' own decoding) and checks it run by run against the dict, in order: a different count or loss
    raises ``ValueError``. Nothing in the notebook is executed (the dict is read with ``ast.literal_eval``).

    As in the notebook, runs with loss 0 (unfinished) and ``*dedup`` runs (trained on deduplicated data)
    are not runs of this table. Runs named ``*opt*`` (``4b284b12bc4opt2``, ``8b7178b25bopt``) use other
    model shapes (the notebook notes 3.09e9 parameters for the first, not the 4.25e9 of its size class, and
    its printed decoding garbles that name into D = 84.1e9, U = 2.2e9), so their N is not reliable; they are
    left out unless ``include_opt=True``, in which case they come as the authors decoded them.

    Returns
    -------
    pandas.DataFrame
        ``N`` (parameters), ``D`` (training tokens, repeats included), ``U`` (unique tokens),
        ``loss`` (final validation loss, nats/token), ``C = 6 N D`` (FLOP), ``epochs = D / U``,
        ``seed`` (k of a ``seedk`` suffix, 0 for runs without one) and ``name`` (the run's key in the notebook).

    Notes
    -----
    Source: https://github.com/huggingface/datablations, licence Apache-2.0 (models and code). The paper fits
    :math:`L = E + A/(U_N + U_N R_N^*(1 - e^{-R_N/R_N^*}))^\alpha + B/(U_D + U_D R_D^*(1 - e^{-R_D/R_D^*}))^\beta`
    with :math:`R_D = D/U - 1`; the plain Chinchilla law in jaxscale fits the ``N``, ``D`` columns. Cite::

        @article{muennighoff2023scaling,
          title={Scaling Data-Constrained Language Models},
          author={Muennighoff, Niklas and Rush, Alexander M and Barak, Boaz and Scao, Teven Le and Piktus,
                  Aleksandra and Tazi, Nouamane and Pyysalo, Sampo and Wolf, Thomas and Raffel, Colin},
          journal={arXiv preprint arXiv:2305.16264},
          year={2023}
        }
    """
    source = muennighoff_path(path, download)
    losses, table = _read_datablations(source)
    fitted = [(name, float(loss)) for name, loss in losses.items() if loss != 0 and not name.endswith("dedup")]
    if len(fitted) != len(table):
        raise ValueError(f"{source}: NAMES_TO_VAL_LOSSES has {len(fitted)} finished non-dedup runs but the notebook "
                         f"printed {len(table)} decoded runs; is this datablations' utils/parametric_fit.ipynb "
                         "as published?")
    for (name, loss), row in zip(fitted, table):
        if row[4] != loss:
            raise ValueError(f"{source}: run {name!r} has loss {loss!r} in NAMES_TO_VAL_LOSSES but the printed "
                             f"table says {row[0]} ... {row[4]!r}; the two do not line up")
    frame = pd.DataFrame({"N": [r[1] for r in table], "D": [r[2] for r in table], "U": [r[3] for r in table],
                          "loss": [loss for _, loss in fitted]})
    frame["C"] = 6.0 * frame["N"] * frame["D"]
    frame["epochs"] = frame["D"] / frame["U"]
    frame["seed"] = [int(m[1]) if (m := re.search(r"seed(\d+)$", name)) else 0 for name, _ in fitted]
    frame["name"] = [name for name, _ in fitted]
    if not include_opt:
        frame = frame[~frame["name"].str.contains("opt")].reset_index(drop=True)
    return frame


# ----------------------------------------------------------------------------- Gadre et al. (2024)
GADRE_RAW = "https://raw.githubusercontent.com/mlfoundations/scaling"
GADRE_ENV_VAR = "JAXSCALE_GADRE_DIR"
GADRE_DIR = "gadre2024_models"
#: ``None``, because 104 files could not be read byte-exactly offline, so no checksums are pinned; each file is
#: fetched from a pinned commit over HTTPS and checked for its schema and name on parsing.
GADRE_SHA256: dict[str, str] | None = None


def _gadre_names(spec: str) -> tuple[str, ...]:
    """Expand ``dataset:model:mult,mult;...`` into file stems ``dataset-model-mult``."""
    out = []
    for group in spec.split():
        dataset, model, mults = group.split(":")
        out += [f"{dataset}-{model}-{m}" for m in mults.split(",")]
    return tuple(out)


_D1024, _D512, _D576, _D96 = "d=1024_l=24_h=8", "d=512_l=8_h=4", "d=576_l=24_h=8", "d=96_l=8_h=4"
#: The 104 model files of exp_data/models, each pinned at a commit holding it (per the indexed history).
GADRE_FILES: dict[str, tuple[str, ...]] = {
    "741b9ef142a23b7ef2870849508a4cb31374722f": _gadre_names(
        f"c4_original:{_D1024}:0.25,0.5,1.0,16.0,4.0 c4_original:{_D512}:1.0,32.0 c4_original:{_D576}:1.0,16.0 "
        f"c4_original:{_D96}:0.25,0.5,4.0,8.0 c4_original:open_lm_1b:1.0,4.0 c4_original:open_lm_7b:1.0 "
        f"rpj:{_D1024}:16.0,2.0,32.0,4.0,8.0 rpj:{_D512}:0.25,0.5,1.0,2.0,32.0,4.0,8.0 "
        f"rpj:{_D576}:1.0,16.0,2.0,32.0,8.0 rpj:{_D96}:0.25,0.5,1.0,16.0,2.0 rpj:open_lm_7b:1.0 "
        f"rw_original:{_D1024}:0.25,0.5,2.0,8.0 rw_original:{_D512}:0.25,0.5,32.0,4.0,8.0 "
        f"rw_original:{_D576}:0.5,8.0 rw_original:{_D96}:0.25,0.5,1.0,2.0,4.0 rw_original:open_lm_1b:1.0 "
        f"rw_original:open_lm_7b:1.0"),
    "fc0564292257702a398b570daf01d890fbe4e66e": _gadre_names(
        f"c4_original:{_D1024}:2.0,8.0 c4_original:{_D512}:0.25,0.5,16.0,2.0,4.0,8.0 "
        f"c4_original:{_D576}:0.25,0.5,2.0,32.0,4.0,8.0 c4_original:{_D96}:1.0,16.0,2.0,32.0 "
        f"rpj:{_D1024}:0.25,0.5,1.0 rpj:{_D512}:16.0 rpj:{_D576}:0.25,0.5,4.0 rpj:{_D96}:32.0,4.0,8.0 "
        f"rw_original:{_D1024}:1.0,16.0,32.0,4.0 rw_original:{_D512}:1.0,16.0,2.0 "
        f"rw_original:{_D576}:0.25,1.0,16.0,2.0,32.0,4.0 rw_original:{_D96}:16.0,32.0,8.0"),
    "041eb2f1b60fa6d985ac30d335c6b4d56d273ec0": _gadre_names(
        "rpj:open_lm_1b:1.0,32.0 rw_original:open_lm_1b:16.0"),
}


def _gadre_url(commit: str, stem: str) -> str:
    return f"{GADRE_RAW}/{commit}/exp_data/models/{stem}.json"


def gadre_path(path: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Locate a folder of Gadre et al.'s model JSON files: ``path``, else ``$JAXSCALE_GADRE_DIR``, else the
    cache (the 104 files of :data:`GADRE_FILES`, each downloaded once from its pinned commit)."""
    manual = ("Clone github.com/mlfoundations/scaling yourself and pass "
              f"jaxscale.datasets.gadre(path='.../scaling/exp_data/models') or set ${GADRE_ENV_VAR}")
    for given, label in ((path, "path"), (os.environ.get(GADRE_ENV_VAR) or None, f"${GADRE_ENV_VAR}")):
        if given is not None:
            p = Path(given)
            if not p.is_dir() or not any(p.glob("*.json")):
                raise FileNotFoundError(f"{label} = {p} is not a folder of model JSON files; pass the "
                                        "exp_data/models folder of github.com/mlfoundations/scaling")
            return p
    folder = cache_dir() / GADRE_DIR
    missing = [(commit, stem) for commit, stems in GADRE_FILES.items() for stem in stems
               if not (folder / f"{stem}.json").is_file()]
    if missing and not download:
        raise FileNotFoundError(f"{len(missing)} of the 104 Gadre et al. model files are not cached in {folder} "
                                f"and download=False. {manual}")
    for commit, stem in missing:
        _download(_gadre_url(commit, stem), folder / f"{stem}.json", None,
                  f"Gadre et al.'s {stem}.json ({len(missing)} file(s) to fetch)", manual)
    return folder


def _gadre_eval_name(val_data: str) -> str:
    """Short name of a validation set, as the authors' plots name it (``c4_val``, ``paloma_ptb``, ...)."""
    parts = val_data.split("/")
    return parts[-1].split(".")[0] if parts[-2] == "de-en" else parts[-2]


def _gadre_rows(file: Path) -> list[dict]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        hyper = data["hyperparameters"]
        run = {"N": float(hyper["params"]), "D": float(hyper["tokens"]),
               "M": 20.0 * float(hyper["chinchilla_multiplier"]), "dataset": str(data["dataset_name"]),
               "model": Path(str(hyper["model"])).stem, "name": str(data["name"]),
               "N_no_embed": float(hyper["params_no_embed"])}
        rows = [{**run, "loss": float(r["loss"]), "eval": _gadre_eval_name(r["val_data"][0])}
                for r in data["results"]]
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise ValueError(f"{file} is not a model file of github.com/mlfoundations/scaling exp_data/models "
                         f"({type(err).__name__}: {err}); delete it (a cached copy is fetched again) or fix the path"
                         ) from None
    if run["name"] != file.stem:
        raise ValueError(f"{file} describes run {run['name']!r}, not {file.stem!r}; the file was renamed or damaged")
    return rows


def gadre(path: str | os.PathLike | None = None, download: bool = True,
          eval_set: str | None = "c4_val") -> pd.DataFrame:
    r"""Gadre et al. (2024)'s 104 over-trained runs: 11M-6.9B parameters on C4, RedPajama and RefinedWeb.

    Reads the model files ``exp_data/models/*.json`` of github.com/mlfoundations/scaling: from the folder
    ``path``, from ``$JAXSCALE_GADRE_DIR``, or from the cache (each of the 104 files downloaded once from a
    pinned commit, :data:`GADRE_FILES`). Each file holds a run's parameter count, token count, token
    multiplier and its loss on 8 validation sets; ``eval_set`` picks one (default ``"c4_val"``, the C4
    evaluation of the paper's fits) or ``None`` for all, one row per (run, validation set).
    Validation sets: ``c4_val``, ``openlm``, ``paloma_c4_en``, ``paloma_dolma_100_programing_languages``,
    ``paloma_falcon-refinedweb``, ``paloma_ptb``, ``paloma_redpajama``, ``val_de-en_100``.

    Returns
    -------
    pandas.DataFrame
        ``N`` (parameters, embeddings included, as the paper counts them), ``D`` (training tokens),
        ``loss`` (nats/token), ``C = 6 N D`` (FLOP, as in the paper), and the grouping columns
        ``dataset`` (``c4_original``, ``rpj`` = RedPajama, ``rw_original`` = RefinedWeb), ``M`` (the
        token multiplier :math:`M = 20 \times` ``chinchilla_multiplier``, :math:`D \approx M N`), ``model``
        (architecture, e.g. ``d=96_l=8_h=4``, ``open_lm_1b``), ``eval`` (validation set), ``name`` (the run)
        and ``N_no_embed`` (parameters without embeddings).

    Notes
    -----
    Source: https://github.com/mlfoundations/scaling (no licence file found in the indexed copy of the
    repository, so jaxscale downloads the files and ships none of them). The paper fits
    :math:`L(N, M) = E + (a M^{\eta} + b M^{-\eta}) C^{-\alpha_C}` per training set. Cite::

        @article{gadre2024LanguageMS,
          author = {Gadre, Samir Yitzhak and Smyrnis, Georgios and Shankar, Vaishaal and Gururangan, Suchin and
                    Wortsman, Mitchell and Shao, Rulin and Mercat, Jean and Fang, Alex and Li, Jeffrey and
                    Keh, Sedrick and Xin, Rui and Nezhurina, Marianna and Vasiljevic, Igor and Jitsev, Jenia and
                    Dimakis, Alexandros G. and Ilharco, Gabriel and Song, Shuran and Kollar, Thomas and
                    Carmon, Yair and Dave, Achal and Heckel, Reinhard and Muennighoff, Niklas and Schmidt, Ludwig},
          title = {Language models scale reliably with over-training and on downstream tasks},
          year = {2024},
          journal = {arXiv preprint},
          note = {\url{https://arxiv.org/abs/2403.08540}}
        }
    """
    folder = gadre_path(path, download)
    if path is None and not os.environ.get(GADRE_ENV_VAR):
        files = [folder / f"{stem}.json" for stems in GADRE_FILES.values() for stem in stems]
    else:
        files = sorted(folder.glob("*.json"))
    frame = pd.DataFrame([row for file in sorted(files) for row in _gadre_rows(file)])
    frame["C"] = 6.0 * frame["N"] * frame["D"]
    frame = frame[["N", "D", "loss", "C", "dataset", "M", "model", "eval", "name", "N_no_embed"]]
    if eval_set is not None:
        available = sorted(frame["eval"].unique())
        if eval_set not in available:
            raise ValueError(f"eval_set={eval_set!r} is not among the validation sets {available}; "
                             "pick one of them or eval_set=None for all")
        frame = frame[frame["eval"] == eval_set]
    return frame.reset_index(drop=True)


def synthetic(params: dict | None = None, budgets=None, sizes_per_budget: int = 12, noise: float = 0.01,
              seed: int = 0) -> pd.DataFrame:
    r"""Hoffmann-style isoFLOP runs from a known Chinchilla law plus log-normal noise.

    For each budget ``C`` (FLOP), ``sizes_per_budget`` model sizes are spread log-uniformly
    over a factor 10 either side of the compute-optimal :math:`N_{opt}(C)`; ``D = C / (6N)``
    and :math:`\log L = \log(E + A N^{-\alpha} + B D^{-\beta}) + \varepsilon`,
    :math:`\varepsilon \sim \mathcal N(0, \mathrm{noise}^2)` drawn with ``numpy.random.default_rng(seed)``.
    """
    p = dict(EPOCH_PARAMS if params is None else params)
    budgets = np.asarray(HOFFMANN_BUDGETS if budgets is None else budgets,
                         dtype=np.float64)
    n_opt, _ = allocation.compute_optimal(p["A"], p["B"], p["alpha"], p["beta"], budgets)
    spread = np.logspace(-1.0, 1.0, int(sizes_per_budget))
    N = (n_opt[:, None] * spread[None, :]).ravel()
    C = np.repeat(budgets, len(spread))
    D = C / (6.0 * N)
    clean = allocation.chinchilla_loss(p["A"], p["B"], p["E"], p["alpha"], p["beta"], N, D)
    rng = np.random.default_rng(seed)
    loss = clean * np.exp(noise * rng.standard_normal(clean.shape)) if noise > 0 else clean
    return pd.DataFrame({"N": N, "D": D, "loss": loss, "C": C})


def training_curves(params: dict | None = None, sizes=None, points_per_run: int = 40, tokens_range=(1e8, 1e12),
                    noise: float = 0.0, seed: int = 0) -> pd.DataFrame:
    r"""Synthetic training curves for Approach 1: each model size is one run evaluated along its training.

    Run ``i`` has :math:`N_i` = ``sizes[i]`` (default 16 sizes log-spaced over 3e7..1e10) and is
    evaluated at ``points_per_run`` token counts log-spaced over ``tokens_range``, with
    :math:`L = E + A N^{-\alpha} + B D^{-\beta}` (times log-normal noise). Every point is the loss of
    a model trained to that ``D``: the idealisation under which the lower envelope over
    :math:`C = 6ND` recovers :math:`N_{opt} \propto C^{\beta/(\alpha+\beta)}`. Columns ``run``,
    ``N``, ``D``, ``loss``, ``C``.
    """
    p = dict(EPOCH_PARAMS if params is None else params)
    sizes = np.logspace(np.log10(3e7), 10.0, 16) if sizes is None else np.asarray(sizes, dtype=np.float64)
    tokens = np.logspace(np.log10(tokens_range[0]), np.log10(tokens_range[1]), int(points_per_run))
    N, D = np.repeat(sizes, tokens.size), np.tile(tokens, sizes.size)
    clean = allocation.chinchilla_loss(p["A"], p["B"], p["E"], p["alpha"], p["beta"], N, D)
    rng = np.random.default_rng(seed)
    loss = clean * np.exp(noise * rng.standard_normal(clean.shape)) if noise > 0 else clean
    return pd.DataFrame({"run": np.repeat(np.arange(sizes.size), tokens.size), "N": N, "D": D, "loss": loss,
                         "C": 6.0 * N * D})
