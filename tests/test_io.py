"""Persistence (jaxscale.api.io): one format for both result kinds, atomic writes, and untrusted files refused
with a ValueError that names the file, after cheap checks (zip directory, .npy headers, JSON metadata) and
before any array is read. No fitting here: results are built from arrays, so the file runs in seconds."""
from __future__ import annotations

import errno
import functools
import io
import json
import os
import re
import stat
import struct
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import jaxscale as js
from jaxscale.api import bootstrap as bootstrap_module
from jaxscale import cli
from jaxscale.api import io as jio

LAW = js.get_law("chinchilla")
EPOCH = js.datasets.EPOCH_PARAMS
DROP = object()  # marks a meta field to delete


# ---------------------------------------------------------------------- results built from arrays (no fit)
def fake_fit() -> js.FitResult:
    rng = np.random.default_rng(0)
    theta = np.asarray(LAW.from_natural(np.array([EPOCH[n] for n in LAW.natural_names])), np.float64)
    k = 6
    starts = pd.DataFrame(rng.normal(size=(k, LAW.n_params)), columns=[f"start_{p}" for p in LAW.param_names])
    for j, name in enumerate(LAW.param_names):
        starts[name] = theta[j] + 1e-9 * rng.normal(size=k)
    starts["objective"] = rng.uniform(size=k)
    starts["converged"] = rng.uniform(size=k) > 0.3
    starts["iterations"] = rng.integers(1, 50, k)
    starts["grad_norm"] = rng.uniform(size=k)
    starts["status"] = ["converged"] * (k - 1) + ["max_iter"]
    recipe = {"law": "chinchilla", "loss": "huber", "delta": 1e-3, "solver": "lm", "n_starts": k, "starts": k}
    return js.FitResult(LAW, js.huber(1e-3), theta, 0.123456789012345, True, starts, 240, recipe)


def fake_boot(n_resamples: int = 7, n_rows: int = 12) -> js.BootstrapResult:
    rng = np.random.default_rng(1)
    estimate = fake_fit().theta
    log_x = np.log(np.c_[rng.uniform(1e8, 1e10, n_rows), rng.uniform(1e9, 1e11, n_rows)])
    draws = estimate + 0.01 * rng.normal(size=(n_resamples, 5))
    return js.BootstrapResult(LAW, js.huber(1e-3), estimate, 0.0123, draws,
                              rng.uniform(size=n_resamples), rng.uniform(size=n_resamples) > 0.2,
                              rng.integers(1, 9, n_resamples), log_x, 1 + 0.1 * rng.normal(size=n_rows),
                              np.ones(n_rows), {"seed": 5, "loss": "huber", "delta": 1e-3, "versions": {"jax": "x"}})


def assert_same_fit(a: js.FitResult, b: js.FitResult) -> None:
    np.testing.assert_array_equal(a.theta, b.theta)
    pd.testing.assert_frame_equal(a.starts, b.starts)
    assert (a.law.name, a.loss.name, a.loss.params) == (b.law.name, b.loss.name, b.loss.params)
    assert (a.objective, a.converged, a.n_points, a.recipe) == (b.objective, b.converged, b.n_points, b.recipe)


