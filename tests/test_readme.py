"""The README's commands run: its command-line lines (the sweep as a dry run: the real one is many minutes of
compute) and its Python quickstart (with fewer search steps and one epoch: the same calls, in seconds)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import needs_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def block(heading: str, language: str) -> str:
    """The first fenced `language` block under `heading`."""
    section = README.split(heading, 1)[1]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def test_the_readme_is_one_screen_and_says_its_two_commands():
    assert len(README.splitlines()) <= 150
    commands = block("## The two commands", "bash")
    assert commands.splitlines()[0].startswith("make run") and commands.splitlines()[1].startswith("make test")


@needs_fashion_mnist
def test_the_command_lines_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CTS_STORE", str(tmp_path / "store"))
    lines = [line.split("#", 1)[0].strip() for line in block("## From the command line", "bash").splitlines()]
    assert len(lines) == 3
    for line in filter(None, lines):
        argv = shlex.split(line)
        assert argv[0] == "ctslib"
        if argv[1] == "sweep":
            argv.append("--dry-run")
        proc = subprocess.run([sys.executable, "-m", "ctslib", *argv[1:]], capture_output=True, text=True, cwd=ROOT,
                              timeout=300)
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-2000:]}"
        assert proc.stdout.strip(), line


@pytest.mark.slow
@needs_fashion_mnist
def test_the_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CTS_STORE", str(tmp_path / "store"))
    code = block("## Quickstart", "python")
    small = code.replace("steps=1500", "steps=20").replace("epochs=20", "epochs=1")
    assert small != code
    proc = subprocess.run([sys.executable, "-c", small], capture_output=True, text=True, cwd=tmp_path, timeout=600,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "top1" in proc.stdout
