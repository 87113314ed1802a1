"""Command line: ``jaxscale fit | bootstrap | isoflop | optimal | predict | plot | curves | arms | demo``.

Every command prints a readable table by default, ``--json`` or ``--csv`` for pipelines, and
exits with status 2 and a one-line message on bad input (never a traceback); messages name the
command-line option to change (``--n-col``), not the Python keyword. Out of memory: status 1 with
advice; Ctrl-C: status 130.

Data arguments take a table of runs (CSV, JSON, JSON Lines or parquet: see
:func:`jaxscale.api.tables.read_table`) or one of the names ``chinchilla`` (Epoch's extraction of the
Hoffmann et al. runs, via :func:`jaxscale.datasets.chinchilla`) and ``synthetic``.

The CLI uses every CPU core (one JAX CPU device per core, see :mod:`jaxscale.engine.host`) and keeps
compiled programs in a persistent cache (``$JAXSCALE_CACHE_DIR``, default ``~/.cache/jaxscale/xla``;
``JAXSCALE_CACHE_DIR=off`` turns it off), so only the first run of a command compiles.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from .engine.host import configure_compilation_cache
from .api import datasets
from .api.bootstrap import bootstrap
from .api.fit import fit
from .api.results import BootstrapResult, FitResult, load
from .engine.npzfile import atomic_file
from .api.isoflop import isoflop
from .api.notes import NOT_ISOFLOP
from .api.options import Columns, Runner
from .api.reach import reach_note
from .api.search import Search
from .api.tables import read_table
from .api.validation import check_int, check_seed
from .kernels.laws import LAWS
from .kernels.solvers import SOLVERS

PUBLISHED = {"epoch": (datasets.EPOCH_PARAMS, "Epoch AI (2024) refit of Hoffmann et al.'s data"),
             "hoffmann": (datasets.HOFFMANN_PARAMS, "Hoffmann et al. (2022), Approach 3 as published")}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, no usage dump
        sys.stderr.write(f"jaxscale: error: {message}\n")
        raise SystemExit(2)


# ---------------------------------------------------------------------- inputs
def read_data(spec: str) -> pd.DataFrame:
    """``chinchilla``, ``synthetic`` or a table of runs (CSV, JSON, JSONL, parquet: :func:`read_table`)."""
    if spec == "chinchilla":
        return datasets.chinchilla()
    if spec == "synthetic":
        return datasets.synthetic()
    try:
        return read_table(spec)
    except FileNotFoundError:
        raise ValueError(f"no such file: {spec} (give a .csv, .json, .jsonl or .parquet path, 'chinchilla' or "
                         f"'synthetic')") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return value


def _checked(check, text: str):
    """Parse ``text`` as an int and run the API's validator on it; argparse names the option, so the
    validator's own name for it (``"n_resamples must ..."``) is dropped from the message."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    try:
        return check(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).split(" ", 1)[1]) from None


def _integer(name: str, minimum: int):
    """An argparse type: an integer >= ``minimum`` checked by :func:`check_int`."""
    return lambda text: _checked(lambda value: check_int(name, value, minimum), text)


def _seed(text: str) -> int:
    return _checked(check_seed, text)


def _level(text: str) -> float:
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"level must be in (0, 1), e.g. 0.95; got {text}")
    return value


def _word_or_count(words: dict, count: str):
    """An argparse type: one of ``words`` (mapped to its value) or a positive integer ``count``."""
    def parse(text: str):
        if text in words:
            return words[text]
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: use {', '.join(words)} or a number of {count}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{text!r}: the number of {count} must be >= 1")
        return value
    return parse


_starts = _word_or_count({w: w for w in ("grid", "best", "prune", "subgrid")}, "random starts")
_prune = _word_or_count({"auto": "auto", "none": None}, "starts to keep")


def call_columns(args) -> Columns:
    """The command's ``--n-col``, ``--d-col``, ``--c-col``, ``--loss-col``, ``--x-col`` as :class:`Columns`."""
    return Columns.from_keywords(n=args.n_col, d=args.d_col, y=args.loss_col, x=getattr(args, "x_col", "x"),
                                 c=args.c_col)


def call_options(args, **search) -> tuple[Columns, Search, Runner]:
    """The command's columns, search and runner: the ONE place CLI arguments become the API's option objects.

    ``search`` overrides fields of the search (e.g. ``starts="best"`` for a plot's bootstrap).
    """
    columns = call_columns(args)
    fields = {"starts": getattr(args, "starts", None), "solver": args.solver, "prune": getattr(args, "prune", "auto")}
    runner = Runner(checkpoint=getattr(args, "checkpoint", None), chunk_size=getattr(args, "chunk_size", None),
                    progress=False if getattr(args, "no_progress", False) else None)
    return columns, Search(**{**fields, **search}), runner


def _fit_data(args, frame: pd.DataFrame | None = None) -> FitResult:
    """Fit ``frame`` (default: ``args.data`` read) with the command's law, starts, solver and columns."""
    columns, search, _ = call_options(args)
    return fit(read_data(args.data) if frame is None else frame, law=args.law, delta=args.delta, columns=columns,
               search=search)


def _model(args) -> tuple[FitResult | BootstrapResult, str]:
    """The law used by ``optimal``/``predict``/``plot``: a saved result, a fresh fit, or a published law."""
    if args.source is not None:
        return load(args.source), args.source
    if args.data is not None:
        return _fit_data(args), f"fit to {args.data}"
    params, label = PUBLISHED[args.published]
    return FitResult.from_params(params, source=label), label


# ---------------------------------------------------------------------- outputs
def emit(table: pd.DataFrame, fmt: str, title: str | None = None, payload: dict | None = None) -> None:
    """Print ``table`` as text (default), JSON records (``payload`` added) or CSV."""
    if fmt == "json":
        body = {"rows": json.loads(table.to_json(orient="records", double_precision=15))}
        print(json.dumps({**(payload or {}), **body}, default=float))
    elif fmt == "csv":
        sys.stdout.write(table.to_csv(index=False))
    else:
        if title:
            print(title)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))


def _fit_table(result: FitResult) -> pd.DataFrame:
    return pd.DataFrame({"parameter": list(result.law.natural_names), "estimate": result.params.to_numpy(),
                         "log_name": list(result.law.param_names), "log_value": result.theta})


def _print_fit(result: FitResult, fmt: str) -> None:
    if fmt == "text":
        print(result.summary())
    else:
        emit(_fit_table(result), fmt, payload={
            "params": result.params.to_dict(), "log_params": result.log_params.to_dict(), "objective": result.objective,
            "converged": result.converged, "n_points": result.n_points, "recipe": result.recipe,
            "notes": result.notes()})


def _optimal_table(model, compute: np.ndarray, level: float) -> pd.DataFrame:
    if isinstance(model, BootstrapResult):
        return model.compute_optimal(compute, level=level)
    return model.compute_optimal(compute)


