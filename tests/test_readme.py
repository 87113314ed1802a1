"""The README is a landing page: its Python examples run as written, in order, in one namespace (on the real
Chinchilla data), and it stays small (the user guide, docs/, holds the rest; tests/test_guide_examples.py runs
the guide's examples)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import locate_chinchilla_csv

README = Path(__file__).resolve().parents[1] / "README.md"
MAX_BYTES = 15 * 1024


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_is_a_landing_page_of_at_most_15_kb():
    size = len(README.read_bytes())
    assert size <= MAX_BYTES, (f"README.md is {size} bytes (> {MAX_BYTES}): move the new text into a page of docs/ "
                               f"and link it from the README's user-guide table")


def test_readme_links_to_files_that_exist():
    """The user-guide table's relative links (read on GitHub) point at files of the repository."""
    links = re.findall(r"\]\(((?!https?:)[^)#\s]+)\)", README.read_text())
    assert len(links) >= 15, "the README lost its links to the user guide"
    missing = [link for link in links if not (README.parent / link).is_file()]
    assert missing == []


@pytest.mark.filterwarnings("error:.*separate keywords are deprecated:DeprecationWarning")  # the new spelling only
def test_readme_python_examples_run(tmp_path, monkeypatch):
    csv, why = locate_chinchilla_csv()
    if csv is None:
        pytest.skip(why)
    monkeypatch.setenv("JAXSCALE_CHINCHILLA_CSV", str(csv))
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 2, "the README lost its API examples"
    namespace: dict = {}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as err:  # name the block that broke
            raise AssertionError(f"README python block {number} failed: {err!r}\n{block}") from err
    fit, boot = namespace["fit"], namespace["boot"]
    assert fit.objective == pytest.approx(0.00101827401780, abs=1e-12)  # Epoch's reference minimum
    assert fit.params["alpha"] == pytest.approx(0.3473104983, rel=1e-8)
    summary = boot.summary()
    assert len(boot.draws) == 1000 and summary.attrs["n_used"] == 1000
    for name in ("alpha", "beta", "E", "a_opt"):  # the interval is around the full-data estimate, and not a point
        low, high = summary.loc[name, ["ci_low", "ci_high"]]
        assert low < summary.loc[name, "estimate"] < high and high - low > 1e-3
    new_run = boot.predict(N=70e9, D=1.4e12, kind="new_run")
    mean = boot.predict(N=70e9, D=1.4e12)
    assert float(np.ravel(new_run["loss_new_run_low"])[0]) < float(np.ravel(mean["loss_low"])[0])
