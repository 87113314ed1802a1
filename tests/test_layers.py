"""The layers import one way: kernels <- engine <- api <- (plot, cli).

Every ``import`` statement of every module (top level and inside functions) is read with ``ast``
and resolved to the jaxscale module it names; a module may only import its own layer or lower
ones. This is what keeps the api free of plotting (matplotlib stays optional) and keeps cycles
such as api -> plot -> api out.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jaxscale"

#: Rank of each layer: a module may import modules of equal or lower rank only.
RANK = {"kernels": 0, "engine": 1, "api": 2, "plot": 3, "cli": 4, "__main__": 5}


def layer_of(dotted: str) -> str | None:
    """``jaxscale.api.fit`` -> ``api``; ``jaxscale`` itself (the package namespace) -> None."""
    parts = dotted.split(".")
    if parts[0] != "jaxscale" or len(parts) < 2:
        return None
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def absolute_target(node: ast.ImportFrom, package: str) -> str:
    """The absolute dotted module of ``from <module> import ...`` written in ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imported_modules(source: str, name: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute dotted name) of every jaxscale module that module ``name`` imports."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.startswith("jaxscale")]
        elif isinstance(node, ast.ImportFrom):
            target = absolute_target(node, package)
            if not target.startswith("jaxscale"):
                continue
            if node.module is None:  # ``from .. import plot``: the names are modules
                found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return found


def upward_imports(source: str, name: str, is_package: bool = False) -> list[str]:
    """Imports of module ``name`` that name a higher layer than its own."""
    own = layer_of(name)
    problems = []
    for line, target in imported_modules(source, name, is_package):
        other = layer_of(target)
        if own in RANK and other in RANK and RANK[other] > RANK[own]:
            problems.append(f"line {line}: {target} ({other}) is above {own}")
    return problems


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if module_name(p) != "jaxscale")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_module_imports_only_its_layer_or_lower(path):
    problems = upward_imports(path.read_text(), module_name(path), path.name == "__init__.py")
    assert not problems, f"{module_name(path)} imports upwards:\n" + "\n".join(problems)


def test_the_rule_catches_upward_imports():
    """The checker itself: an api module importing plot or the CLI is reported, a kernel importing the
    engine too, while downward imports pass (so the test above can fail)."""
    source = "from .. import plot\nfrom ..cli import main\nimport jaxscale.plot\nfrom ..engine import batching\n"
    problems = upward_imports(source, "jaxscale.api.fit")
    assert len(problems) == 3 and "plot" in problems[0] and "cli" in problems[1]
    assert upward_imports("from ...engine.batching import default_lanes\n", "jaxscale.kernels.laws.base")
    assert not upward_imports("from ..kernels.laws import get_law\n", "jaxscale.engine.queue")


def test_cli_and_plot_are_not_imported_by_the_library_modules():
    """``import jaxscale`` must not pull in the CLI or matplotlib-backed plotting."""
    import subprocess
    import sys

    code = "import sys, jaxscale; print(sorted(m for m in sys.modules if m in ('jaxscale.cli', 'jaxscale.plot', 'matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__('os').environ, "JAXSCALE_CPU_DEVICES": "1"})
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------- no import cycles, at any depth
def resolve_import(target: str, names: list[str], modules) -> list[str]:
    """``from target import a, b``: the submodules ``target.a`` when they are modules, else ``target`` itself."""
    return [f"{target}.{alias}" if f"{target}.{alias}" in modules else target for alias in names]


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module -> the jaxscale modules it names in ANY import statement (top level or inside a function).

    ``from .x import y`` points at ``x.y`` when that is a module, else at ``x``; ``from .. import
    __version__`` points at the package ``jaxscale`` itself (whose ``__init__`` imports the api).
    Parent packages Python initialises on the way are not edges (they are not what the code names).
    """
    graph = {}
    for name, (source, is_package) in sources.items():
        package = name if is_package else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.split(".")[0] == "jaxscale"}
            elif isinstance(node, ast.ImportFrom):
                target = absolute_target(node, package)
                if target.split(".")[0] == "jaxscale":
                    edges |= set(resolve_import(target, [a.name for a in node.names], sources))
        graph[name] = {e for e in edges if e != name and e in sources}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def package_sources() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(), p.name == "__init__.py") for p in PACKAGE.rglob("*.py")}


def test_no_import_cycle_among_jaxscale_modules():
    """No strongly connected component in the graph of ALL imports between jaxscale modules (function-level
    imports included: an import hidden in a function is still a dependency, and a cycle through it is a
    design knot even when Python happens to resolve it at run time)."""
    found = cycles(import_graph(package_sources()))
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_cycle_check_can_fail():
    """A function-level import closing a loop is found; a one-way chain is not."""
    sources = {"jaxscale.api.a": ("from .b import f\n", False),
               "jaxscale.api.b": ("def f():\n    from .c import g\n", False),
               "jaxscale.api.c": ("def g():\n    from . import a\n", False),
               "jaxscale.api.d": ("from .a import f\n", False)}
    assert cycles(import_graph(sources)) == [["jaxscale.api.a", "jaxscale.api.b", "jaxscale.api.c"]]
    del sources["jaxscale.api.c"]
    assert cycles(import_graph(sources)) == []
