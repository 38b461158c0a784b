"""Sweeps: the order (an LTR chain sparsest first), shards (disjoint, covering, a chain on one shard), and the local
worker pool: an LTR chain stays on one worker, the pool computes exactly what one process does,
a failed run is reported while the others finish, and a warm store needs no worker."""

import argparse
import time

import pytest

from helpers import needs_fashion_mnist
from ctslib.runs import sweep as W
from ctslib.runs.presets import base_config, grid
from ctslib.runs.config import chain_key
from ctslib.runs.store import RunStore
from ctslib.runs.sweep import work_key

pytestmark = pytest.mark.usefixtures("one_thread")


def smoke(**overrides):
    return base_config("smoke", **{"method": "random", "density": 0.2, **overrides})


def smoke_grid():
    return grid("smoke", "lenet300", methods=("cts", "ltr", "random"), densities=(0.5, 0.2), seeds=(0,))


def test_work_groups_keep_a_chain_together_sparsest_first_and_chains_first():
    configs = smoke_grid()
    groups = W.work_groups(configs + configs[:2])  # duplicates dropped
    assert sorted(c.run_id for g in groups for c in g) == sorted(c.run_id for c in configs)
    chain = groups[0]
    assert [c.method for c in chain] == ["ltr", "ltr"] and [c.density for c in chain] == [0.2, 0.5]
    assert len({work_key(c) for c in chain}) == 1
    assert all(len(g) == 1 and g[0].method != "ltr" for g in groups[1:])


def test_parse_workers():
    assert W.parse_workers("3") == 3
    assert W.parse_workers("auto") == W.default_workers() >= 1
    for bad in ("0", "-2", "two"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"got '{bad}'"):
            W.parse_workers(bad)


def tickets_and_accuracies(store: RunStore, configs) -> dict:
    return {c.run_id: (store.ticket(c, compute=False), store.get(c, compute=False)["metrics"]["top1"])
            for c in configs}


@needs_fashion_mnist
def test_pool_computes_what_one_process_computes(tmp_path):
    configs = smoke_grid()
    alone = list(W.compute_runs(tmp_path / "alone", configs, workers=1))
    pooled = list(W.compute_runs(tmp_path / "pool", configs, workers=2))
    assert all(d.ok and not d.cached for d in alone + pooled), [d.error for d in alone + pooled]
    assert sorted(d.config.run_id for d in pooled) == sorted(c.run_id for c in configs)
    # one torch thread in every worker, as in this test process: the same tickets, the same accuracies
    assert tickets_and_accuracies(RunStore(tmp_path / "pool"), configs) == \
        tickets_and_accuracies(RunStore(tmp_path / "alone"), configs)
    start = time.perf_counter()
    again = list(W.compute_runs(tmp_path / "pool", configs, workers=2))
    assert all(d.cached and d.ok for d in again) and len(again) == len(configs)
    assert time.perf_counter() - start < 5  # read from the store, no worker started


def test_a_failed_run_is_reported_and_the_others_finish(tmp_path, monkeypatch):
    configs = grid("smoke", "lenet300", methods=("random",), densities=(0.5, 0.2, 0.1), seeds=(0,))
    bad = configs[1]
    real_fetch = RunStore.fetch

    def fetch(self, config, **kwargs):
        if config == bad:
            raise RuntimeError("out of memory")
        return real_fetch(self, config, **kwargs)

    monkeypatch.setattr(RunStore, "fetch", fetch)
    done = {d.config.run_id: d for d in W.compute_runs(tmp_path, configs, workers=1)}
    assert done[bad.run_id].error == "RuntimeError: out of memory" and done[bad.run_id].record is None
    assert all(done[c.run_id].ok for c in configs if c != bad)


def test_sweep_order_puts_the_sparsest_ltr_run_first():
    configs = [smoke(method="ltr", density=d) for d in (0.5, 0.1, 0.3)] + [smoke(method="cts", density=0.5)]
    order = W.compute_order(configs + configs[:1])
    assert [c.method for c in order] == ["cts", "ltr", "ltr", "ltr"]
    assert [c.density for c in order[1:]] == [0.1, 0.3, 0.5]


def test_shards_are_disjoint_and_cover_the_sweep():
    configs = grid("smoke", methods=("cts", "random", "ltr", "dense"), objectives=("kl", "task"),
                   densities=(0.5, 0.2, 0.1, 0.05), seeds=(0, 1, 2))
    for n in (1, 2, 3, 5):
        parts = [W.select_shard(configs, i, n) for i in range(n)]
        ids = [c.run_id for part in parts for c in part]
        assert len(ids) == len(set(ids)) == len(configs)  # disjoint, and together all of them
        assert [W.select_shard(configs, i, n) for i in range(n)] == parts  # deterministic
        for part in parts:  # an LTR chain never straddles two workers
            keys = {chain_key(c) for c in part if c.method == "ltr"}
            assert all(chain_key(c) not in keys for other in parts if other is not part
                       for c in other if c.method == "ltr")
    assert max(len(p) for p in (W.select_shard(configs, i, 3) for i in range(3))) < len(configs)
    for bad in ((2, 2), (-1, 2), (0, 0)):
        with pytest.raises(ValueError, match="shard must be i/n"):
            W.select_shard(configs, *bad)
