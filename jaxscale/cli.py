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
        return single_result(load(args.source), args.source), args.source
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
    if args.by:
        return cmd_fit_by(args)
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
    refuse_grouped_out(args)
    resample = resample_option(args)
    frame = read_data(args.data)
    if not args.no_progress:
        sys.stderr.write(work_estimate(args.law, args.starts, args.resamples) + "\n")
    client = _dask_client(args.dask)
    try:
        columns, search, runner = call_options(args)
        result, warned = _noted(lambda: bootstrap(
            frame, law=args.law, n_resamples=args.resamples, seed=args.seed, delta=args.delta, by=args.by,
            resample=resample, columns=columns, search=search, runner=runner.replace(executor=client)))
    finally:
        if client is not None:
            client.close()
    if args.by:
        return print_grouped_bootstrap(args, result, warned)
    if args.out:
        result.save(args.out)
    print_bootstrap(args, result, "jaxscale bootstrap", warned)


def print_bootstrap(args, result: BootstrapResult, heading: str, warned: list[str] = (), **payload) -> None:
    """The parameter intervals of one bootstrap (``bootstrap``, ``gather``): the title says how many resamples
    were usable and how many did not converge (kept), the notes follow the table and go into ``--json``."""
    table = result.summary(level=args.level, method=args.method,
                           include_unidentifiable=args.include_unidentifiable).reset_index()
    used = table.attrs.get("n_used", result.n_resamples)
    unconverged = table.attrs.get("n_not_converged", 0)
    said = _merged(list(warned), table.attrs.get("notes", []))
    emit(table, args.format, title=f"{heading}: {result.n_resamples} resamples x "
         f"{result.recipe['n_starts']} starts, {args.method} {args.level:.0%} intervals of the parameters"
         + (f" from the {used} usable resamples" if used != result.n_resamples else "")
         + (f" ({unconverged} of them not converged, kept)" if unconverged else "")
         + (f", saved to {args.out}" if args.out else ""),
         payload={"recipe": result.recipe, "level": args.level, "method": args.method, "notes": said,
                  "n_used": used, "n_not_converged": unconverged, **payload})
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
                              "bootstrap the groups without --plan, or plan each group's table"),
                             ("--cluster", getattr(args, "cluster", None), "a plan holds case resamples of rows; run "
                              "the cluster bootstrap without --plan")):
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
    print_bootstrap(args, result, f"jaxscale gather ({args.dir})", out=args.out)


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
    _column_options(parser, positional)
    _law_options(parser)
    parser.add_argument("--delta", type=_positive_float, default=1e-3, help="Huber delta (default 1e-3)")


def _column_options(parser: argparse.ArgumentParser, positional: bool = True) -> None:
    """The data argument and the columns it is read from (``--n-col``, ``--d-col``, ``--c-col``, ...)."""
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


