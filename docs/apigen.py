"""Write the API reference pages from ``jaxscale.__all__`` (run by ``conf.py`` at every build).

Every public name gets a page (``api/<name>.rst``) and a line in ``api/index.rst``, grouped by
kind: functions, classes, modules and data. A name added to ``__all__`` appears in the next build
without touching the docs. Data (constants, registries, law instances) have no docstring of their
own: their text comes from the ``#:`` comment above their definition in the package, else from a
law's ``description``; a public name with no text at all is reported (``missing``), and ``conf.py``
turns that into a build warning, so ``sphinx-build -W`` fails until it is documented.

Needs only jaxscale (no Sphinx): ``tests/test_docs.py`` checks the pages without building them.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

KINDS = ("Functions", "Classes", "Modules", "Data")
INTRO = """API reference
=============

Every public name of ``jaxscale`` (``jaxscale.__all__``), written from the docstrings when these
pages are built. ``import jaxscale as js`` gives all of them (``js.fit``, ``js.Law``, ...).
Plotting lives in :doc:`jaxscale.plot <plot>` (needs matplotlib).

.. currentmodule:: jaxscale
"""


def kind_of(obj) -> str:
    if inspect.ismodule(obj):
        return "Modules"
    if inspect.isclass(obj):
        return "Classes"
    if callable(obj) and not hasattr(obj, "log_predict"):  # a Law instance is data, not a function
        return "Functions"
    return "Data"


def _comment_doc(path: Path, name: str) -> str | None:
    """The ``#:`` comment lines right above ``name = ...`` / ``name: T = ...`` at column 0 of ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    pattern = re.compile(rf"^{re.escape(name)}\s*(:|=)")
    for number, line in enumerate(lines):
        if pattern.match(line):
            doc = []
            for above in reversed(lines[:number]):
                if not above.startswith("#:"):
                    break
                doc.insert(0, above[2:].strip())
            if doc:
                return " ".join(doc)
    return None


def data_doc(package, name: str, obj) -> str | None:
    """Text for a public data name: its ``#:`` comment where it is defined, else a law's description."""
    if name == "__version__":
        return "The installed version of jaxscale (a :pep:`440` string, e.g. ``'0.1.0'``)."
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith(".plot") or info.name.endswith("__main__") or info.name.endswith(".cli"):
            continue
        module = importlib.import_module(info.name)
        if getattr(module, name, None) is obj and getattr(module, "__file__", None):
            doc = _comment_doc(Path(module.__file__), name)
            if doc:
                return doc
    description = getattr(obj, "description", None)
    if isinstance(description, str) and description and hasattr(obj, "log_predict"):
        return (f"The built-in law ``{obj.name}`` (a :class:`jaxscale.Law`): {description}. Parameters "
                f"``{', '.join(obj.natural_names)}``; inputs ``{', '.join(obj.inputs)}``.")
    return None


def _page(name: str, obj, kind: str, doc: str | None) -> str:
    title = f"jaxscale.{name}"
    head = f"{title}\n{'=' * len(title)}\n\n.. currentmodule:: jaxscale\n\n"
    if kind == "Functions":
        return head + f".. autofunction:: {name}\n"
    if kind == "Classes":
        return head + f".. autoclass:: {name}\n   :members:\n   :show-inheritance:\n"
    if kind == "Modules":  # documented under its real name (jaxscale.datasets is jaxscale.api.datasets)
        return head + f"``jaxscale.{name}`` is :mod:`{obj.__name__}`.\n\n.. automodule:: {obj.__name__}\n   :members:\n"
    text = doc or ""
    return head + f".. py:data:: {name}\n   :type: {type(obj).__name__}\n\n   {text}\n"


def _summary(obj, doc: str | None) -> str:
    text = doc if doc is not None else (inspect.getdoc(obj) or "")
    return " ".join(text.strip().split("\n\n")[0].split())


def generate(out: str | Path) -> dict:
    """Write ``out/index.rst`` and one page per public name; return ``{"names": [...], "missing": [...]}``.

    ``missing`` lists the public names with no documentation at all (no docstring, no ``#:`` comment).
    """
    import jaxscale

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[str, list] = {kind: [] for kind in KINDS}
    missing = []
    pages = {}
    for name in jaxscale.__all__:
        obj = getattr(jaxscale, name)
        kind = kind_of(obj)
        doc = data_doc(jaxscale, name, obj) if kind == "Data" else None
        if not (doc if kind == "Data" else inspect.getdoc(obj)):
            missing.append(name)
        groups[kind].append((name, obj, doc))
        pages[f"{name}.rst"] = _page(name, obj, kind, doc)
    pages["plot.rst"] = ("jaxscale.plot\n=============\n\nFigures (``pip install 'jaxscale[plot]'``); imported on first "
                         "use of ``js.plot``.\n\n.. automodule:: jaxscale.plot\n   :members:\n")
    index = [INTRO]
    for kind in KINDS:
        if not groups[kind]:
            continue
        index.append(f"\n{kind}\n{'-' * len(kind)}\n")
        if kind in ("Functions", "Classes"):
            index.append(".. autosummary::\n\n" + "".join(f"   {name}\n" for name, _, _ in groups[kind]))
        else:
            index.append(".. list-table::\n   :widths: 25 75\n\n" + "".join(
                f"   * - :doc:`{name} <{name}>`\n     - {_summary(obj, doc)}\n" for name, obj, doc in groups[kind]))
    index.append("\n.. toctree::\n   :hidden:\n\n" + "".join(f"   {page[:-4]}\n" for page in pages))
    pages["index.rst"] = "".join(index)
    for page, text in pages.items():
        path = out / page
        if not path.exists() or path.read_text(encoding="utf-8") != text:  # unchanged pages keep Sphinx's cache
            path.write_text(text, encoding="utf-8")
    for stale in set(p.name for p in out.glob("*.rst")) - set(pages):
        (out / stale).unlink()
    return {"names": list(jaxscale.__all__), "missing": missing}
