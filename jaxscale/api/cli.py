"""Command line: ``jaxscale fit | bootstrap | optimal | predict | plot | demo``.

Every command prints a readable table by default, ``--json`` or ``--csv`` for pipelines, and
exits with status 2 and a one-line message on bad input (never a traceback); messages name the
command-line option to change (``--n-col``), not the Python keyword. Out of memory: status 1 with
advice; Ctrl-C: status 130.

Data arguments take a CSV path or one of the names ``chinchilla`` (Epoch's extraction of the
Hoffmann et al. runs, via :func:`jaxscale.datasets.chinchilla`) and ``synthetic``.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from . import datasets
from .bootstrap import BootstrapResult, bootstrap
from .fit import FitResult, fit
from .io import load
from .validation import check_int, check_seed

PUBLISHED = {"epoch": (datasets.EPOCH_PARAMS, "Epoch AI (2024) refit of Hoffmann et al.'s data"),
             "hoffmann": (datasets.HOFFMANN_PARAMS, "Hoffmann et al. (2022), Approach 3 as published")}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, no usage dump
        sys.stderr.write(f"jaxscale: error: {message}\n")
        raise SystemExit(2)


# ---------------------------------------------------------------------- inputs
def read_data(spec: str) -> pd.DataFrame:
    """``chinchilla``, ``synthetic`` or a CSV path -> DataFrame."""
    if spec == "chinchilla":
        return datasets.chinchilla()
    if spec == "synthetic":
        return datasets.synthetic()
    try:
        return pd.read_csv(spec)
    except FileNotFoundError:
        raise ValueError(f"no such file: {spec} (give a CSV path, 'chinchilla' or 'synthetic')") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"could not read {spec} as CSV: {err}") from None


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


def _starts(text: str):
    if text in ("grid", "best", "prune", "subgrid"):
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: use grid, best, prune, subgrid or a number of random starts") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the number of random starts must be >= 1")
    return value


def _fit_data(args, frame: pd.DataFrame | None = None) -> FitResult:
    """Fit ``frame`` (default: ``args.data`` read) with the command's law, starts, solver and columns."""
    return fit(read_data(args.data) if frame is None else frame, law=args.law, starts=args.starts, solver=args.solver, delta=args.delta,
               n=args.n_col, d=args.d_col, y=args.loss_col, prune=args.prune, c=args.c_col)


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
            "converged": result.converged, "n_points": result.n_points, "recipe": result.recipe})


def _optimal_table(model, compute: np.ndarray, level: float) -> pd.DataFrame:
    if isinstance(model, BootstrapResult):
        return model.compute_optimal(compute, level=level)
    return model.compute_optimal(compute)


def _predict_table(model, n: list[float], d: list[float], level: float) -> pd.DataFrame:
    if len(n) != len(d) and 1 not in (len(n), len(d)):
        raise ValueError(f"--n has {len(n)} values and --d {len(d)}; give equally many, or one of either")
    n_arr, d_arr = np.broadcast_arrays(np.asarray(n), np.asarray(d))
    if isinstance(model, BootstrapResult):
        return model.predict(n_arr, d_arr, level=level)
    return pd.DataFrame({"N": n_arr, "D": d_arr, "loss": np.atleast_1d(model.predict(N=n_arr, D=d_arr))})


# ---------------------------------------------------------------------- commands
def cmd_fit(args) -> None:
    result = _fit_data(args)
    if args.out:
        result.save(args.out)
    _print_fit(result, args.format)


#: Fits per second on a small CPU for Chinchilla-sized data (the default 4000 x 4500-start grid bootstrap took
#: about 3.75 h on the 2-core development machine); only used to tell a user the size of a job before it starts.
CPU_FITS_PER_S = 1300.0


def work_estimate(law_name: str, starts, n_resamples: int, n_subgrid: int = 16) -> str:
    """One line: resamples x starts = fits, and a rough duration when the job is long."""
    from ..kernels.laws import get_law

    grid = len(get_law(law_name).grid())
    per = {"grid": grid, "prune": grid, "best": 1, "subgrid": n_subgrid}.get(starts, starts)
    fits = n_resamples * int(per)
    kind = starts if isinstance(starts, str) else "random"
    line = f"jaxscale bootstrap: {n_resamples:,} resamples x {per:,} starts ({kind}) = {fits:,} fits, plus the full-data fit"
    hours = fits / CPU_FITS_PER_S / 3600
    if hours >= 0.25:
        line += (f"; a long job: about {hours:.1f} h at ~{CPU_FITS_PER_S:,.0f} fits/s on a CPU (faster on a GPU); "
                 "--starts subgrid (the default) or best takes minutes, Ctrl-C stops, --checkpoint resumes")
    return line


