"""Runs as tidy tables for the figures: one row per run, per (run, layer), or per (run, objective panel).

    df = collect(configs, store)                     # config fields, metrics, seconds, epochs, name, sparsity
    layers = layer_frame(configs, store)             # per-layer densities (Fig. 6)
    kinds = by_kind(layers, kind_of)                 # pooled by kind of layer (a ViT's Q, K, V, ...)
    values = objective_values(configs, "init", ...)  # objective values of each ticket (Figs. 1, 7, 8)

Missing runs are computed (`compute=True`) or left out with a warning. Objective values are computed once per
(ticket, weights, batches) and cached beside the run store (`<store>/_book/objectives/`).
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import fields
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from ..files import atomic_write
from ..objectives import PAPER_OBJECTIVES
from ..runs.config import RunConfig
from ..runs.methods import METHODS, label
from ..runs.pipeline import load_data, make_model, rewound_model
from ..runs.runtime import resolve_device
from ..runs.store import RunNotFound, RunStore
from ..runs.eta import duration, estimates
from ..runs.sweep import compute_order, default_workers, sweep
from ..sanity import fixed_eval_batches, score_ticket_objectives
from ..training import steps_at_batch
from .names import ablation_name, objective_line_name

COLUMNS_AFTER_CONFIG = ("run_id", "label", "top1", "top3", "top5", "loss", "ticket_density", "num_kept", "num_total",
                        "seconds_rewind", "seconds_draw", "seconds_train", "seconds_test", "seconds_total",
                        "epochs_rewind", "epochs_draw", "epochs_train", "epochs_total", "finished")


def record_row(record: dict) -> dict[str, Any]:
    """One tidy row: every config field, then the run's metrics, seconds and epochs.

    `density` is the requested density (the config's); `ticket_density` the kept fraction actually drawn.
    """
    config = RunConfig.from_dict(record["config"])
    row: dict[str, Any] = {k: v for k, v in config.to_dict().items()}
    row["milestones"] = tuple(config.milestones)
    m = record["metrics"]
    row.update(run_id=record["run_id"], label=config.label, top1=m.get("top1"), top3=m.get("top3"), top5=m.get("top5"),
               loss=m.get("loss"), ticket_density=m.get("density"), num_kept=m.get("num_kept"),
               num_total=m.get("num_total"), finished=record.get("finished"))
    for phase in ("rewind", "draw", "train", "test", "total"):
        row[f"seconds_{phase}"] = record["seconds"].get(phase)
    for phase in ("rewind", "draw", "train", "total"):
        row[f"epochs_{phase}"] = record["epochs"].get(phase)
    return row


def _store(store: RunStore | None) -> RunStore:
    return store if store is not None else RunStore()


def compute_missing(configs: Iterable[RunConfig], store: RunStore | None = None,
                    progress: bool | None = None) -> None:
    """Compute the runs of `configs` that `store` lacks (nothing if it has them all): on the sweep's worker pool,
    one process per core, when they are more than about a minute of work; the runs done and the time left are
    shown as they finish (`progress`, default on a terminal: a bar; else a line per run, which papermill's
    --log-output streams). A failed run raises, after the others have finished and been stored."""
    store = _store(store)
    missing = [c for c in compute_order(list(configs)) if not store.has(c)]
    if not missing:
        return
    if progress is None:
        progress = sys.stderr.isatty()
    estimate = sum(estimates(missing).values())
    workers = default_workers() if estimate > 60 else 1
    print(f"computing {len(missing)} runs into {store.root} on {workers} worker{'s' if workers > 1 else ''}: about "
          f"{duration(estimate / workers)} at the development machine's speed (the estimate follows this "
          f"machine's pace as runs finish)", flush=True)
    result = sweep(missing, store, workers=workers, progress=progress)
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} of {len(missing)} runs failed, first: "
                           f"{result.failed[0].config.run_id} {result.failed[0].error}")


def collect(configs: Iterable[RunConfig], store: RunStore | None = None, compute: bool = True,
            progress: bool | None = None) -> pd.DataFrame:
    """One row per config (in the given order): its config fields and results (`record_row`), plus `name`
    (the run's label), `family` (the same; an ablation's rows share their ticket's), `ablation_name` and
    `sparsity`. Missing runs are computed (`compute_missing`, with `progress`) or, with `compute=False`, left
    out with a warning."""
    store = _store(store)
    configs = list(configs)
    if compute:
        compute_missing(configs, store, progress)
    records: dict[str, dict] = {}
    missing = 0
    for config in compute_order(configs):
        try:
            records[config.run_id] = store.get(config, compute=compute)
        except RunNotFound:
            missing += 1
    if missing:
        warnings.warn(f"{missing} of {len(set(c.run_id for c in configs))} runs are not in the store {store.root} "
                      f"and were left out (collect(..., compute=True) computes them)", stacklevel=2)
    columns = [f.name for f in fields(RunConfig)] + list(COLUMNS_AFTER_CONFIG)
    df = pd.DataFrame([record_row(records[c.run_id]) for c in configs if c.run_id in records], columns=columns)
    df["name"] = df["label"]
    df["family"] = df["name"]
    df["ablation_name"] = df["ablation"].map(ablation_name)
    df["sparsity"] = 1 - df["density"]
    return df


def layer_frame(configs: Sequence[RunConfig], store: RunStore | None = None, compute: bool = True) -> pd.DataFrame:
    """One row per (run, prunable layer): name, density, seed, layer, layer index, layer density and size."""
    store = _store(store)
    if compute:
        compute_missing(configs, store)
    rows = []
    for config in configs:
        record = store.get(config, compute=compute)
        for index, (layer, info) in enumerate(record.get("layers", {}).items()):
            rows.append(dict(run_id=config.run_id, name=label(config), method=config.method,
                             density=config.density, seed=config.seed, layer=layer, layer_index=index,
                             layer_density=info["density"], layer_size=info["size"]))
    return pd.DataFrame(rows)


def by_kind(layers: pd.DataFrame, kind_of: Callable[[str], str], names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """`layer_frame`'s rows pooled by kind of layer (`kind_of(layer name)`: e.g. a ViT's Q, K, V, attention output,
    MLP in and out): one row per (run, kind) whose `layer_density` is the kind's kept weights over its size (all
    its layers together), `layer_size` that size, `layer_index` the kind's order of first appearance, and `layer`
    its name (`names`, else the kind). The same columns as `layer_frame`, so `plots.layerwise_density` draws it."""
    names = dict(names or {})
    df = layers.assign(kind=layers["layer"].map(kind_of), kept=layers["layer_density"] * layers["layer_size"])
    order = {k: i for i, k in enumerate(dict.fromkeys(df.sort_values("layer_index", kind="stable")["kind"]))}
    keys = ["run_id", "name", "method", "density", "seed", "kind"]
    out = df.groupby(keys, sort=False).agg(kept=("kept", "sum"), layer_size=("layer_size", "sum")).reset_index()
    out["layer_density"] = out["kept"] / out["layer_size"]
    out["layer_index"] = out["kind"].map(order)
    out["layer"] = out["kind"].map(lambda k: names.get(k, k))
    return out.drop(columns="kept")


# --- objective values of tickets (Figs. 1, 7, 8) -------------------------------------------------------------

def objective_panels(config: RunConfig, objectives: Sequence[str] = PAPER_OBJECTIVES) -> list[str]:
    """The objective panels a run is drawn in: CTS and saliency in their own objective's (SNIP in R_L's and
    R_dL's, GraSP in R_-|grad L|'s: `Method.baseline_for`), the objective-free baselines (random, magnitude, LTR)
    in every panel."""
    method = METHODS[config.method]
    if method.uses_objective:
        own = [config.objective]
    elif method.baseline_for:
        own = list(method.baseline_for)
    else:
        own = list(PAPER_OBJECTIVES)
    return [o for o in objectives if o in own]


@lru_cache(maxsize=4)
def _held_out_data(dataset: str, device: str):
    """The whole test split of `dataset`: data no method trained or searched on (the objective values)."""
    return load_data(RunConfig(dataset=dataset), resolve_device(device))[1]


def weights_at(config: RunConfig, at: str, store: RunStore | None = None) -> nn.Module:
    """`config`'s model with the weights it had when its ticket was drawn: theta_0 (`at='init'`) or theta_k
    (`at='rewind'`, the run store's shared rewind point of this seed and recipe)."""
    if at not in ("init", "rewind"):
        raise ValueError(f"at must be 'init' or 'rewind', got {at!r}")
    device = resolve_device(config.device)
    if at == "init" or steps_at_batch(config.rewind_step, config.batch_size) == 0:
        return make_model(config, device)
    rewind = _store(store).load_rewind(config)
    if rewind is None:  # a store without the shared rewind point (older store): compute it again
        return rewound_model(config, device)
    model = make_model(config, device)
    model.load_state_dict({k: v.to(device) for k, v in rewind["state"].items()})
    return model


def ticket_objectives(config: RunConfig, at: str, n_batches: int, store: RunStore | None = None,
                      compute: bool = True) -> dict[str, float]:
    """All six objective values of `config`'s ticket on the weights `at` ('init' | 'rewind'), averaged over
    `n_batches` fixed batches of the test split (held out: no search or score saw them, so CTS, which optimised
    its objective on training batches, is not favoured in-sample; the same batches for every ticket); cached
    beside the run store."""
    store = _store(store)
    path = Path(store.root) / "_book" / "objectives" / f"{config.run_id}-{at}-{n_batches}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    ticket = store.ticket(config, compute=compute)
    model = weights_at(config, at, store)
    data = _held_out_data(config.dataset, config.device)
    batches = fixed_eval_batches(data, n_batches, config.batch_size, seed=0)
    values = score_ticket_objectives(model, ticket, batches)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: json.dump(values, f), mode="w")
    return values


def objective_values(configs: Sequence[RunConfig], at: str, n_batches: int, store: RunStore | None = None,
                     objectives: Sequence[str] = PAPER_OBJECTIVES, compute: bool = True,
                     progress: bool = False) -> pd.DataFrame:
    """One row per (run, objective panel it belongs to): line name, density, seed, objective, value.

    `value` is R as defined in `ctslib.objectives` (smaller is better; for grad_norm it is minus the norm).
    """
    store = _store(store)
    if compute:
        compute_missing(configs, store, progress or None)
    rows = []
    for config in tqdm(configs, desc=f"objectives at {at}", disable=not progress, unit="ticket"):
        panels = objective_panels(config, objectives)
        if not panels or config.method == "dense":
            continue
        values = ticket_objectives(config, at, n_batches, store, compute=compute)
        for objective in panels:
            rows.append(dict(run_id=config.run_id, name=objective_line_name(config), method=config.method,
                             step=config.step, density=config.density, seed=config.seed, objective=objective,
                             value=values[objective], at=at))
    return pd.DataFrame(rows)
