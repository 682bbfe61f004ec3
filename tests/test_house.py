"""The layering of docs/ARCHITECTURE.md, checked on the source (function-level imports count: a lazy
import hides a cycle from Python, not from a reader):

* no import cycle between modules, nor between packages (``fer_jax.train`` -> ``fer_jax.evaluate`` ->
  ``fer_jax.train`` is a cycle even when no single module closes it);
* arrows point down the layers of :data:`LAYERS`: ``core`` imports none of fer_jax; models, serving and
  evaluate import ``core`` (and models) but never ``train``; only methods, configs (experiments, above
  the methods) and commands import ``train``;
* only commands and benchmarks read ``configs`` (a method or the trainer never imports an experiment);
* ``data_pipelines`` knows no model: it imports nothing from ``fer_jax``."""

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


# Package -> layer. An import must point to a lower layer; within a layer only the methods may import each
# other (IFER builds on StyleGAN2, the rgb baseline on MI-FER's trunk), and cycles are caught apart.
LAYERS = {
    "data_pipelines": 0,
    "fer_jax": 1, "fer_jax.core": 1, "fer_jax.testing": 1,
    "fer_jax.models": 2,
    "fer_jax.identity": 3,
    "fer_jax.evaluate": 4, "fer_jax.serving": 4,
    "fer_jax.train": 5,
    "fer_jax.methods": 6,
    "configs": 7,  # experiments: they may write a method's settings sections; commands run them
    "fer_jax.commands": 8,
    "fer_jax.cli": 9,
    "benchmarks": 10,
}


def package_of(module: str) -> str:
    """The package a module belongs to for layering: ``fer_jax.methods.<m>`` per method, ``fer_jax.<part>``
    for the rest of fer_jax, the top-level name for the other trees."""
    parts = module.split(".")
    if parts[0] != "fer_jax" or len(parts) == 1:
        return parts[0]
    if parts[1] == "methods" and len(parts) > 2:
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def layer_of(package: str) -> int:
    if package.startswith("fer_jax.methods"):
        return LAYERS["fer_jax.methods"]
    if package not in LAYERS:
        raise AssertionError(f"package {package} has no layer in tests/test_house.py LAYERS: give it one")
    return LAYERS[package]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        a = package_of(module)
        out.setdefault(a, set()).update(b for b in map(package_of, deps) if b != a)
    return out


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Module imports that point up the layers (or sideways outside the methods), as ``a -> b`` lines."""
    bad = []
    for module, deps in sorted(graph.items()):
        a = package_of(module)
        for dep in sorted(deps):
            b = package_of(dep)
            if a == b:
                continue
            la, lb = layer_of(a), layer_of(b)
            sideways_ok = la == lb == LAYERS["fer_jax.methods"]
            if lb > la or (lb == la and not sideways_ok):
                bad.append(f"{module} -> {dep}")
    return bad


def test_no_import_cycles():
    graph = _graph()
    assert len(graph) > 50 and "fer_jax.train.trainer" in graph  # the scan saw the project
    assert _cycles(graph) == []


def test_no_package_cycles():
    assert _cycles(package_graph(_graph())) == []


def test_imports_point_down_the_layers():
    graph = _graph()
    assert wrong_way(graph) == []
    nothing_imports_train = {package_of(m) for m, deps in graph.items()
                             if any(package_of(d) == "fer_jax.train" for d in deps)} - {"fer_jax.train"}
    # (configs sit above the methods: they may write a section from its dataclass, e.g. train.optim's)
    assert all(p.startswith(("fer_jax.methods.", "fer_jax.commands", "configs", "benchmarks")) for p in nothing_imports_train), (
        nothing_imports_train)
    # configs state experiments; the library runs them but never reads one itself
    readers_of_configs = {package_of(m) for m, deps in graph.items() if any(package_of(d) == "configs" for d in deps)}
    assert readers_of_configs <= {"configs", "fer_jax.commands", "benchmarks"}, readers_of_configs


def test_package_checks_catch_a_loop_and_an_upward_import():
    """The checkers themselves, on the loop the project once had (the trainer runs evaluators, the
    evaluator's runner built iterators with the trainer's data module) and on a model importing the trainer."""
    graph = {"fer_jax.train.trainer": {"fer_jax.evaluate.runner"}, "fer_jax.evaluate.runner": {"fer_jax.train.data"},
             "fer_jax.train.data": set()}
    assert _cycles(graph) == []  # no module-level cycle ...
    assert _cycles(package_graph(graph)) == [["fer_jax.evaluate", "fer_jax.train"]]  # ... but a package one
    assert wrong_way(graph) == ["fer_jax.evaluate.runner -> fer_jax.train.data"]
    for layer in ("fer_jax.models.lpips", "fer_jax.serving.predictor", "fer_jax.evaluate.runner", "fer_jax.core.workdir"):
        assert wrong_way({layer: {"fer_jax.train.trainer"}}) == [f"{layer} -> fer_jax.train.trainer"]
    assert wrong_way({"fer_jax.methods.ifer.method": {"fer_jax.methods.stylegan2.method", "fer_jax.train.optim"}}) == []
    assert wrong_way({"fer_jax.serving.prepare": {"fer_jax.evaluate.metrics"}}) == [
        "fer_jax.serving.prepare -> fer_jax.evaluate.metrics"]


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