def _law_options(parser: argparse.ArgumentParser) -> None:
    """``--law`` (a registered name or a custom law, see :func:`law_spec`) and ``--solver``."""
    parser.add_argument("--law", default="chinchilla", type=law_spec, metavar="LAW",
                        help="a registered law (jaxscale.LAWS): chinchilla (default), kaplan, data_constrained (reads "
                             "a U column), or a one-input law (power_law, pure_power_law, broken_power_law, "
                             "sigmoid; reads an x column); or a custom jaxscale.Law as module.path:NAME or "
                             "path/to/file.py:NAME (registered for this run)")
    parser.add_argument("--solver", default=None, choices=sorted(SOLVERS),
                        help="a registered solver (jaxscale.kernels.solvers.SOLVERS): lm (default; IRLS curvature, "
                             "polished with the exact one), lm-warm (default for one start per resample), lm-exact, "
                             "lm-irls (the unpolished reference), bfgs, optax-lbfgs ...")


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
    p.add_argument("--split", default="compute", choices=["compute", "N", "D"],
                   help="budgets by compute (default), model size N or tokens D")
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
    p.add_argument("--laws", nargs="+", type=law_spec, default=["chinchilla", "kaplan"], help="laws to compare (default chinchilla "
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
    p.add_argument("--law", default="chinchilla", type=law_spec, metavar="LAW")
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


# ---------------------------------------------------------------------- parity: custom laws on the command line
def load_law(spec: str):
    """The :class:`~jaxscale.Law` named by ``module.path:NAME`` or ``path/to/file.py:NAME``, registered for this run.

    A file is imported under a private module name; a module path is imported from ``sys.path`` (``PYTHONPATH``).
    The law is added to :data:`jaxscale.LAWS` (:func:`jaxscale.register_law`), so results fitted with it are saved
    and loaded by name, as after ``js.register_law`` in Python. Every failure is one :class:`ValueError` line.
    """
    import importlib
    import importlib.util

    from .kernels.laws import Law, register_law

    where, _, name = spec.rpartition(":")
    if not where or not name.isidentifier():
        raise ValueError(f"{spec!r}: give a custom law as module.path:NAME or path/to/file.py:NAME (NAME: the "
                         "jaxscale.Law object in it), or one of the registered laws " + ", ".join(sorted(LAWS)))
    path = Path(where).expanduser() if where.endswith(".py") or "/" in where or os.sep in where else None
    if path is not None and not path.is_file():
        raise ValueError(f"{spec!r}: no such file {where}")
    try:
        if path is not None:
            loader = importlib.util.spec_from_file_location(f"jaxscale_cli_law_{abs(hash(str(path.resolve())))}",
                                                            path)
            module = importlib.util.module_from_spec(loader)
            sys.modules[loader.name] = module  # a dataclass in the file looks its module up in sys.modules
            loader.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except ModuleNotFoundError as err:
        raise ValueError(f"{spec!r}: cannot import module {where!r} ({err}); put its folder on PYTHONPATH or give "
                         "path/to/file.py:NAME") from None
    except BaseException as err:  # the user's code failed while importing: say how, in one line
        if isinstance(err, KeyboardInterrupt):
            raise
        raise ValueError(f"{spec!r}: importing {where} failed: {type(err).__name__}: {err}") from None
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items() if isinstance(v, Law))
        raise ValueError(f"{spec!r}: {where} has no {name!r}" + (f"; the laws it defines: {', '.join(found)}" if found
                                                                else "; it defines no jaxscale.Law"))
    law = getattr(module, name)
    if not isinstance(law, Law):
        raise ValueError(f"{spec!r}: {name} is of type {type(law).__name__}, not a jaxscale.Law (build one with "
                         "js.Law(name=..., inputs=..., param_names=..., log_predict=..., grid=...))")
    if law.name in LAWS and LAWS[law.name] is not law:
        raise ValueError(f"{spec!r}: a different law named {law.name!r} is already registered; give yours another "
                         "name (Law(name=...))")
    return register_law(law)


def law_spec(text: str) -> str:
    """An argparse type for ``--law``: a registered name, or a custom law (:func:`load_law`) by its name."""
    if text in LAWS:
        return text
    if ":" not in text:
        raise argparse.ArgumentTypeError(f"unknown law {text!r}; choose one of {', '.join(sorted(LAWS))}, or give a "
                                         "custom law as module.path:NAME or path/to/file.py:NAME")
    try:
        return load_law(text).name
    except ValueError as err:
        raise argparse.ArgumentTypeError(" ".join(str(err).split())) from None


# ---------------------------------------------------------------------- parity: notes, grouped and cluster runs
def _noted(call):
    """``(call(), notes)``: the API's warnings raised during ``call`` as one-line notes, each also printed on stderr
    (``jaxscale: warning: ...``) once; warnings from outside jaxscale (JAX's own) pass through unchanged."""
    package = Path(__file__).resolve().parent
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = call()
    said = []
    for w in caught:
        if package not in Path(w.filename).resolve().parents:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        line = cli_message(" ".join(str(w.message).split()))
        if line not in said:
            said.append(line)
            sys.stderr.write(f"jaxscale: warning: {line}\n")
    return value, said


def _merged(*lists) -> list[str]:
    """The notes of several sources in order, each once."""
    out = []
    for notes in lists:
        out += [n for n in notes if n and n not in out]
    return out


def _print_notes(said: list[str]) -> None:
    if said:
        print("\nnotes:\n" + "\n".join(f"  {i}. {n}" for i, n in enumerate(said, 1)))


def _group_key(by: list, key) -> dict:
    values = key if len(by) > 1 else (key,)
    return {col: (v.item() if isinstance(v, np.generic) else v) for col, v in zip(by, values)}


