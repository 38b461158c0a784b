"""Sweeps: many runs of one store, in the right order, sharded across machines or on a local pool of processes.

    for done in sweep(configs, store, workers=2):           # the one sweep loop (`ctslib sweep`, `ctslib book`)
        print(done.config.label, done.record["metrics"]["top1"] if done.ok else done.error)

Order and shards: a method that passes through many densities (LTR, `Method.chain`) is computed as one chain
per work key, sparsest density first (it passes through every denser ticket of its chain), and a shard
(`--shard i/n`, a SLURM array task) takes whole work keys, so one run of a chain serves the others.

The local pool: the CPU-scale runs (LeNet-300-100, small ResNet-20) are too small for torch's intra-op
threads to use a second core well, so on a 2-core machine two single-thread processes compute 1.42x as
many runs per minute as one process with two threads (8 of Fig. 3's cpu-scale runs: 30.0 vs 42.7 s, the
same accuracies; `python benchmarks/workers.py`). What a worker takes is a *work group*: the runs that share
a work key, so an LTR chain's densities stay on one worker and every other run is a group of its own. Groups
are handed out biggest first, then in `compute_order`, to whichever worker is free; runs that need the same
rewind point wait on the store's lock for it, as separate processes always do. A failed run is reported and
the others go on; every finished run is in the store the moment it finishes, so an interrupted sweep loses
only the runs in flight (and those resume from their checkpoints).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import torch
from tqdm.auto import tqdm

from ..threads import apply_threads, usable_cores
from . import runtime
from .config import RunConfig, chain_key
from .eta import Clock
from .methods import run_title
from .store import RunLocked, RunStore
from .work import Done, _chain, _run, shard_index, work_key


def select_shard(configs: Iterable[RunConfig], index: int, count: int) -> list[RunConfig]:
    """Worker `index` of `count`'s part of `configs` (disjoint parts that together cover all of them)."""
    if not (isinstance(index, int) and isinstance(count, int) and count >= 1 and 0 <= index < count):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {index}/{count}")
    return [c for c in configs if shard_index(c, count) == index]


def parse_shard(text: str) -> tuple[int, int]:
    """A `--shard` value 'i/n' -> (i, n) with 0 <= i < n."""
    parts = text.split("/")
    try:
        index, count = (int(p) for p in parts)
    except ValueError:
        index = count = -1
    if len(parts) != 2 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(
            f"must be I/N with 0 <= I < N (worker I of N, 0-based, e.g. 0/4), got {text!r}")
    return index, count


def compute_order(configs: Sequence[RunConfig]) -> list[RunConfig]:
    """`configs` without duplicates, in the order to compute them: chain methods grouped by chain, sparsest
    first (the sparsest run passes through every denser ticket of its chain), after the others; ablations after
    the unablated runs (whose draws they reuse)."""
    unique = list({c.run_id: c for c in configs}.values())
    return sorted(unique, key=lambda c: (1, chain_key(c), c.density, False) if _chain(c)
                  else (0, "", 0.0, bool(c.ablation)))


def default_workers() -> int:
    """One worker per usable core on a CPU-only machine; one when a GPU is there (the runs share it badly)."""
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
        raise argparse.ArgumentTypeError(f"--workers must be a positive integer or 'auto', got {text!r}")
    return count


def work_groups(configs: Sequence[RunConfig]) -> list[list[RunConfig]]:
    """`configs` (duplicates dropped) grouped by work key: chain groups first, biggest first, then the rest in
    `compute_order`. Within a group the runs keep `compute_order` (a chain's sparsest run first)."""
    groups: dict[str, list[RunConfig]] = {}
    for config in compute_order(configs):
        groups.setdefault(work_key(config), []).append(config)
    chains = [g for g in groups.values() if _chain(g[0])]
    others = [g for g in groups.values() if not _chain(g[0])]
    return sorted(chains, key=len, reverse=True) + others