#: What each interval of ``predict``/``optimal`` is, in words (titles and --json "interval").
INTERVAL_WORDS = {
    "mean": "{level:.0%} interval of the MEAN curve (where the law lies; bootstrap over runs), not of a new run; "
            "--interval new-run gives the wider interval for one new training run",
    "new-run": "{level:.0%} prediction interval for ONE NEW training run (the law's uncertainty plus run-to-run "
               "noise from the fit's residuals)",
    "optimal": "{level:.0%} interval of the law's compute-optimal point (bootstrap over runs)",
    "none": "no interval: a single fit (use a saved bootstrap, --from BOOT.npz, for intervals)",
}


def _predict_table(model, n: list[float], d: list[float], level: float, interval: str = "mean") -> pd.DataFrame:
    if len(n) != len(d) and 1 not in (len(n), len(d)):
        raise ValueError(f"--n has {len(n)} values and --d {len(d)}; give equally many, or one of either")
    n_arr, d_arr = np.broadcast_arrays(np.asarray(n), np.asarray(d))
    if isinstance(model, BootstrapResult):
        return model.predict(n_arr, d_arr, level=level, kind="new_run" if interval == "new-run" else "mean")
    if interval == "new-run":
        raise ValueError("--interval new-run needs a bootstrap: pass --from BOOT.npz saved by 'bootstrap --out' "
                         "(a single fit has no interval)")
    return model.predict(N=n_arr, D=d_arr, labelled=True)


# ---------------------------------------------------------------------- commands
def cmd_fit(args) -> None:
    result = _fit_data(args)
    if args.out:
        result.save(args.out)
    _print_fit(result, args.format)


def _dask_client(address: str | None):
    """A Dask ``distributed.Client`` connected to ``address`` (None: no cluster)."""
    if not address:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--dask needs Dask distributed: pip install 'jaxscale[distributed]'") from None
    return Client(address)


#: Fits per second on a small CPU for Chinchilla-sized data (the default 4000 x 4500-start grid bootstrap took
#: about 3.75 h on the 2-core development machine); only used to tell a user the size of a job before it starts.
CPU_FITS_PER_S = 1300.0


def work_estimate(law_name: str, starts, n_resamples: int, n_subgrid: int = 16) -> str:
    """One line: resamples x starts = fits, and a rough duration when the job is long."""
    from .kernels.laws import get_law

    grid = len(get_law(law_name).grid())
    per = {"grid": grid, "prune": grid, "best": 1, "subgrid": n_subgrid}.get(starts, starts)
    fits = n_resamples * int(per)
    kind = starts if isinstance(starts, str) else "random"
    pruned = starts in ("grid", "prune") or (not isinstance(starts, str) and int(per) > 64)
    line = (f"jaxscale bootstrap: {n_resamples:,} resamples x {per:,} starts ({kind}"
            + (", screened, 64 continued" if pruned else "") + f") = {fits:,} fits, plus the full-data fit")
    # the pruned multi-start costs about a fifth of the evaluations of running every start
    # (benchmarks/results/bench_strategy_cpu.json: evaluations_default_over_reference)
    hours = fits * (0.2 if pruned else 1.0) / CPU_FITS_PER_S / 3600
    if hours >= 0.25:
        line += (f"; a long job: about {hours:.1f} h at ~{CPU_FITS_PER_S:,.0f} fits/s on a CPU (faster on a GPU); "
                 "--starts subgrid (the default) or best takes minutes, Ctrl-C stops, --checkpoint resumes")
    return line


def cmd_bootstrap(args) -> None:
    frame = read_data(args.data)
    if not args.no_progress:
        sys.stderr.write(work_estimate(args.law, args.starts, args.resamples) + "\n")
    client = _dask_client(args.dask)
    try:
        columns, search, runner = call_options(args)
        result = bootstrap(frame, law=args.law, n_resamples=args.resamples, seed=args.seed, delta=args.delta,
                           columns=columns, search=search, runner=runner.replace(executor=client))
    finally:
        if client is not None:
            client.close()
    if args.out:
        result.save(args.out)
    table = result.summary(level=args.level, method=args.method,
                           include_unidentifiable=args.include_unidentifiable).reset_index()
    used = table.attrs.get("n_used", result.n_resamples)
    unconverged = table.attrs.get("n_not_converged", 0)
    said = table.attrs.get("notes", [])
    emit(table, args.format, title=f"jaxscale bootstrap: {result.n_resamples} resamples x "
         f"{result.recipe['n_starts']} starts, {args.method} {args.level:.0%} intervals of the parameters"
         + (f" from the {used} usable resamples" if used != result.n_resamples else "")
         + (f" ({unconverged} of them not converged, kept)" if unconverged else "")
         + (f", saved to {args.out}" if args.out else ""),
         payload={"recipe": result.recipe, "level": args.level, "method": args.method, "notes": said,
                  "n_used": used, "n_not_converged": unconverged})
    if args.format == "text" and said:
        print("\nnotes:\n" + "\n".join(f"  {i}. {n}" for i, n in enumerate(said, 1)))


# ---------------------------------------------------------------------- cluster arrays: plan, run-chunk, gather
def _bootstrap_or_plan(args) -> None:
    """``bootstrap``: run it here, or with ``--plan DIR`` only write its plan (see :mod:`jaxscale.api.chunks`)."""
    return cmd_bootstrap(args) if getattr(args, "plan", None) is None else cmd_plan_bootstrap(args)


def _plan_files(directory: str, path: str) -> bool:
    """Whether ``path`` is (or would be) one of the files a plan keeps in ``directory``."""
    target = Path(path).expanduser().resolve()
    return target.parent == Path(directory).expanduser().resolve() and (
        target.name in ("plan.npz", "recipe.json") or re.fullmatch(r"\.?chunk_.*", target.name) is not None)


