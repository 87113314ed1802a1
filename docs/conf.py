"""Sphinx configuration of jaxscale's documentation.

Build (from the repository root)::

    pip install ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

The API reference (``docs/api/``) is written from ``jaxscale.__all__`` by :mod:`apigen` at every
build, and the notebooks are copied from ``notebooks/`` into ``docs/notebooks/``; both folders are
generated (git-ignored). Notebooks are shown as committed (code, no outputs) unless
``JAXSCALE_DOCS_EXECUTE`` asks myst-nb to run them: ``cache`` (run once, kept in
``docs/_build/.jupyter_cache``), ``force`` or ``auto``. Executed pages use the small settings of the
test suite (``JAXSCALE_NOTEBOOK_SMALL=1``) unless ``JAXSCALE_NOTEBOOK_SMALL=0`` is set.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(ROOT))  # document this checkout, even next to an installed jaxscale
os.environ.setdefault("JAXSCALE_CPU_DEVICES", "1")  # importing jaxscale to read docstrings needs no cores

import apigen  # noqa: E402
import jaxscale  # noqa: E402

project = "jaxscale"
author = "the jaxscale developers"
copyright = "2026, the jaxscale developers"
release = jaxscale.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",  # Markdown pages and notebooks (brings myst_parser)
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "img/README.md"]
templates_path: list[str] = []

# ---------------------------------------------------------------- autodoc / napoleon (NumPy docstrings)
autosummary_generate = False  # apigen writes the pages; autosummary only draws the summary tables
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True  # show `delta=1e-3`, not the evaluated object
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = False

# ---------------------------------------------------------------- MyST / notebooks
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("JAXSCALE_DOCS_EXECUTE", "off")
nb_execution_timeout = 1800
nb_execution_raise_on_error = True
nb_execution_in_temp = True  # notebooks that save files write them to a temporary folder, not into docs/
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
if nb_execution_mode != "off":
    os.environ.setdefault("JAXSCALE_NOTEBOOK_SMALL", "1")  # (no MPLBACKEND: the kernel's inline backend shows figures)

# ---------------------------------------------------------------- HTML
try:
    import pydata_sphinx_theme  # noqa: F401

    html_theme = "pydata_sphinx_theme"
    html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
except ImportError:  # plain Sphinx still builds
    html_theme = "alabaster"
html_title = f"jaxscale {release}"
html_static_path: list[str] = []


def _copy_notebooks() -> None:
    """notebooks/*.ipynb -> docs/notebooks/ (only changed files, so Sphinx and the cache keep the rest)."""
    target = DOCS / "notebooks"
    target.mkdir(exist_ok=True)
    sources = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for source in sources:
        copy = target / source.name
        if not copy.exists() or copy.read_bytes() != source.read_bytes():
            shutil.copyfile(source, copy)
    for stale in set(p.name for p in target.glob("*.ipynb")) - {s.name for s in sources}:
        (target / stale).unlink()
    readme = (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8").split("\n", 1)[1]
    index = ("# Notebooks\n\n```{toctree}\n:maxdepth: 1\n\n" + "".join(f"{s.stem}\n" for s in sources) + "```\n"
             + readme)
    if not (target / "index.md").exists() or (target / "index.md").read_text(encoding="utf-8") != index:
        (target / "index.md").write_text(index, encoding="utf-8")


def _report_undocumented(app, missing: list[str]) -> None:
    from sphinx.util import logging

    for name in missing:
        logging.getLogger(__name__).warning(
            f"jaxscale.{name} is public (in __all__) but has no documentation: add a docstring, or a '#:' comment "
            f"above its definition", type="jaxscale", subtype="undocumented")


def setup(app):
    generated = apigen.generate(DOCS / "api")
    _copy_notebooks()
    app.connect("builder-inited", lambda app: _report_undocumented(app, generated["missing"]))