def compute_runs(root: str | os.PathLike, configs: Sequence[RunConfig], *, workers: int,
                 threads: int | None = None,
                 heartbeat: Callable[[list[list[RunConfig]]], None] | None = None,
                 executor=None) -> Iterator[Done]:
    """Compute (or read) every run of `configs` in the store at `root`, yielding each run as its group finishes:
    on `executor` (`runs.executors`: a Ray cluster, a SLURM job array), else on a local pool of `workers`
    processes (`threads` torch threads each, default: the usable cores shared out), else (`workers == 1`) in this
    process, one after the other. `heartbeat(groups)`: called about once a second while waiting, with the groups
    being computed (for a progress display; an LTR chain can take minutes)."""
    from .executors import LocalPool
    store = RunStore(root)
    groups = work_groups(configs)
    if executor is None and workers <= 1:
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
    for done in (executor or LocalPool(workers, threads)).run(str(store.root), missing, heartbeat):
        yield from done


# --- the one sweep loop ---------------------------------------------------------------------------------

def _sequential(store: RunStore, configs: Sequence[RunConfig], progress: bool) -> Iterator[Done]:
    """In this process, in `compute_order`: runs another process holds are put off, then waited for."""
    deferred = []
    for config in compute_order(configs):
        try:
            record, source = store.fetch(config, progress=progress, wait=False)
        except RunLocked:
            deferred.append(config)
            continue
        except Exception as err:  # keep sweeping; the failure is reported
            yield Done(config, None, False, f"{type(err).__name__}: {err}")
            continue
        yield Done(config, record, source != "computed")
    for config in deferred:
        yield _run(store, config)


@dataclass
class SweepResult:
    done: list[Done] = field(default_factory=list)
    seconds: float = 0.0
    main: bool = True  # this process is rank 0 (or the only one): the one that writes shared files and prints

    @property
    def computed(self) -> int:
        return sum(1 for d in self.done if d.ok and not d.cached)

    @property
    def failed(self) -> list[Done]:
        return [d for d in self.done if not d.ok]


def sweep(configs: Sequence[RunConfig], store: RunStore, *, workers: int = 1, threads: str | int | None = None,
          progress: bool = False, desc: str = "runs", say: Callable[..., None] = print,
          executor=None) -> SweepResult:
    """Read or compute every run of `configs` in `store`: the one loop behind `ctslib sweep` and `ctslib book`.

    Under torchrun every rank takes part in each run, one after the other. Otherwise `executor` (`runs.executors`:
    Ray, SLURM) computes the work groups, or `workers` > 1 a local pool of single-thread processes, or 1 this
    process with `threads` torch threads (`ctslib.threads`).
    With `progress`, a bar that names what is being computed; without, one line per run. Both say how many runs
    are done and about how long the rest will take (`eta.Clock`: the runs' estimated costs at the pace measured
    so far). Every failure is reported as it happens and again at the end; the other runs go on.
    """
    main = runtime.is_main()
    start = time.perf_counter()
    result = SweepResult(main=main)
    parallel = not runtime.launched() and (executor is not None or workers > 1)
    width = executor.parallelism if executor is not None else workers
    clock = Clock([c for c in compute_order(configs) if not store.has(c)], width if parallel else 1)
    bar = tqdm(total=round(clock.total) or 1, desc=desc, disable=not (progress and main), file=sys.stderr,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}")
    computing = ""

    def show() -> None:
        bar.set_postfix_str(clock.text() + (f"; computing {computing}" if computing else ""), refresh=False)
        bar.refresh()

    def heartbeat(groups: list[list[RunConfig]]) -> None:  # what the workers are on, the clock ticking
        nonlocal computing
        computing = "; ".join(run_title(g[0]) + (f" (chain of {len(g)})" if len(g) > 1 else "") for g in groups)
        show()

    if not parallel:
        apply_threads(threads)
        done_iter = _sequential(store, configs, progress and main)
    else:
        done_iter = compute_runs(store.root, configs, workers=workers, heartbeat=heartbeat if progress else None,
                                 executor=executor)
    try:
        if progress and main:
            show()
        for done in done_iter:
            result.done.append(done)
            clock.finished(done.config)
            bar.update(round(clock.done) - bar.n)
            if not main:
                continue
            if not done.ok:
                bar.write(f"FAILED {done.config.run_id} {run_title(done.config)}: {done.error}", file=sys.stderr)
            elif progress:
                show()
            else:
                took = "cached" if done.cached else f"{done.record['seconds']['total']:.1f} s"
                say(f"{done.config.run_id} {run_title(done.config)}: top-1 {done.record['metrics']['top1']:.2%} "
                    f"({took})" + ("" if done.cached else f"; {clock.text()}"), flush=True)
    finally:
        bar.close()
    result.seconds = time.perf_counter() - start
    return result