def cmd_plan_bootstrap(args) -> None:
    """``bootstrap ... --plan DIR``: the recipe and the chunk list written into DIR; no resample is fitted."""
    from shlex import quote

    from .api.chunks import plan_bootstrap

    for flag, value, why in (("--out", args.out, "the result is written by 'jaxscale gather DIR --out FILE'"),
                             ("--dask", args.dask, "the array tasks run the chunks"),
                             ("--checkpoint", args.checkpoint, "the plan directory keeps the finished chunks"),
                             ("--by", getattr(args, "by", None), "a plan holds case resamples of one data set; "
                              "bootstrap the groups without --plan, or plan each group's table")):
        if value:
            raise ValueError(f"--plan takes no {flag}: {why}")
    if _plan_files(args.plan, args.data):
        raise ValueError(f"the data {args.data} is a file of the plan directory {args.plan}; plans are never written "
                         "over an input: choose another --plan directory")
    columns, search, runner = call_options(args)
    plan = plan_bootstrap(args.plan, read_data(args.data), law=args.law, n_resamples=args.resamples, seed=args.seed,
                          delta=args.delta, columns=columns, search=search, runner=runner)
    last, done = plan.n_chunks - 1, sum(plan.chunk_path(i).exists() for i in range(plan.n_chunks))
    where = quote(str(plan.directory))
    run, gather = f"jaxscale run-chunk {where} --index I", f"jaxscale gather {where} --out bootstrap.npz"
    rows = max(hi - lo for lo, hi in plan.chunks)
    table = pd.DataFrame({"index": range(plan.n_chunks), "first_resample": [lo for lo, _ in plan.chunks],
                          "last_resample": [hi - 1 for _, hi in plan.chunks],
                          "file": [str(plan.chunk_path(i)) for i in range(plan.n_chunks)]})
    if args.format != "text":
        return emit(table, args.format, payload={
            "plan": str(plan.directory), "n_chunks": plan.n_chunks, "indices": [0, last], "slurm_array": f"0-{last}",
            "n_resamples": plan.n_resamples, "n_starts": plan.n_starts, "resamples_per_chunk": rows,
            "chunks_done": done, "fingerprint": plan.fingerprint, "run_chunk": run, "gather": gather})
    print(f"jaxscale bootstrap: planned {plan.n_resamples} resamples x {plan.n_starts} starts as {plan.n_chunks} "
          f"chunk{'s' if plan.n_chunks > 1 else ''} of up to {rows} resamples in {plan.directory} ({done} of "
          f"{plan.n_chunks} done)\nrun every index I = 0..{last}, each as its own task (Slurm: #SBATCH --array=0-"
          f"{last}; Kubernetes: an Indexed Job with completions: {plan.n_chunks}):\n  {run}\nthen:\n  {gather}")


def cmd_run_chunk(args) -> None:
    """``run-chunk DIR --index I``: one chunk of a plan computed and written atomically (an array task)."""
    from shlex import quote

    from .api.chunks import read_plan, run_planned_chunk

    plan = read_plan(args.dir)
    if args.index < plan.n_chunks:  # the line that says the work started (run_planned_chunk checks the index)
        lo, hi = plan.chunks[args.index]
        sys.stderr.write(f"jaxscale run-chunk: chunk {args.index} of {plan.n_chunks} (resamples {lo}..{hi - 1}) "
                         f"of {plan.directory}\n")
        sys.stderr.flush()
    run = run_planned_chunk(plan.directory, args.index, force=args.force)
    done = sum(plan.chunk_path(i).exists() for i in range(plan.n_chunks))
    what = f"computed in {run.seconds:.1f} s" if run.computed else "already complete, skipped (--force recomputes it)"
    after = (f"; all {plan.n_chunks} chunks done: jaxscale gather {quote(str(plan.directory))} --out FILE"
             if done == plan.n_chunks else f"; {done} of {plan.n_chunks} chunks on disk")
    if args.format == "text":
        return print(f"jaxscale run-chunk: chunk {run.index} (resamples {run.lo}..{run.hi - 1}) {what}: {run.path}{after}")
    emit(pd.DataFrame({"index": [run.index], "first_resample": [run.lo], "last_resample": [run.hi - 1],
                       "status": ["computed" if run.computed else "skipped"], "seconds": [round(run.seconds, 3)],
                       "file": [str(run.path)]}), args.format,
         payload={"plan": str(plan.directory), "n_chunks": plan.n_chunks, "chunks_on_disk": done})


def cmd_gather(args) -> None:
    """``gather DIR``: the bootstrap result of a plan whose chunks are all done (bit-identical to a local run)."""
    from .api.chunks import gather
    from .api.io import refuse_data_suffix

    if args.out:
        refuse_data_suffix(args.out)
        if Path(args.out).suffix.lower() != ".npz" or _plan_files(args.dir, args.out):
            raise ValueError(f"--out {args.out}: name a new .npz file outside the plan's own files (e.g. "
                             "bootstrap.npz); a plan's files are never written over")
    result = gather(args.dir)
    if args.out:
        result.save(args.out)
    table = result.summary(level=args.level, method=args.method,
                           include_unidentifiable=args.include_unidentifiable).reset_index()
    used, said = table.attrs.get("n_used", result.n_resamples), table.attrs.get("notes", [])
    emit(table, args.format, title=f"jaxscale gather: {result.n_resamples} resamples x {result.recipe['n_starts']} "
         f"starts from {args.dir}, {args.method} {args.level:.0%} intervals of the parameters"
         + (f" from the {used} usable resamples" if used != result.n_resamples else "")
         + (f", saved to {args.out}" if args.out else ""),
         payload={"recipe": result.recipe, "level": args.level, "method": args.method, "notes": said, "n_used": used,
                  "n_not_converged": table.attrs.get("n_not_converged", 0), "out": args.out})
    if args.format == "text" and said:
        print("\nnotes:\n" + "\n".join(f"  {i}. {n}" for i, n in enumerate(said, 1)))


def _array_commands(sub) -> None:
    """``bootstrap --plan DIR``, ``run-chunk`` and ``gather``: a bootstrap as a Slurm array / Kubernetes indexed job."""
    p = sub.choices["bootstrap"]
    p.add_argument("--plan", metavar="DIR", default=None,
                   help="write the recipe and the chunk list into DIR and exit: run every chunk with 'jaxscale "
                        "run-chunk DIR --index I' (a Slurm array or Kubernetes indexed job), then 'jaxscale gather "
                        "DIR --out FILE' (bit-identical to running here); --chunk-size sets the chunks")
    p.set_defaults(run=_bootstrap_or_plan)

    p = sub.add_parser("run-chunk", help="compute one chunk of a bootstrap --plan (an array task), written atomically")
    p.add_argument("dir", metavar="DIR", help="a plan directory made by 'jaxscale bootstrap ... --plan DIR'")
    p.add_argument("--index", type=_integer("index", 0), required=True, metavar="I",
                   help="the chunk: 0 .. chunks-1 ($SLURM_ARRAY_TASK_ID, $JOB_COMPLETION_INDEX)")
    p.add_argument("--force", action="store_true", help="recompute a complete chunk (rewrites the same bytes)")
    _output_options(p)
    p.set_defaults(run=cmd_run_chunk)

    p = sub.add_parser("gather", help="assemble a planned bootstrap from its chunks (names missing indices)")
    p.add_argument("dir", metavar="DIR", help="a plan directory whose chunks have all run")
    p.add_argument("--out", help="save the result (.npz, as 'bootstrap --out') for 'optimal', 'predict', 'plot --from'")
    p.add_argument("--level", type=_level, default=0.95)
    p.add_argument("--method", choices=["percentile", "bca"], default="percentile")
    p.add_argument("--include-unidentifiable", action="store_true",
                   help="keep resamples that cannot identify the law in the intervals (left out by default)")
    _output_options(p)
    p.set_defaults(run=cmd_gather)


