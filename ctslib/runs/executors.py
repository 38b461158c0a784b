"""Where a sweep's runs are computed: a local pool of processes (the default), a Ray cluster, or SLURM (submitit).

    sweep(configs, store, executor=LocalPool(workers=2))
    sweep(configs, store, executor=RayExecutor(address="auto"))                 # a running Ray cluster
    sweep(configs, store, executor=SlurmExecutor("slurm-logs", partition="gpu", gpus=1, tasks=16))

    ctslib book --scale paper --executor ray --address auto
    ctslib book --scale paper --executor slurm --slurm-partition gpu --slurm-gpus 1 --slurm-tasks 16

The sweep loop is one (`sweep.sweep`): it hands *work groups* (`sweep.work_groups`: an LTR chain's runs together,
a run with the ablations that reuse its ticket, chains and big groups first) to an executor, which yields each
group's runs as the group finishes; the progress bar and the time left stay the sweep's.

**Where records live on a cluster: in the run store's folder, on a file system every node sees** (NFS, Lustre, ...;
`--store /shared/...`), written by the node that computed them, exactly as on one machine. Two reasons against
returning records to the driver for it to write: a node's checkpoints must outlive the node, so that a task Ray
retries elsewhere (or SLURM requeues) resumes the run where it stopped instead of recomputing it, and the driver
need not stay up for the whole sweep (an array job runs without it). What makes the shared folder safe is already
the store's: a run is computed under an exclusive lock file with a heartbeat (`runs.lock`: O_CREAT|O_EXCL, which
holds on NFS v3+ and on every cluster file system in use), so two nodes never both compute it and it is written
once; a lock whose process died (same host) or whose heartbeat stopped (any host, `stale_after`) is broken; and a
record is written ticket first, record last, atomically, so a node that died mid-write leaves a run the store
treats as absent (`RunStore.has`), never a half record.

- `LocalPool(workers)`: single-thread processes on this machine (`spawn`), a group to whichever is free.
- `RayExecutor`: one Ray task per group, with the resources of its run's device (CPU threads; one GPU when the run
  asks for CUDA, or for `auto` on a cluster that has GPUs), and Ray's retries for a task lost with its node.
- `SlurmExecutor`: one job array through submitit, its tasks taking the groups as `--shard i/n` takes them (by the
  hash of the work key, so an LTR chain stays in one task); `cluster="local"` runs the same array as processes of
  this machine (submitit's local executor: how the tests run it).
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from ..threads import usable_cores
from .config import RunConfig

if TYPE_CHECKING:
    from .work import Done

Groups = Sequence[list[RunConfig]]
Heartbeat = Callable[[list[list[RunConfig]]], None] | None
EXECUTORS = ("local", "ray", "slurm")


def _compute_groups(root: str, groups: Sequence[list[RunConfig]], threads: int,
                    models: dict[str, tuple[str, str, str]]) -> list["Done"]:
    """In a task (Ray, SLURM): set up the process as a pool worker is, then every run of every group."""
    from .work import _compute_group, _init_worker
    _init_worker(threads, models)
    return [done for group in groups for done in _compute_group(root, group)]


@dataclass
class LocalPool:
    """`workers` single-thread processes of this machine (see `sweep`'s docstring for why single-thread)."""

    workers: int
    threads: int | None = None
    name: str = "local"

    @property
    def parallelism(self) -> int:
        return self.workers

    def run(self, root: str, groups: Groups, heartbeat: Heartbeat = None) -> Iterator[list["Done"]]:
        from .work import _compute_group, _init_worker, _user_models
        threads = self.threads or max(1, usable_cores() // self.workers)
        # spawn, not fork: the parent may have started torch's thread pools, which do not survive a fork.
        pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(threads, _user_models()))
        try:
            group_of = {pool.submit(_compute_group, root, g): g for g in groups}
            pending: set[Future] = set(group_of)
            while pending:
                finished, pending = wait(pending, timeout=1.0 if heartbeat else None, return_when=FIRST_COMPLETED)
                if heartbeat:
                    # running() also marks the next queued group, so at most `workers` of them: the first ones
                    heartbeat([group_of[f] for f in group_of if f in pending and f.running()][:self.workers])
                for future in finished:
                    yield future.result()
        finally:  # on an error or Ctrl-C: drop the groups not started; finished runs are already in the store
            pool.shutdown(wait=True, cancel_futures=True)


def wants_gpu(group: list[RunConfig], cluster_has_gpus: bool) -> bool:
    """Whether a group's runs need a GPU: their device asks for CUDA, or is `auto` where the cluster has GPUs."""
    device = group[0].device
    return device.startswith("cuda") or (device == "auto" and cluster_has_gpus)


@dataclass
class RayExecutor:
    """One Ray task per work group on the cluster at `address` ('auto': the one this machine belongs to; None: a
    local cluster started here, or the one `ray.init` already connected to). Each task asks for `threads` CPUs and,
    for a GPU run, one GPU; a task lost with its node is retried `max_retries` times elsewhere (it resumes the run
    from the checkpoints its node left in the shared store)."""

    address: str | None = None
    threads: int = 1
    max_retries: int = 3
    name: str = "ray"
    _parallelism: int = field(default=1, init=False, repr=False)

    @property
    def parallelism(self) -> int:
        return self._parallelism

    def _connect(self):
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'ctslib[ray]' (or pip install ray)") from None
        if not ray.is_initialized():
            # a cluster started here runs its workers at this process's priority (Ray's default nice 15 would leave
            # them next to no CPU beside any other busy process of the machine); a running cluster keeps its own
            extra = {"_system_config": {"worker_niceness": 0}} if self.address is None else {}
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, **extra)
        self._parallelism = max(1, int(ray.cluster_resources().get("CPU", 1) // self.threads))
        return ray

    def run(self, root: str, groups: Groups, heartbeat: Heartbeat = None) -> Iterator[list["Done"]]:
        from .work import _user_models
        ray = self._connect()
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        task = ray.remote(_compute_groups)
        models = _user_models()
        group_of = {}
        for g in groups:
            ref = task.options(num_cpus=self.threads, num_gpus=1 if wants_gpu(g, has_gpus) else 0,
                               max_retries=self.max_retries, retry_exceptions=False).remote(root, [g], self.threads,
                                                                                             models)
            group_of[ref] = g
        pending = list(group_of)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                if heartbeat:
                    heartbeat([group_of[r] for r in pending][:self._parallelism])
                for ref in ready:
                    yield ray.get(ref)
        finally:
            for ref in pending:  # an error or Ctrl-C: stop what has not finished (its checkpoints stay)
                ray.cancel(ref)


@dataclass
class SlurmExecutor:
    """One SLURM job array through submitit: `tasks` array tasks (default: one per group), each computing the
    groups whose work key hashes to it (as `--shard i/n`), with `gpus` GPUs, `cpus` CPUs and `timeout_min` each on
    `partition`; submitit's logs and pickles in `folder`. `cluster`: None (SLURM, submitit's choice) or 'local'
    (the same array as processes of this machine: how the tests run it)."""

    folder: str | os.PathLike = "slurm-logs"
    partition: str | None = None
    timeout_min: int = 24 * 60
    gpus: int = 0
    cpus: int = 1
    tasks: int | None = None
    parallelism_limit: int | None = None
    cluster: str | None = None
    poll_seconds: float = 2.0
    name: str = "slurm"

    @property
    def parallelism(self) -> int:
        return self.parallelism_limit or self.tasks or 1

    def _executor(self):
        try:
            import submitit
        except ImportError:
            raise RuntimeError("the slurm executor needs submitit: pip install 'ctslib[slurm]' (or pip install "
                               "submitit)") from None
        if self.cluster is None and shutil.which("sbatch") is None:
            raise RuntimeError("--executor slurm: no `sbatch` on this machine's PATH; run it on a SLURM login node "
                               "(or pass cluster='local' to run the job array here)")
        executor = submitit.AutoExecutor(folder=str(Path(self.folder)), cluster=self.cluster)
        params: dict[str, Any] = dict(timeout_min=self.timeout_min, cpus_per_task=self.cpus, nodes=1,
                                      tasks_per_node=1)
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        if self.partition:
            params["slurm_partition"] = self.partition
        if self.parallelism_limit:
            params["slurm_array_parallelism"] = self.parallelism_limit
        executor.update_parameters(**params)
        return executor

    def run(self, root: str, groups: Groups, heartbeat: Heartbeat = None) -> Iterator[list["Done"]]:
        from .work import _user_models, shard_index
        executor = self._executor()
        n = max(1, min(self.tasks or len(groups), len(groups)))
        shards = [[g for g in groups if shard_index(g[0], n) == i] for i in range(n)]
        shards = [s for s in shards if s]
        models = _user_models()
        jobs = executor.map_array(_compute_groups, [root] * len(shards), shards, [self.cpus] * len(shards),
                                  [models] * len(shards))
        shard_of = dict(zip((j.job_id for j in jobs), shards))
        pending = list(jobs)
        while pending:
            still = []
            for job in pending:
                if job.done():
                    yield job.result()  # the task's runs (its error, if the task itself failed, raises here)
                else:
                    still.append(job)
            pending = still
            if pending:
                if heartbeat:
                    heartbeat([g for j in pending for g in shard_of[j.job_id]][:self.parallelism])
                time.sleep(self.poll_seconds)


def make_executor(name: str, *, workers: int = 1, threads: int | None = None, address: str | None = None,
                  slurm: dict[str, Any] | None = None):
    """The executor called `name` (EXECUTORS) from the command line's options."""
    if name == "local":
        return LocalPool(workers, threads)
    if name == "ray":
        return RayExecutor(address=address, threads=threads or 1)
    if name == "slurm":
        return SlurmExecutor(**(slurm or {}))
    raise ValueError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
