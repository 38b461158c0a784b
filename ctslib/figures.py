"""The runs behind every figure and table of the reproduction book, and the command that precomputes them.

    python -m ctslib.figures --scale cpu                    # every run of the book, with progress bars
    python -m ctslib.figures --scale cpu --figures fig2,table2
    python -m ctslib.figures --scale paper --shard 0/8      # worker 0 of 8 (e.g. a SLURM array task)
    python -m ctslib.figures --scale cpu --dry-run          # what would run, per figure

Each figure has a `<figure>_configs(model, dataset, scale, densities, seeds) -> list[RunConfig]`; any
argument left None takes the figure's default at that scale (`setting`). The notebooks call these,
then `collect` (the run store's `collect` plus display names) or `objective_values` / `layer_frame`,
then a `ctslib.plots` function. A config's identity is its run id, so figures that need the same run
share it: fig6 and table2 reuse fig2's runs, table1 reuses fig4's, fig1 and fig7 reuse fig2's
pruning-at-initialisation runs, and every LTR density comes from one chain of rounds per seed.

Choices (the paper leaves them open or the CPU budget forces them):
- Densities are powers of LTR's keep fraction, 0.8^n, so one LTR chain serves every density; the
  paper's own densities are on that grid (Table I's 1.44% = 0.8^19, Table II's 98.2/99.3/99.7%
  sparsity = 0.8^18, 0.8^22, 0.8^26).
- SNIP, GraSP, SynFlow and random pruning are applied at initialisation (rewind_step 0): they are
  pruning-at-initialisation methods, and the paper says so for random pruning. CTS and LTR draw at
  the rewind step k of the preset. CTS_L "at initialisation" (Figs. 4-5) searches on theta_0.
- Smoke and cpu scale use Fashion-MNIST for every model (CIFAR-10 cannot be downloaded on the
  development machine); ResNet-20 runs on a subset there, fewer densities and one seed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import presets
from .config import RunConfig
from .threads import apply_threads, resolve_threads

if TYPE_CHECKING:
    from .workers import Done

FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8", "table1", "table2")
TITLES = {
    "fig1": "Fig. 1: saliency pruning on its own objectives, at initialisation",
    "fig2": "Fig. 2: sparsity-accuracy trade-off, CTS vs LTR and pruning at initialisation",
    "fig3": "Fig. 3: the six CTS objectives",
    "fig4": "Fig. 4: sanity checks, first model",
    "fig5": "Fig. 5: sanity checks, second model",
    "fig6": "Fig. 6: layerwise density of the tickets",
    "fig7": "Fig. 7: objective values at initialisation",
    "fig8": "Fig. 8: objective values at the rewind step",
    "table1": "Table I: methods at one high sparsity",
    "table2": "Table II: CTS_KL vs LTR, accuracy and time",
}
OBJECTIVES = ("task", "delta_loss", "grad_norm", "kl", "feature", "grad")
# Pruning-at-initialisation baselines (drawn at rewind_step 0) and the methods drawn at the rewind step.
PAI_METHODS = ("snip", "grasp", "synflow", "random")
# The paper's saliency baseline for each objective (Section V-E): SNIP for R_L and R_dL, GraSP for R_-|grad|,
# the generic saliency |dR/ds| (method 'saliency') for the rest.
SALIENCY_FOR = {"task": "snip", "delta_loss": "snip", "grad_norm": "grasp", "kl": "saliency",
                "feature": "saliency", "grad": "saliency"}

# The model each figure shows by default: the paper's at paper scale; at smoke/cpu scale LeNet-300-100 (and
# ResNet-20 for the second sanity-check figure), on Fashion-MNIST.
_PAPER_MODELS = {"fig1": "vgg16", "fig2": "resnet20", "fig3": "resnet20", "fig4": "resnet20", "fig5": "vgg16",
                 "fig6": "resnet20", "fig7": "resnet20", "fig8": "resnet20", "table1": "resnet20",
                 "table2": "resnet20"}
_CPU_MODELS = {f: ("resnet20" if f == "fig5" else "lenet300") for f in FIGURES}
DEFAULT_MODELS = {"smoke": _CPU_MODELS, "cpu": _CPU_MODELS, "paper": _PAPER_MODELS}

# Where the book asks less of a model than its preset, to keep the whole cpu book within ~40 minutes on two
# cores (a ResNet-20 step is ~0.25 s there): fewer images and epochs. The preset stays what `ctslib run` uses.
BOOK_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("cpu", "resnet20"): dict(train_examples=2560, test_examples=2000, epochs=3, milestones=(2,)),
    ("cpu", "vgg16"): dict(train_examples=1280, test_examples=1000, epochs=2, milestones=(1,)),
}
# Exponents n of the densities 0.8^n where a figure does not take the preset's whole grid.
_SANITY_ROUNDS = {("smoke", "resnet20"): (10,), ("smoke", "vgg16"): (10,),
                  ("cpu", "resnet20"): (9, 18), ("cpu", "vgg16"): (10, 20)}
_TABLE1_ROUNDS = {"smoke": 10, "cpu": 19, "paper": 19}           # paper: 1.44% density = 0.8^19
_TABLE2_ROUNDS = {"smoke": (3, 6, 10), "cpu": (18, 22, 26), "paper": (18, 22, 26)}  # 98.2, 99.3, 99.7% sparsity
# Objective values are averaged over this many fixed training batches (the same for every ticket).
EVAL_BATCHES = {"smoke": 1, "cpu": 4, "paper": 8}


# --- settings ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """What a figure runs: its scale, model, dataset, densities (sparsest last) and seeds."""

    figure: str
    scale: str
    model: str
    dataset: str
    densities: tuple[float, ...]
    seeds: tuple[int, ...]

    def base(self, **overrides: Any) -> RunConfig:
        return base_config(self.scale, self.model, self.dataset, **overrides)


def resolve_scale(scale: str | None) -> str:
    return presets.check_preset(scale) if scale else presets.default_scale()


def default_dataset(scale: str, model: str) -> str:
    """Fashion-MNIST for every model at smoke/cpu scale (the data this machine has); the paper's otherwise."""
    return "fashion_mnist" if scale in ("smoke", "cpu") else presets.MODEL_DATASET[model]


