"""Every notebook runs at the smoke scale (`CTS_SCALE=smoke`, a private `CTS_STORE`) within 60 seconds and
shows what it should.

The book's notebooks are executed by the book's own build (tests/book_helpers.py, shared with
tests/report/test_book.py: jupyter-book runs each notebook with nbclient, timing it), and their outputs checked;
then the notebooks the book does not execute (the live mask explorer) run under `pytest --nbmake` on the same
store (`CTS_SCALE=smoke pytest --nbmake notebooks/` runs them all by hand). One notebook is also run through papermill with
parameters, as `papermill notebooks/fig4.ipynb out.ipynb -p model resnet20` would.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from book_helpers import NOTEBOOK_SECONDS, NOTEBOOKS, ROOT, smoke_env, toc_files
from helpers import needs_fashion_mnist

pytestmark = [needs_fashion_mnist, pytest.mark.slow, pytest.mark.xdist_group("book")]  # one build per run

IN_BOOK = sorted(Path(p).name for p in toc_files() if p.startswith("notebooks/"))
ALL = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
# what each notebook must show (an output of this MIME type)
EXPECTED = {**{f"fig{i}": "image/png" for i in range(1, 9)}, "explorer": "text/html", "table1": "text/html",
            "table2": "text/html", "claims": "text/html", "benchmarks": "text/markdown",
            "resnet20": "image/png", "vit": "image/png"}


def outputs(nb) -> list[dict]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def check_outputs(name: str, nb) -> None:
    errors = [o for o in outputs(nb) if o.get("output_type") == "error"]
    assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    kinds = {k for o in outputs(nb) for k in o.get("data", {})}
    if name in EXPECTED:
        assert EXPECTED[name] in kinds, f"{name} shows no {EXPECTED[name]} (it shows {sorted(kinds)})"


def test_every_notebook_is_covered():
    assert set(IN_BOOK) <= set(ALL), f"_toc.yml names notebooks that do not exist: {set(IN_BOOK) - set(ALL)}"
    for name in ALL:
        nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
        assert not outputs(nb), f"{name}.ipynb is stored with outputs; clear them (the book executes it)"
        if name.startswith(("fig", "table")):
            params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
            assert len(params) == 1, f"{name} needs one cell tagged 'parameters'"
            for field in ("model", "dataset", "scale", "densities", "seeds"):
                assert f"\n{field} = " in "\n" + params[0].source, f"{name}'s parameters cell lacks {field}"
            assert 'os.environ.get("CTS_SCALE", "cpu")' in params[0].source


@pytest.mark.parametrize("name", IN_BOOK)
def test_book_notebook_runs_at_smoke_scale(book, name):
    executed = book.executed / f"{name}.ipynb"
    assert executed.is_file(), f"the book build did not execute {name}"
    check_outputs(name, nbformat.read(executed, as_version=4))
    seconds = book.notebook_seconds.get(name)
    assert seconds is not None, f"no execution time for {name} in the build log"
    assert seconds <= NOTEBOOK_SECONDS, f"{name} took {seconds:.0f} s at the smoke scale (limit {NOTEBOOK_SECONDS} s)"


NOT_IN_BOOK = sorted(set(ALL) - {Path(n).stem for n in IN_BOOK})  # the live mask explorer


def test_every_notebook_runs_under_nbmake(book):
    """`pytest --nbmake` at the smoke scale, each notebook within NOTEBOOK_SECONDS, over the notebooks the book does
    not execute (the live mask explorer): the book's own build has executed every other one with nbclient, the
    engine nbmake drives, and `test_book_notebook_runs_at_smoke_scale` checked their outputs and times; running them
    a second time would repeat that (`CTS_SCALE=smoke pytest --nbmake notebooks/` runs them all by hand)."""
    assert NOT_IN_BOOK, "every notebook is in the book: nothing left for nbmake to run"
    env = smoke_env(book.store)
    paths = [str(NOTEBOOKS / f"{name}.ipynb") for name in NOT_IN_BOOK]
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbmake", f"--nbmake-timeout={NOTEBOOK_SECONDS}",
                           "--durations=0", "--durations-min=0", "-p", "no:cacheprovider", "-q", *paths],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60 * len(paths) + 120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert f"{len(paths)} passed" in proc.stdout, proc.stdout[-2000:]
    seconds = {Path(m.group(2)).stem: float(m.group(1))
               for m in re.finditer(r"^([0-9.]+)s call\s+(\S+?\.ipynb)", proc.stdout, re.MULTILINE)}
    assert set(seconds) == set(NOT_IN_BOOK), proc.stdout[-2000:]
    slow = {name: s for name, s in seconds.items() if s > NOTEBOOK_SECONDS}
    assert not slow, f"over {NOTEBOOK_SECONDS} s at the smoke scale: {slow}"


def test_papermill_parameters(book, tmp_path):
    """Parameters injected by papermill reach the notebook (here: one seed and one of the smoke densities)."""
    import papermill
    out = tmp_path / "table2.ipynb"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in smoke_env(book.store).items():
            if key in ("CTS_SCALE", "CTS_STORE", "PYTHONPATH"):
                mp.setenv(key, value)
        papermill.execute_notebook(str(NOTEBOOKS / "table2.ipynb"), str(out), cwd=str(NOTEBOOKS),
                                   parameters={"densities": [0.8 ** 3], "seeds": [0]}, progress_bar=False,
                                   kernel_name="python3", execution_timeout=NOTEBOOK_SECONDS)
    nb = nbformat.read(out, as_version=4)
    check_outputs("table2", nb)
    html = "".join(o["data"].get("text/html", "") for o in outputs(nb) if "data" in o)
    assert "48.8%" in html and "73.8%" not in html, "the injected densities did not reach the table"