def cmd_fit_by(args) -> None:
    """``jaxscale fit --by COLUMN``: one fit per group in one compiled call (``js.fit(data, by=...)``)."""
    columns, search, _ = call_options(args)
    grouped, warned = _noted(lambda: fit(read_data(args.data), law=args.law, delta=args.delta, by=list(args.by),
                                         columns=columns, search=search))
    if args.out:
        grouped.save(args.out)
    summary = grouped.summary()
    if args.format == "text":
        print(summary.text + (f"\n\nsaved to {args.out}" if args.out else ""))
        return
    table = pd.DataFrame(summary).reset_index()
    groups = [{"group": _group_key(grouped.by, key), "params": r.params.to_dict(), "objective": r.objective,
               "converged": r.converged, "n_points": r.n_points, "notes": r.notes()} for key, r in grouped.items()]
    emit(table, args.format, payload={"by": grouped.by, "groups": groups, "recipe": grouped.recipe,
                                      "notes": _merged(warned, summary.notes)})


def single_result(result, path: str):
    """``result`` unless it holds several groups: the commands evaluating a law take one law."""
    by = getattr(result, "by", None)
    if by is not None:
        raise ValueError(f"{path} holds a grouped result ({len(result)} groups by {by}); this command evaluates one "
                         "law: fit or bootstrap the group's rows on their own and pass that file")
    return result


def refuse_grouped_out(args) -> None:
    """``bootstrap --by`` cannot write ``--out``: a grouped bootstrap has no file format (a grouped fit has)."""
    if getattr(args, "by", None) and getattr(args, "out", None):
        raise ValueError("--out with --by: a grouped bootstrap cannot be saved to a file (only a grouped fit can: "
                         "'jaxscale fit --by ... --out'); drop --out, or bootstrap each group's rows on its own")
    if getattr(args, "by", None) and getattr(args, "cluster", None):
        raise ValueError("--by with --cluster: grouped bootstraps take case resamples; bootstrap each group's rows "
                         "on its own with --cluster")


def resample_option(args):
    """``--cluster``/``--cluster-budgets``/``--wild`` as the API's ``resample=`` (``"case"`` without them)."""
    from .api.cluster import HOFFMANN_BUDGETS
    from .api.options import ClusterResample

    cluster, budgets, wild = getattr(args, "cluster", None), getattr(args, "cluster_budgets", None), \
        getattr(args, "wild", False)
    if cluster is None:
        if budgets or wild:
            raise ValueError(f"{'--wild' if wild else '--cluster-budgets'} needs --cluster (budget, size or a column)")
        return "case"
    for option, value in (("--checkpoint", getattr(args, "checkpoint", None)), ("--dask", getattr(args, "dask", None))):
        if value:
            raise ValueError(f"{option} is only supported without --cluster (a cluster bootstrap runs here, in one "
                             f"go); drop {option}")
    if budgets == ["hoffmann"]:
        budgets = list(HOFFMANN_BUDGETS)
    elif budgets:
        try:
            budgets = [_positive_float(b) for b in budgets]
        except argparse.ArgumentTypeError as err:
            raise ValueError(f"--cluster-budgets: {err} (give FLOP values, or the word hoffmann)") from None
    return ClusterResample(by=cluster, budgets=budgets or None, wild=bool(wild))


def print_grouped_bootstrap(args, grouped, warned: list[str]) -> None:
    """``bootstrap --by``: each group's parameter intervals, the group columns first; notes name their group."""
    if args.include_unidentifiable:
        raise ValueError("--include-unidentifiable applies to one bootstrap; with --by each group's summary leaves "
                         "unidentifiable resamples out")
    summary, more = _noted(lambda: grouped.summary(level=args.level, method=args.method))
    said = _merged(warned, more, summary.notes)
    first = next(iter(grouped.results.values()))
    emit(pd.DataFrame(summary).reset_index(), args.format,
         title="\n".join(summary.title) + f" ({first.recipe['n_starts']} starts per resample)",
         payload={"by": grouped.by, "groups": [_group_key(grouped.by, k) for k in grouped], "recipe": grouped.recipe,
                  "level": args.level, "method": args.method, "notes": said})
    if args.format == "text":
        _print_notes(said)


# ---------------------------------------------------------------------- parity: decision helpers as commands
def _report(args, table: pd.DataFrame, title: str, payload: dict, said: list[str]) -> None:
    """Print a decision's table (text/CSV) or JSON (``payload`` and ``notes`` added), notes under a text table."""
    emit(table, args.format, title=title, payload={**payload, "notes": said})
    if args.format == "text":
        _print_notes(said)


def _records(frame: pd.DataFrame):
    return json.loads(frame.to_json(orient="records", double_precision=15))


