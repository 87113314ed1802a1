"""The decision figures and tables of docs/guide/decisions.md, from Epoch's Chinchilla runs.

- Extrapolation audit (docs/img/extrapolation.png): every run is assigned to the nearest of Hoffmann et al.'s
  nine isoFLOP budgets (6e18 ... 3e21 FLOP) in log C; the law is fitted (4500-start grid, Huber delta 1e-3) to
  the runs of the lower budgets only and every run of the held-out top budget(s) is predicted with a 95 %
  prediction interval for a new run (bootstrap of the training rows + leverage-corrected training residuals).
- Delta sweep: the full-grid fit for ten Huber deltas (1e-5 ... 1e4) in one compiled call.
- Metric artefact (docs/img/metric_artefact.png): exact match vs per-token probability from the same fit and
  bootstrap, with the apparent threshold N* and its interval.

Tables are printed as markdown; everything is also written to docs/decisions.json (atomically)::

    python docs/make_decisions.py [CSV] [--holdout 1] [--resamples 4000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

import jaxscale as js  # noqa: E402
from jaxscale import plot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "svg_extracted_data.csv"
PARTS = ("extrapolation", "delta", "artefact")


def markdown(frame, formats: dict) -> str:
    cols = list(formats)
    lines = ["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for _, row in frame[cols].iterrows():
        lines.append("| " + " | ".join(formats[c](row[c]) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV))
    parser.add_argument("--holdout", type=int, default=1, help="top budgets held out (default 1)")
    parser.add_argument("--resamples", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--img", default=str(REPO / "docs" / "img"))
    parser.add_argument("--json", default=str(REPO / "docs" / "decisions.json"))
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS,
                        help="what to (re)compute; the JSON keeps the other parts")
    args = parser.parse_args(argv)
    runs = js.datasets.chinchilla(args.csv)
    out: dict = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    command = "python docs/make_decisions.py " + " ".join(sys.argv[1:] if argv is None else argv)
    if "extrapolation" in args.parts:
        out["extrapolation"] = extrapolation(runs, args, command)
    if "delta" in args.parts:
        out["delta_sweep"] = delta(runs, command)
    if "artefact" in args.parts:
        out["metric_artefact"] = artefact(runs, args, command)
    tmp = Path(args.json).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=1, default=float) + "\n")
    os.replace(tmp, args.json)  # atomic
    print(f"wrote {args.json} and the figures in {args.img}")


def extrapolation(runs, args, command: str) -> dict:
    sci, pct = (lambda v: f"{v:.3g}"), (lambda v: f"{v:+.2%}")
    t0 = time.perf_counter()
    table = js.extrapolation(runs, holdout=args.holdout, budgets=js.HOFFMANN_BUDGETS, n_resamples=args.resamples,
                             seed=args.seed)
    seconds = time.perf_counter() - t0
    plot.extrapolation(table).figure.savefig(Path(args.img) / "extrapolation.png", dpi=130, bbox_inches="tight")
    inside, total = int(table["inside"].sum()), len(table)
    print(f"extrapolation: {inside} / {total} held-out runs inside their 95% prediction interval ({seconds:.1f} s)")
    print(markdown(table, {"budget": sci, "N": sci, "D": sci, "actual": "{:.4f}".format, "predicted": "{:.4f}".format,
                           "lower": "{:.4f}".format, "upper": "{:.4f}".format, "inside": lambda v: "yes" if v else "**no**",
                           "relative_error": pct}))
    return {"command": command, "holdout": args.holdout, "resamples": args.resamples, "seed": args.seed,
            "inside": inside, "held_out": total, "seconds": seconds, "n_train": int(table["n_train"].iloc[0]),
            "rows": table.to_dict(orient="records")}


def delta(runs, command: str) -> dict:
    sci = (lambda v: f"{v:.3g}")
    t0 = time.perf_counter()
    sweep = js.delta_sweep(runs, np.logspace(-5, 4, 10))
    seconds = time.perf_counter() - t0
    print(f"\ndelta sweep ({seconds:.1f} s, 4500 starts x 10 deltas in one call)")
    print(markdown(sweep, {"delta": "{:g}".format, "A": "{:.4g}".format, "B": "{:.4g}".format, "E": "{:.4f}".format,
                           "alpha": "{:.4f}".format, "beta": "{:.4f}".format, "a_opt": "{:.4f}".format,
                           "N_opt": sci, "D_over_N": "{:.1f}".format, "inside_delta": "{:.0f}".format}))
    return {"command": command, "seconds": seconds, "C": sweep.attrs["C"], "rows": sweep.to_dict(orient="records")}


def artefact(runs, args, command: str) -> dict:
    fit = js.fit(runs)
    boot = js.bootstrap(runs, n_resamples=args.resamples, starts="best", seed=args.seed, estimate=fit)
    artefact = js.metric_artefact(boot, answer_tokens=5)
    plot.metric_artefact(artefact).figure.savefig(Path(args.img) / "metric_artefact.png", dpi=130, bbox_inches="tight")
    a = artefact.attrs
    print(f"\nmetric artefact: N* = {a['N_star']:.3g} (95%: {a['N_star_low']:.3g} - {a['N_star_high']:.3g})")
    return {"command": command, "resamples": args.resamples, "seed": args.seed, **a}


if __name__ == "__main__":
    main()
