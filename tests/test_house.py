"""The layering of docs/ARCHITECTURE.md, checked on the source: no import cycle between the project's
modules (function-level imports count: a lazy import hides a cycle from Python, not from a reader),
and ``data_pipelines`` knows no model: it imports nothing from ``fer_jax``."""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("fer_jax", "data_pipelines", "configs", "benchmarks")


def _modules() -> dict[str, str]:
    """Dotted module name -> file, for every .py of the project's packages (tests folders excluded)."""
    found = {}
    for package in PACKAGES:
        for root, dirs, files in os.walk(os.path.join(REPO, package)):
            dirs[:] = [d for d in dirs if d not in ("tests", "__pycache__")]
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(root, name), REPO)[:-3].replace(os.sep, ".")
                    found[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(root, name)
    return found


def _imports(path: str, module: str, known: set[str]) -> set[str]:
    """Project modules imported anywhere in the file (module level or inside functions)."""
    tree = ast.parse(open(path).read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            # `from a.b import c`: module a.b.c if there is one, else a name defined in a.b
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` of a non-project or nested name
                name = name.rpartition(".")[0]
            if name and name != module:
                out.add(name)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(f, m, known) for m, f in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph = _graph()
    assert len(graph) > 50 and "fer_jax.train.trainer" in graph  # the scan saw the project
    assert _cycles(graph) == []


def test_cycle_detection_sees_function_level_imports(tmp_path):
    """The checker itself: a cycle closed by an import inside a function is found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from fer_jax.train import trainer\n")
    assert _imports(str(src), "fer_jax.evaluate.runner", {"fer_jax.train.trainer", "fer_jax.train"}) == {
        "fer_jax.train.trainer"}


@pytest.mark.parametrize("layer", ["data_pipelines"])
def test_data_pipelines_import_nothing_from_fer_jax(layer):
    offenders = {m: sorted(d for d in deps if d.split(".")[0] == "fer_jax")
                 for m, deps in _graph().items() if m.split(".")[0] == layer}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_test_file_names_are_unique():
    """Test folders have no __init__.py, so pytest imports test files by basename: two test_x.py in
    different folders break collection ("import file mismatch")."""
    names: dict[str, list[str]] = {}
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("__pycache__", "node_modules")]
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                names.setdefault(name, []).append(os.path.relpath(os.path.join(root, name), REPO))
    assert {n: p for n, p in names.items() if len(p) > 1} == {}