def assert_same_boot(a: js.BootstrapResult, b: js.BootstrapResult) -> None:
    for name in ("estimate", "theta", "objective", "converged", "n_at_best", "log_x", "log_y", "weights"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name
    assert (a.law.name, a.loss.params, a.estimate_objective, a.recipe) == \
        (b.law.name, b.loss.params, b.estimate_objective, b.recipe)


# ---------------------------------------------------------------------- the layout written before jaxscale.api.io
def old_save_fit(result: js.FitResult, path: Path) -> Path:
    """FitResult.save as it was before io.py owned persistence (format 1, kind 'fit')."""
    meta = {"format": 1, "kind": "fit", "law": result.law.name, "loss": result.loss.name,
            "loss_params": dict(result.loss.params), "objective": result.objective, "converged": result.converged,
            "n_points": result.n_points, "recipe": result.recipe, "start_columns": list(result.starts.columns)}
    arrays = {f"starts/{c}": result.starts[c].to_numpy(
        dtype=None if pd.api.types.is_numeric_dtype(result.starts[c]) else str) for c in result.starts.columns}
    with open(path, "wb") as handle:
        np.savez(handle, theta=result.theta, meta=np.array(json.dumps(meta, default=str)), **arrays)
    return path


def old_save_boot(result: js.BootstrapResult, path: Path) -> Path:
    """BootstrapResult.save as it was before io.py (format 1, no 'kind' field)."""
    meta = {"format": 1, "law": result.law.name, "loss": result.loss.name, "loss_params": dict(result.loss.params),
            "estimate_objective": result.estimate_objective, "recipe": result.recipe}
    arrays = {"estimate": result.estimate, "theta": result.theta, "objective": result.objective,
              "converged": result.converged, "n_at_best": result.n_at_best, "log_x": result.log_x,
              "log_y": result.log_y, "weights": result.weights, "meta": np.array(json.dumps(meta, default=str))}
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


# ---------------------------------------------------------------------- crafting bad files
def members(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def mutate(path: Path, *, drop=(), meta=None, raw_meta=None, **arrays) -> Path:
    """Rewrite a valid result file with one defect: arrays dropped/replaced, meta fields changed, or raw meta."""
    content = members(path)
    fields = json.loads(str(content.pop("meta")))
    for key, value in (meta or {}).items():
        if value is DROP:
            del fields[key]
        else:
            fields[key] = value
    for name in drop:
        content.pop(name)
    content.update(arrays)
    if raw_meta is not DROP:
        content["meta"] = np.array(json.dumps(fields)) if raw_meta is None else raw_meta
    with open(path, "wb") as handle:
        np.savez(handle, **content)
    return path


def npy_header(shape, descr="<f8") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def build_zip(path: Path, entries: dict) -> Path:
    """A zip written byte by byte: value bytes -> stored member; (raw deflate, size, crc) -> deflated member
    whose directory declares that size (what a zip bomb looks like)."""
    local, central = bytearray(), bytearray()
    for name, value in entries.items():
        if isinstance(value, bytes):
            method, data, size, crc = 0, value, len(value), zlib.crc32(value)
        else:
            (data, size, crc), method = value, 8
        encoded = name.encode()
        offset = len(local)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data), size,
                             len(encoded), 0) + encoded + data
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(data), size,
                               len(encoded), 0, 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def raw_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


BOMB_BYTES = 2_300_000_000


