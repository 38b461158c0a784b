"""Shared by tests/report/test_book.py and tests/report/test_notebooks.py: one build of the book at the smoke scale per test
session, reused by both. As `scripts/build_book.sh` does, the runs are computed first into a private run store
(`python -m ctslib book --scale smoke`), then `jupyter-book build` executes every notebook of the book,
each reading its runs from that store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ctslib import cli

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK_SECONDS = 60      # each notebook at the smoke scale, cold store included
BUILD_TIMEOUT = 900


@dataclass
class SmokeBook:
    html: Path                  # <out>/_build/html
    executed: Path              # <out>/_build/jupyter_execute/notebooks (the executed notebooks)
    log: str
    returncode: int
    seconds: float
    store: Path
    notebook_seconds: dict      # notebook name -> execution seconds reported by myst-nb
    precompute_seconds: float   # python -m ctslib book --scale smoke, before the build

    def check_built(self) -> None:
        if self.returncode != 0:
            pytest.fail(f"jupyter-book build failed (exit {self.returncode}):\n{self.log[-6000:]}")


def smoke_env(store: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CTS_SCALE="smoke", CTS_STORE=str(store), TQDM_DISABLE="1", PYTHONPATH=str(ROOT) + os.pathsep +
               env.get("PYTHONPATH", ""))
    return env


def build_smoke_book(tmp_path_factory) -> SmokeBook:
    """Build the book at the smoke scale (the runs go into a private store); conftest's session fixture `book`
    calls this once."""
    base = tmp_path_factory.getbasetemp()
    out, store = base / "smoke-book", base / "smoke-store"
    # as scripts/build_book.sh: every run first (python -m ctslib book), then the book, whose notebooks
    # read the runs from the store
    start = time.perf_counter()
    assert cli.main(["book", "--scale", "smoke", "--store", str(store)]) == 0
    precompute_seconds = time.perf_counter() - start
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(ROOT / "book"), "--path-output", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=smoke_env(store), capture_output=True, text=True,
                          timeout=BUILD_TIMEOUT)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # no colour codes
    times = {Path(m.group(1)).stem: float(m.group(2))
             for m in re.finditer(r"(\S+\.ipynb): Executed notebook in ([0-9.]+) seconds", log)}
    book = SmokeBook(out / "_build" / "html", out / "_build" / "jupyter_execute" / "notebooks", log,
                     proc.returncode, seconds, store, times, precompute_seconds)
    return book


def toc_files() -> list[str]:
    """The book's pages, as in _toc.yml (paths without suffix, relative to book/)."""
    return re.findall(r"(?:root|file):\s*(\S+)", (ROOT / "_toc.yml").read_text())
