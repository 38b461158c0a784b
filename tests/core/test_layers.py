"""The architecture, pinned: imports point down only (core <- runs <- report <- cli), and `import ctslib` is light."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ctslib"


def ctslib_imports(path: Path) -> set[str]:
    """The ctslib modules a file imports (at any depth of the file: imports inside functions count too)."""
    tree = ast.parse(path.read_text())
    package = "ctslib." + ".".join(path.relative_to(PACKAGE).parent.parts) if path.parent != PACKAGE else "ctslib"
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("ctslib")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("ctslib"):
                found.add(module)
                found |= {f"{module}.{a.name}" for a in node.names}
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ("runs", "report") else "core"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path):
    if path.name in ("cli.py", "__main__.py"):
        return  # the top: it may use every layer
    own = "report" if "report" in path.parts else "runs" if "runs" in path.parts else "core"
    allowed = {"core": {"core"}, "runs": {"core", "runs"}, "report": {"core", "runs", "report"}}[own]
    wrong = sorted(m for m in ctslib_imports(path) if layer(m) not in allowed and m != "ctslib.cli")
    assert not wrong, f"{path.relative_to(PACKAGE)} ({own}) imports {wrong}"


def test_import_ctslib_is_light():
    code = ("import sys, time; t = time.perf_counter(); import ctslib; dt = time.perf_counter() - t; "
            "print(dt, sorted(m for m in ('torch', 'pandas', 'matplotlib', 'ipywidgets') if m in sys.modules))")
    seconds, heavy = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    cwd=PACKAGE.parent).stdout.split(" ", 1)
    assert heavy.strip() == "[]" and float(seconds) < 0.5
    # and the public names load on first use
    out = subprocess.run([sys.executable, "-c", "import ctslib; print(ctslib.Ticket.__module__, "
                          "ctslib.RunStore.__module__, ctslib.search.__module__)"],
                         capture_output=True, text=True, check=True, cwd=PACKAGE.parent).stdout.split()
    assert out == ["ctslib.tickets", "ctslib.runs.store", "ctslib.cts"]


def module_name(path: Path) -> str:
    parts = ("ctslib", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph() -> dict[str, set[str]]:
    """Each ctslib module and the ctslib modules it imports (at any depth of the file). `from pkg import name`
    points at the module pkg.name where that is a module, else at pkg."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in ctslib_imports(path):
            if imported in modules:
                targets.add(imported)
            elif imported.rpartition(".")[0] in modules:
                targets.add(imported.rpartition(".")[0])
        # `from pkg import module` also lists pkg itself: keep the module, not its package
        packages = {t for t in targets if any(o.startswith(t + ".") for o in targets) and
                    modules[t].name == "__init__.py"}
        graph[name] = targets - packages - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles: strongly connected groups of more than one module (Tarjan)."""
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
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back():
    """No two modules import each other, directly or round a circle (imports inside functions count: a circle
    hidden in a function is still a circle)."""
    found = cycles(module_graph())
    assert not found, f"import cycles: {found}"