@functools.lru_cache(maxsize=1)
def zip_bomb_theta() -> tuple[bytes, int, int]:
    """A real deflate stream (~2.3 MB) that inflates to a 2.3 GB .npy of zeros, with its true size and CRC.

    After a full flush deflate forgets its history, so every further MiB of zeros compresses to the same
    block: the stream is built without ever holding 2.3 GB."""
    header = npy_header(((BOMB_BYTES - 128) // 8,))
    size = len(header) + (BOMB_BYTES - 128) // 8 * 8
    mib = bytes(1 << 20)
    first = header + mib[len(header):]
    n_full, rest = divmod(size - len(first), len(mib))
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflate.compress(first) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH) == block
    tail = deflate.compress(mib[:rest]) + deflate.flush()
    crc = zlib.crc32(first)
    for _ in range(n_full):
        crc = zlib.crc32(mib, crc)
    return head + block * n_full + tail, size, zlib.crc32(mib[:rest], crc)


def fit_file(tmp_path: Path) -> Path:
    return fake_fit().save(tmp_path / "fit.npz")


def boot_file(tmp_path: Path) -> Path:
    return fake_boot().save(tmp_path / "boot.npz")


def make_zip_bomb(tmp_path):
    entries = raw_members(fit_file(tmp_path))
    entries["theta.npy"] = zip_bomb_theta()
    path = build_zip(tmp_path / "bomb.npz", entries)
    assert path.stat().st_size < 3_000_000
    return path


def make_huge_shape(tmp_path):
    entries = raw_members(fit_file(tmp_path))
    entries["theta.npy"] = npy_header((1 << 40,)) + bytes(40)  # declares 8 TiB, holds 40 bytes
    return build_zip(tmp_path / "huge.npz", entries)


def make_bad_crc(tmp_path):
    entries = raw_members(fit_file(tmp_path))
    meta = entries["meta.npy"]
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    entries["meta.npy"] = (deflate.compress(meta) + deflate.flush(), len(meta), zlib.crc32(meta) ^ 1)
    return build_zip(tmp_path / "crc.npz", entries)


def make_truncated(tmp_path):
    path = fit_file(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def make_fifo(tmp_path):
    path = tmp_path / "pipe.npz"
    os.mkfifo(path)
    return path


def make_too_many_members(tmp_path):
    entries = raw_members(fit_file(tmp_path))
    entries.update({f"x{i}.npy": npy_bytes(np.zeros(1)) for i in range(2000)})
    return build_zip(tmp_path / "many.npz", entries)


def make_bzip2(tmp_path):
    content = members(fit_file(tmp_path))
    path = tmp_path / "bz2.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as archive:
        for name, value in content.items():
            archive.writestr(f"{name}.npy", npy_bytes(value))
    return path


def make_npy(tmp_path):
    path = tmp_path / "theta.npy"
    np.save(path, fake_fit().theta)
    return path


DEEP = "[" * 100_000 + "]" * 100_000
BAD_FILES = {  # case -> (builder, message the ValueError must contain)
    "zip bomb (2.3 MB inflating to 2.3 GB)": (make_zip_bomb, r"inflate to 2,300,000,\d+ bytes.*limit"),
    "npy header declares 8 TiB": (make_huge_shape, r"'theta' declares shape \(1099511627776,\)"),
    "too many members": (make_too_many_members, r"2,0\d\d members"),
    "bzip2 member": (make_bzip2, r"compression"),
    "plain .npy, not .npz": (make_npy, r"not a jaxscale result file"),
    "meta with a bad CRC": (make_bad_crc, r"array 'meta' .*Bad CRC-32"),
    "truncated file": (make_truncated, r"not a jaxscale result file"),
    "fifo": (make_fifo, r"not a regular file \(a FIFO"),
    "directory": (lambda t: t, r"not a regular file \(a directory"),
    "device": (lambda t: Path("/dev/zero"), r"not a regular file \(a character device"),
    "missing meta": (lambda t: mutate(fit_file(t), raw_meta=DROP), r"no 'meta'"),
    "meta not JSON": (lambda t: mutate(fit_file(t), raw_meta=np.array("{not json")), r"meta is not valid JSON"),
    "meta nested too deeply": (lambda t: mutate(fit_file(t), raw_meta=np.array(DEEP)), r"meta is nested too deeply"),
    "meta a JSON list": (lambda t: mutate(fit_file(t), raw_meta=np.array("[1, 2]")), r"meta must be a JSON object"),
    "meta a number array": (lambda t: mutate(fit_file(t), raw_meta=np.arange(3)), r"'meta' must be a JSON text"),
    "meta over the size limit": (lambda t: mutate(fit_file(t), meta={"recipe": {"pad": "x" * (5 << 20)}}),
                                 r"'meta'.*limit"),
    "object dtype": (lambda t: mutate(fit_file(t), theta=np.array([1.0, "a", None], dtype=object)),
                     r"'theta' has dtype object"),
    "unknown kind": (lambda t: mutate(fit_file(t), meta={"kind": "model"}), r"kind 'model'"),
    "unknown format": (lambda t: mutate(fit_file(t), meta={"format": 99}), r"format 99"),
    "format as text": (lambda t: mutate(fit_file(t), meta={"format": "1"}), r"format '1'"),
    "fit meta on bootstrap arrays": (lambda t: mutate(boot_file(t), meta={"kind": "fit", "objective": 1.0,
                                                                          "converged": True, "n_points": 3,
                                                                          "start_columns": []}),
                                     r"'theta' has shape \(7, 5\).*\(5,\)"),
    "bootstrap meta on fit arrays": (lambda t: mutate(fit_file(t), meta={"kind": "bootstrap",
                                                                         "estimate_objective": 1.0}),
                                     r"missing arrays \['converged', 'estimate'"),
    "unknown law": (lambda t: mutate(fit_file(t), meta={"law": "chinchilla-2"}), r"unknown law 'chinchilla-2'"),
    "unknown loss": (lambda t: mutate(boot_file(t), meta={"loss": "cauchy"}), r"unknown loss 'cauchy'"),
    "missing theta": (lambda t: mutate(fit_file(t), drop=["theta"]), r"missing array.*'theta'"),
    "missing starts column": (lambda t: mutate(fit_file(t), drop=["starts/objective"]),
                              r"missing array.*'starts/objective'"),
    "missing log_x": (lambda t: mutate(boot_file(t), drop=["log_x"]), r"missing array.*'log_x'"),
    "missing meta field": (lambda t: mutate(fit_file(t), meta={"n_points": DROP}), r"no 'n_points' field"),
    "fit theta NaN": (lambda t: mutate(fit_file(t), theta=np.array([6.0, 7.0, np.nan, 0.3, 0.3])),
                      r"'theta'.*not finite.*index 2"),
    "fit theta inf": (lambda t: mutate(fit_file(t), theta=np.array([6.0, np.inf, 0.5, 0.3, 0.3])),
                      r"'theta'.*not finite.*index 1"),
    "fit theta wrong length": (lambda t: mutate(fit_file(t), theta=np.ones(6)), r"'theta' has shape \(6,\).*\(5,\)"),
    "fit theta 2-D": (lambda t: mutate(fit_file(t), theta=np.ones((1, 5))), r"'theta' has shape \(1, 5\)"),
    "fit theta text": (lambda t: mutate(fit_file(t), theta=np.array(["a"] * 5)), r"'theta' has dtype <U1"),
    "starts columns of unequal length": (lambda t: mutate(fit_file(t), **{"starts/objective": np.ones(3)}),
                                         r"'starts/objective' has shape \(3,\).*\(6,\)"),
    "bootstrap theta wrong width": (lambda t: mutate(boot_file(t), theta=np.ones((7, 4))),
                                    r"'theta' has shape \(7, 4\).*\(R, 5\)"),
    "bootstrap theta 1-D": (lambda t: mutate(boot_file(t), theta=np.ones(35)), r"'theta' has shape \(35,\)"),
    "bootstrap objective length": (lambda t: mutate(boot_file(t), objective=np.ones(6)),
                                   r"'objective' has shape \(6,\).*\(7,\)"),
    "bootstrap estimate NaN": (lambda t: mutate(boot_file(t), estimate=np.full(5, np.nan)),
                               r"'estimate'.*not finite"),
    "bootstrap converged as floats": (lambda t: mutate(boot_file(t), converged=np.ones(7)),
                                      r"'converged' has dtype float64"),
    "bootstrap log_x wrong width": (lambda t: mutate(boot_file(t), log_x=np.ones((12, 3))),
                                    r"'log_x' has shape \(12, 3\); expected \(12, 2\)"),
    "bootstrap weights negative": (lambda t: mutate(boot_file(t), weights=-np.ones(12)), r"'weights'.*>= 0"),
}
WRONG_TYPES = [  # (which file, meta field, bad value)
    ("fit", "law", ["chinchilla"]), ("fit", "loss_params", ["delta"]), ("fit", "loss_params", {"delta": "big"}),
    ("fit", "loss_params", {"delta": float("inf")}), ("fit", "loss_params", {"scale": 1.0}),
    ("fit", "objective", "low"), ("fit", "converged", "yes"), ("fit", "n_points", -3), ("fit", "n_points", 2.5),
    ("fit", "recipe", "text"), ("fit", "start_columns", 7), ("fit", "start_columns", [1, 2]),
    ("boot", "estimate_objective", None), ("boot", "loss", 3), ("boot", "recipe", [])]


def call_bounded(fn, path: Path, timeout: float = 60.0):
    """Run ``fn()`` in a thread; fail (and unblock it) if it hangs, e.g. opening a FIFO nobody writes to."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as err:  # handed to the test thread
            box["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        if stat.S_ISFIFO(os.stat(path).st_mode):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # lets the blocked open return
        worker.join(10)
        pytest.fail(f"loading {path} did not return within {timeout} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def refused(path: Path, match: str, loader=None) -> str:
    """Loading ``path`` raises a ValueError naming the file and matching ``match`` (nothing else escapes)."""
    with pytest.raises(ValueError) as info:
        call_bounded(lambda: (loader or js.load)(path), path)
    message = str(info.value)
    assert str(path) in message, message
    assert re.search(match, message), message
    assert "\n" not in message, message
    return message


# ---------------------------------------------------------------------- one format, old files still load
def test_roundtrip_is_bit_exact(tmp_path):
    fit, boot = fake_fit(), fake_boot()
    assert_same_fit(js.load(fit.save(tmp_path / "fit.npz")), fit)
    assert_same_boot(js.load(boot.save(tmp_path / "boot.jaxscale")), boot)
    published = js.FitResult.from_params(EPOCH, source="Epoch AI")
    again = js.load(published.save(tmp_path / "published.npz"))
    assert np.isnan(again.objective) and again.starts.empty and again.recipe == published.recipe


def test_both_kinds_share_one_format_with_kind_field(tmp_path):
    for result, kind in ((fake_fit(), "fit"), (fake_boot(), "bootstrap")):
        meta = json.loads(str(members(result.save(tmp_path / f"{kind}.npz"))["meta"]))
        assert (meta["format"], meta["kind"]) == (jio.FORMAT, kind)
    assert jio.FORMAT == 2


def test_files_written_before_io_module_still_load(tmp_path):
    fit, boot = fake_fit(), fake_boot()
    assert_same_fit(js.load(old_save_fit(fit, tmp_path / "old_fit.npz")), fit)
    assert_same_boot(js.load(old_save_boot(boot, tmp_path / "old_boot.npz")), boot)


def test_kind_specific_loaders(tmp_path):
    fit_path, boot_path = fit_file(tmp_path), boot_file(tmp_path)
    assert isinstance(bootstrap_module.load(boot_path), js.BootstrapResult)
    refused(fit_path, r"holds a fit result, not a bootstrap", loader=bootstrap_module.load)
    from jaxscale.api.fit import load_fit
    assert isinstance(load_fit(fit_path), js.FitResult)
    refused(boot_path, r"holds a bootstrap result, not a fit", loader=load_fit)


# ---------------------------------------------------------------------- atomic writes
def broken_savez(file, *args, **kwargs):
    """An array writer that dies midway (disk full) after writing part of the archive."""
    handle = file if hasattr(file, "write") else open(file, "wb")
    handle.write(b"PK\x03\x04 half an archive")
    handle.flush()
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("make", [fake_fit, fake_boot], ids=["fit", "bootstrap"])
def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch, make):
    result = make()
    path = result.save(tmp_path / "result.npz")
    before = path.read_bytes()
    monkeypatch.setattr(np.lib.format, "write_array", broken_savez)  # the writer dies midway
    with pytest.raises(OSError, match=r"No space left"):
        result.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["result.npz"]
    monkeypatch.undo()
    assert isinstance(js.load(path), type(result))


def test_failed_rename_leaves_no_temp(tmp_path, monkeypatch):
    path = fit_file(tmp_path)
    before = path.read_bytes()

    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match=rf"cannot write {re.escape(str(path))}"):
        jio.write_npz_atomic(path, {"x": np.ones(3)}, {"kind": "test"})
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["fit.npz"]


def test_new_files_get_umask_permissions(tmp_path):
    """A temp file made with mkstemp would be 0600; the result must get the usual 0666 & ~umask."""
    umask = os.umask(0o022)
    try:
        path = fit_file(tmp_path)
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_and_read_helpers(tmp_path):
    path = tmp_path / "chunk_000000000.npz"
    arrays = {"theta": np.arange(10.0).reshape(5, 2), "done": np.array([True, False]), "label": np.array(["a", "bc"])}
    assert jio.write_npz_atomic(path, arrays, {"kind": "chunk", "lo": 0}) == path
    back = jio.read_npz(path, required={"theta", "done"})
    assert back.meta == {"kind": "chunk", "lo": 0} and set(back.arrays) == set(arrays)
    for name, value in arrays.items():
        np.testing.assert_array_equal(back.arrays[name], value)
        assert back.arrays[name].dtype == value.dtype
    refused(path, r"missing array.*'hi'", loader=lambda p: jio.read_npz(p, required={"theta", "hi"}))
    refused(path, r"inflate to .*over the 64-byte limit", loader=lambda p: jio.read_npz(p, max_bytes=64))


@pytest.mark.parametrize("arrays,meta,message", [
    ({"x": np.array([object()], dtype=object)}, {}, r"'x' has dtype object"),
    ({"meta": np.ones(2)}, {}, r"'meta' is reserved"),
    ({"allow_pickle": np.ones(2)}, {}, r"'allow_pickle' is reserved"),
    ({"x": np.ones(2)}, {"when": object()}, r"meta is not JSON"),
    ({"x": np.ones(2)}, [1, 2], r"meta must be a dict"),
])
def test_writer_refuses_what_the_reader_would_refuse(tmp_path, arrays, meta, message):
    with pytest.raises(ValueError, match=message):
        jio.write_npz_atomic(tmp_path / "x.npz", arrays, meta)
    assert os.listdir(tmp_path) == []


def test_save_result_rejects_other_objects(tmp_path):
    with pytest.raises(ValueError, match="FitResult or BootstrapResult"):
        jio.save_result({"theta": [1.0]}, tmp_path / "x.npz")


# ---------------------------------------------------------------------- untrusted files: one case each
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_untrusted_file_refused(tmp_path, case):
    build, message = BAD_FILES[case]
    refused(build(tmp_path), message)


@pytest.mark.parametrize("which,field,value", WRONG_TYPES, ids=[f"{w}-{f}={v!r}"[:40] for w, f, v in WRONG_TYPES])
def test_meta_field_of_wrong_type_refused(tmp_path, which, field, value):
    path = mutate((fit_file if which == "fit" else boot_file)(tmp_path), meta={field: value})
    refused(path, rf"'{field}'|{field}")


def test_max_bytes_is_the_callers_choice(tmp_path):
    path = fit_file(tmp_path)
    refused(path, r"over the 100-byte limit", loader=lambda p: js.load(p, max_bytes=100))
    assert isinstance(js.load(path, max_bytes=1 << 20), js.FitResult)


# ---------------------------------------------------------------------- the command line
CLI_CASES = ["zip bomb (2.3 MB inflating to 2.3 GB)", "npy header declares 8 TiB", "fifo", "directory",
             "meta nested too deeply", "meta a JSON list", "object dtype", "fit theta NaN", "unknown kind"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_from_bad_file_exits_2_with_one_line(tmp_path, capsys, case):
    build, message = BAD_FILES[case]
    path = build(tmp_path)
    code = call_bounded(lambda: cli.main(["predict", "--n", "1e9", "--d", "2e10", "--from", str(path)]), path)
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and str(path) in err and re.search(message, err), err


def test_cli_out_is_atomic(tmp_path, monkeypatch, capsys):
    path = tmp_path / "fit.npz"
    path.write_bytes(b"previous result")
    monkeypatch.setattr(cli, "fit", lambda *args, **kwargs: fake_fit())
    monkeypatch.setattr(np.lib.format, "write_array", broken_savez)  # the writer dies midway
    assert cli.main(["fit", "synthetic", "--out", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left" in err, err
    assert path.read_bytes() == b"previous result" and os.listdir(tmp_path) == ["fit.npz"]


def broken_savefig(figure, fname, *args, **kwargs):
    broken_savez(fname)


def test_cli_plot_out_is_atomic(tmp_path, monkeypatch, capsys):
    figure_module = pytest.importorskip("matplotlib.figure")
    source = fit_file(tmp_path)
    out = tmp_path / "figure.png"
    out.write_bytes(b"previous image")
    monkeypatch.setattr(figure_module.Figure, "savefig", broken_savefig)
    assert cli.main(["plot", "isoflop", "--from", str(source), "--data", "synthetic", "--out", str(out)]) == 2
    assert "No space left" in capsys.readouterr().err
    assert out.read_bytes() == b"previous image" and sorted(os.listdir(tmp_path)) == ["figure.png", "fit.npz"]


def test_constrained_fit_and_bootstrap_round_trip(tmp_path):
    """A fit with fixed/tied parameters saves the base law and its constraints, and loads back equal."""
    data = js.datasets.synthetic(sizes_per_budget=6, seed=1)
    fitted = js.fit(data, starts=8, fixed={"alpha": 0.34})
    again = js.load(fitted.save(tmp_path / "fixed.npz"))
    assert again.law == fitted.law and again.fixed == {"alpha": 0.34}
    np.testing.assert_array_equal(again.params.to_numpy(), fitted.params.to_numpy())
    boot = js.bootstrap(data, n_resamples=3, starts="best", tied={"beta": "alpha"}, progress=False)
    back = js.load(boot.save(tmp_path / "tied.npz"))
    assert back.law == boot.law and back.law.tied == {"beta": "alpha"}
    np.testing.assert_array_equal(back.theta, boot.theta)
