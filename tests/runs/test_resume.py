"""A run killed (SIGKILL) and started again resumes from its last checkpoint and ends exactly as a run never stopped."""

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers import needs_fashion_mnist
from ctslib.runs import methods, pipeline
from ctslib.runs.checkpoints import Checkpoints
from ctslib.runs.presets import base_config
from ctslib.runs.store import RunStore
from ctslib.tickets import Ticket

pytestmark = [needs_fashion_mnist, pytest.mark.usefixtures("one_thread")]
ROOT = Path(__file__).resolve().parents[2]

# Long enough to be killed in the middle of the CTS search and of training (94 steps per epoch; the
# rewind point, k = 100, is past the first epoch, so the rewind phase checkpoints too).
OVERRIDES = dict(train_examples=12000, epochs=4, milestones=(2, 3), search_epochs=2.0, rewind_step=100, density=0.05)
FLAGS = ["--preset", "smoke", "--train-examples", "12000", "--epochs", "4", "--milestones", "2", "3",
         "--search-epochs", "2", "--rewind-step", "100", "--density", "0.05"]


def env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def start(store: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ctslib", "run", "--store", str(store), *FLAGS], env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when(proc: subprocess.Popen, folder: Path, phase: str, epoch: int, timeout: float = 120) -> str:
    """SIGKILL `proc` as soon as its checkpoint status reaches (`phase`, >= `epoch`); returns its stderr."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = json.loads((folder / "status.json").read_text())
        except (OSError, ValueError):
            status = {}
        if status.get("phase") == phase and (status.get("epoch") or 0) >= epoch:
            proc.kill()
            return proc.communicate()[1]
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before reaching {phase} epoch {epoch} (rc {proc.returncode}): {err[-2000:]}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no checkpoint of {phase} epoch {epoch} after {timeout} s")


def test_killed_run_resumes_to_the_same_ticket_and_accuracy(tmp_path):
    config = base_config("smoke", **OVERRIDES)
    store_dir = tmp_path / "killed"
    folder = store_dir / config.run_id

    first = start(store_dir)
    kill_when(first, folder, "draw", 1)  # killed in the middle of the CTS search
    assert first.returncode == -9
    assert not (folder / "record.json").exists() and (folder / "lock").exists()

    second = start(store_dir)
    err = kill_when(second, folder, "train", 2)  # killed in the middle of training
    assert "resuming run" in err and "draw at epoch" in err, err  # took up the search where it stopped
    assert "stale lock" in err  # the first process's lock was broken

    third = subprocess.run([sys.executable, "-m", "ctslib", "run", "--store", str(store_dir), *FLAGS], env=env(),
                           capture_output=True, text=True, timeout=300)
    assert third.returncode == 0, third.stderr
    assert "rewind done, draw done, train at epoch" in third.stderr
    assert "test accuracy: top-1" in third.stdout and "time:" in third.stdout

    resumed = json.loads((folder / "record.json").read_text())
    assert resumed["run_id"] == config.run_id
    assert resumed["info"]["resumed_from"] == ["rewind", "draw", "progress"]
    assert sorted(os.listdir(folder)) == ["record.json", "ticket.pt"]

    fresh = RunStore(tmp_path / "uninterrupted")
    whole = fresh.get(config)
    assert whole["info"]["resumed_from"] == []
    assert Ticket.load(folder / "ticket.pt") == fresh.ticket(config)
    assert resumed["metrics"] == whole["metrics"]  # top-1/3/5 and loss, exactly
    assert resumed["trace"] == whole["trace"]
    assert resumed["epochs"] == whole["epochs"]


def test_search_and_training_resume_in_process(tmp_path, monkeypatch):
    """Interrupt at every checkpoint in turn: each resumption ends with the uninterrupted result."""
    config = base_config("smoke", density=0.05, search_epochs=2.5, epochs=3, milestones=(2,), step="lagrange")
    whole = pipeline.execute(config)
    saves = []
    real_save = pipeline.Checkpoints.save

    def interrupting_save(self, name, blob):
        real_save(self, name, blob)
        saves.append((name, blob.get("phase"), blob.get("epoch")))
        if len(saves) == stop_at:
            raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.Checkpoints, "save", interrupting_save)
    stop_at = 10**9
    pipeline.execute(config, workdir=tmp_path / "count")
    points = list(saves)
    assert ("progress", "draw", 1) in points and ("progress", "train", 2) in points
    workdir = tmp_path / "resumed"
    for stop_at in range(1, len(points) + 1):
        saves.clear()
        try:
            result = pipeline.execute(config, workdir=workdir)
        except KeyboardInterrupt:
            continue
        break
    else:
        stop_at = 10**9
        result = pipeline.execute(config, workdir=workdir)
    assert result.ticket == whole.ticket
    assert result.metrics == whole.metrics


def test_cts_draw_resumed_from_its_checkpoint_is_the_search_never_stopped(tmp_path):
    """`methods.draw_cts` checkpoints after every pass; a draw resumed from the first checkpoint (with the generator
    as it was then, as the pipeline restores it) ends with exactly the ticket and trace of a search never stopped.
    (The state is copied as the pipeline's torch.save would: Adam's state tensors go on changing in place.)"""
    config = base_config("smoke", density=0.05, search_epochs=2.5)
    device = torch.device("cpu")
    data = pipeline.RunData(config, device)
    model = pipeline.make_model(config, device)
    saved = []

    def ctx(generator, resume=None, checkpoint=None):
        return methods.DrawContext(model=model, train_data=data.train, config=config, device=device,
                                   generator=generator, batches=lambda augment: data.train_batches(
                                       augment=augment, generator=generator), resume=resume, checkpoint=checkpoint)

    g = torch.Generator().manual_seed(3)
    whole = methods.draw_cts(ctx(g, checkpoint=lambda state, **where: saved.append((copy.deepcopy(state), g.get_state(),
                                                                                   where))))
    assert [where["epoch"] for _, _, where in saved] == [1, 2]  # after each full pass that leaves steps to do
    state, generator_state, _ = saved[0]
    g2 = torch.Generator()
    g2.set_state(generator_state)
    resumed = methods.draw_cts(ctx(g2, resume=state))
    assert resumed.ticket == whole.ticket
    assert resumed.info == whole.info and resumed.epochs == whole.epochs


def test_checkpoint_of_another_run_is_ignored(tmp_path):
    a, b = base_config("smoke", seed=0), base_config("smoke", seed=1)
    Checkpoints(tmp_path, a.run_id).save("draw", {"phase": "draw", "masks": {}})
    with pytest.warns(UserWarning, match="not a checkpoint of run"):
        assert Checkpoints(tmp_path, b.run_id).load("draw") is None
    (tmp_path / "rewind.pt").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable checkpoint"):
        assert Checkpoints(tmp_path, a.run_id).load("rewind") is None
