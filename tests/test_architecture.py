"""The layering of docs/architecture.md, enforced on the real import graph.

Every `import` and `from ... import` of every module is read from its source,
function-local ones included, and resolved through the package mapping of
pyproject.toml (`snnc.compiler` is the folder `compiler/`, ...). Each module
belongs to one layer; a module may import its own layer and the layers before
it, never one after it, and no module takes part in an import cycle.
"""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module's layer is the first pattern (a regex on its dotted name) that matches.
LAYERS = [
    ("base", [r"snnc\.(errors|io|args)"]),
    ("train", [r"snnc\.train(\..*)?"]),
    ("ir", [r"snnc\.compiler\.ir(\..*)?"]),
    ("target specs", [r"snnc\.targets(\.(base|registry|kernel))?",
                      r"snnc\.targets\.\w+(\.(lif|iaf|arithmetic|spec|lava_layers|xylo_graph|float_form|conv|resources))?"]),
    ("runtime", [r"snnc\.runtime(\..*)?"]),
    ("passes", [r"snnc\.compiler\.passes(\..*)?"]),
    ("target passes", [r"snnc\.targets\.\w+\.(passes|quantise\w*|layout|flow)"]),
    ("pipeline", [r"snnc\.compiler(\..*)?", r"snnc\.targets\.\w+\.onnx_kind"]),
    ("executors", [r"snnc\.targets\.\w+\.\w+"]),
    ("evaluation", [r"snnc\.evaluation(\..*)?"]),
    ("cli", [r"snnc\.cli(\..*)?", r"snnc"]),
]


def package_dirs() -> dict[str, Path]:
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {pkg: ROOT / folder for pkg, folder in conf["tool"]["setuptools"]["package-dir"].items()}


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of every mapped package."""
    dirs = package_dirs()
    found = {}
    for pkg, folder in dirs.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("").parts
            if any(path.is_relative_to(other) for other in dirs.values() if other != folder
                   and other.is_relative_to(folder)):
                continue   # a folder mapped to a package of its own
            parts = rel[:-1] if rel[-1] == "__init__" else rel
            found[".".join((pkg, *parts))] = path
    return found


def imports(name: str, path: Path, known: dict) -> set[str]:
    """The snnc modules `name` imports anywhere in its source (function-local imports too)."""
    def owner(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(owner(a.name) for a in node.names if a.name.startswith("snnc"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            if base == "snnc" or base.startswith("snnc."):
                for a in node.names:
                    full = f"{base}.{a.name}"
                    out.add(full if full in known else owner(base))
    out.discard(None)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer_of(name: str) -> int:
    for rank, (_, patterns) in enumerate(LAYERS):
        if any(re.fullmatch(p, name) for p in patterns):
            return rank
    raise AssertionError(f"module {name} belongs to no layer of tests/test_architecture.py")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(root):
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_has_a_layer():
    for name in modules():
        layer_of(name)


def test_no_module_imports_a_later_layer():
    graph = import_graph()
    upward = sorted(f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
                    for m, deps in graph.items() for d in deps if layer_of(d) > layer_of(m))
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_checker_sees_function_local_imports_and_cycles():
    graph = import_graph()
    assert "snnc.compiler.ir.graph" in graph["snnc.compiler.ir.serialize"]   # a module-level import
    assert "snnc.evaluation.compiled" in graph["snnc.cli.compile"]           # a function-local one
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
