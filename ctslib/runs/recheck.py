"""Checking committed runs by computing them again: `redraw` draws a committed ticket of a cheap method (SNIP, GraSP,
SynFlow, random, magnitude) again from scratch and compares (the tests do it for one record chosen at random on
every build); `verify` recomputes whole runs in a fresh store (`ctslib results verify`, `make verify-results`).

It sits above the archive, the store and the pipeline, which it uses; none of them imports it.
"""

from __future__ import annotations

import os
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import torch

from .archive import Archive
from .config import RunConfig
from .methods import get_method
from .pipeline import draw_ticket
from .store import RunStore


def sample(archives: Sequence[Archive], n: int, seed: int | None = None) -> list[tuple[Archive, RunConfig]]:
    """`n` archived runs drawn at random (`seed`: reproducibly) from the valid records of `archives`."""
    pool = [(a, c) for a in archives for c in a.configs()]
    rng = random.Random(seed)
    return rng.sample(pool, min(n, len(pool)))


# --- recomputing archived runs ---------------------------------------------------------------------------

TOP1_TOLERANCE = 0.005  # on another machine (other BLAS, other CPU) a run's accuracy may move a little


@contextmanager
def threads_of(record: dict) -> Iterator[int]:
    """Compute with the torch thread count `record` was computed with (its `environment.threads`; a sweep's workers
    run one thread each): a convolution sums in another order on another count, which changes a search's ticket
    and, at high sparsity, a training's accuracy by points. Restores the count on exit."""
    previous = torch.get_num_threads()
    threads = int((record.get("environment") or {}).get("threads") or previous)
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


def verify(archive: Archive, config: RunConfig, workdir: str | os.PathLike) -> dict:
    """Recompute `config`'s archived run from scratch in a fresh store under `workdir` (no archive), with the
    record's thread count (`threads_of`), and compare. On the machine that computed it the ticket and the accuracy
    come out identical; elsewhere (another CPU, BLAS or GPU) the search may round differently, so `ok` asks top-1
    within TOP1_TOLERANCE and `same_ticket` says whether the ticket is bit-identical."""
    archived = archive.find(config)
    if archived is None:
        raise ValueError(f"run {config.run_id} is not in {archive.root}")
    store = RunStore(Path(workdir) / config.run_id, archives=[])
    with threads_of(archived) as threads:
        record = store.get(config)
    same = store.ticket(config, compute=False) == archive.ticket(config.run_id)
    a, b = archived["metrics"]["top1"], record["metrics"]["top1"]
    return {"run_id": config.run_id, "label": config.label, "density": config.density, "seed": config.seed,
            "same_ticket": same, "top1_archived": a, "top1_recomputed": b, "seconds": record["seconds"]["total"],
            "threads": threads, "ok": bool(abs(a - b) <= TOP1_TOLERANCE)}


# --- redrawing archived tickets (cheap: the tests do it on every build) -----------------------------------

TICKET_AGREEMENT = 0.99  # on another CPU a saliency score may round differently at the threshold


def cheap_to_redraw(config: RunConfig) -> bool:
    """Whether a run's ticket is drawn in seconds: neither a search (CTS) nor a chain of trainings (LTR)."""
    return config.method not in ("cts", "dense") and not get_method(config.method).chain


def redraw(archive: Archive, config: RunConfig) -> dict:
    """Draw `config`'s archived ticket again from scratch (its rewind point, draw and ablation; no training) and
    compare. On a CPU with the vector kernels the record was computed with (`environment.cpu_capability`, and the
    same torch) the ticket must come out identical (`ok`); elsewhere `ok` asks that TICKET_AGREEMENT of its kept
    weights are kept again."""
    archived = archive.find(config)
    if archived is None:
        raise ValueError(f"run {config.run_id} is not in {archive.root}")
    if not cheap_to_redraw(config):
        raise ValueError(f"run {config.run_id} ({config.label}) is no cheap draw; `verify` recomputes it")
    with threads_of(archived):
        old, new = archive.ticket(config.run_id), draw_ticket(config)
    kept = sum(int((old.masks[n] & new.masks[n]).sum()) for n in old.masks) if old.masks.keys() == new.masks.keys() \
        else 0
    env = archived.get("environment") or {}
    same_machine = (env.get("cpu_capability") == torch.backends.cpu.get_cpu_capability()
                    and env.get("torch_version") == torch.__version__)
    agreement = kept / max(old.num_kept, 1)
    same = old == new
    return {"run_id": config.run_id, "label": config.label, "density": config.density, "seed": config.seed,
            "same_ticket": same, "agreement": agreement, "same_machine": same_machine,
            "ok": same if same_machine else agreement >= TICKET_AGREEMENT}