def cmd_approach1(args) -> None:
    """``jaxscale approach1 CURVES``: Hoffmann et al.'s Approach 1, the lower envelope of training curves."""
    from .api.isoflop import approach1
    from .api.notes import allocation_interval

    frame = read_data(args.data)
    result, warned = _noted(lambda: approach1(frame, run=args.run_col, columns=call_columns(args), n_grid=args.grid,
                                              c_range=tuple(args.c_range) if args.c_range else None,
                                              n_resamples=args.resamples, seed=args.seed, level=args.level))
    alloc, coef = result.allocation, result.coefficients
    a = alloc.loc["a"]
    said = _merged(warned, [allocation_interval(a["estimate"], a["lower"], a["upper"], args.level)])
    table = pd.concat([alloc, coef]).rename_axis("quantity").reset_index()
    optimal = result.optimal(np.asarray(args.compute, np.float64), args.level) if args.compute else None
    payload = {"allocation": json.loads(alloc.to_json(orient="index", double_precision=15)),
               "coefficients": json.loads(coef.to_json(orient="index", double_precision=15)),
               "optimal": None if optimal is None else _records(optimal), "envelope": _records(result.envelope),
               "recipe": result.recipe, "level": args.level, "n_resamples": result.n_resamples}
    if args.format == "text":
        print(result.summary())
        if optimal is not None:
            emit(optimal, "text", title=f"\ncompute-optimal N and D = C / (6 N) with {args.level:.0%} intervals "
                                        "(resamples of runs)")
        _print_notes([n for n in said if n not in result.summary()])
        return
    _report(args, table, "", payload, said)


def cmd_approaches(args) -> None:
    """``jaxscale approaches DATA -C FLOP``: Approaches 1 (with --curves), 2 and 3 side by side."""
    from .api.isoflop import compare_approaches

    columns, search, runner = call_options(args)
    curves = read_data(args.curves) if args.curves else None
    iso = {"budget": args.budget_col if args.budgets is None else args.budgets, "budget_tol": args.budget_tol,
           "method": args.method}
    table, warned = _noted(lambda: compare_approaches(
        read_data(args.data), args.compute, curves=curves, n_resamples=args.resamples, seed=args.seed,
        level=args.level, run=args.run_col, isoflop_options=iso, bootstrap_options={"law": args.law,
                                                                                     "delta": args.delta},
        columns=columns, search=search, runner=runner))
    _report(args, table.reset_index(), f"Allocation exponents (N_opt ~ C^a, D_opt ~ C^b) and the compute-optimal "
            f"model at C = {args.compute:.3g} by approach, {args.level:.0%} intervals from {args.resamples} resamples",
            {"C": args.compute, "level": args.level, "n_resamples": args.resamples}, warned)


def cmd_delta_sweep(args) -> None:
    """``jaxscale delta-sweep DATA``: the fit for many Huber deltas in one compiled call."""
    from .api.decisions import delta_sweep

    columns, search, runner = call_options(args)
    kwargs = {} if args.deltas is None else {"deltas": args.deltas}
    table, warned = _noted(lambda: delta_sweep(read_data(args.data), law=args.law, C=args.compute, seed=args.seed,
                                               columns=columns, search=search, runner=runner, **kwargs))
    bad = table.loc[~table["converged"].astype(bool), "delta"].tolist()
    said = _merged(warned, [f"delta {', '.join(f'{d:.3g}' for d in bad)}: the best start did not converge (not a "
                            "verified minimum)" if bad else ""])
    _report(args, table, f"{table.attrs['law']} refitted for {len(table)} Huber deltas ({table.attrs['n_starts']} "
            f"starts each); N_opt, D_opt, loss_opt at C = {args.compute:.3g}", {"C": args.compute,
                                                                               "law": table.attrs["law"]}, said)


def target_spec(text: str):
    """``--target`` of ``next-run``: ``N_opt@C``, ``D_opt@C``, ``loss@N=...,D=...`` or a parameter/derived name."""
    name, at, where = text.partition("@")
    if not at:
        return text
    try:
        if name in ("N_opt", "D_opt"):
            return (name, float(where))
        if name == "loss":
            return ("loss", {k.strip(): float(v) for k, v in (p.split("=") for p in where.split(","))})
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{text!r}: use N_opt@FLOP (e.g. N_opt@1e24), D_opt@FLOP, "
                                     "loss@N=7e10,D=1.4e12, or a parameter or derived name such as a_opt")


