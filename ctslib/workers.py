"""Compute many runs of a store on a pool of local worker processes, one torch thread each.

    from ctslib.workers import compute_runs, default_workers
    for done in compute_runs(store.root, configs, workers=default_workers()):
        print(done.config.label, done.record["metrics"]["top1"] if done.ok else done.error)

Why processes: the CPU-scale runs (LeNet-300-100, small ResNet-20) are too small for torch's intra-op
threads to use a second core well, so on a 2-core machine two single-thread processes compute 1.42x as
many runs per minute as one process with two threads (8 of Fig. 3's cpu-scale runs: 30.0 vs 42.7 s, the
same accuracies; `python benchmarks/workers.py`).

What a worker takes is a *work group*: the runs that share a work key (`store.work_key`), so an LTR chain's
densities stay on one worker (its sparsest run computes the chain, the rest are read from it) and every
other run is a group of its own. Groups are handed out biggest first, then in `compute_order`, to whichever
worker is free; runs that need the same rewind point wait on the store's lock for it, as separate
processes always do. A failed run is reported and the others go on; every finished run is in the store
the moment it finishes, so an interrupted pool loses only the runs in flight (and those resume from
their checkpoints).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from .config import RunConfig
from .store import CHAIN_METHODS, RunStore, compute_order, work_key
from .threads import usable_cores


@dataclass(frozen=True)
class Done:
    """One run out of the pool: its record (`cached`: not computed by this pool's worker), or the error that
    stopped it."""
    config: RunConfig
    record: dict | None
    cached: bool
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def default_workers() -> int:
    """One worker per usable core on a CPU-only machine; one when a GPU is there (the runs share it badly)."""
    import torch
    if torch.cuda.is_available() or (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        return 1
    return usable_cores()


def parse_workers(text: str) -> int:
    """`--workers` value: a positive integer, or `auto` (`default_workers()`)."""
    if text == "auto":
        return default_workers()
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        import argparse
        raise argparse.ArgumentTypeError(f"--workers must be a positive integer or 'auto', got {text!r}")
    return count


def work_groups(configs: Sequence[RunConfig]) -> list[list[RunConfig]]:
    """`configs` (duplicates dropped) grouped by work key: chain groups first, biggest first, then the rest in
    `compute_order`. Within a group the runs keep `compute_order` (a chain's sparsest run first)."""
    groups: dict[str, list[RunConfig]] = {}
    for config in compute_order(configs):
        groups.setdefault(work_key(config), []).append(config)
    chains = [g for g in groups.values() if g[0].method in CHAIN_METHODS]
    others = [g for g in groups.values() if g[0].method not in CHAIN_METHODS]
    return sorted(chains, key=len, reverse=True) + others


def _init_worker(threads: int) -> None:
    import torch
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def _run(store: RunStore, config: RunConfig) -> Done:
    """One run, read or computed; an error is caught and reported in the Done (the other runs go on)."""
    try:
        record, source = store.fetch(config)
        return Done(config, record, source != "computed")
    except Exception as err:
        return Done(config, None, False, f"{type(err).__name__}: {err}")


def _compute_group(root: str, group: list[RunConfig]) -> list[Done]:
    """In a worker: every run of one group."""
    store = RunStore(root)
    return [_run(store, config) for config in group]


def compute_runs(root: str | os.PathLike, configs: Sequence[RunConfig], *, workers: int,
                 threads: int | None = None,
                 heartbeat: Callable[[list[list[RunConfig]]], None] | None = None) -> Iterator[Done]:
    """Compute (or read) every run of `configs` in the store at `root` on `workers` processes, yielding each run
    as its group finishes. `threads`: torch threads per worker (default: the usable cores shared out, at least 1).
    `heartbeat(groups)`: called about once a second while waiting, with the groups being computed (for a
    progress display; an LTR chain can take minutes). With `workers == 1` the runs are computed in this
    process, one after the other."""
    store = RunStore(root)
    groups = work_groups(configs)
    if workers <= 1:
        for group in groups:
            yield from (_run(store, config) for config in group)
        return
    missing = []
    for group in groups:  # what is in the store already needs no worker
        if all(store.has(c) for c in group):
            yield from (Done(c, store.get(c, compute=False), True) for c in group)
        else:
            missing.append(group)
    if not missing:
        return
    threads = threads or max(1, usable_cores() // workers)
    # spawn, not fork: the parent may have started torch's thread pools, which do not survive a fork.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(threads,))
    try:
        group_of = {pool.submit(_compute_group, str(store.root), g): g for g in missing}
        pending: set[Future] = set(group_of)
        while pending:
            finished, pending = wait(pending, timeout=1.0 if heartbeat else None, return_when=FIRST_COMPLETED)
            if heartbeat:
                # running() also marks the next queued group, so at most `workers` of them: the first ones
                heartbeat([group_of[f] for f in group_of if f in pending and f.running()][:workers])
            for future in finished:
                yield from future.result()
    finally:  # on an error or Ctrl-C: drop the groups not started; finished runs are already in the store
        pool.shutdown(wait=True, cancel_futures=True)
