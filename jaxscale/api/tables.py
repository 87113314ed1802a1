"""Run records from a file: CSV, JSON (records or columns), JSONL and parquet, one reader.

Labs keep their training runs as CSV exports, JSON / JSON Lines logs or parquet tables;
:func:`read_table` turns any of them into the :class:`pandas.DataFrame` every jaxscale function
takes, with one set of checks and messages (unknown file type, unreadable file, a malformed record,
an empty table). Values are not coerced or dropped here: the fit's own validation names any row
whose value is missing, non-numeric or non-positive.
"""
from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path
from typing import Callable

import pandas as pd

#: Compression suffixes read transparently after the format suffix (``runs.jsonl.gz``).
COMPRESSED: dict[str, Callable] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
#: What an empty table of each format usually is, for the error message.
EMPTY_HINT = {"csv": "a CSV with only a header?", "json": "an empty list or empty columns?",
              "jsonl": "no records in the file?", "parquet": "a parquet file with no rows?"}


def table_format(path: str | Path) -> str:
    """The format of ``path`` from its suffix: ``csv``, ``json``, ``jsonl`` or ``parquet``.

    A compression suffix (``.gz``, ``.bz2``, ``.xz``) may follow the format's suffix for the text
    formats. ``.ndjson`` is read as ``jsonl``; ``.pq`` as ``parquet``.

    Raises
    ------
    ValueError
        The suffix is none of these (the message lists the accepted ones).
    """
    suffixes = [s.lower() for s in Path(path).suffixes]
    compressed = bool(suffixes) and suffixes[-1] in COMPRESSED
    kind = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
            ".pq": "parquet"}.get(suffixes[-2 if compressed else -1] if len(suffixes) > compressed else "")
    if kind is None or (compressed and kind == "parquet"):
        raise ValueError(f"cannot tell the format of {path}: name it .csv, .json (records or columns), .jsonl "
                         f"(one record per line) or .parquet (.csv.gz, .json.gz and .jsonl.gz are read too)")
    return kind


def _open_text(path: Path):
    opener = COMPRESSED.get(path.suffix.lower())
    return opener(path, "rt", encoding="utf-8") if opener else open(path, encoding="utf-8")


def _json_frame(payload, path: Path) -> pd.DataFrame:
    """A list of records, or a mapping of column -> list (or -> {row: value}, pandas' ``to_json()``)."""
    if isinstance(payload, list):
        bad = next((i for i, record in enumerate(payload) if not isinstance(record, dict)), None)
        if bad is not None:
            raise ValueError(f"{path}: record {bad} is {type(payload[bad]).__name__}, not an object; a JSON table "
                             f"is a list of records [{{\"N\": ..., \"D\": ..., \"loss\": ...}}, ...] or columns "
                             f"{{\"N\": [...], \"D\": [...], \"loss\": [...]}}")
        return pd.DataFrame.from_records(payload)
    if isinstance(payload, dict) and all(isinstance(v, (list, dict)) for v in payload.values()):
        lengths = {name: len(values) for name, values in payload.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{path}: the columns have different lengths {lengths}; every column needs one value "
                             f"per run")
        return pd.DataFrame({name: pd.Series(values) if isinstance(values, dict) else values
                             for name, values in payload.items()})
    raise ValueError(f"{path}: a JSON table is a list of records or an object of columns (lists); got "
                     f"{type(payload).__name__}" + (" of scalars" if isinstance(payload, dict) else ""))


def _read_json(path: Path) -> pd.DataFrame:
    with _open_text(path) as handle:
        try:
            payload = json.load(handle)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
    return _json_frame(payload, path)


def _read_jsonl(path: Path) -> pd.DataFrame:
    records = []
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number} is not valid JSON: {err}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {number} is {type(record).__name__}, not an object; JSON Lines "
                                 f"hold one record per line, e.g. {{\"N\": 1e9, \"D\": 2e10, \"loss\": 2.9}}")
            records.append(record)
    return pd.DataFrame.from_records(records)


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty (no header, no rows)") from None
    except pd.errors.ParserError as err:
        raise ValueError(f"could not read {path} as CSV: {' '.join(str(err).split())}") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ValueError(f"reading {path} needs pyarrow, which is not installed: pip install 'jaxscale[parquet]' "
                         f"(or save the table as CSV or JSONL)") from None
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        raise ValueError(f"could not read {path} as parquet: {' '.join(str(err).split())}") from None


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl,
                                                      "parquet": _read_parquet}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table of runs (one row per run) from CSV, JSON, JSON Lines or parquet.

    The format follows the suffix (:func:`table_format`): ``.csv``; ``.json`` holding a list of
    records ``[{"N": ..., "D": ..., "loss": ...}, ...]`` or an object of columns
    ``{"N": [...], "D": [...], "loss": [...]}`` (also pandas' ``DataFrame.to_json()``);
    ``.jsonl`` / ``.ndjson`` with one record per line (blank lines skipped); ``.parquet`` (needs
    the optional ``pyarrow``: ``pip install 'jaxscale[parquet]'``). The text formats may be
    compressed (``.gz``, ``.bz2``, ``.xz``).

    Parameters
    ----------
    path : str or pathlib.Path
        The file to read.

    Returns
    -------
    pandas.DataFrame
        One row per run, columns as in the file. Nothing is coerced or dropped: a record missing a
        field gives a missing value that the fit reports by row.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Unknown suffix, not a regular file, unreadable or malformed content (the message names the
        line or record), pyarrow missing for parquet, or a table with no rows.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    kind = table_format(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a file; give the path of a {kind} table of runs")
    try:
        frame = READERS[kind](path)
    except UnicodeDecodeError as err:
        raise ValueError(f"could not read {path} as {kind}: it is not UTF-8 text ({err.reason} at byte "
                         f"{err.start})") from None
    except (EOFError, gzip.BadGzipFile, lzma.LZMAError) as err:
        raise ValueError(f"could not decompress {path}: {err}") from None
    except PermissionError:
        raise ValueError(f"could not read {path}: permission denied") from None
    if len(frame) == 0:
        columns = f"columns {list(map(str, frame.columns))} but " if len(frame.columns) else ""
        raise ValueError(f"the data has no rows ({EMPTY_HINT[kind]}): {path} has {columns}no runs")
    return frame
