"""The documentation's Python examples run as written: each page's ```python blocks in order, in one namespace per
page, on the real Chinchilla data (as tests/test_readme.py does for the README's own blocks).

Each page starts from its own setup block (the data, the fit, the bootstrap it builds on), so a page runs alone;
the pages run in one process, so the compiled programs are shared and a repeated setup costs its run time only."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import jaxscale as js

from conftest import locate_chinchilla_csv

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def pages_with_examples() -> list[str]:
    """Every docs page with Python examples, except the site's landing page: docs/index.md shows lines of the
    README's example, checked line by line by tests/test_docs.py (running it again would cost a fit and a bootstrap)."""
    return sorted(str(page.relative_to(REPO)) for page in DOCS.rglob("*.md")
                  if "_build" not in page.parts and "notebooks" not in page.parts and page != DOCS / "index.md"
                  and python_blocks(page.read_text()))


def _getting_started(ns, tmp):
    assert ns["fit"].objective == pytest.approx(0.00101827401780, abs=1e-12)  # Epoch's reference minimum
    assert len(ns["boot"].draws) == 1000


def _fit(ns, tmp):
    assert ns["fit"].objective == pytest.approx(0.00101827401780, abs=1e-12)  # Epoch's reference minimum
    assert (tmp / "chinchilla_fit.npz").is_file()
    assert ns["single"].law.name == "power_law" and ns["single"].notes() == []


def _laws(ns, tmp):
    assert ns["again"].law.name == "n_power_law" and np.array_equal(ns["again"].theta, ns["mine"].theta)
    # the datablations README prints 2.2256440889984477 for this run (Muennighoff et al.'s own code)
    assert float(np.ravel(ns["muennighoff"].predict(N=6.34e9, D=242e9, U=25e9))[0]) == pytest.approx(2.2256440889984477,
                                                                                                    rel=1e-9)


def _uncertainty(ns, tmp):
    draw0 = ns["epoch"].draws.iloc[0]  # Epoch's own draw 0 (their notebook): A 349.56, alpha 0.32863
    assert draw0["alpha"] == pytest.approx(0.328633, rel=1e-4) and draw0["A"] == pytest.approx(349.5564, rel=1e-4)
    assert len(ns["boot"].draws) == 1000 and (tmp / "chinchilla_boot.npz").is_file()
    assert list(ns["grouped"].to_xarray().coords["dataset"].values) == ["all", "below 1e21"]


def _groups(ns, tmp):
    assert list(ns["per_era"].params.index) == ["early", "late"]
    assert (tmp / "per_era.npz").is_file()


def _plots(ns, tmp):
    assert (tmp / "landscape.png").stat().st_size > 10_000


def _decisions(ns, tmp):
    assert len(ns["audit"]) == 16 and ns["audit"]["inside"].sum() >= 8  # the top budget's 16 runs held out
    assert len(ns["sweep"]) == 10 and sorted(ns["ranked"]["rank"]) == [1, 2, 3]


def _isoflop(ns, tmp):
    assert 0.3 < ns["iso"].allocation.loc["a", "estimate"] < 0.7


def _cluster(ns, tmp):
    assert (tmp / "ck_cluster").is_dir()


#: every page with Python examples, and what its namespace must hold after they ran (beyond their own asserts)
PAGES = {
    "docs/getting_started.md": _getting_started,
    "docs/guide/fit.md": _fit,
    "docs/guide/custom_laws.md": _laws,
    "docs/guide/uncertainty.md": _uncertainty,
    "docs/guide/many_datasets.md": _groups,
    "docs/guide/plotting.md": _plots,
    "docs/guide/decisions.md": _decisions,
    "docs/guide/isoflop.md": _isoflop,
    "docs/guide/cluster.md": _cluster,
}
NEEDS = {"docs/guide/plotting.md": ["matplotlib"], "docs/guide/uncertainty.md": ["xarray"], "docs/guide/decisions.md": ["matplotlib"],
         "docs/guide/cluster.md": ["distributed"]}


def test_every_page_with_examples_is_run():
    """A new page with examples is added to PAGES (so it runs); a page that lost its examples is noticed."""
    assert pages_with_examples() == sorted(PAGES)


@pytest.mark.filterwarnings("error:.*separate keywords are deprecated:DeprecationWarning")  # the new spelling only
@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_python_examples_run(page, tmp_path, monkeypatch):
    for module in NEEDS.get(page, []):
        pytest.importorskip(module)
    csv, why = locate_chinchilla_csv()
    if csv is None:
        pytest.skip(why)
    try:
        import matplotlib
    except ImportError:
        pass
    else:
        matplotlib.use("Agg")  # the pages that draw are skipped above without matplotlib
    monkeypatch.setenv("JAXSCALE_CHINCHILLA_CSV", str(csv))
    monkeypatch.chdir(tmp_path)  # the examples write fit/bootstrap files, checkpoints and PNGs
    blocks = python_blocks((REPO / page).read_text())
    assert blocks, f"{page} lost its examples"
    namespace: dict = {}
    laws = dict(js.LAWS)  # a page may register a law of its own: the other tests never see it
    try:
        for number, block in enumerate(blocks):
            try:
                exec(compile(block, f"{page} python block {number}", "exec"), namespace)
            except Exception as err:  # name the block that broke
                raise AssertionError(f"{page} python block {number} failed: {err!r}\n{block}") from err
    finally:
        js.LAWS.clear()
        js.LAWS.update(laws)
    PAGES[page](namespace, tmp_path)
