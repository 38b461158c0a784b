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
