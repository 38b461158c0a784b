"""One run on two processes (torchrun, gloo on CPU, DistributedDataParallel, CTS included) = the run on one process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import needs_fashion_mnist
from ctslib.runs import runtime as dist
from ctslib.runs.pipeline import execute
from ctslib.runs.presets import base_config
from ctslib.tickets import Ticket

pytestmark = needs_fashion_mnist
ROOT = Path(__file__).resolve().parents[2]

# A global batch of 64 = two slices of 32; 16 steps per epoch; rewinding (k = 8 at batch 128 = 16 steps), the
# CTS search (16 steps) and training (16 steps) all split.
OVERRIDES = dict(train_examples=1024, test_examples=500, batch_size=64, epochs=2, milestones=(1,), rewind_step=8,
                 search_epochs=1.0, density=0.1, lr=0.05)
FLAGS = ["--preset", "smoke", "--train-examples", "1024", "--test-examples", "500", "--batch-size", "64",
         "--epochs", "2", "--milestones", "1", "--rewind-step", "8", "--search-epochs", "1", "--density", "0.1",
         "--lr", "0.05"]


def test_two_processes_give_the_ticket_of_one(tmp_path):
    config = base_config("smoke", **OVERRIDES)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "ctslib", "run", "--store", str(tmp_path), *FLAGS],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("test accuracy: top-1") == 1  # rank 0 alone prints
    record = json.loads((tmp_path / config.run_id / "record.json").read_text())
    assert record["environment"]["world_size"] == 2
    ticket = Ticket.load(tmp_path / config.run_id / "ticket.pt")

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = execute(config)
    finally:
        torch.set_num_threads(before)
    assert single.ticket.num_kept == ticket.num_kept
    agree = sum(int((ticket.masks[n] == m).sum()) for n, m in single.ticket.masks.items()) / ticket.num_total
    assert agree > 0.999  # the same ticket up to float rounding at the top-k threshold
    assert record["metrics"]["top1"] == pytest.approx(single.metrics["top1"], abs=0.01)
    assert record["metrics"]["loss"] == pytest.approx(single.metrics["loss"], rel=1e-3)
    assert record["trace"]["objective"] == pytest.approx(single.info["trace"]["objective"], rel=1e-3, abs=1e-5)


def test_sharded_batches_split_every_global_batch():
    batches = [(torch.arange(10).float(), torch.arange(10)), (torch.arange(5).float(), torch.arange(5))]
    parts = [list(dist.ShardedBatches(batches, r, 2)) for r in range(2)]
    assert len(dist.ShardedBatches(batches, 0, 2)) == 2
    for i, (x, y) in enumerate(batches):
        assert torch.equal(torch.cat([parts[0][i][1], parts[1][i][1]]), y)
    assert not dist.active() and dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    assert dist.broadcast({"a": 1}) == {"a": 1} and dist.shard(batches) is batches
