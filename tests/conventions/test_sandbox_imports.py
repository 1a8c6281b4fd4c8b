"""The sandbox's modules import without a circle: each one imports alone, and no chain of
module-level imports inside ``mscloud_sandbox`` leads back to where it started (a circle
works or breaks depending on which module is imported first)."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = "mscloud_sandbox"


def module_names():
    """Dotted names of the package's modules (``mscloud_sandbox.graph`` for a package)."""
    names = []
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def _source(name):
    path = ROOT.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _module_level(body):
    """The import statements run when a module is imported: at its top level, also
    inside ``if``/``try``/``with`` there, not inside functions or classes."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def imports_of(name, known):
    """The package's modules that module ``name`` imports at module level."""
    source = _source(name)
    is_package = source.name == "__init__.py"
    found = set()
    for node in _module_level(ast.parse(source.read_text(), str(source)).body):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parent = name.split(".")
                parent = parent[: len(parent) - node.level + (1 if is_package else 0)]
                base = ".".join([*parent, base] if base else parent)
            # ``from . import graph`` imports a module; ``from .graph import url_map`` a name
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in known else base for t in targets]
        found.update(t for t in targets if t in known and t != name)
    return found


def find_cycle(graph):
    """One circle of the graph ({node: set of nodes}) as a list ending where it started,
    or None."""
    state = {}  # node -> "open" while on the current path, "done" after

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target, [*path, target])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [node])
            if cycle:
                return cycle
    return None


def import_graph():
    known = set(module_names())
    return {name: imports_of(name, known) for name in known}


def test_the_import_graph_is_read():
    graph = import_graph()
    assert f"{PACKAGE}.app" in graph
    assert f"{PACKAGE}.unbilled" in graph[f"{PACKAGE}.app"]
    assert f"{PACKAGE}.errors" in graph[f"{PACKAGE}.partner_center"]


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_the_sandbox():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_each_sandbox_module_imports_alone():
    """Each module imported first, in a fresh set of the package's modules."""
    script = (
        "import importlib, sys, traceback\n"
        "failed = []\n"
        f"for name in {module_names()!r}:\n"
        f"    for loaded in [m for m in sys.modules if m.split('.')[0] == {PACKAGE!r}]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception:\n"
        "        failed.append(name + ': ' + traceback.format_exc(limit=-1))\n"
        "print('\\n'.join(failed))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert not done.stdout.strip(), done.stdout
