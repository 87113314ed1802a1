"""Command line: ``jaxscale fit PATH.csv``, ``jaxscale demo``."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import numpy as np
import pandas as pd

from . import datasets
from .fit import fit


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, no usage dump
        sys.stderr.write(f"jaxscale: error: {message}\n")
        raise SystemExit(2)


def _read_csv(path: str) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise ValueError(f"no such file: {path}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"could not read {path} as CSV: {err}") from None


def _print_fit(result, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"params": result.params.to_dict(), "log_params": result.log_params.to_dict(),
                          "objective": result.objective, "converged": result.converged,
                          "n_points": result.n_points, "recipe": result.recipe}, default=float))
    else:
        print(result.summary())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxscale", description="Fast, honest fits of neural scaling laws.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p_fit = sub.add_parser("fit", help="fit a law to a CSV of runs")
    p_fit.add_argument("path")
    p_fit.add_argument("--n", default="N", help="model-size column (default N)")
    p_fit.add_argument("--d", default="D", help="tokens column (default D)")
    p_fit.add_argument("--loss", default="loss", help="loss column (default loss)")
    p_fit.add_argument("--law", default="chinchilla")
    p_fit.add_argument("--solver", default="lm", choices=["lm", "bfgs"])
    p_fit.add_argument("--starts", type=int, default=None, help="random starts instead of the default grid")
    p_fit.add_argument("--delta", type=float, default=1e-3, help="Huber delta (default 1e-3)")
    p_fit.add_argument("--json", action="store_true", help="machine-readable output")
    p_demo = sub.add_parser("demo", help="fit the built-in synthetic data set and print the table")
    p_demo.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fit":
            frame = _read_csv(args.path)
            result = fit(frame, law=args.law, starts=args.starts, solver=args.solver, delta=args.delta,
                         n=args.n, d=args.d, y=args.loss)
            _print_fit(result, args.json)
        elif args.command == "demo":
            data = datasets.synthetic()
            if not args.json:
                print(f"Synthetic Chinchilla-style runs: {len(data)} runs on {data['C'].nunique()} isoFLOP budgets, "
                      f"truth {datasets.EPOCH_PARAMS}, 1% log-normal noise\n")
            result = fit(data)
            _print_fit(result, args.json)
            if not args.json:
                opt = result.compute_optimal(np.asarray([1e21, 5.88e23, 1e25]))
                print("\nCompute-optimal allocation:\n" + opt.to_string(index=False, float_format="%.4g"))
    except (ValueError, FileNotFoundError) as err:
        sys.stderr.write(f"jaxscale: error: {err}\n")
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
