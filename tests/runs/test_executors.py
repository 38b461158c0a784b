"""Sweeps on a cluster, tested as one on this machine: a two-node Ray cluster (`ray.cluster_utils.Cluster`, the way
Ray's own tests simulate nodes) and SLURM through submitit's local executor give the local pool's records (same run
ids, tickets, top-1); a node removed mid-sweep loses nothing and writes nothing twice. One Ray cluster serves every
test of the module (its start is most of their cost), on one xdist worker."""

import threading
import time

import pytest

from helpers import needs_fashion_mnist
from ctslib.runs import sweep as W
from ctslib.runs.executors import LocalPool, RayExecutor, SlurmExecutor, make_executor, wants_gpu
from ctslib.runs.presets import base_config, grid
from ctslib.runs.store import RunStore

ray = pytest.importorskip("ray", reason="the ray extra: pip install 'ctslib[ray]' (make test installs it)")
submitit = pytest.importorskip("submitit", reason="the slurm extra: pip install 'ctslib[slurm]'")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = [needs_fashion_mnist, pytest.mark.xdist_group("cluster"), pytest.mark.usefixtures("one_thread")]
# Ray starts its workers at nice 15: beside the suite's other worker (nice 0) they would get next to no CPU
NICE = {"worker_niceness": 0}


def smoke_sweep():
    """An LTR chain (one work group of two runs), CTS and two cheap methods: 8 runs, 7 work groups."""
    return grid("smoke", "lenet300", methods=("cts", "ltr", "random", "snip"), densities=(0.5, 0.2), seeds=(0,))


def records(store: RunStore, configs) -> dict:
    return {c.run_id: (store.ticket(c, compute=False), store.get(c, compute=False)["metrics"]["top1"])
            for c in configs}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The local pool's records of the smoke sweep (the reference every executor is held to)."""
    root = tmp_path_factory.mktemp("local")
    result = W.sweep(smoke_sweep(), RunStore(root), executor=LocalPool(2, threads=1), say=lambda *a, **k: None)
    assert not result.failed, [d.error for d in result.failed]
    return records(RunStore(root), smoke_sweep())


@pytest.fixture(scope="module")
def cluster():
    """Two nodes of one CPU each on this machine; the driver connected to them."""
    started = time.perf_counter()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                          "_system_config": NICE})
    c.add_node(num_cpus=1)
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    c.wait_for_nodes()
    c.start_seconds = time.perf_counter() - started
    yield c
    ray.shutdown()
    c.shutdown()


def test_ray_gives_the_local_pools_records(cluster, local, tmp_path):
    store = RunStore(tmp_path)
    result = W.sweep(smoke_sweep(), store, executor=RayExecutor(), say=lambda *a, **k: None)
    assert not result.failed, [d.error for d in result.failed]
    assert sorted(d.config.run_id for d in result.done) == sorted(local)  # each run once, none lost
    assert records(store, smoke_sweep()) == local  # the same tickets and accuracies
    again = W.sweep(smoke_sweep(), store, executor=RayExecutor(), say=lambda *a, **k: None)
    assert again.computed == 0  # a warm store sends nothing to the cluster


def test_a_node_removed_mid_sweep_loses_nothing_and_writes_nothing_twice(cluster, local, tmp_path):
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    store = RunStore(tmp_path)
    # longer searches, so that tasks are still running on the node when it goes
    configs = smoke_sweep() + [base_config("smoke", method="cts", density=d, seed=0, search_epochs=4.0)
                               for d in (0.5, 0.2)]
    out: dict = {}
    thread = threading.Thread(target=lambda: out.update(result=W.sweep(configs, store, executor=RayExecutor(),
                                                                       say=lambda *a, **k: None)))
    thread.start()
    while not any(store.has(c) for c in configs):  # the sweep is under way: the first run is in
        time.sleep(0.2)
    cluster.remove_node(doomed)
    thread.join(timeout=300)
    assert not thread.is_alive(), "the sweep did not finish after a node was removed"
    result = out["result"]
    assert not result.failed, [d.error for d in result.failed]
    assert sorted(d.config.run_id for d in result.done) == sorted(c.run_id for c in configs)  # each reported once
    assert all(store.has(c) for c in configs)  # nothing lost
    for c in configs:  # written once: one record, no lock or temporary file left behind
        folder = store.folder(c)
        assert not [p.name for p in folder.iterdir() if p.name.startswith(("lock", ".tmp")) or p.suffix == ".tmp"]
    assert records(store, smoke_sweep()) == local


def test_slurm_through_submitits_local_executor_gives_the_same_records(local, tmp_path):
    store = RunStore(tmp_path / "store")
    executor = SlurmExecutor(folder=tmp_path / "slurm", cluster="local", tasks=2, poll_seconds=0.5)
    result = W.sweep(smoke_sweep(), store, executor=executor, say=lambda *a, **k: None)
    assert not result.failed, [d.error for d in result.failed]
    assert sorted(d.config.run_id for d in result.done) == sorted(local)
    assert records(store, smoke_sweep()) == local
    assert list((tmp_path / "slurm").glob("*_log.out"))  # submitit's job array ran, with its logs


def test_executors_by_name_and_their_resources():
    assert isinstance(make_executor("local", workers=3), LocalPool)
    assert make_executor("ray", address="auto").address == "auto"
    slurm = make_executor("slurm", slurm=dict(partition="gpu", gpus=1, tasks=16))
    assert (slurm.partition, slurm.gpus, slurm.tasks) == ("gpu", 1, 16)
    with pytest.raises(ValueError, match="unknown executor 'mpi'; choose one of: local, ray, slurm"):
        make_executor("mpi")
    gpu = [base_config("paper", "resnet20", device="cuda")]
    auto = [base_config("paper", "resnet20")]
    assert wants_gpu(gpu, cluster_has_gpus=False) and not wants_gpu(auto, cluster_has_gpus=False)
    assert wants_gpu(auto, cluster_has_gpus=True)
    with pytest.raises(RuntimeError, match="no `sbatch` on this machine"):
        SlurmExecutor()._executor()


def test_the_rerun_pages_commands(cluster, tmp_path, capsys):
    """The cluster recipe of the book's rerun page, at smoke scale: `--executor ray --address ADDR` and
    `--executor slurm` (here `--slurm-local`: submitit's local executor) from the command line."""
    from ctslib.cli import main
    common = ["sweep", "--preset", "smoke", "--methods", "random", "snip", "--densities", "0.2", "--seeds", "0"]
    assert main(["--store", str(tmp_path / "ray"), *common, "--executor", "ray", "--address", cluster.address]) == 0
    assert main(["--store", str(tmp_path / "slurm"), *common, "--executor", "slurm", "--slurm-local",
                 "--slurm-folder", str(tmp_path / "logs"), "--slurm-tasks", "2"]) == 0
    out = capsys.readouterr().out
    assert "executor: ray" in out and "executor: slurm" in out and out.count("done: 2 runs (2 computed") == 2
    assert main(["book", "--scale", "paper", "--figures", "table2", "--plan"]) == 0
    plan = capsys.readouterr().out
    assert "table2" in plan and "GPU-hours" in plan
