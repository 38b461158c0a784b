"""The dress rehearsal of the paper scale (ctslib/runs/rehearsal.py): every paper-preset path executed on CPU.

Fake CIFAR-10 (its python pickles) and a fake ImageNet folder (JPEGs in class folders) are written once for the
module; every run of Table II and Figs. 2 and 4 at paper scale for ResNet-20 and VGG-16, and CTS_KL and LTR for
ResNet-50 on two DDP processes (torchrun, gloo), must finish with a record that keeps exactly round(kappa d) weights;
then the paper-scale pages of those figures build from the records, computing nothing.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ctslib.report.figures import rehearsal_configs
from ctslib.runs import presets, rehearsal
from ctslib.runs.store import RunStore
from ctslib.runs.sweep import sweep

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.xdist_group("rehearsal"), pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory):
    data, store_dir = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(presets.REHEARSAL_VARIABLE, "1")
        mp.setenv("CTS_DATA", str(data))
        mp.setenv("CTS_RESULTS", "none")
        rehearsal.write_fake_data(data)
        store = RunStore(store_dir)
        configs = rehearsal_configs()
        result = sweep(configs, store, say=lambda *a, **k: None)
        assert not result.failed, [(d.config.label, d.error) for d in result.failed]
        rehearsal.run_resnet50_ddp(store_dir, processes=2)
        yield store, configs + rehearsal.resnet50_configs(), data


def test_the_rehearsal_keeps_the_paper_preset_but_its_sizes(monkeypatch):
    paper = presets.base_config("paper", "resnet20", method="cts")
    monkeypatch.setenv(presets.REHEARSAL_VARIABLE, "1")
    r = presets.base_config("paper", "resnet20", method="cts")
    for field in ("lr", "momentum", "weight_decay", "augment", "track_running_stats", "ltr_rate", "dataset"):
        assert getattr(r, field) == getattr(paper, field), field
    assert [m / r.epochs for m in r.milestones] == [m / paper.epochs for m in paper.milestones]  # 1/2 and 3/4
    assert r.search_epochs == r.epochs and r.rewind_step == 1 and r.train_examples == 64
    r50 = presets.base_config("paper", "resnet50", method="cts")
    assert r50.search_epochs == r50.epochs / 2 and r50.warmup_epochs > 0 and r50.ltr_rate == 0.5358  # Half CTS
    assert presets.default_seeds("paper") == (0,)
    assert presets.default_densities("paper", "resnet20") == (0.8 ** 3,)
    assert presets.base_config("paper", "resnet20").run_id != paper.run_id  # never mistaken for a paper run


def test_every_paper_path_runs_and_keeps_exact_counts(rehearsed):
    store, configs, _ = rehearsed
    labels = {(c.model, c.label, c.ablation) for c in configs}
    for model in ("resnet20", "vgg16"):
        for label in ("CTS_KL", "CTS_L", "CTS_L at init", "LTR", "SNIP", "GraSP", "SynFlow", "random", "dense"):
            assert (model, label, "") in labels, (model, label)
        assert {(model, "CTS_KL", a) for a in ("shuffle", "invert")} <= labels
        assert {(model, "CTS_L at init", a) for a in ("shuffle", "invert", "reinit")} <= labels
    assert {("resnet50", "CTS_KL at init", ""), ("resnet50", "LTR", "")} <= labels  # Half CTS at k = 0 (presets)
    for c in configs:
        assert store.has(c), f"no record of {c.label} {c.model}"
        record = store.get(c, compute=False)
        assert rehearsal.check_record(c, record) is None, (c.label, c.model, rehearsal.check_record(c, record))
        assert record["environment"]["device"] == "cpu"
        if c.model == "resnet50":
            assert record["environment"]["world_size"] == 2  # two DDP processes
            assert record["config"]["dataset"] == "imagenet"


def test_the_paper_pages_build_from_the_rehearsals_records(rehearsed, tmp_path):
    import papermill
    store, _, data = rehearsed
    before = len(store.runs())
    env = {presets.REHEARSAL_VARIABLE: "1", "CTS_DATA": str(data), "CTS_STORE": str(store.root), "CTS_SCALE": "paper",
           "CTS_RESULTS": "none"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for name in ("fig2", "fig4", "fig5", "table2"):
            papermill.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(tmp_path / f"{name}.ipynb"),
                                       parameters={"scale": "paper"}, cwd=str(ROOT / "notebooks"),
                                       progress_bar=False, kernel_name="python3")
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert len(store.runs()) == before  # read, never computed


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_on_a_machine_without_one_is_one_clear_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ctslib", "run", "--preset", "smoke", "--device", "cuda",
                           "--no-store"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "this machine has no usable CUDA GPU" in proc.stderr and "--device cpu" in proc.stderr
