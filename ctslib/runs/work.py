"""What a sweep hands out and what a worker does with it: the work key runs are grouped, sharded and ordered by,
and the functions a worker process runs (`init_worker`'s set-up, then `compute_group`: every run of one group,
read or computed, each error caught in its `Done`).

The sweep loop (`sweep.sweep`) and every executor (`executors`: the local pool, Ray, SLURM) use them; neither
imports the other for them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

from .config import RunConfig, chain_key, draw_key
from .methods import get_method
from .store import RunStore


def _chain(config: RunConfig) -> bool:
    return get_method(config.method).chain


def work_key(config: RunConfig) -> str:
    """What a sweep shards and orders by: the chain for chain methods (LTR), else the drawn ticket (a run and its
    sanity-check ablations, which train the ticket it draws: `RunCache.find_ticket`)."""
    return chain_key(config) if _chain(config) else draw_key(config)


def shard_index(config: RunConfig, count: int) -> int:
    """The shard (0..count-1) that computes `config`: a deterministic function of its work key."""
    return int(work_key(config), 16) % count


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


def _user_models() -> dict[str, tuple[str, str, str]]:
    """Models registered in this process by name (not by import path): name -> (module, qualname, like), so that
    worker processes can register them too."""
    from ..models import LIKE, MODELS, ZOO
    return {name: (f.__module__, f.__qualname__, LIKE[name]) for name, f in MODELS.items()
            if name not in ZOO and ":" not in name}


def _init_worker(threads: int, models: dict[str, tuple[str, str, str]] | None = None) -> None:
    from ..models import MODELS, register_model
    for name, (module, qualname, like) in (models or {}).items():  # the parent's own models, where importable
        try:
            factory = importlib.import_module(module)
            for part in qualname.split("."):
                factory = getattr(factory, part)
        except (ImportError, AttributeError):
            continue  # (defined in a function or a notebook: the run says the model is unknown)
        if name not in MODELS:
            register_model(name, factory, like=like)
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
