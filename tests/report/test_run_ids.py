"""The run ids of every figure's runs, at every scale, are pinned (tests/report/run_ids.json), so a change of layout
or naming that would silently orphan an existing run store fails here. A change meant to change what runs (a new
protocol, a new density) regenerates the file with the command below and says so in its commit:

    python -c "import json; from ctslib.report.figures import FIGURES; json.dump({s: {f: sorted(c.run_id for c in
    FIGURES[f].configs(scale=s)) for f in FIGURES} for s in ('smoke', 'cpu', 'paper')},
    open('tests/report/run_ids.json', 'w'), indent=0, sort_keys=True)"
"""

import json
from pathlib import Path

import pytest

from ctslib.report.figures import FIGURES

PINNED = json.loads((Path(__file__).with_name("run_ids.json")).read_text())


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_every_figures_run_ids_are_unchanged(scale):
    assert set(PINNED[scale]) == set(FIGURES)
    for name, fig in FIGURES.items():
        assert sorted(c.run_id for c in fig.configs(scale=scale)) == PINNED[scale][name], f"{name} at {scale}"