def _candidates(args) -> pd.DataFrame:
    """``next-run``'s candidate runs: ``--candidates FILE`` or ``--n`` with ``--d``, in the data's columns."""
    if args.candidates is not None:
        if args.n_values or args.d_values:
            raise ValueError("give the candidate runs either as --candidates FILE or as --n with --d, not both")
        return read_data(args.candidates)
    if not args.n_values or not args.d_values:
        raise ValueError("next-run needs candidate runs: --n and --d (one per --n, or one for all), or --candidates "
                         "FILE with the data's columns")
    n, d = np.broadcast_arrays(*map(np.asarray, (args.n_values, args.d_values))) if (
        len(args.n_values) == len(args.d_values) or 1 in (len(args.n_values), len(args.d_values))) else (None, None)
    if n is None:
        raise ValueError(f"--n has {len(args.n_values)} values and --d {len(args.d_values)}; give equally many, or "
                         "one of either")
    if args.c_col is not None:
        return pd.DataFrame({args.n_col: n, args.c_col: 6.0 * n * d})
    return pd.DataFrame({args.n_col: n, args.d_col: d})


def cmd_next_run(args) -> None:
    """``jaxscale next-run DATA``: rank candidate runs by how much they shrink a target's interval (per FLOP)."""
    from .api.decisions import rank_next_runs

    columns, search, runner = call_options(args)
    estimate = load(args.source) if args.source else None
    if estimate is not None and not isinstance(estimate, FitResult):
        raise ValueError(f"--from {args.source}: next-run starts from a single fit of this data ('fit --out'), not a "
                         f"{type(estimate).__name__}")
    table, warned = _noted(lambda: rank_next_runs(
        read_data(args.data), _candidates(args), args.target, law=args.law, n_outcomes=args.outcomes,
        n_resamples=args.resamples, level=args.level, seed=args.seed, estimate=estimate, delta=args.delta,
        per_flop=not args.by_shrinkage, columns=columns, search=search, runner=runner))
    attrs = table.attrs
    _report(args, table, f"Next runs ranked by {attrs['ranked_by']} of the {args.level:.0%} interval of "
            f"{attrs['target']} (each candidate: {attrs['n_outcomes']} simulated outcomes x {attrs['n_resamples']} "
            "resamples; width_after_se: Monte Carlo error)",
            {"target": attrs["target"], "ranked_by": attrs["ranked_by"], "level": args.level,
             "n_outcomes": attrs["n_outcomes"], "n_resamples": attrs["n_resamples"]}, warned)


def cmd_inference_optimal(args) -> None:
    """``jaxscale inference-optimal --loss L --inference-tokens T``: Sardana et al.'s training + inference optimum."""
    from .api.decisions import inference_optimal

    model, source = _model(args)
    table, warned = _noted(lambda: inference_optimal(model, args.target_loss, args.inference_tokens,
                                                     level=args.level))
    lost = table.attrs.get("unreachable_draws", 0)
    said = _merged(warned, [f"{lost} bootstrap draws cannot reach loss {args.target_loss:g} (left out of the "
                            "intervals)" if lost else ""])
    words = INTERVAL_WORDS["optimal" if isinstance(model, BootstrapResult) else "none"].format(level=args.level)
    _report(args, table, f"Training + inference optimum (min 6 N D_train + 2 N D_inf at loss {args.target_loss:g}), "
            f"law from {source}; {words}", {"source": source, "interval": words}, said)


def cmd_two_step(args) -> None:
    """``jaxscale two-step LOSS_DATA METRIC_DATA``: loss law, then a metric law of the loss, bootstrapped jointly."""
    from .api.emergence import two_step

    columns, search, runner = call_options(args)
    metric_data = read_data(args.metric_data)
    for option, column in (("--metric-col", args.metric_col), ("--metric-loss-col", args.metric_loss_col)):
        if column not in metric_data.columns:
            raise ValueError(f"column {column!r} not found in {args.metric_data}; available columns: "
                             f"{list(map(str, metric_data.columns))}. Name the right one with {option}")
    result, warned = _noted(lambda: two_step(
        read_data(args.data), metric_data, loss_law=args.law, metric=args.metric,
        metric_col=args.metric_col, loss_col=args.metric_loss_col, n_resamples=args.resamples, seed=args.seed,
        loss_starts=args.starts, metric_starts=args.metric_starts, pair_on=args.pair_on, delta=args.delta,
        metric_loss=args.metric_loss, columns=columns, search=search.replace(starts=None), runner=runner))
    params = pd.concat([pd.DataFrame({"step": f"{i} {what} ({step.law.name})", "parameter": step.params.index,
                                      "estimate": step.params.to_numpy()})
                        for i, what, step in ((1, "loss", result.loss_fit), (2, "metric", result.metric_fit))],
                       ignore_index=True)
    pred = None
    if args.n_values or args.d_values:
        if not (args.n_values and args.d_values):
            raise ValueError("two-step predicts at --n with --d: give both")
        n, d = np.broadcast_arrays(np.asarray(args.n_values), np.asarray(args.d_values))
        pred = result.predict(N=n, D=d, level=args.level)
    payload = {"loss_params": result.loss_fit.params.to_dict(), "metric_params": result.metric_fit.params.to_dict(),
               "recipe": result.recipe, "level": args.level,
               "interval": f"{args.level:.0%} interval of the mean curves over {len(result.loss_draws)} joint draws "
                           "(metric_step2_low/high: step 2's share alone)"}
    if args.format == "text":
        emit(params, "text", title=f"Two-step fit: loss law, then the metric {args.metric_col!r} as a law of the loss")
        if pred is not None:
            emit(pred, "text", title=f"\nPredicted loss and {args.metric_col}: {payload['interval']}")
        _print_notes(warned)
        return
    _report(args, params if pred is None else pred, "", {**payload, "params": _records(params)}, warned)