def cmd_isoflop(args) -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = isoflop(read_data(args.data), budget=args.budget_col if args.budgets is None else args.budgets,
                         budget_tol=args.budget_tol, columns=call_columns(args),
                         method=args.method, robust=not args.least_squares, n_resamples=args.resamples,
                         seed=args.seed, level=args.level, exclude_unbracketed=not args.keep_unbracketed)
    for warning in caught:
        sys.stderr.write(f"jaxscale: warning: {cli_message(str(warning.message))}\n")
    said = result.notes()
    if NOT_ISOFLOP in said:
        sys.stderr.write(f"jaxscale: warning: {NOT_ISOFLOP}\n")
    minima, alloc = result.minima, result.allocation
    table = pd.concat([pd.DataFrame({"quantity": "N_opt", "budget": minima.index.astype(str), "C": minima["C"],
                                     "estimate": minima["N_opt"], "lower": minima["lower"], "upper": minima["upper"]}),
                       alloc.reset_index().rename(columns={"exponent": "quantity"}).assign(budget="", C=np.nan)],
                      ignore_index=True)
    if args.format == "text":
        print(result.summary())
        return
    emit(table, args.format, payload={
        "allocation": json.loads(alloc.to_json(orient="index", double_precision=15)),
        "minima": json.loads(minima.reset_index().assign(budget=lambda f: f["budget"].astype(str)).to_json(
            orient="records", double_precision=15)),
        "recipe": result.recipe, "notes": said})


def cmd_optimal(args) -> None:
    model, source = _model(args)
    table = _optimal_table(model, np.asarray(args.compute, np.float64), args.level)
    words = INTERVAL_WORDS["optimal" if isinstance(model, BootstrapResult) else "none"].format(level=args.level)
    emit(table, args.format, title=f"Compute-optimal allocation (C = 6ND), law from {source}; {words}",
         payload={"source": source, "interval": words})


def cmd_predict(args) -> None:
    model, source = _model(args)
    table = _predict_table(model, args.n_values, args.d_values, args.level, args.interval)
    words = INTERVAL_WORDS[args.interval if isinstance(model, BootstrapResult) else "none"].format(level=args.level)
    note = reach_note(table)
    emit(table, args.format, title=f"Predicted loss (nats/token), law from {source}; {words}\n{note}",
         payload={"source": source, "interval": words, "reach": note})


def cmd_plot(args) -> None:
    try:
        from . import plot
    except ImportError as err:
        raise ValueError(f"{err}") from None
    if args.kind not in plot.KINDS:
        raise ValueError(f"unknown plot kind {args.kind!r}; choose one of {sorted(plot.KINDS)}")
    kind = args.kind
    loaded = load(args.source) if args.source is not None else None
    boot = loaded if isinstance(loaded, BootstrapResult) else None
    fitted = loaded if isinstance(loaded, FitResult) else None
    wants_boot = kind in plot.NEEDS_BOOTSTRAP or (kind in ("tokens", "contours") and args.resamples > 0)
    needs_fit = fitted is None and (boot is None or kind == "landscape")
    needs_data = kind in plot.NEEDS_DATA or needs_fit or (boot is None and wants_boot)
    data = _plot_data(args, kind, loaded, boot) if needs_data else None
    if needs_fit:
        fitted = _fit_data(args, data)
    if boot is None and wants_boot:
        if args.resamples < 1:
            raise ValueError(f"the {kind} plot needs a bootstrap: pass --from RESULT.npz or --resamples >= 1")
        columns, search, _ = call_options(args, starts="best")
        boot = bootstrap(data, law=args.law, n_resamples=args.resamples, seed=args.seed, delta=args.delta,
                         estimate=fitted, columns=columns, search=search)
    model = fitted if fitted is not None else boot
    draw = plot.KINDS[kind]
    if kind in plot.NEEDS_DATA:
        drawn = draw(model, data)
    elif kind == "landscape":
        if fitted.starts.empty:
            raise ValueError("the landscape plot needs a multi-start fit; pass --data or a fit saved by 'fit --out'")
        drawn = draw(fitted)
    elif kind == "pairs":
        drawn = draw(boot)
    elif kind == "contours":
        drawn = draw(model, boot)
    else:
        drawn = draw(boot if boot is not None else model)
    figure = drawn.figure if hasattr(drawn, "figure") else drawn
    with atomic_file(args.out) as handle:  # a failed draw or write leaves an existing image as it was
        figure.savefig(handle, format=Path(args.out).suffix[1:] or None, dpi=args.dpi, bbox_inches="tight")
    if args.format == "json":
        print(json.dumps({"wrote": str(args.out), "kind": kind, "source": args.source,
                          "n_resamples": None if boot is None else boot.n_resamples}))
    else:
        print(f"wrote {args.out}")


def _plot_data(args, kind: str, loaded, boot) -> pd.DataFrame:
    """The runs a plot draws: ``--data`` when given; else the data saved in a ``--from`` bootstrap; else, with no
    ``--from`` at all, Chinchilla's runs (fitted now). A ``--from`` fit holds no data: refused, never another set."""
    if args.data is not None:
        return read_data(args.data)
    if loaded is None:
        return read_data("chinchilla")
    if boot is not None:
        return saved_runs(boot)
    raise ValueError(f"the {kind} plot draws the law over its runs, and {args.source} is a fit, which holds no data; "
                     "pass --data with the runs it was fitted to (a saved bootstrap carries its own data)")


def saved_runs(boot: BootstrapResult) -> pd.DataFrame:
    """The runs a bootstrap was drawn from, in natural units under the column names it was fitted with."""
    base = boot.law.base
    columns = boot.recipe.get("columns") or {name: name for name in base.inputs}
    frame = pd.DataFrame({columns.get(name, name): np.exp(boot.log_x[:, j]) if scale == "log" else boot.log_x[:, j]
                          for j, (name, scale) in enumerate(zip(base.inputs, base.input_scale))})
    frame[boot.recipe.get("y") or "loss"] = np.asarray(base.untarget(boot.log_y), np.float64)
    return frame[np.asarray(boot.weights) > 0].reset_index(drop=True)


def cmd_demo(args) -> None:
    data = datasets.synthetic()
    if args.format == "text":
        print(f"Synthetic Chinchilla-style runs: {len(data)} runs on {data['C'].nunique()} isoFLOP budgets, "
              f"truth {datasets.EPOCH_PARAMS}, 1% log-normal noise\n")
    result = fit(data)
    _print_fit(result, args.format)
    if args.format == "text":
        opt = result.compute_optimal(np.asarray([1e21, 5.88e23, 1e25]))
        print("\nCompute-optimal allocation:\n" + opt.to_string(index=False, float_format="%.4g"))


# ---------------------------------------------------------------------- parser
def _output_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", dest="format", action="store_const", const="json", help="JSON on stdout")
    group.add_argument("--csv", dest="format", action="store_const", const="csv", help="CSV on stdout")
    parser.set_defaults(format="text")


