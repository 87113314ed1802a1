"""Render the documentation's figures (docs/img/*.png) from the real Chinchilla data.

Fits Epoch AI's extraction of the Chinchilla runs (240 rows, Hoffmann's 4500-start grid,
Huber delta 1e-3), bootstraps it, and writes one PNG per kind of :mod:`jaxscale.plot`::

    python docs/make_figures.py                       # CSV at ../shared/data/svg_extracted_data.csv
    python docs/make_figures.py path/to/svg_extracted_data.csv --resamples 4000

The landscape figure shows the same grid fitted twice, with Levenberg-Marquardt (the default)
and with BFGS (the reference procedure's quasi-Newton), side by side.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import jaxscale as js  # noqa: E402
from jaxscale import plot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "svg_extracted_data.csv"
#: Hoffmann et al. (2022), eq. (10): the Approach 3 law as published.
HOFFMANN = js.datasets.HOFFMANN_PARAMS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv", nargs="?", default=str(DEFAULT_CSV), help="Epoch's svg_extracted_data.csv")
    parser.add_argument("--out", default=str(REPO / "docs" / "img"), help="folder for the PNGs")
    parser.add_argument("--resamples", type=int, default=4000, help="bootstrap resamples (starts='best')")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dpi", type=int, default=130)
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = js.datasets.chinchilla(args.csv)

    t0 = time.perf_counter()
    fit = js.fit(data)
    fit_all = js.fit(data, prune=None)  # every start to convergence, for the landscape
    fit_bfgs = js.fit(data, solver="bfgs", prune=None)
    boot = js.bootstrap(data, n_resamples=args.resamples, starts="best", seed=args.seed, estimate=fit)
    print(f"fits and {args.resamples} bootstrap resamples: {time.perf_counter() - t0:.1f} s")
    print(fit.summary())

    def save(fig, name: str) -> None:
        path = out / f"{name}.png"
        fig.savefig(path, dpi=args.dpi, bbox_inches="tight", facecolor="white")
        plt.close(fig)
        print(f"wrote {path}")

    save(plot.isoflop(fit, data).figure, "isoflop")
    save(plot.contours(fit, boot).figure, "contours")
    save(plot.pairs(boot), "pairs")
    ax = plot.tokens_per_parameter(boot, compare={"Hoffmann et al. (2022), published law": HOFFMANN},
                                   label="jaxscale fit of Epoch's data")
    # Chinchilla itself: 70B parameters on 1.4T tokens, C = 6 N D = 5.88e23 FLOP, 20 tokens per parameter.
    ax.plot([5.88e23], [20.0], marker="D", color="black", ls="none", markersize=6,
            label="Chinchilla 70B (1.4T tokens)")
    ax.legend(loc="upper left", framealpha=0.9, fontsize=9)
    save(ax.figure, "tokens")
    save(plot.residuals(fit, data), "residuals")

    fig, (ax_lm, ax_bfgs) = plt.subplots(1, 2, figsize=(12.0, 4.8), layout="constrained")
    plot.landscape(fit_all, ax=ax_lm)
    plot.landscape(fit_bfgs, ax=ax_bfgs)
    save(fig, "landscape")


if __name__ == "__main__":
    main()