def base_config(scale: str, model: str, dataset: str | None = None, **overrides: Any) -> RunConfig:
    """The preset's config for `model` at `scale`, with the book's lighter settings where it has some."""
    dataset = dataset or default_dataset(scale, model)
    return presets.base_config(scale, model, dataset, **{**BOOK_OVERRIDES.get((scale, model), {}), **overrides})


def keep_fraction(scale: str, model: str) -> float:
    return 1 - base_config(scale, model).ltr_rate


def on_grid(rounds: Iterable[int], scale: str, model: str) -> tuple[float, ...]:
    """The densities keep^n for the given n (computed as the presets compute theirs, so run ids agree)."""
    keep = keep_fraction(scale, model)
    return tuple(keep ** n for n in rounds)


def _thin(grid: Sequence[float], keep: int = 4) -> tuple[float, ...]:
    """At most `keep` densities of `grid`, spread evenly and always including the sparsest."""
    grid = tuple(grid)
    if len(grid) <= keep:
        return grid
    step = len(grid) / keep
    picks = sorted({len(grid) - 1 - int(round(i * step)) for i in range(keep)})
    return tuple(grid[i] for i in picks)


def default_densities(figure: str, scale: str, model: str) -> tuple[float, ...]:
    """The densities `figure` shows at `scale` by default (all on the 0.8^n grid, sparsest last)."""
    grid = presets.default_densities(scale, model)
    if figure == "fig2":
        return grid
    if figure in ("fig4", "fig5") and (scale, model) in _SANITY_ROUNDS:
        return on_grid(_SANITY_ROUNDS[(scale, model)], scale, model)
    if figure in ("fig3", "fig4", "fig7", "fig8") and scale == "smoke":
        return grid[-1:]  # many runs per density: one density keeps the smoke notebooks within seconds
    if figure in ("fig7", "fig8") and scale == "cpu":
        return _thin(grid, 4)[1:]  # the sparser three of fig1's / fig3's densities: keeps the cpu book ~40 min
    if figure in ("fig1", "fig3", "fig4", "fig5", "fig7", "fig8"):
        return _thin(grid, 4)
    if figure == "fig6":
        return (grid[len(grid) // 2], grid[-1]) if len(grid) > 1 else grid
    if figure == "table1":
        return on_grid((_TABLE1_ROUNDS[scale],), scale, model)
    if figure == "table2":
        return on_grid(_TABLE2_ROUNDS[scale], scale, model)
    raise ValueError(f"unknown figure {figure!r}; choose one of: {', '.join(FIGURES)}")


def default_seeds(figure: str, scale: str, model: str) -> tuple[int, ...]:
    seeds = presets.default_seeds(scale)
    if scale == "cpu" and (figure in ("fig7", "fig8") or model not in ("lenet300",)):
        return seeds[:1]  # the objective figures have no confidence bands in the paper; conv nets are slow here
    return seeds


def setting(figure: str, model: str | None = None, dataset: str | None = None, scale: str | None = None,
            densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> Setting:
    """`figure`'s setting, every None replaced by the figure's default at `scale` (None: $CTS_SCALE, else cpu)."""
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r}; choose one of: {', '.join(FIGURES)}")
    scale = resolve_scale(scale)
    model = model or DEFAULT_MODELS[scale][figure]
    dataset = dataset or default_dataset(scale, model)
    base_config(scale, model, dataset)  # validates model, dataset and scale together
    dens = tuple(float(d) for d in densities) if densities is not None else default_densities(figure, scale, model)
    if not dens:
        raise ValueError(f"{figure} needs at least one density")
    seeds_ = tuple(int(s) for s in seeds) if seeds is not None else default_seeds(figure, scale, model)
    if not seeds_:
        raise ValueError(f"{figure} needs at least one seed")
    return Setting(figure, scale, model, dataset, tuple(sorted(dens, reverse=True)), seeds_)


# --- the configs of each figure --------------------------------------------------------------------------

def _unique(configs: Iterable[RunConfig]) -> list[RunConfig]:
    return list({c.run_id: c for c in configs}.values())


def _sweep(s: Setting, **fields: Any) -> list[RunConfig]:
    return [s.base(density=d, seed=seed, **fields) for d in s.densities for seed in s.seeds]


def _quick(s: Setting) -> float:
    return s.base().epochs * presets.QUICK_FRACTION


def _at_k(s: Setting) -> int:
    return s.base().rewind_step


def fig1_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                 densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """SNIP and GraSP at initialisation, scored on R_dL and R_-|grad L| against LTR, magnitude and random."""
    s = setting("fig1", model, dataset, scale, densities, seeds)
    configs = []
    for method in ("snip", "grasp", "magnitude", "random"):
        configs += _sweep(s, method=method, rewind_step=0)
    configs += _sweep(s, method="ltr")
    return _unique(configs)


def fig2_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                 densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """CTS_KL and CTS_L (GRADBALANCE, at the rewind step) vs LTR, SNIP, GraSP, SynFlow, random, and the dense net."""
    s = setting("fig2", model, dataset, scale, densities, seeds)
    configs = _sweep(s, method="cts", objective="kl") + _sweep(s, method="cts", objective="task")
    configs += _sweep(s, method="ltr")
    for method in PAI_METHODS:
        configs += _sweep(s, method=method, rewind_step=0)
    configs += [s.base(method="dense", density=1.0, rewind_step=0, seed=seed) for seed in s.seeds]
    return _unique(configs)


def fig3_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                 densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """CTS with each of the six objectives (GRADBALANCE, at the rewind step)."""
    s = setting("fig3", model, dataset, scale, densities, seeds)
    return _unique(c for objective in OBJECTIVES for c in _sweep(s, method="cts", objective=objective))


def _sanity(figure: str, model, dataset, scale, densities, seeds) -> list[RunConfig]:
    s = setting(figure, model, dataset, scale, densities, seeds)
    configs = []
    for ablation in ("", "shuffle", "invert"):                       # CTS_KL at the rewind step
        configs += _sweep(s, method="cts", objective="kl", ablation=ablation)
    for ablation in ("", "shuffle", "invert", "reinit"):             # CTS_L searched on the initial weights
        configs += _sweep(s, method="cts", objective="task", rewind_step=0, ablation=ablation)
    return _unique(configs)


def fig4_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                 densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """Sanity checks (layerwise shuffle, score inversion; reinitialisation for CTS_L at init), first model."""
    return _sanity("fig4", model, dataset, scale, densities, seeds)


def fig5_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                 densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """As fig4, on the second model (ResNet-20 at smoke/cpu scale, VGG-16 at paper scale)."""
    return _sanity("fig5", model, dataset, scale, densities, seeds)


def fig6_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                 densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """The tickets of random pruning, LTR, SynFlow, CTS_KL and CTS_L (fig2's runs)."""
    s = setting("fig6", model, dataset, scale, densities, seeds)
    configs = _sweep(s, method="random", rewind_step=0) + _sweep(s, method="ltr")
    configs += _sweep(s, method="synflow", rewind_step=0)
    configs += _sweep(s, method="cts", objective="kl") + _sweep(s, method="cts", objective="task")
    return _unique(configs)


def _objective_configs(s: Setting, objectives: Sequence[str], rewind_step: int) -> list[RunConfig]:
    configs = []
    for objective in objectives:                                    # Quick CTS, both gradient steps
        for step in ("gradbalance", "lagrange"):
            configs += _sweep(s, method="cts", objective=objective, step=step, search_epochs=_quick(s),
                              rewind_step=rewind_step)
        saliency = SALIENCY_FOR[objective]
        extra = {"objective": objective} if saliency == "saliency" else {}
        configs += _sweep(s, method=saliency, rewind_step=rewind_step, **extra)
    for method in ("random", "magnitude"):
        configs += _sweep(s, method=method, rewind_step=rewind_step)
    configs += _sweep(s, method="ltr")                                # LTR: its usual ticket, rewound to k
    return _unique(configs)


def fig7_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                 densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """Tickets drawn at initialisation for R_L and R_-|grad L| (Quick CTS GRADBALANCE/LAGRANGE, SNIP, GraSP,
    random, magnitude) and LTR's ticket; scored at initialisation (`objective_values(..., at='init')`)."""
    s = setting("fig7", model, dataset, scale, densities, seeds)
    return _objective_configs(s, ("task", "grad_norm"), rewind_step=0)


def fig8_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                 densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """As fig7 for all six objectives, every ticket drawn at the rewind step and scored there (`at='rewind'`)."""
    s = setting("fig8", model, dataset, scale, densities, seeds)
    return _objective_configs(s, OBJECTIVES, rewind_step=_at_k(s))


TABLE1_METHODS = ("ltr", "snip", "grasp", "synflow", "quick_cts_kl", "cts_kl")


def _table1_base(s: Setting, method: str, **fields: Any) -> list[RunConfig]:
    if method == "cts_kl":
        return _sweep(s, method="cts", objective="kl", **fields)
    if method == "quick_cts_kl":
        return _sweep(s, method="cts", objective="kl", search_epochs=_quick(s), **fields)
    if method == "ltr":
        return _sweep(s, method="ltr", **fields)
    return _sweep(s, method=method, rewind_step=0, **fields)


def table1_ablations(config: RunConfig) -> tuple[str, ...]:
    """The sanity checks a method is held to: reinitialisation only for tickets drawn at initialisation."""
    return ("shuffle", "invert", "reinit") if config.rewind_step == 0 else ("shuffle", "invert")


def table1_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                   densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """At one density (paper: 1.44%): LTR, SNIP, GraSP, SynFlow, Quick CTS_KL and CTS_KL, each with its ablations."""
    s = setting("table1", model, dataset, scale, densities, seeds)
    configs = []
    for method in TABLE1_METHODS:
        bases = _table1_base(s, method)
        configs += bases
        for ablation in table1_ablations(bases[0]):
            configs += _table1_base(s, method, ablation=ablation)
    return _unique(configs)


def table2_configs(model: str | None = None, dataset: str | None = None, scale: str | None = None,
                   densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> list[RunConfig]:
    """CTS_KL and LTR at three densities (paper: 98.2, 99.3 and 99.7% sparsity)."""
    s = setting("table2", model, dataset, scale, densities, seeds)
    return _unique(_sweep(s, method="cts", objective="kl") + _sweep(s, method="ltr"))


CONFIGS = {name: globals()[f"{name}_configs"] for name in FIGURES}
OBJECTIVE_FIGURES = {"fig1": "init", "fig7": "init", "fig8": "rewind"}   # where each scores its tickets
FIGURE_OBJECTIVES = {"fig1": ("delta_loss", "grad_norm"), "fig7": ("task", "grad_norm"), "fig8": OBJECTIVES}


def figure_configs(figure: str, **kwargs: Any) -> list[RunConfig]:
    if figure not in CONFIGS:
        raise ValueError(f"unknown figure {figure!r}; choose one of: {', '.join(FIGURES)}")
    return CONFIGS[figure](**kwargs)


def all_configs(scale: str | None = None, figures: Iterable[str] | None = None, **kwargs: Any) -> list[RunConfig]:
    """Every run the chosen figures (default: all) need at `scale`, each once."""
    return _unique(c for f in (figures or FIGURES) for c in figure_configs(f, scale=scale, **kwargs))


# --- names ---------------------------------------------------------------------------------------------

OBJECTIVE_SYMBOLS = {"task": "L", "delta_loss": "ΔL", "grad_norm": "-‖∇L‖", "kl": "KL", "feature": "feature",
                     "grad": "grad"}
OBJECTIVE_TITLES = {"task": "R_L (task loss)", "delta_loss": "R_ΔL (relative change of loss)",
                    "grad_norm": "R_-‖∇L‖ (minus gradient norm)", "kl": "R_KL (reverse KL to the dense net)",
                    "feature": "R_feature (feature matching)", "grad": "R_grad (gradient matching)"}
METHOD_NAMES = {"ltr": "LTR", "snip": "SNIP", "grasp": "GraSP", "synflow": "SynFlow", "random": "random",
                "magnitude": "magnitude", "dense": "dense"}
MODEL_NAMES = {"lenet300": "LeNet-300-100", "resnet20": "ResNet-20", "vgg16": "VGG-16", "resnet50": "ResNet-50"}
DATASET_NAMES = {"fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "imagenet": "ImageNet"}
DATASET_SIZES = {"fashion_mnist": (60_000, 10_000), "cifar10": (50_000, 10_000), "imagenet": (1_281_167, 50_000)}


def is_quick(config: RunConfig) -> bool:
    return config.method == "cts" and math.isclose(config.search_epochs, config.epochs * presets.QUICK_FRACTION)


def display_name(config: RunConfig) -> str:
    """The name a figure gives a run: CTS_KL, Quick CTS_L (LAGRANGE), CTS_L at init, SNIP, saliency_KL, LTR, ..."""
    symbol = OBJECTIVE_SYMBOLS.get(config.objective, config.objective)
    if config.method == "cts":
        name = f"{'Quick ' if is_quick(config) else ''}CTS_{symbol}"
        if config.step == "lagrange":
            name += " (LAGRANGE)"
        if config.rewind_step == 0:
            name += " at init"
    elif config.method == "saliency":
        name = f"saliency_{symbol}"
    else:
        name = METHOD_NAMES.get(config.method, config.method)
    return name


def ablation_name(ablation: str) -> str:
    return {"": "none (the ticket)", "shuffle": "layerwise shuffle", "invert": "score inversion",
            "reinit": "reinitialisation"}.get(ablation, ablation)


# --- data frames ------------------------------------------------------------------------------------------

def _store(store):
    from .store import RunStore
    return store if store is not None else RunStore()


def collect(configs: Sequence[RunConfig], store=None, compute: bool = True, progress: bool = False):
    """`store.collect` (one row per run) plus `name` (display name), `family` (name without the
    ablation), `ablation_name` and `sparsity`."""
    from .store import collect as store_collect
    configs = list(configs)
    df = store_collect(configs, _store(store), compute=compute, progress=progress)
    names = {c.run_id: display_name(c) for c in configs}
    df["name"] = df["run_id"].map(names)
    df["family"] = df["name"]
    df["ablation_name"] = df["ablation"].map(ablation_name)
    df["sparsity"] = 1 - df["density"]
    return df


def layer_frame(configs: Sequence[RunConfig], store=None, compute: bool = True):
    """One row per (run, prunable layer): name, density, seed, layer, layer index, layer density and size."""
    import pandas as pd
    store = _store(store)
    rows = []
    for config in configs:
        record = store.get(config, compute=compute)
        for index, (layer, info) in enumerate(record.get("layers", {}).items()):
            rows.append(dict(run_id=config.run_id, name=display_name(config), method=config.method,
                             density=config.density, seed=config.seed, layer=layer, layer_index=index,
                             layer_density=info["density"], layer_size=info["size"]))
    return pd.DataFrame(rows)


def objective_panels(config: RunConfig, objectives: Sequence[str] = OBJECTIVES) -> list[str]:
    """The objective panels a run is drawn in: CTS and saliency in their own objective's (SNIP in R_L's and
    R_dL's, GraSP in R_-|grad L|'s), the objective-free baselines (random, magnitude, LTR) in every panel."""
    if config.method in ("cts", "saliency"):
        own = [config.objective]
    elif config.method in ("snip", "grasp"):
        own = [o for o, m in SALIENCY_FOR.items() if m == config.method]
    else:
        own = list(OBJECTIVES)
    return [o for o in objectives if o in own]


def objective_line_name(config: RunConfig) -> str:
    """Line names of Figs. 1, 7, 8: Quick CTS (GRADBALANCE), Quick CTS (LAGRANGE), SNIP/GraSP/saliency, ..."""
    if config.method == "cts":
        return f"{'Quick ' if is_quick(config) else ''}CTS ({config.step.upper()})"
    if config.method == "saliency":
        return "saliency"
    return METHOD_NAMES.get(config.method, config.method)


def _objective_cache(store, config: RunConfig, at: str, n_batches: int) -> Path:
    return Path(store.root) / "_book" / "objectives" / f"{config.run_id}-{at}-{n_batches}.json"


@lru_cache(maxsize=4)
def _train_data(dataset: str, train_examples: int, device: str):
    from .pipeline import load_data
    config = RunConfig(dataset=dataset, train_examples=train_examples)
    return load_data(config, _device(device))[0]


def _device(name: str):
    from .pipeline import resolve_device
    return resolve_device(name)


def weights_at(config: RunConfig, at: str, store=None):
    """`config`'s model with the weights it had when its ticket was drawn: theta_0 (`at='init'`) or theta_k
    (`at='rewind'`, the run store's shared rewind point of this seed and recipe)."""
    from .pipeline import make_model, rewound_model
    from .training import steps_at_batch
    if at not in ("init", "rewind"):
        raise ValueError(f"at must be 'init' or 'rewind', got {at!r}")
    device = _device(config.device)
    if at == "init" or steps_at_batch(config.rewind_step, config.batch_size) == 0:
        return make_model(config, device)
    rewind = _store(store).load_rewind(config)
    if rewind is None:  # a store without the shared rewind point (older store): compute it again
        return rewound_model(config, device)
    model = make_model(config, device)
    model.load_state_dict({k: v.to(device) for k, v in rewind["state"].items()})
    return model


def ticket_objectives(config: RunConfig, at: str, store=None, n_batches: int | None = None,
                      compute: bool = True) -> dict[str, float]:
    """All six objective values of `config`'s ticket on the weights `at` ('init' | 'rewind'), averaged over
    `n_batches` fixed training batches (the same for every ticket); cached beside the run store."""
    from .sanity import fixed_eval_batches, score_ticket_objectives
    store = _store(store)
    scale = _scale_of(config)
    n_batches = n_batches or EVAL_BATCHES.get(scale, 4)
    path = _objective_cache(store, config, at, n_batches)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    ticket = store.ticket(config, compute=compute)
    model = weights_at(config, at, store)
    data = _train_data(config.dataset, config.train_examples, config.device)
    batches = fixed_eval_batches(data, n_batches, config.batch_size, seed=0)
    values = score_ticket_objectives(model, ticket, batches)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(values))
    os.replace(tmp, path)
    return values


def _scale_of(config: RunConfig) -> str:
    """The preset a config was built from (by its epochs and data), for per-scale defaults."""
    for scale in presets.PRESETS:
        try:
            b = base_config(scale, config.model, config.dataset)
        except ValueError:
            continue
        if (b.epochs, b.train_examples, b.batch_size) == (config.epochs, config.train_examples, config.batch_size):
            return scale
    return "cpu"


def objective_values(configs: Sequence[RunConfig], at: str, store=None, objectives: Sequence[str] = OBJECTIVES,
                     compute: bool = True, progress: bool = False):
    """One row per (run, objective panel it belongs to): line name, density, seed, objective, value.

    `value` is R as defined in `ctslib.objectives` (smaller is better; for grad_norm it is minus the norm).
    """
    import pandas as pd
    from tqdm.auto import tqdm
    store = _store(store)
    rows = []
    for config in tqdm(configs, desc=f"objectives at {at}", disable=not progress, unit="ticket"):
        panels = objective_panels(config, objectives)
        if not panels or config.method == "dense":
            continue
        values = ticket_objectives(config, at, store, compute=compute)
        for objective in panels:
            rows.append(dict(run_id=config.run_id, name=objective_line_name(config), method=config.method,
                             step=config.step, density=config.density, seed=config.seed, objective=objective,
                             value=values[objective], at=at))
    return pd.DataFrame(rows)


# --- captions --------------------------------------------------------------------------------------------

def describe(configs: Sequence[RunConfig]) -> str:
    """The scale of a set of runs in one sentence: model, data, epochs, rewind step, search, seeds."""
    configs = list(configs)
    if not configs:
        return "no runs"
    c = configs[0]
    train, test = DATASET_SIZES.get(c.dataset, (0, 0))
    n_train = c.train_examples or train
    n_test = c.test_examples or test
    seeds = sorted({x.seed for x in configs})
    scale = _scale_of(c)
    ks = sorted({x.rewind_step for x in configs})
    k = ks[-1]
    where = ("tickets drawn at initialisation" if k == 0 else
             f"tickets drawn after k = {k} iterations (at batch 128)" +
             (" or at initialisation (0), as the text says" if ks[0] == 0 else ""))
    full = sorted({x.search_epochs for x in configs if x.method == "cts" and not is_quick(x)})
    quick = sorted({x.search_epochs for x in configs if is_quick(x)})
    searches = ([f"CTS searches {full[0]:g} epoch{'s' if full[0] != 1 else ''}"] if full else []) + \
        ([f"Quick CTS {quick[0]:g} epoch{'s' if quick[0] != 1 else ''}"] if quick else [])
    search = "; " + " and ".join(searches) if searches else ""
    return (f"**Scale `{scale}`**: {MODEL_NAMES.get(c.model, c.model)} on {DATASET_NAMES.get(c.dataset, c.dataset)} "
            f"({n_train:,} training / {n_test:,} test images), {c.epochs} epochs of SGD (lr {c.lr:g}, batch "
            f"{c.batch_size}, momentum {c.momentum:g}, weight decay {c.weight_decay:g}, lr /10 at epochs "
            f"{', '.join(map(str, c.milestones)) or '-'}); {where}"
            f"{search}; {len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))}).")


PAPER_NOTES = {
    "fig1": "VGG-16 on CIFAR-10 at initialisation: tickets drawn by saliency pruning rarely outperform the "
            "baselines (LTR's ticket, magnitude pruning), even on the objectives they are designed to optimise. "
            "The paper gives no numbers.",
    "fig2": "ResNet-20 and VGG-16 on CIFAR-10, 160 epochs, 3 seeds: CTS outperforms LTR in the sparse regime and "
            "remains comparable throughout. ResNet-20 top-1 at 98.2 / 99.3 / 99.7% sparsity: CTS_KL 81.7 / 74.0 / "
            "58.8%, LTR 83.5 / 68.3 / 55.7% (Table II; the abstract's 74.0% vs 68.3%). At 1.44% density: SNIP "
            "67.73%, GraSP 62.59%, SynFlow 70.18%, CTS_KL 80.26%, LTR 80.90% (Table I). Dense ResNet-20: 92.12%.",
    "fig3": "ResNet-20 and VGG-16 on CIFAR-10: tickets drawn under R_-‖∇L‖, R_feature and R_grad cannot match those "
            "drawn under R_KL, R_ΔL and R_L; maximising the gradient norm is particularly weak. No numbers given.",
    "fig4": "ResNet-20 on CIFAR-10, 3 seeds: CTS_KL and CTS_L (at initialisation) consistently outperform their "
            "sanity-check ablations, especially in the sparse regime. No numbers given.",
    "fig5": "VGG-16 on CIFAR-10, 3 seeds: as Fig. 4, CTS consistently outperforms its ablations. No numbers given.",
    "fig6": "ResNet-20 and VGG-16 on CIFAR-10: all non-random methods prune with similar layerwise ratios and keep a "
            "large share of the first and last layer (VGG-16's last layer is always dense). No numbers given.",
    "fig7": "ResNet-20 and VGG-16 on CIFAR-10, Quick CTS, every method at initialisation: both versions of Quick CTS "
            "excel on both objectives, with orders of magnitude larger gradient norms (log scale); GRADBALANCE is "
            "more consistent than LAGRANGE.",
    "fig8": "ResNet-20 and VGG-16 on CIFAR-10, Quick CTS, every method at the rewind step: both versions of Quick CTS "
            "excel on all non-defective objectives (R_grad is the exception), GRADBALANCE more so than LAGRANGE; on "
            "ResNet-20, LTR is worse than all but random on every objective but R_-‖∇L‖.",
    "table1": "Table I, ResNet-20 on CIFAR-10 at 1.44% density (rewind k = 3000): the paper's columns are beside "
              "this build's.",
    "table2": "Table II, ResNet-20 on CIFAR-10 (160 epochs; CTS_KL searches 160 epochs): the paper's numbers are "
              "beside this build's. ResNet-50 on ImageNet (Table II's lower half) is not run at this scale.",
}


def caption(figure: str, configs: Sequence[RunConfig]) -> str:
    """The markdown caption under a figure: this build's scale, then the paper's corresponding result."""
    return (f"**{TITLES[figure]}.** This build: {describe(configs)}\n\n"
            f"**Paper:** {PAPER_NOTES[figure]}")


# --- the command -------------------------------------------------------------------------------------------

def _parse_figures(text: str | None) -> list[str]:
    if not text:
        return list(FIGURES)
    names = [t.strip() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in FIGURES]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown figure(s) {', '.join(bad)}; choose from: {', '.join(FIGURES)}")
    return names


def plan(scale: str, figures: Sequence[str], **kwargs: Any) -> dict[str, list[RunConfig]]:
    return {f: figure_configs(f, scale=scale, **kwargs) for f in figures}


def _run_name(config: RunConfig) -> str:
    return (f"{display_name(config)}{'+' + config.ablation if config.ablation else ''} {config.model} "
            f"d={config.density:.4g} seed={config.seed}")


def _report(done: Done, bar: Any, progress: bool, failed: list) -> None:
    """One finished run: a line without progress bars; a failure is kept for the end."""
    if not done.ok:
        failed.append((done.config, done.error))
        bar.write(f"FAILED {_run_name(done.config)}: {done.error}", file=sys.stderr)
    elif not progress:
        took = "cached" if done.cached else f"{done.record['seconds']['total']:.1f} s"
        print(f"{done.config.run_id} {_run_name(done.config)}: top-1 {done.record['metrics']['top1']:.2%} ({took})",
              flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    from .cli import parse_shard
    from .workers import parse_workers
    parser = argparse.ArgumentParser(prog="python -m ctslib.figures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default=None, help="smoke | cpu | paper (default: $CTS_SCALE, else cpu)")
    parser.add_argument("--figures", type=_parse_figures, default=None,
                        help=f"comma-separated subset of {','.join(FIGURES)} (default: all)")
    parser.add_argument("--model", default=None, help="run every chosen figure on this model (default: each figure's)")
    parser.add_argument("--dataset", default=None, help="with --model: its dataset")
    parser.add_argument("--store", default=None, help="run store folder (default: $CTS_STORE, else ~/.cache/ctslib/runs)")
    parser.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                        help="compute only worker I's part of N (0-based); N workers share one store")
    parser.add_argument("--workers", type=parse_workers, default=None, metavar="N",
                        help="local processes computing runs side by side, one torch thread each (default: auto = one "
                             "per core on a CPU-only machine, 1 with a GPU or under torchrun)")
    parser.add_argument("--threads", default=None, metavar="N|auto",
                        help="torch threads when the runs are computed in this process (--workers 1); default: "
                             "$CTS_THREADS, else auto (ctslib/threads.py)")
    parser.add_argument("--dry-run", action="store_true", help="list the runs per figure, compute nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (one line per run instead)")
    args = parser.parse_args(argv)

    from . import distributed as dist
    from .store import RunStore, compute_order, select_shard
    from .workers import Done, compute_runs, default_workers
    from tqdm.auto import tqdm
    try:
        scale = resolve_scale(args.scale)
        figures = args.figures or list(FIGURES)
        kwargs = {k: v for k, v in (("model", args.model), ("dataset", args.dataset)) if v}
        per_figure = plan(scale, figures, **kwargs)
        resolve_threads(args.threads)
    except ValueError as err:
        parser.exit(2, f"python -m ctslib.figures: error: {err}\n")
    configs = _unique(c for cs in per_figure.values() for c in cs)
    total = len(configs)
    if args.shard is not None:
        configs = select_shard(configs, *args.shard)
    configs = compute_order(configs)
    store = RunStore(args.store)
    if args.dry_run:
        for f, cs in per_figure.items():
            new = sum(1 for c in cs if not store.has(c))
            print(f"{f:<7} {len(cs):>4} runs ({new} not in the store)  {TITLES[f]}")
        print(f"{len(configs)} of {total} runs for this worker; store {store.root}")
        return 0
    if dist.launched():
        dist.init()
        workers = 1  # every rank takes part in each run
    else:
        workers = args.workers if args.workers is not None else default_workers()
    main_rank = dist.is_main()
    progress = not args.no_progress and main_rank
    if main_rank:
        print(f"ctslib.figures: {len(configs)} runs at scale {scale!r} for {', '.join(figures)}"
              f"{f' (shard {args.shard[0]}/{args.shard[1]} of {total})' if args.shard else ''}; store {store.root}",
              flush=True)
    start = time.perf_counter()
    computed, failed = 0, []
    bar = tqdm(total=len(configs), desc=f"runs ({scale})", unit="run", disable=not progress, file=sys.stderr)
    try:
        if workers > 1:  # a pool of single-thread processes; the bar moves as runs finish
            def heartbeat(groups: list[list[RunConfig]]) -> None:  # what the workers are on, the clock ticking
                bar.set_postfix_str("computing " + "; ".join(
                    f"{_run_name(g[0])}" + (f" (chain of {len(g)})" if len(g) > 1 else "") for g in groups),
                    refresh=False)
                bar.refresh()

            for done in compute_runs(store.root, configs, workers=workers, heartbeat=heartbeat if progress else None):
                computed += not done.cached
                bar.update()
                _report(done, bar, progress, failed)
        else:
            apply_threads(args.threads)
            for config in configs:
                bar.set_postfix_str(_run_name(config), refresh=True)
                cached = store.has(config) if main_rank else False
                record = store.get(config, progress=progress)
                computed += not cached
                bar.update()
                if main_rank:
                    _report(Done(config, record, cached), bar, progress, failed)
        bar.close()
        if main_rank and not failed:  # objective values of the tickets of Figs. 1, 7, 8 (cached beside the store)
            mine = {c.run_id for c in configs}
            for f, at in OBJECTIVE_FIGURES.items():
                if f in per_figure:
                    objective_values([c for c in per_figure[f] if c.run_id in mine], at, store,
                                     FIGURE_OBJECTIVES[f], progress=progress)
    finally:
        if dist.launched():
            dist.shutdown()
    if main_rank:
        print(f"ctslib.figures: {len(configs) - len(failed)} runs ready ({computed} computed, "
              f"{len(configs) - computed} from the store) in {time.perf_counter() - start:.0f} s"
              f"{f' on {workers} workers' if workers > 1 else ''}", flush=True)
        for config, error in failed:
            print(f"FAILED {config.run_id} {_run_name(config)}: {error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