def cmd_bootstrap(args) -> None:
    frame = read_data(args.data)
    if not args.no_progress:
        sys.stderr.write(work_estimate(args.law, args.starts, args.resamples) + "\n")
    result = bootstrap(frame, law=args.law, n_resamples=args.resamples, starts=args.starts, seed=args.seed,
                       solver=args.solver, delta=args.delta, n=args.n_col, d=args.d_col, y=args.loss_col,
                       checkpoint=args.checkpoint, progress=False if args.no_progress else None, c=args.c_col,
                       chunk_size=args.chunk_size)
    if args.out:
        result.save(args.out)
    table = result.summary(level=args.level, method=args.method,
                           include_unidentifiable=args.include_unidentifiable).reset_index()
    used = table.attrs.get("n_used", result.n_resamples)
    emit(table, args.format, title=f"jaxscale bootstrap: {result.n_resamples} resamples x "
         f"{result.recipe['n_starts']} starts, {args.method} {args.level:.0%} intervals"
         + (f" from the {used} usable resamples" if used != result.n_resamples else "")
         + (f", saved to {args.out}" if args.out else ""),
         payload={"recipe": result.recipe, "level": args.level, "method": args.method})


def cmd_optimal(args) -> None:
    model, source = _model(args)
    table = _optimal_table(model, np.asarray(args.compute, np.float64), args.level)
    emit(table, args.format, title=f"Compute-optimal allocation (C = 6ND), law from {source}",
         payload={"source": source})


def cmd_predict(args) -> None:
    model, source = _model(args)
    table = _predict_table(model, args.n_values, args.d_values, args.level)
    emit(table, args.format, title=f"Predicted loss (nats/token), law from {source}", payload={"source": source})


def cmd_plot(args) -> None:
    try:
        from .. import plot
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
    data = read_data(args.data) if needs_data else None
    if needs_fit:
        fitted = _fit_data(args, data)
    if boot is None and wants_boot:
        if args.resamples < 1:
            raise ValueError(f"the {kind} plot needs a bootstrap: pass --from RESULT.npz or --resamples >= 1")
        boot = bootstrap(data, law=args.law, n_resamples=args.resamples, starts="best", seed=args.seed,
                         solver=args.solver, delta=args.delta, n=args.n_col, d=args.d_col, y=args.loss_col,
                         estimate=fitted, c=args.c_col)
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
    figure.savefig(args.out, dpi=args.dpi, bbox_inches="tight")
    print(f"wrote {args.out}")


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
        parser.add_argument("data", help="CSV of runs, or 'chinchilla' / 'synthetic'")
    parser.add_argument("--n-col", default="N", help="model-size column (default N)")
    parser.add_argument("--d-col", default="D", help="tokens column (default D)")
    parser.add_argument("--c-col", default=None, metavar="COLUMN",
                        help="training-compute column (FLOP): derive tokens as D = C / (6 N) instead of --d-col "
                             "(Epoch's Chinchilla CSV: --n-col 'Model Size' --c-col 'Training FLOP')")
    parser.add_argument("--loss-col", default="loss", help="loss column (default loss)")
    parser.add_argument("--law", default="chinchilla", help="chinchilla (default) or power_law")
    parser.add_argument("--solver", default="lm", choices=["lm", "lm-exact", "bfgs"],
                        help="lm (default; IRLS curvature), lm-exact (exact Huber curvature, near starts) or bfgs")
    parser.add_argument("--delta", type=_positive_float, default=1e-3, help="Huber delta (default 1e-3)")


def _fit_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--starts", type=_starts, default=None,
                        help="number of random starts instead of the law's grid (Hoffmann's 4500 for chinchilla)")
    parser.add_argument("--prune", type=_integer("prune", 1), default=None,
                        help="pruned multi-start: keep this many starts (>= 1) to convergence")