def _data_options(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        parser.add_argument("data", help="table of runs (.csv, .json, .jsonl, .parquet), or 'chinchilla' / 'synthetic'")
    parser.add_argument("--n-col", default="N", help="model-size column (default N)")
    parser.add_argument("--d-col", default="D", help="tokens column (default D)")
    parser.add_argument("--c-col", default=None, metavar="COLUMN",
                        help="training-compute column (FLOP): derive tokens as D = C / (6 N) instead of --d-col "
                             "(Epoch's Chinchilla CSV: --n-col 'Model Size' --c-col 'Training FLOP')")
    parser.add_argument("--loss-col", default="loss", help="loss (or, for sigmoid, metric) column (default loss)")
    parser.add_argument("--x-col", default="x", metavar="COLUMN",
                        help="input column of a one-input law (default x), e.g. --law power_law --x-col C")
    parser.add_argument("--law", default="chinchilla", choices=sorted(LAWS),
                        help="a registered law (jaxscale.LAWS): chinchilla (default), kaplan, data_constrained (reads "
                             "a U column), or a one-input law (power_law, pure_power_law, broken_power_law, "
                             "sigmoid; reads an x column)")
    parser.add_argument("--solver", default=None, choices=sorted(SOLVERS),
                        help="a registered solver (jaxscale.kernels.solvers.SOLVERS): lm (default; IRLS curvature, "
                             "polished with the exact one), lm-warm (default for one start per resample), lm-exact, "
                             "lm-irls (the unpolished reference), bfgs, optax-lbfgs ...")
    parser.add_argument("--delta", type=_positive_float, default=1e-3, help="Huber delta (default 1e-3)")


def _fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--starts", type=_starts, default=None,
                        help="number of random starts instead of the law's grid (Hoffmann's 4500 for chinchilla)")
    parser.add_argument("--prune", type=_prune, default="auto",
                        help="pruned multi-start: keep this many starts to convergence after screening; auto "
                             "(default: 64 after 20 evaluations) or none (every start to convergence)")


def _source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", default=None, metavar="RESULT",
                        help="result file saved by 'fit --out' or 'bootstrap --out' (a bootstrap gives intervals)")
    parser.add_argument("--data", default=None, help="fit this table of runs (or 'chinchilla' / 'synthetic') instead")
    parser.add_argument("--published", choices=sorted(PUBLISHED), default="epoch",
                        help="without --from/--data: a published law (default epoch: Epoch AI's 2024 refit)")
    parser.add_argument("--level", type=_level, default=0.95, help="interval level with a bootstrap (default 0.95)")


def _model_options(parser: argparse.ArgumentParser, run) -> None:
    """Options of the commands that evaluate a law: where it comes from, how to fit it, output format."""
    _source_options(parser)
    _data_options(parser, positional=False)
    _fit_options(parser)
    _output_options(parser)
    parser.set_defaults(run=run)


# ---------------------------------------------------------------------- decisions: extrapolate, plan
def cmd_extrapolate(args) -> None:
    from .api.extrapolation import extrapolation

    columns, search, _ = call_options(args)
    table = extrapolation(read_data(args.data), law=args.law, split=args.split, holdout=args.holdout, mode=args.mode,
                          level=args.level, n_resamples=args.resamples, seed=args.seed, budgets=args.budgets,
                          step=args.step, delta=args.delta, columns=columns, search=search)
    if args.plot:
        from . import plot

        plot.extrapolation(table).figure.savefig(args.plot, dpi=150, bbox_inches="tight")
    emit(table, args.format, title=f"Extrapolation audit ({args.mode}): {int(table['inside'].sum())} / {len(table)} "
         f"held-out runs inside their {args.level:.0%} prediction interval (lower/upper; mean_lower/mean_upper: "
         "interval of the mean curve)" + (f"; figure: {args.plot}" if args.plot else ""),
         payload={"level": args.level, "mode": args.mode, "inside": int(table["inside"].sum()), "held_out": len(table)})


def cmd_compare(args) -> None:
    from .api.compare import compare_laws

    columns, search, runner = call_options(args)
    result = compare_laws(read_data(args.data), args.laws, mode=args.mode, min_train=args.min_train,
                          budgets=args.budgets, step=args.step, score=args.score, level=args.level,
                          n_resamples=args.resamples, seed=args.seed, delta=args.delta, columns=columns,
                          search=search, runner=runner)
    table = result.predict(N=np.asarray(args.n_values), D=np.asarray(args.d_values)) if args.n_values else None
    if args.format == "text":
        print(result.summary())
        if table is not None:
            emit(table, "text", title=f"\nStacked prediction, loss_low/loss_high: {args.level:.0%} model-form new-run "
                                      f"interval\n{table.attrs['reach']}")
        return
    emit(result.scores.reset_index() if table is None else table, args.format, payload={
        "scores": json.loads(result.scores.to_json(orient="index", double_precision=15)),
        "differences": json.loads(result.differences.to_json(orient="records", double_precision=15)),
        "weights": result.weights.to_dict(), "criterion": result.criterion, "seed_sd": result.seed_sd,
        "interval": "model-form new-run" if table is not None else None})


def cmd_plan(args) -> None:
    from .api.decisions import plan

    rule = args.tokens_per_parameter is not None
    model, source = (None, None) if rule else _model(args)
    table = plan(args.compute, result=model, n_per_budget=args.per_budget, span=args.span,
                 tokens_per_parameter=args.tokens_per_parameter if rule else 20.0, peak_flops=args.peak_flops,
                 utilisation=args.utilisation)
    centre = f"{args.tokens_per_parameter:g} tokens per parameter" if rule else f"optimum of the law from {source}"
    emit(table, args.format, title=f"IsoFLOP plan ({args.per_budget} runs per budget around the {centre}); "
         f"GPU-hours at {args.peak_flops:.3g} FLOP/s x {args.utilisation:g}: total {table.attrs['total_gpu_hours']:.4g}",
         payload={"total_gpu_hours": table.attrs["total_gpu_hours"], "total_flops": table.attrs["total_flops"]})


