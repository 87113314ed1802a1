"""The documentation: every public name has a reference page, the guide owns its text, and the
Sphinx build passes with warnings as errors (when Sphinx and myst-nb are installed: ``pip install ".[docs]"``)."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import jaxscale

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def load_apigen():
    spec = importlib.util.spec_from_file_location("jaxscale_docs_apigen", DOCS / "apigen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_is_in_the_generated_reference(tmp_path):
    report = load_apigen().generate(tmp_path)
    index = (tmp_path / "index.rst").read_text()
    listed = set(re.findall(r"^   (\w+)$", index, flags=re.M)) | set(re.findall(r":doc:`(\w+) <", index))
    for name in jaxscale.__all__:
        page = tmp_path / f"{name}.rst"
        assert page.is_file(), f"no reference page for jaxscale.{name}"
        assert f"jaxscale.{name}\n" in page.read_text()
        assert name in listed, f"jaxscale.{name} is missing from the reference index"
    assert report["missing"] == [], f"public names without documentation: {report['missing']}"


def test_an_undocumented_public_name_is_reported(tmp_path, monkeypatch):
    """The check above can fail: a new public constant without a '#:' comment is reported by name."""
    monkeypatch.setattr(jaxscale, "UNDOCUMENTED_FOR_TEST", (1, 2), raising=False)
    monkeypatch.setattr(jaxscale, "__all__", [*jaxscale.__all__, "UNDOCUMENTED_FOR_TEST"])
    report = load_apigen().generate(tmp_path)
    assert report["missing"] == ["UNDOCUMENTED_FOR_TEST"]
    assert (tmp_path / "UNDOCUMENTED_FOR_TEST.rst").is_file()


def test_the_docs_own_their_text():
    """The guide holds its text itself (the README is a landing page that links to it): no page includes README.md,
    and every page of the guide's table of contents exists and has more than a title."""
    pages = [page for page in DOCS.rglob("*.md") if "_build" not in page.parts]
    includes = [str(page.relative_to(REPO)) for page in pages if re.search(r"\{include\}[^\n]*README", page.read_text())]
    assert includes == []
    toc = re.search(r"```\{toctree\}\n(.*?)```", (DOCS / "guide" / "index.md").read_text(), flags=re.S).group(1)
    names = [line for line in toc.splitlines() if line and not line.startswith(":")]
    assert len(names) >= 12
    for name in names:
        text = (DOCS / "guide" / f"{name}.md").read_text()
        assert len(text) > 1000 and text.count("\n\n") >= 2, f"docs/guide/{name}.md has no content"


def test_docs_build_with_warnings_as_errors(tmp_path):
    missing = [name for name in ("sphinx", "myst_nb") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install '.[docs]' to build the docs in the tests")
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
                         capture_output=True, text=True, timeout=900, cwd=REPO)
    assert out.returncode == 0, out.stderr[-6000:]
    assert (tmp_path / "html" / "api" / "fit.html").is_file()


def test_landing_page_example_is_made_of_executed_readme_lines():
    """docs/index.md's example is not run by itself: each of its statements must be one that
    tests/test_readme.py runs (a README python block) or tests/test_guide_examples.py runs (a python block of
    a guide page), so it cannot drift from working code."""
    def statements(text: str) -> list[str]:
        code = re.findall(r"```python\n(.*?)```", text, flags=re.S)
        return [line.split("  #")[0].strip() for block in code for line in block.splitlines()
                if line.strip() and not line.strip().startswith("#")]

    executed = {REPO / "README.md", DOCS / "getting_started.md", *(DOCS / "guide").glob("*.md")}
    readme = set(statements("\n".join(page.read_text() for page in executed)))
    landing = statements((DOCS / "index.md").read_text())
    assert landing, "the landing page lost its example"
    assert [line for line in landing if line not in readme] == []
