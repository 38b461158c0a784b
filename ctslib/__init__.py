"""ctslib: Concrete Ticket Search (CTS) and the lottery-ticket baselines it is compared against.

    import ctslib
    model = ctslib.build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    result = ctslib.search(model, ctslib.Batches(ctslib.load_dataset("fashion_mnist", "train"), 128),
                           density=0.01, objective="kl", steps=1500)
    ticket = result.ticket                                      # the one currency: a Ticket

Three layers, imports pointing down only:
- the core (this package's modules): tickets, data, models, objectives, cts (Algorithms 1-3), training, pruners
  (pure score functions), sanity (the ablations). It imports nothing of runs or report.
- `ctslib.runs`: the experiment engine: a run as a config, presets, method records, the pipeline, the run store,
  sweeps. It imports nothing of report.
- `ctslib.report`: the book: figure specs, frames, claims, tables, plots, the mask explorer.

The names below are loaded on first use, so `import ctslib` imports neither torch nor pandas (and can first ask
torch's OpenMP threads to wait passively: `ctslib.threads`).
"""

from __future__ import annotations

import importlib
from typing import Any

from .threads import prefer_passive_waiting as _prefer_passive_waiting

_prefer_passive_waiting()  # before anything loads torch: its OpenMP runtime reads OMP_WAIT_POLICY once (threads.py)

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "Ticket": "tickets", "prunable_names": "tickets", "prunable_parameters": "tickets",
    "save_safetensors": "tickets", "load_safetensors": "tickets",
    "Batches": "data", "ImageData": "data", "load_dataset": "data",
    "build_model": "models",
    "OBJECTIVES": "objectives", "get_objective": "objectives", "evaluate_objectives": "objectives",
    "search": "cts", "ConcreteSearch": "cts", "SearchSettings": "cts", "SearchResult": "cts",
    "Schedule": "training", "train": "training", "evaluate": "training",
    "snip": "pruners", "snip_scores": "pruners", "grasp": "pruners", "grasp_scores": "pruners", "synflow": "pruners",
    "synflow_scores": "pruners", "saliency": "pruners", "saliency_scores": "pruners", "ltr": "pruners",
    "scoring_batches": "pruners",
    "layerwise_shuffle": "sanity", "invert": "sanity", "invert_layerwise": "sanity", "reinitialize": "sanity",
    "RunConfig": "runs.config", "base_config": "runs.presets", "grid": "runs.presets", "METHODS": "runs.methods",
    "execute": "runs.pipeline", "RunStore": "runs.store", "sweep": "runs.sweep",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ctslib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