ARTEFACT_SIZES = np.logspace(7, 13, 13)


def cmd_metric_artefact(args) -> None:
    """``jaxscale metric-artefact``: exact match vs per-token accuracy from one loss fit (Schaeffer et al. 2023)."""
    from .api.emergence import metric_artefact

    model, source = _model(args)
    sizes = np.asarray(args.n_values if args.n_values else ARTEFACT_SIZES, np.float64)
    table, warned = _noted(lambda: metric_artefact(model, answer_tokens=args.answer_tokens, N=sizes,
                                                   tokens_per_parameter=args.tokens_per_parameter,
                                                   threshold=args.threshold, level=args.level))
    attrs = table.attrs
    star = {k: attrs[k] for k in ("N_star", "N_star_low", "N_star_high", "N_star_unreached") if k in attrs}
    band = (f" [{star['N_star_low']:.3g}, {star['N_star_high']:.3g}]" if "N_star_low" in star else
            " (no interval: a single fit; --from BOOT.npz gives one)")
    lost = star.get("N_star_unreached", 0)
    said = _merged(warned, ["exact match never reaches the threshold below N = 1e20"
                            if not np.isfinite(star["N_star"]) else "",
                            f"{lost} bootstrap draws never reach the threshold (left out of N*'s interval)"
                            if lost else ""])
    _report(args, table, f"Exact match over {args.answer_tokens} tokens = per_token^{args.answer_tokens}, models at "
            f"D = {args.tokens_per_parameter:g} N, law from {source}: apparent emergence at N* = "
            f"{star['N_star']:.3g}{band} (exact_match = {args.threshold:g}); a metric artefact, per_token rises "
            "smoothly", {"source": source, **star, "answer_tokens": args.answer_tokens, "threshold": args.threshold},
            said)


#: ``jaxscale --help``'s epilog: which command does what each public helper does, and why some have none.
CLI_EPILOG = """\
the public helpers on the command line (jaxscale.NAME -> command):
  fit, bootstrap (by=, ClusterResample) -> fit / bootstrap (--by COLUMN, --cluster budget|size|COLUMN [--wild])
  isoflop -> isoflop            approach1 -> approach1         compare_approaches -> approaches
  extrapolation -> extrapolate  compare_laws -> compare        plan -> plan
  delta_sweep -> delta-sweep    rank_next_runs -> next-run     inference_optimal -> inference-optimal
  two_step -> two-step          metric_artefact -> metric-artefact
  fit_curves, bootstrap_curves -> curves   fit_arms, bootstrap_arms, compare_sharing -> arms
  FitResult.compute_optimal / predict -> optimal / predict   load -> --from FILE   plot.* -> plot
  register_law -> --law module.path:NAME or --law path/to/file.py:NAME (a jaxscale.Law, registered for the run)
no command (building blocks, not decisions; Python only): Law, constrain, Loss/huber/squared, solvers and
  register_solver (--solver takes registered names), Search/Runner/Columns (their fields are options),
  schedule helpers (lr_schedule, forward_area, annealing_area, annealing_momentum, curve_areas,
  schedules_from_columns: 'curves' reads --lr-col or --schedule), datasets (data 'chinchilla'/'synthetic'
  or a file), budget_labels (--cluster budget), configure_cpu_devices and enable_compilation_cache (the
  CLI does both itself). See docs/guide/command_line.md.
"""