def _source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", default=None, metavar="RESULT",
                        help="result file saved by 'fit --out' or 'bootstrap --out' (a bootstrap gives intervals)")
    parser.add_argument("--data", default=None, help="fit this CSV (or 'chinchilla' / 'synthetic') instead")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxscale", description="Fast, honest fits of neural scaling laws. The fits run on "
                     "every local CPU core by default (JAX sees one device per core, set before it is imported).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("fit", help="fit a law to a CSV of runs (multi-start, Huber on log loss)")
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
                        "for 4000 resamples), best (the optimum only), grid (the exhaustive 4500-start grid of "
                        "the reference procedure: hours on a CPU, opt in), prune, or a number of random starts. "
                        "The job size is printed before it starts")
    p.add_argument("--seed", type=_seed, default=0, help="integer in [0, 2**32 - 1] (default 0)")
    p.add_argument("--chunk-size", type=_integer("chunk_size", 1), default=None,
                   help="tasks per compiled call; lower it if memory runs out")
    p.add_argument("--checkpoint", help="directory for finished chunks; rerun the same command to resume")
    p.add_argument("--out", help="save the result (.npz) for 'optimal', 'predict' and 'plot --from'")
    p.add_argument("--level", type=_level, default=0.95)
    p.add_argument("--method", choices=["percentile", "bca"], default="percentile")
    p.add_argument("--no-progress", action="store_true", help="no job-size and progress lines on stderr")
    p.add_argument("--include-unidentifiable", action="store_true",
                   help="keep resamples whose drawn rows cannot identify the law (too few distinct points) in the "
                        "intervals; left out with a warning by default")
    _output_options(p)
    p.set_defaults(run=cmd_bootstrap)

    p = sub.add_parser("optimal", help="compute-optimal N and D for budgets C = 6ND")
    p.add_argument("--compute", "-C", type=_positive_float, nargs="+", required=True, metavar="FLOP")
    _model_options(p, cmd_optimal)

    p = sub.add_parser("predict", help="predicted loss at model sizes N and token counts D")
    p.add_argument("--n", dest="n_values", type=_positive_float, nargs="+", required=True, metavar="N",
                   help="model sizes (parameters)")
    p.add_argument("--d", dest="d_values", type=_positive_float, nargs="+", required=True, metavar="D",
                   help="training tokens (one per --n, or a single value for all)")
    _model_options(p, cmd_predict)

    p = sub.add_parser("plot", help="draw a figure to a PNG/PDF/SVG file")
    p.add_argument("kind", help="isoflop, contours, pairs, tokens, residuals or landscape")
    p.add_argument("--out", required=True, help="output image (.png, .pdf, .svg)")
    p.add_argument("--data", default="chinchilla", help="runs to plot and fit (default chinchilla)")
    p.add_argument("--from", dest="source", default=None, metavar="RESULT",
                   help="a saved fit or bootstrap to draw instead of fitting now")
    p.add_argument("--resamples", type=_integer("resamples", 0), default=400,
                   help="bootstrap resamples (from the full-data optimum) for pairs, and for the bands of tokens and "
                        "contours, when no --from bootstrap is given; 0: no band (default 400)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--dpi", type=_integer("dpi", 1), default=150)
    _data_options(p, positional=False)
    _fit_options(p)
    p.set_defaults(run=cmd_plot)

    p = sub.add_parser("demo", help="fit the built-in synthetic data set and print the table")
    _output_options(p)
    p.set_defaults(run=cmd_demo)
    return parser


#: API advice rewritten for the command line: (pattern, replacement), applied to error messages.
CLI_WORDING = [
    (r"\bn=\.\.\.", "--n-col"), (r"\bd=\.\.\.", "--d-col (or --c-col for a compute column)"),
    (r"\by=\.\.\.", "--loss-col"), (r"\bc=\.\.\.", "--c-col"),
    (r"\s*\(e\.g\. data\.dropna\(\)\)", " in the file"),
    (r"Convert it, e\.g\. data\[.*?\] = pd\.to_numeric\(data\[.*?\]\)", "Fix those values in the file"),
    (r"fix parameters \(fixed=\.\.\.\) or use a law", "or use a law (--law)"),
    (r"\(estimate=js\.fit\(data, \.\.\.\) with the same columns\)", "(the --from fit must come from this --data)"),
    (r"^(n_resamples|resamples)\b", "--resamples"), (r"^seed\b", "--seed"), (r"^prune\b", "--prune"),
    (r"include_unidentifiable=True", "--include-unidentifiable"), (r"^chunk_size\b", "--chunk-size"), (r"^delta\b", "--delta"), (r"^level\b", "--level"),
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        shown, warnings.formatwarning = warnings.formatwarning, _one_line_warning
        try:
            args.run(args)
        except KeyboardInterrupt:
            sys.stderr.write("jaxscale: interrupted" + (" (rerun the same command to resume from --checkpoint)"
                                                        if getattr(args, "checkpoint", None) else "") + "\n")
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