def _decision_commands(sub) -> None:
    p = sub.add_parser("extrapolate", help="fit below held-out compute budgets and check the held-out runs "
                                           "against their prediction intervals")
    _data_options(p)
    _fit_options(p)
    p.add_argument("--split", default="compute", choices=["compute", "N"], help="budgets by compute (default) or N")
    p.add_argument("--holdout", type=int, default=1, help="top budgets held out (mode holdout; default 1)")
    p.add_argument("--mode", default="holdout", choices=["holdout", "leave-one-out", "rolling"])
    p.add_argument("--budgets", type=_positive_float, nargs="+", default=None, metavar="FLOP",
                   help="assign runs to the nearest of these budgets (default: round log10 to --step decades)")
    p.add_argument("--step", type=_positive_float, default=0.1, help="budget width in decades (default 0.1)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples per split (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=_level, default=0.95)
    p.add_argument("--plot", default=None, metavar="FILE", help="also draw actual vs predicted to this image")
    _output_options(p)
    p.set_defaults(run=cmd_extrapolate)

    p = sub.add_parser("compare", help="which law forecasts better: out-of-sample scores on rolling splits, score "
                                       "differences with intervals, stacking weights, a model-form prediction")
    _data_options(p)
    _fit_options(p)
    p.add_argument("--laws", nargs="+", default=["chinchilla", "kaplan"], help="laws to compare (default chinchilla "
                                                                                "kaplan)")
    p.add_argument("--mode", default="rolling", choices=["holdout", "leave-one-out", "rolling"])
    p.add_argument("--min-train", type=int, default=2, help="budgets in the first rolling training set (default 2)")
    p.add_argument("--budgets", type=_positive_float, nargs="+", default=None, metavar="FLOP")
    p.add_argument("--step", type=_positive_float, default=0.1, help="budget width in decades (default 0.1)")
    p.add_argument("--score", default="squared", choices=["squared", "absolute"])
    p.add_argument("--resamples", type=int, default=200, help="paired bootstrap resamples (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=_level, default=0.95)
    p.add_argument("--n", dest="n_values", type=_positive_float, nargs="+", default=None, metavar="N",
                   help="also predict at these model sizes (with --d) with the model-form new-run interval")
    p.add_argument("--d", dest="d_values", type=_positive_float, nargs="+", default=None, metavar="D")
    _output_options(p)
    p.set_defaults(run=cmd_compare)

    p = sub.add_parser("plan", help="isoFLOP grids of (N, D) runs per compute budget with FLOPs and GPU-hours")
    p.add_argument("--compute", "-C", type=_positive_float, nargs="+", required=True, metavar="FLOP")
    p.add_argument("--per-budget", type=int, default=7, help="model sizes per budget (default 7)")
    p.add_argument("--span", type=_positive_float, default=10.0, help="largest / smallest N per budget (default 10)")
    p.add_argument("--tokens-per-parameter", type=_positive_float, default=None,
                   help="centre each grid at this D/N (e.g. 20) instead of the law's optimum")
    p.add_argument("--peak-flops", type=_positive_float, default=989e12, help="peak FLOP/s per GPU (default H100 "
                                                                              "BF16 dense, 989e12)")
    p.add_argument("--utilisation", type=_positive_float, default=0.4, help="fraction of peak reached (default 0.4)")
    _model_options(p, cmd_plan)


def cmd_curves(args) -> None:
    """Fit a curve law to every checkpoint (``jaxscale curves``), optionally bootstrapped by runs."""
    from .api.curves import CurveColumns, bootstrap_curves, fit_curves, schedules_from_columns

    frame = read_data(args.data)
    columns = CurveColumns(run=args.run_col, step=args.step_col, loss=args.loss_col, lr=args.lr_col, n=args.n_col)
    shape = {k: v for k, v in (("peak_lr", args.peak_lr), ("warmup", args.warmup), ("decay", args.decay),
                               ("final_lr", args.final_lr)) if v is not None}
    schedules = None
    if args.schedule_col is not None:
        schedules = schedules_from_columns(frame, run=args.run_col, kind=args.schedule_col,
                                           total_steps=args.total_steps_col, **shape)
    elif args.schedule is not None:
        schedules = {"kind": args.schedule, **shape}
    common = dict(law=args.law, columns=columns, schedules=schedules, decay=args.decay_lambda)
    result = (bootstrap_curves(frame, n_resamples=args.resamples, seed=args.seed, progress=False, **common)
              if args.resamples else fit_curves(frame, **common))
    table = pd.DataFrame({"parameter": list(result.params.index), "estimate": result.params.to_numpy()})
    if result.boot is not None:
        ci = result.boot.summary(args.level)
        table["ci_low"], table["ci_high"] = ci["ci_low"].to_numpy(), ci["ci_high"].to_numpy()
    runs = frame[args.run_col].nunique()
    from .api.fit import vanishing_params

    gone = [n for n, v in zip(result.fit.law.natural_names, vanishing_params(result.fit.law, result.fit.theta)[0]) if v]
    if gone:
        warnings.warn(f"{', '.join(gone)} ran to ~0: that term vanishes and is not identified by these runs "
                      "(e.g. no annealing in the schedules, or the other curve law fits better)", UserWarning)
    emit(table, args.format, f"{args.law}: {len(frame)} checkpoints of {runs} runs"
         + (f"; {args.resamples} run resamples (each run one cluster), {args.level:.0%} intervals" if args.resamples
            else ""), {"law": args.law, "checkpoints": len(frame), "runs": int(runs)})
    if args.predict_steps:
        spec = {"kind": args.predict_schedule or args.schedule or "cosine", **shape,
                "total_steps": int(args.predict_total_steps or max(args.predict_steps))}
        pred = result.predict(spec, steps=[int(s) for s in args.predict_steps], N=args.predict_n, level=args.level)
        if args.format == "text":
            print()
        emit(pred, args.format, "new run: " + (pred.attrs.get("note") or "within the fitted runs' range"))


def cmd_arms(args) -> None:
    """Arms with shared parameters and the effective compute multiplier (``jaxscale arms``)."""
    from .api.arms import bootstrap_arms, compare_sharing, fit_arms

    frame = read_data(args.data)
    common = dict(arm=args.arm_col, law=args.law, shared=tuple(args.shared), n=args.n_col, d=args.d_col,
                  y=args.loss_col, c=args.c_col)
    result = (bootstrap_arms(frame, n_resamples=args.resamples, seed=args.seed, paired=args.paired, **common)
              if args.resamples else fit_arms(frame, **common))
    budgets = np.asarray(args.compute, np.float64) if args.compute else np.geomspace(
        *result.recipe["compute_range"], 5)
    table = result.compare(budgets, baseline=args.baseline, other=args.other, level=args.level)
    title = (f"{result.arms}: shared {list(result.shared)}; multiplier = compute the baseline needs for the other "
             f"arm's loss, / C" + (f"; {table.attrs.get('interval')}" if args.resamples else ""))
    emit(table, args.format, title + ("\n" + table.attrs["note"] if table.attrs.get("note") else ""),
         {"arms": [str(a) for a in result.arms], "shared": list(result.shared)})
    if args.holdout:
        sharing = compare_sharing(frame, args.arm_col, args.law, {f"shared {', '.join(args.shared)}": args.shared,
                                                                   "separate": ()}, holdout=args.holdout,
                                  n=args.n_col, d=args.d_col, y=args.loss_col)
        if args.format == "text":
            print()
        emit(sharing.reset_index(), args.format, f"shared vs separate on the {args.holdout} largest budgets held out")
    if args.plot:
        from . import plot

        fig = plot.arms(result, baseline=args.baseline, other=args.other, level=args.level)
        with atomic_file(args.plot) as tmp:
            fig.savefig(tmp, dpi=150, format=Path(args.plot).suffix.lstrip(".") or "png")


def _curves_and_arms_commands(sub) -> None:
    p = sub.add_parser("curves", help="fit a law to every checkpoint of training curves under any LR schedule")
    p.add_argument("data", help="CSV, one row per checkpoint (run id, step, loss, and an LR column or --schedule)")
    p.add_argument("--law", default="lr_annealing", choices=["lr_annealing", "forward_momentum"])
    p.add_argument("--run-col", default="run")
    p.add_argument("--step-col", default="step")
    p.add_argument("--loss-col", default="loss")
    p.add_argument("--lr-col", default="lr", help="learning rate at each logged step (default lr)")
    p.add_argument("--n-col", default="N", help="model-size column (forward_momentum)")
    p.add_argument("--schedule", choices=["constant", "cosine", "linear", "wsd"], default=None,
                   help="one schedule for every run instead of an LR column (length: each run's last step)")
    p.add_argument("--schedule-col", default=None, help="column with each run's schedule kind")
    p.add_argument("--total-steps-col", default="T", help="column with each run's total steps (with --schedule-col)")
    p.add_argument("--peak-lr", type=_positive_float, default=None)
    p.add_argument("--warmup", type=float, default=None, help="warm-up fraction of the steps")
    p.add_argument("--decay", type=float, default=None, help="WSD decay fraction of the steps")
    p.add_argument("--final-lr", type=float, default=None)
    p.add_argument("--decay-lambda", type=float, default=0.999, help="Tissue et al.'s lambda of S2 (default 0.999)")
    p.add_argument("--resamples", type=_integer("resamples", 0), default=0, help="run bootstrap resamples (0: none)")
    p.add_argument("--predict-steps", type=_positive_float, nargs="+", default=None,
                   help="predict a new run's loss at these steps (its schedule: --predict-schedule)")
    p.add_argument("--predict-schedule", choices=["constant", "cosine", "linear", "wsd"], default=None)
    p.add_argument("--predict-total-steps", type=_positive_float, default=None)
    p.add_argument("--predict-n", type=_positive_float, default=None, help="the new run's model size")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--level", type=_level, default=0.95)
    _output_options(p)
    p.set_defaults(run=cmd_curves)

    p = sub.add_parser("arms", help="arm vs arm: shared parameters, effective compute multiplier with intervals")
    p.add_argument("data", help="CSV of runs with an arm column")
    p.add_argument("--arm-col", default="arm")
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--shared", nargs="*", default=["E", "alpha", "beta"], help="parameters common to all arms")
    p.add_argument("--n-col", default="N")
    p.add_argument("--d-col", default="D")
    p.add_argument("--c-col", default=None)
    p.add_argument("--loss-col", default="loss")
    p.add_argument("--compute", "-C", type=_positive_float, nargs="+", default=None, metavar="FLOP")
    p.add_argument("--baseline", default=None, help="arm A (default: the first in sorted order)")
    p.add_argument("--other", default=None, help="arm B (default: the second)")
    p.add_argument("--resamples", type=_integer("resamples", 0), default=200)
    p.add_argument("--paired", default=None, help="resample matched runs together: a column, 'size' or 'budget'")
    p.add_argument("--holdout", type=_integer("holdout", 0), default=0,
                   help="also compare shared vs separate on this many largest budgets held out")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--level", type=_level, default=0.95)
    p.add_argument("--plot", default=None, metavar="FILE", help="draw both arms and the multiplier to this image")
    _output_options(p)
    p.set_defaults(run=cmd_arms)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxscale", description="Fast, honest fits of neural scaling laws. The fits run on "
                     "every local CPU core by default (JAX sees one device per core, set before it is imported).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("fit", help="fit a law to a table of runs (multi-start, Huber on log loss)")
    _data_options(p)
    _fit_options(p)
    p.add_argument("--out", help="save the fit (.npz) for 'optimal', 'predict' and 'plot --from'")
    _output_options(p)
    p.set_defaults(run=cmd_fit)

    p = sub.add_parser("bootstrap", help="case-resampling bootstrap with a multi-start refit of every resample")
    _data_options(p)
    p.add_argument("--resamples", type=_integer("n_resamples", 1), default=4000,
                   help="number of resamples (default 4000)")
    p.add_argument("--starts", type=_starts, default="subgrid",
                   help="starts per resample: subgrid (default: the full-data optimum + 15 grid starts, minutes "
                        "for 4000 resamples), best (the optimum only), grid (Hoffmann's 4500 starts per "
                        "resample, each screened and the best 64 continued: long on a CPU, opt in), prune, or a "
                        "number of random starts. "
                        "The job size is printed before it starts")
    p.add_argument("--seed", type=_seed, default=0, help="integer in [0, 2**32 - 1] (default 0)")
    p.add_argument("--checkpoint", help="directory for finished chunks; rerun the same command to resume")
    p.add_argument("--chunk-size", type=_integer("chunk_size", 1), default=None, metavar="FITS",
                   help="fits (resamples x starts) per chunk (default: chunks of about 5 s, timed); lower it if "
                        "memory runs out")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run the chunks on a Dask cluster, e.g. tcp://scheduler:8786 (pip install 'jaxscale[distributed]')")
    p.add_argument("--out", help="save the result (.npz) for 'optimal', 'predict' and 'plot --from'")
    p.add_argument("--level", type=_level, default=0.95)
    p.add_argument("--method", choices=["percentile", "bca"], default="percentile")
    p.add_argument("--no-progress", action="store_true",
                   help="no job-size line and no progress bar on stderr (default: fits, fits/s, ETA once a run "
                        "lasts a few seconds)")
    p.add_argument("--include-unidentifiable", action="store_true",
                   help="keep resamples whose drawn rows cannot identify the law (too few distinct points) in the "
                        "intervals; left out with a warning by default")
    _output_options(p)
    p.set_defaults(run=cmd_bootstrap)

    p = sub.add_parser("isoflop", help="Approach 2: isoFLOP profiles, their minima, N_opt ~ C^a with intervals")
    p.add_argument("data", help="table of runs (final losses: .csv, .json, .jsonl, .parquet), or 'chinchilla' / 'synthetic'")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--budget-col", default=None, help="column labelling each run's budget (default: group by C)")
    group.add_argument("--budgets", type=_positive_float, nargs="+", default=None, metavar="FLOP",
                       help="nominal budgets; each run joins the nearest within --budget-tol dex")
    p.add_argument("--budget-tol", type=_positive_float, default=0.1, help="budget width in dex of C (default 0.1)")
    p.add_argument("--n-col", default="N", help="model-size column (default N)")
    p.add_argument("--d-col", default="D", help="tokens column (default D)")
    p.add_argument("--loss-col", default="loss", help="loss column (default loss)")
    p.add_argument("--c-col", default=None, help="compute column (default C = 6 N D)")
    p.add_argument("--method", choices=["parabola", "profile"], default="parabola")
    p.add_argument("--least-squares", action="store_true", help="plain least squares instead of Huber IRLS")
    p.add_argument("--keep-unbracketed", action="store_true",
                   help="also fit budgets whose lowest loss is at the smallest or largest size (invented vertices)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples within budgets (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--level", type=_level, default=0.95)
    _output_options(p)
    p.set_defaults(run=cmd_isoflop)

    p = sub.add_parser("optimal", help="compute-optimal N and D for budgets C = 6ND")
    p.add_argument("--compute", "-C", type=_positive_float, nargs="+", required=True, metavar="FLOP")
    _model_options(p, cmd_optimal)

    p = sub.add_parser("predict", help="predicted loss at model sizes N and token counts D")
    p.add_argument("--n", dest="n_values", type=_positive_float, nargs="+", required=True, metavar="N",
                   help="model sizes (parameters)")
    p.add_argument("--d", dest="d_values", type=_positive_float, nargs="+", required=True, metavar="D",
                   help="training tokens (one per --n, or a single value for all)")
    p.add_argument("--interval", choices=["mean", "new-run"], default="mean",
                   help="with a --from bootstrap: 'mean' (default), the interval of the mean curve; 'new-run', the "
                        "prediction interval for one new training run")
    _model_options(p, cmd_predict)

    p = sub.add_parser("plot", help="draw a figure to a PNG/PDF/SVG file")
    p.add_argument("kind", help="isoflop, contours, pairs, tokens, residuals or landscape")
    p.add_argument("--out", required=True, help="output image (.png, .pdf, .svg)")
    p.add_argument("--data", default=None,
                   help="runs to plot and fit (default: the runs saved in a --from bootstrap; a --from fit needs "
                        "--data; without --from, chinchilla)")
    p.add_argument("--from", dest="source", default=None, metavar="RESULT",
                   help="a saved fit or bootstrap to draw instead of fitting now")
    p.add_argument("--resamples", type=_integer("resamples", 0), default=400,
                   help="bootstrap resamples (from the full-data optimum) for pairs, and for the bands of tokens and "
                        "contours, when no --from bootstrap is given; 0: no band (default 400)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--dpi", type=_integer("dpi", 1), default=150)
    p.add_argument("--json", dest="format", action="store_const", const="json", default="text",
                   help="say what was written as JSON on stdout")
    _data_options(p, positional=False)
    _fit_options(p)
    p.set_defaults(run=cmd_plot)

    _decision_commands(sub)
    _curves_and_arms_commands(sub)
    _array_commands(sub)

    p = sub.add_parser("demo", help="fit the built-in synthetic data set and print the table")
    _output_options(p)
    p.set_defaults(run=cmd_demo)
    return parser


#: API advice rewritten for the command line: (pattern, replacement), applied to error messages.
CLI_WORDING = [
    (r"\bn=\.\.\.", "--n-col"), (r"\bd=\.\.\.", "--d-col (or --c-col for a compute column)"),
    (r"\by=\.\.\.", "--loss-col"), (r"\bc=\.\.\.", "--c-col"), (r"\bx=\.\.\.", "--x-col"),
    (r"\s*\(e\.g\. data\.dropna\(\)\)", " in the file"),
    (r"Convert it, e\.g\. data\[.*?\] = pd\.to_numeric\(data\[.*?\]\)", "Fix those values in the file"),
    (r"fix parameters \(fixed=\.\.\.\) or use a law", "or use a law (--law)"),
    (r"\(estimate=js\.fit\(data, \.\.\.\) with the same columns\)", "(the --from fit must come from this --data)"),
    (r"^(n_resamples|resamples)\b", "--resamples"), (r"^seed\b", "--seed"), (r"^prune\b", "--prune"),
    (r"include_unidentifiable=True", "--include-unidentifiable"), (r"exclude_unbracketed=False", "--keep-unbracketed"), (r"^chunk_size\b", "--chunk-size"), (r"^delta\b", "--delta"), (r"^level\b", "--level"),
]


def cli_message(message: str) -> str:
    """An API error message as a CLI user needs it: options instead of Python keywords and code."""
    for pattern, replacement in CLI_WORDING:
        message = re.sub(pattern, replacement, message)
    return message


def _out_of_memory(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or (
        type(err).__name__ in ("JaxRuntimeError", "XlaRuntimeError") and "RESOURCE_EXHAUSTED" in str(err))


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"jaxscale: warning: {cli_message(' '.join(str(message).split()))}\n"


def _leave_on_ctrl_c(message: str) -> None:
    """On the command line, Ctrl-C (SIGINT) prints ``message`` and exits 130 at once.

    The handler runs at the next Python bytecode, wherever that is (inside JAX as well), so no
    library code can catch and swallow the interrupt, and it leaves with ``os._exit``: finished
    checkpoint chunks are already on disk (atomic renames; a half-written temporary file is never
    read), and skipping interpreter teardown avoids tearing JAX down while XLA threads of other CPU
    devices still run the interrupted computation (that crashed with a segmentation fault).
    """
    import signal

    def leave(signum, frame):  # noqa: ARG001
        os.write(2, message.encode())
        os._exit(130)

    signal.signal(signal.SIGINT, leave)


#: Suffixes an output may have, per command writing one (results are .npz files; plots are images).
OUT_SUFFIXES = {"fit": (".npz",), "bootstrap": (".npz",), "plot": (".png", ".pdf", ".svg", ".jpg", ".jpeg")}


def check_outputs(args) -> None:
    """Refuse an ``--out`` (or ``extrapolate --plot``) that resolves to one of the command's inputs (``data``,
    ``--from``, ``--checkpoint``), or that lacks its result's suffix: a command never writes over what it reads."""
    command = getattr(args, "command", "")
    for flag, out, allowed in (("--out", getattr(args, "out", None), OUT_SUFFIXES.get(command, ())),
                               ("--plot", getattr(args, "plot", None), OUT_SUFFIXES["plot"])):
        if not out or not isinstance(out, str):
            continue
        target = Path(out).expanduser().resolve()
        for option, value in (("the data", getattr(args, "data", None)), ("--from", getattr(args, "source", None)),
                              ("--checkpoint", getattr(args, "checkpoint", None))):
            if value and Path(value).expanduser().resolve() == target:
                raise ValueError(f"{flag} {out} is {option} this command reads; results are never written over an "
                                 f"input: choose another {flag} path")
        if allowed and target.suffix.lower() not in allowed:
            raise ValueError(f"{flag} {out}: a {command} result is written as {' or '.join(allowed)}; name the file "
                             f"with that suffix (e.g. {target.with_suffix(allowed[0]).name})")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_compilation_cache()  # as at import (a no-op there unless the cache was turned off since)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        shown, warnings.formatwarning = warnings.formatwarning, _one_line_warning
        interrupted = "jaxscale: interrupted" + (" (rerun the same command to resume from --checkpoint)"
                                                  if getattr(args, "checkpoint", None) else "") + "\n"
        if argv is None:
            _leave_on_ctrl_c(interrupted)
        try:
            check_outputs(args)
            args.run(args)
        except KeyboardInterrupt:  # main(argv) called from Python: an exception, as Python code expects
            sys.stderr.write(interrupted)
            return 130
        except (ValueError, FileNotFoundError, OSError) as err:
            message = cli_message(" ".join(str(err).split()))
            sys.stderr.write(f"jaxscale: error: {message}\n")
            return 2
        except (MemoryError, RuntimeError) as err:
            if not _out_of_memory(err):
                raise
            sys.stderr.write("jaxscale: error: out of memory; use fewer --resamples or starts (--starts subgrid or "
                             "best), a smaller --chunk-size, or a machine with more memory\n")
            return 1
        finally:
            warnings.formatwarning = shown
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