def _parity_commands(sub) -> None:
    """Subcommands for the public decision helpers that had none (issue 21): approach1, approaches, delta-sweep,
    next-run, inference-optimal, two-step, metric-artefact."""
    p = sub.add_parser("approach1", help="Approach 1: the lower envelope of training curves, N_opt ~ C^a with "
                                         "intervals (resamples of runs)")
    _column_options(p)
    p.add_argument("--run-col", default="run", help="column of the run id (default run)")
    p.add_argument("--grid", type=_integer("grid", 2), default=64, help="compute values of the envelope (default 64)")
    p.add_argument("--c-range", type=_positive_float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help="compute range of the envelope (FLOP; default: the curves' range)")
    p.add_argument("--compute", "-C", type=_positive_float, nargs="+", default=None, metavar="FLOP",
                   help="also give N_opt, D_opt with intervals at these budgets")
    _resample_options(p, 1000)
    _output_options(p)
    p.set_defaults(run=cmd_approach1)

    p = sub.add_parser("approaches", help="Approaches 1 (with --curves), 2 and 3 side by side: allocation exponents "
                                          "and the compute-optimal model at one budget")
    _data_options(p)
    _fit_options(p)
    p.set_defaults(starts="best")
    p.add_argument("--compute", "-C", type=_positive_float, required=True, metavar="FLOP")
    p.add_argument("--curves", default=None, metavar="FILE", help="training curves for Approach 1 (with --run-col)")
    p.add_argument("--run-col", default="run")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--budget-col", default=None, help="Approach 2: column labelling each run's budget")
    group.add_argument("--budgets", type=_positive_float, nargs="+", default=None, metavar="FLOP",
                       help="Approach 2: nominal budgets; each run joins the nearest within --budget-tol dex")
    p.add_argument("--budget-tol", type=_positive_float, default=0.1)
    p.add_argument("--method", choices=["parabola", "profile"], default="parabola", help="Approach 2's minima")
    _resample_options(p, 200)
    _output_options(p)
    p.set_defaults(run=cmd_approaches)

    p = sub.add_parser("delta-sweep", help="refit for many Huber deltas in one compiled call: how the estimate "
                                           "moves with delta")
    _column_options(p)
    _law_options(p)
    _fit_options(p)
    p.add_argument("--deltas", type=_positive_float, nargs="+", default=None,
                   help="Huber deltas (default 1e-5 .. 1e4, one per decade)")
    p.add_argument("--compute", "-C", type=_positive_float, default=5.88e23, metavar="FLOP",
                   help="budget of the reported N_opt, D_opt (default 5.88e23, Chinchilla's)")
    p.add_argument("--seed", type=_seed, default=0)
    _output_options(p)
    p.set_defaults(run=cmd_delta_sweep)

    p = sub.add_parser("next-run", help="rank candidate next runs by how much each shrinks a target's interval "
                                        "per FLOP (simulated outcomes, refits, bootstraps)")
    _data_options(p)
    _fit_options(p)
    p.add_argument("--target", type=target_spec, required=True,
                   help="N_opt@FLOP, D_opt@FLOP, loss@N=...,D=... or a parameter/derived name (alpha, a_opt)")
    p.add_argument("--candidates", default=None, metavar="FILE", help="table of candidate runs (the data's columns)")
    p.add_argument("--n", dest="n_values", type=_positive_float, nargs="+", default=None, metavar="N")
    p.add_argument("--d", dest="d_values", type=_positive_float, nargs="+", default=None, metavar="D")
    p.add_argument("--outcomes", type=_integer("outcomes", 1), default=8, help="simulated outcomes per candidate")
    p.add_argument("--from", dest="source", default=None, metavar="FIT", help="the data's fit ('fit --out') to start "
                                                                              "from (default: fit now)")
    p.add_argument("--by-shrinkage", action="store_true", help="rank by shrinkage alone, not per FLOP")
    _resample_options(p, 200, minimum=2)
    _output_options(p)
    p.set_defaults(run=cmd_next_run)

    p = sub.add_parser("inference-optimal", help="the cheapest model over training + inference at a target loss "
                                                 "(Sardana et al. 2024)")
    p.add_argument("--loss", dest="target_loss", type=_positive_float, required=True, help="target loss (nats/token)")
    p.add_argument("--inference-tokens", type=_non_negative_float, nargs="+", required=True, metavar="TOKENS",
                   help="tokens served over the model's life (0: the compute-optimal model)")
    _model_options(p, cmd_inference_optimal)

    p = sub.add_parser("two-step", help="predict a downstream metric through the loss: a loss law, then a metric law "
                                        "of the loss, bootstrapped jointly")
    _data_options(p)
    _fit_options(p)
    p.add_argument("metric_data", help="table of (loss, metric) per model")
    p.add_argument("--metric", type=law_spec, default=None, metavar="LAW",
                   help="the metric law of the loss (default sigmoid; exponential_metric, or a custom law)")
    p.add_argument("--metric-col", default="accuracy", help="metric column of METRIC_DATA (default accuracy)")
    p.add_argument("--metric-loss-col", default="loss", help="loss column of METRIC_DATA (default loss)")
    p.add_argument("--metric-starts", type=_starts, default=None, help="starts of the metric fit (default its grid)")
    p.add_argument("--metric-loss", default="squared", choices=["squared", "huber"])
    p.add_argument("--pair-on", default=None, metavar="COLUMN", help="resample the same models in both data sets")
    p.add_argument("--n", dest="n_values", type=_positive_float, nargs="+", default=None, metavar="N")
    p.add_argument("--d", dest="d_values", type=_positive_float, nargs="+", default=None, metavar="D")
    _resample_options(p, 200, minimum=2)
    _output_options(p)
    p.set_defaults(run=cmd_two_step)

    p = sub.add_parser("metric-artefact", help="exact match vs per-token accuracy from one loss fit: apparent "
                                               "emergence as a metric artefact (Schaeffer et al. 2023)")
    p.add_argument("--answer-tokens", type=_integer("answer_tokens", 1), default=5)
    p.add_argument("--tokens-per-parameter", type=_positive_float, default=20.0)
    p.add_argument("--threshold", type=_fraction, default=0.5, help="exact match of the apparent emergence, in (0, 1) "
                                                                    "(default 0.5)")
    p.add_argument("--n", dest="n_values", type=_positive_float, nargs="+", default=None, metavar="N",
                   help="model sizes of the table (default 13, 1e7 .. 1e13)")
    _model_options(p, cmd_metric_artefact)


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1), e.g. 0.5")
    return value


