"""Every notebook in notebooks/ runs top to bottom (small settings) and is committed with outputs cleared."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import JIT_CACHE, locate_chinchilla_csv

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
NEEDS_CHINCHILLA = {"02_replicate_chinchilla", "03_uncertainty_at_scale", "04_many_laws", "05_decisions"}


def test_all_notebooks_present():
    assert [p.stem for p in NOTEBOOKS] == ["01_quickstart", "02_replicate_chinchilla", "03_uncertainty_at_scale",
                                           "04_many_laws", "05_decisions", "06_curves_and_arms"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code"
    assert all(not cell.outputs and cell.execution_count is None for cell in code), \
        f"{path.name}: clear the outputs before committing (jupyter nbconvert --clear-output --inplace)"


# The three longest notebooks run only with `-m slow` (30-60 s each on 2 cores): their calls run in the default
# suite through the guide pages (tests/test_guide_examples.py: the decisions page) and the unit tests of
# compare_laws/laws (test_compare, test_laws) and curves/arms (test_curves, test_arms).
SLOW = {"04_many_laws", "05_decisions", "06_curves_and_arms"}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW else p
                                  for p in NOTEBOOKS], ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path, monkeypatch):
    if path.stem in NEEDS_CHINCHILLA:
        csv, why = locate_chinchilla_csv()
        if csv is None:
            pytest.skip(why)
        monkeypatch.setenv("JAXSCALE_CHINCHILLA_CSV", str(csv))
    monkeypatch.setenv("JAXSCALE_NOTEBOOK_SMALL", "1")
    for name, value in JIT_CACHE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError (with the cell and traceback) on any error
    errors = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
    old_spelling = [out.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs
                    if "separate keywords are deprecated" in out.get("text", "")]
    assert not old_spelling, f"{path.name} uses the former spelling: {old_spelling[0]}"
    nbformat.write(notebook, tmp_path / path.name)  # executed copy, for inspection on failure
