"""The wheel: `python -m build` makes one that installs and runs outside the checkout, with its console script and
its package data, reading nothing from a source tree."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import needs_fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@needs_fashion_mnist
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    dist, prefix, work = tmp_path / "dist", tmp_path / "prefix", tmp_path / "elsewhere"
    work.mkdir()
    # --no-isolation: build with the setuptools already installed (the build machine may be offline)
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(ROOT)],
                   check=True, capture_output=True, text=True, timeout=300)
    wheel = next(dist.glob("ctslib-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "ctslib/report/reference/authors_results.csv" in names  # package data
    assert not any(n.startswith(("tests/", "notebooks/", "results/", "benchmarks/")) for n in names)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(prefix),
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("CTS_RESULTS", "CTS_STORE")}
    env.update(PYTHONPATH=str(prefix), CTS_STORE=str(tmp_path / "store"), CTS_THREADS="1")
    probe = ("import ctslib, ctslib.runs.archive as a, ctslib.report.reference as r; "
             "print(ctslib.__file__); print(a.IN_CHECKOUT, len(a.default_archives())); "
             "print(len(r.authors_results()))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=work, env=env, check=True, capture_output=True,
                         text=True, timeout=300).stdout.split()
    assert out[0].startswith(str(prefix)) and out[1:3] == ["False", "0"] and int(out[3]) > 100
    script = prefix / "bin" / "ctslib"
    run = subprocess.run([str(script), "run", "--preset", "smoke", "--method", "random", "--density", "0.1",
                          "--no-store"], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "test accuracy: top-1" in run.stdout
