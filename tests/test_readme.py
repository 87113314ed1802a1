"""The README's Python examples run as written, in order, in one namespace (on the real Chinchilla data)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import locate_chinchilla_csv

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.filterwarnings("error:.*separate keywords are deprecated:DeprecationWarning")  # the new spelling only
def test_readme_python_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    csv, why = locate_chinchilla_csv()
    if csv is None:
        pytest.skip(why)
    monkeypatch.setenv("JAXSCALE_CHINCHILLA_CSV", str(csv))
    monkeypatch.chdir(tmp_path)  # the examples write fit/bootstrap files and a PNG
    blocks = python_blocks(README.read_text())
    assert len(blocks) >= 6, "the README lost its API examples"
    namespace: dict = {}
    for number, block in enumerate(blocks):
        try:
            exec(compile(block, f"README.md python block {number}", "exec"), namespace)
        except Exception as err:  # name the block that broke
            raise AssertionError(f"README python block {number} failed: {err!r}\n{block}") from err
    assert (tmp_path / "landscape.png").stat().st_size > 10_000
    assert namespace["fit"].objective == pytest.approx(0.00101827401780, abs=1e-12)
    draw0 = namespace["epoch"].draws.iloc[0]
    assert draw0["alpha"] == pytest.approx(0.328633, rel=1e-4) and draw0["A"] == pytest.approx(349.5564, rel=1e-4)