def _by_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--by", nargs="+", default=None, metavar="COLUMN",
                        help="one result per group of rows with equal values in these columns, all in one compiled "
                             "run (a table with the group columns first)")


def _cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", default=None, metavar="CLUSTERS",
                        help="resample whole clusters of runs instead of runs: budget (compute budgets), size (model "
                             "sizes) or a column; warns with fewer than 10 clusters")
    parser.add_argument("--cluster-budgets", nargs="+", default=None, metavar="FLOP",
                        help="the budgets (or sizes) --cluster budget/size snap to in log space, or the word hoffmann "
                             "(Hoffmann et al.'s 9 isoFLOP budgets); default: rounded to 0.1 decade")
    parser.add_argument("--wild", action="store_true",
                        help="with --cluster: the wild cluster bootstrap (every run kept, Webb multipliers per cluster "
                             "on leverage-corrected residuals) instead of resampling clusters")


def _non_negative_float(text: str) -> float:
    value = _number(text)
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number >= 0")
    return value


def _resample_options(parser: argparse.ArgumentParser, default: int, minimum: int = 1) -> None:
    parser.add_argument("--resamples", type=_integer("resamples", minimum), default=default,
                        help=f"bootstrap resamples (default {default})")
    parser.add_argument("--seed", type=_seed, default=0)
    parser.add_argument("--level", type=_level, default=0.95)



def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxscale", description="Fast, honest fits of neural scaling laws. The fits run on "
                     "every local CPU core by default (JAX sees one device per core, set before it is imported).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parser.epilog, parser.formatter_class = CLI_EPILOG, argparse.RawDescriptionHelpFormatter

    p = sub.add_parser("fit", help="fit a law to a table of runs (multi-start, Huber on log loss)")
    _data_options(p)
    _fit_options(p)
    p.add_argument("--out", help="save the fit (.npz) for 'optimal', 'predict' and 'plot --from'")
    _by_option(p)
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
    _by_option(p)
    _cluster_options(p)
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
    _parity_commands(sub)

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
    (r"resample='wild-cluster'", "--cluster --wild"), (r"resample='cluster'", "--cluster"),
    (r"^cluster='", "--cluster '"), (r"\(run=\.\.\.\)", "(--run-col)"),
    (r"^checkpoint= is only supported for resample='case'", "--checkpoint is only supported without --cluster"),
    (r"drop checkpoint=", "drop --checkpoint"), (r"executor= is for case resamples", "--dask is for case resamples"),
    (r"Define that law again and register it with jaxscale\.register_law\(law\) before jaxscale\.load\(path\)",
     "Name it with --law module.path:NAME or --law path/to/file.py:NAME (registered before the file is read)"),
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
