"""Scale presets: the same experiment at three sizes, from a config per (scale, model).

| scale   | for                          | data                                   | schedule                                   |
|---------|------------------------------|----------------------------------------|--------------------------------------------|
| `smoke` | tests, seconds per run       | 2000 training / 1000 test (conv: less) | 2 epochs, 0.5 search epochs, tiny rewind   |
| `cpu`   | the default: a laptop        | a subset (LeNet: 15,000 training)      | 4 epochs (conv: 2-3), the paper's proportions |
| `paper` | GPUs: Section V-A exactly    | CIFAR-10 / ImageNet                    | 160 / 90 epochs, see below                 |

Every scale above smoke keeps the paper's proportions (`protocol`): CTS searches as many epochs as the network
trains (Quick CTS 1/8 of that, Half CTS 1/2), the rewind point k sits at the paper's fraction of training
(ResNet-20 and LeNet 4.8%, VGG-16 9.6%, ResNet-50 20%), LTR prunes 20% per round, 3 seeds. Where the budget
forces a cut it is cut in training examples or in the middle of a density grid, never in the search.

`paper` is the paper's Section V-A: CIFAR-10 ResNet-20 and VGG-16 for 160 epochs at batch 512, SGD
(momentum 0.9, weight decay 1e-3), lr 0.1 divided by 10 at epochs 80 and 120, flips and 4-pixel shifts,
rewinding to k = 3000 (ResNet-20) / 6000 (VGG-16) iterations at batch 128, BatchNorm without running
statistics, CTS searching as long as training (160 epochs; `quick=True`: Quick CTS, 1/8 = 20 epochs),
LTR pruning 20% per round, 3 seeds. ImageNet ResNet-50: 90 epochs at batch 1024, lr 0.4 with 5 warm-up
epochs, /10 at 30, 60, 80, weight decay 1e-4, rewind 18 epochs, Half CTS (45 search epochs), LTR 53.58%
per round. LeNet-300-100 / Fashion-MNIST is not in the paper, so it has no `paper` preset; ResNet-50 /
ImageNet has only the `paper` preset.

Measured on the 2-core development machine (an AMD EPYC VM, AVX2; torch 2.13 CPU, one torch thread per worker):
`cpu` LeNet-300-100, the main job (CTS_KL at 1%, the first step of `make run`): rewind 0.5 s, draw 6.5 s (4 search
epochs of 118 steps on 15,000 images: 1.6 s an epoch), training 2.5 s, 9.6 s in all; LTR's chain to 0.8^40 is 40
rounds of training (~3 min, once per seed, serving every density). Seed 0 at this preset (the cold book's runs):
dense 85.4% (85.2% over 3 seeds); at 51.2 / 13.4 / 3.5 / 0.92 / 0.24 / 0.079 / 0.032 / 0.013% density LTR 86.5,
87.0, 86.4, 84.8, 83.2, 79.0, 67.4, 16.9%, CTS_KL 85.4, 84.0, 83.2, 81.2, 70.0, 50.7, 42.5, 10.0%, random 86.1,
84.4, 80.3, 31.6% and 10% from 0.24% down. The conv nets at cpu scale run on a subset of Fashion-MNIST, a few
epochs. ResNet-20's cpu preset is its evidence set (the book's chapter "The paper's model on CPU"): 8,192 images, 2
epochs at batch 64 without augmentation (dense 83.0%), k = 6 iterations, Table II's densities and 0.12%; a training
step at batch 128 is 0.79 s here in channels_last, a run 2-4 min, the whole set of 135 runs ~8.7 core-hours
(`eta`), so its runs are committed under results/resnet20-fmnist and never computed by a book build. The ViT (the
chapter "Self-attention", not in the paper: smoke and cpu presets only) trains on 8,192 images for 4 epochs, a dense
run 14 s on one thread (78.6%, seed 0, 4,000 test images; scripts/vit_sizing.py); its 201 runs (1.7 core-hours) are
committed under results/vit-fmnist. `paper` runs are GPU hours (Section V-A).
"""

from __future__ import annotations

import os
from itertools import product
from typing import Any, Iterable, Sequence

from ..data import DATASETS
from ..models import preset_model
from .config import RunConfig
from .methods import HALF_FRACTION, QUICK_FRACTION, get_method

PRESETS = ("smoke", "cpu", "paper")
DEFAULT_PRESET = "cpu"
# The paper's dataset of each model (paper scale). At smoke and cpu scale every model runs on Fashion-MNIST,
# the data this machine has (CIFAR-10 and ImageNet cannot be downloaded here): `default_dataset`.
MODEL_DATASET = {"lenet300": "fashion_mnist", "resnet20": "cifar10", "vgg16": "cifar10", "resnet50": "imagenet",
                 "vit": "fashion_mnist"}
IMAGENET_TRAIN_EXAMPLES = DATASETS["imagenet"].train_size

# The paper's proportions (Section V-A), the rule of every scale above smoke (`_settings` applies it; smoke keeps
# its tiny schedules, for speed): CTS searches as many epochs as the network trains (160 for 160; Quick CTS
# searches QUICK_FRACTION = 1/8 of that, Half CTS HALF_FRACTION = 1/2), the rewind point k sits at the paper's
# fraction of training, LTR prunes 20% per round (ResNet-50: 53.58%), 3 seeds. k's fractions are the paper's
# iterations: ResNet-20 k = 3000 of 160 epochs x 50,000 / 128 iterations (4.8%), VGG-16 6000 (9.6%), ResNet-50
# 18 of 90 epochs (20%); LeNet-300-100 and the ViT, not in the paper, take ResNet-20's (4.8%).
SEARCH_FRACTION = 1.0
REWIND_FRACTION = {"lenet300": 3000 / (160 * 50_000 / 128), "resnet20": 3000 / (160 * 50_000 / 128),
                   "vgg16": 6000 / (160 * 50_000 / 128), "resnet50": 18 / 90, "vit": 3000 / (160 * 50_000 / 128)}
PROTOCOL_SCALES = ("cpu", "paper")
_SEEDS = {"smoke": (0,), "cpu": (0, 1, 2), "paper": (0, 1, 2)}

# Per (scale, model): the fields that differ from RunConfig's defaults; above smoke, search_epochs and
# rewind_step come from the rule above.
_SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    # --- smoke: seconds per run; meaningless accuracies, every code path exercised
    ("smoke", "lenet300"): dict(train_examples=2000, test_examples=1000, epochs=2, milestones=(1,), batch_size=128,
                                rewind_step=8, search_epochs=0.5, ltr_rate=0.2),
    ("smoke", "resnet20"): dict(train_examples=256, test_examples=128, epochs=2, milestones=(1,), batch_size=64,
                                rewind_step=2, search_epochs=0.5, augment=True),
    ("smoke", "vgg16"): dict(train_examples=256, test_examples=128, epochs=2, milestones=(1,), batch_size=64,
                             rewind_step=2, search_epochs=0.5, augment=True),
    ("smoke", "vit"): dict(train_examples=256, test_examples=128, epochs=2, milestones=(1,), batch_size=64,
                           rewind_step=2, search_epochs=0.5, warmup_epochs=0.5, augment=False),
    # --- cpu: real data, the paper's proportions on a laptop's budget (see the module docstring)
    # a quarter of Fashion-MNIST's training set: the paper's proportions (4 search epochs for 4 of training) cost
    # 3x the old 1-epoch search, and the budget is cut in examples, never in the search
    ("cpu", "lenet300"): dict(train_examples=15_000, epochs=4, milestones=(2, 3), batch_size=128, lr=0.1,
                              weight_decay=1e-3, augment=False),
    # ResNet-20's evidence set (the paper's model on CPU: figures.evidence_runs), sized to ~8 core-hours for every run
    # of Figs. 2 and 4 and Table II at 3 seeds (see the module docstring): 8,192 images x 2 epochs at batch 64 (256
    # steps, k = 6 at batch 128) train the dense net to 83.0% (10,000 test images); without augmentation (75.6% ->
    # 80.3% at batch 128: flips and shifts only slow such a short training) and at batch 64 (80.3% -> 83.0% for the
    # same 111 s; batch 32: 83.1%)
    ("cpu", "resnet20"): dict(train_examples=8192, test_examples=4000, epochs=2, milestones=(1,), batch_size=64,
                              augment=False),
    # the ViT (the chapter "Self-attention", figures.FIGURES["vit"]): 8,192 images x 4 epochs at batch 128, lr 0.1
    # after half an epoch of linear warm-up (SGD with momentum as every model here; transformers usually train with
    # Adam, which the paper's protocol does not use), dropped /10 at epochs 2 and 3: a dense run 14 s on one core, 78.6%
    ("cpu", "vit"): dict(train_examples=8192, test_examples=4000, epochs=4, milestones=(2, 3), batch_size=128, lr=0.1,
                         weight_decay=1e-3, warmup_epochs=0.5, augment=False),
    ("cpu", "vgg16"): dict(train_examples=1280, test_examples=1000, epochs=2, milestones=(1,), batch_size=128,
                           augment=True),
    # --- paper: Section V-A
    ("paper", "resnet20"): dict(epochs=160, batch_size=512, lr=0.1, momentum=0.9, weight_decay=1e-3,
                                milestones=(80, 120), augment=True, ltr_rate=0.2, track_running_stats=False),
    ("paper", "vgg16"): dict(epochs=160, batch_size=512, lr=0.1, momentum=0.9, weight_decay=1e-3,
                             milestones=(80, 120), augment=True, ltr_rate=0.2, track_running_stats=False),
    ("paper", "resnet50"): dict(epochs=90, batch_size=1024, lr=0.4, momentum=0.9, weight_decay=1e-4,
                                milestones=(30, 60, 80), warmup_epochs=5.0, augment=True,
                                search_fraction=HALF_FRACTION,  # Half CTS (Section V-B)
                                ltr_rate=0.5358, track_running_stats=False),
}


def protocol(scale: str, model: str, dataset: str, fields_: dict[str, Any]) -> dict[str, Any]:
    """`fields_` with the paper's proportions applied (scales in PROTOCOL_SCALES): search_epochs = the training
    epochs x SEARCH_FRACTION (or the setting's `search_fraction`), rewind_step = REWIND_FRACTION of the training
    iterations at batch 128 (on the run's training examples)."""
    fields_ = dict(fields_)
    fraction = fields_.pop("search_fraction", SEARCH_FRACTION)
    if scale not in PROTOCOL_SCALES or dataset not in DATASETS:  # RunConfig refuses an unknown dataset, naming it
        return fields_
    epochs = fields_.get("epochs", RunConfig.epochs)
    examples = fields_.get("train_examples") or DATASETS[dataset].train_size
    fields_["search_epochs"] = float(epochs * fraction)
    fields_["rewind_step"] = round(REWIND_FRACTION[preset_model(model)] * epochs * examples / 128)
    return fields_


# Densities: powers of LTR's keep fraction (1 - ltr_rate)^n, so every density is on LTR's chain (one LTR
# run per seed serves them all). ResNet-50: 10x, 100x, 1000x compression (Section V-B).
_DENSITY_ROUNDS: dict[tuple[str, str], tuple[int, ...]] = {
    ("smoke", "lenet300"): (3, 10),
    ("smoke", "resnet20"): (3, 10),
    ("smoke", "vgg16"): (3, 10),
    ("smoke", "vit"): (3, 10),
    # down past where LTR has lost >= 7.66 pp from dense (the highly sparse regime of the claims by their transfer rule,
    # ctslib.report.verdicts; the grid predates the rule, which was fixed from the authors' LTR alone):
    # measured (3 seeds, vs dense 85.2%): LTR -6 pp at 0.8^32, -17 pp at 0.8^36, -49 pp at 0.8^40; the middle is thinned
    ("cpu", "lenet300"): (3, 9, 15, 21, 27, 32, 36, 40),
    # ResNet-20's evidence set: the paper's Table II sparsities (98.2, 99.3, 99.7% = 0.8^18, 0.8^22, 0.8^26) and
    # one more (0.12%), below LTR's breakdown
    ("cpu", "resnet20"): (18, 22, 26, 30),
    ("cpu", "vgg16"): (5, 10, 15, 20, 25),
    # the ViT: LTR keeps 62% at 0.8^28 (0.19%, 112 weights; dense 78.1%), so the grid runs to 0.8^34 (29 weights),
    # where it has broken down (29%; 3 seeds)
    ("cpu", "vit"): (4, 10, 16, 22, 28, 34),
    ("paper", "resnet20"): (3, 6, 9, 12, 15, 18, 21, 24),
    ("paper", "vgg16"): (5, 10, 15, 20, 24, 27, 30, 33),
    ("paper", "resnet50"): (3, 6, 9),
}
# Where a figure takes fewer densities than the grid (exponents n of (1 - ltr_rate)^n): the sanity-check figures
# on the conv nets, Table I's one density (the paper's 1.44% = 0.8^19) and Table II's three (98.2, 99.3, 99.7%
# sparsity = 0.8^18, 0.8^22, 0.8^26).
SANITY_ROUNDS = {("smoke", "resnet20"): (10,), ("smoke", "vgg16"): (10,), ("smoke", "vit"): (10,),
                 ("cpu", "resnet20"): (18, 26), ("cpu", "vgg16"): (10, 20), ("cpu", "vit"): (16, 28)}
TABLE1_ROUNDS = {"smoke": (10,), "cpu": (19,), "paper": (19,)}
# Table II at cpu scale: where LeNet's LTR has lost 6, 17 and 49 pp (0.8^32, 0.8^36, 0.8^40), about as ResNet-20's has at
# the paper's 98.2, 99.3 and 99.7% sparsity (8.6, 23.7, 36.5 pp in the authors' runs); on fig2's grid, so shared.
# ResNet-20 at cpu scale (its evidence set) takes the paper's own three.
TABLE2_ROUNDS = {"smoke": (3, 6, 10), "cpu": (32, 36, 40), "paper": (18, 22, 26), ("cpu", "resnet20"): (18, 22, 26)}
# "What the paper leaves open" (the open choices of the search): two densities of the highly sparse regime
# (cpu: LeNet's LTR -6 and -17 pp; paper: Table II's 99.3 and 99.7% sparsity).
OPEN_ROUNDS = {"smoke": (10,), "cpu": (32, 36), "paper": (22, 26)}
# The training budgets of the chapter "Does CTS catch up with more training?" (report.figures.FIGURES["budget"]):
# multiples of the cpu preset's LeNet-300-100 training in SGD steps (4 epochs of 15,000 images at batch 128: 472
# steps), every other choice in the paper's proportions (CTS searches as long as it trains, Quick CTS 1/8, the rewind
# point at 4.8%, LTR 20% per round, the lr dropped 10x at 1/2 and 3/4 of training). The largest spends its 16x steps
# on the whole training set (60,000 images, 16 epochs). Sized by ctslib.runs.eta before it started, for the set's 225
# runs (6 methods x 4 densities x 3 seeds and the dense net, per budget): 0.28 + 0.97 + 3.70 = 4.95 core-hours; cut:
# 64 epochs of all 60,000 images (64x the steps) would cost 14.7 by eta and 32 epochs of them 7.4, past the ~6
# core-hours the set may take.
BUDGETS: dict[int, dict[str, Any]] = {1: dict(epochs=4, train_examples=15_000, milestones=(2, 3)),
                                      4: dict(epochs=16, train_examples=15_000, milestones=(8, 12)),
                                      16: dict(epochs=16, train_examples=0, milestones=(8, 12))}
# Its densities, fixed before any CTS run of the set by the claims page's regime rule (report.verdicts.regimes: the
# LTR-only transfer, highly sparse from a 7.66 pp drop) on LTR's runs at x1 (3 seeds, dense 85.04%): LTR is within
# 1 pp of dense down to 0.8^25 (0.38%: -0.88 pp; 0.8^26: -1.40) and has lost 7.66 pp from 0.8^33 (0.063%: -8.60;
# 0.8^32: -6.65). The rule: the sparsest round of the matching regime, and the first round of the highly sparse one
# with the rounds 2 and 4 beyond it (LTR -13.85 pp at 0.8^35, -24.76 at 0.8^37): the same at every budget.
BUDGET_ROUNDS = (25, 33, 35, 37)
# Objective values (Figs. 1, 7, 8) are averaged over this many fixed held-out batches (of the test split; the same
# for every ticket).
EVAL_BATCHES = {"smoke": 1, "cpu": 4, "paper": 8}


# --- the rehearsal of the paper preset ------------------------------------------------------------------------
#
# $CTS_REHEARSE=1 (`ctslib --rehearse ...`, `ctslib rehearse`) keeps every choice of the `paper` preset but its sizes:
# the paper's models, data formats and augmentation (CIFAR-10's pickles, ImageNet's JPEG folders), its schedules (lr
# drops at the same fractions of training, ResNet-50's warm-up), its proportions (CTS searching as long as training,
# Quick 1/8, Half 1/2; LTR 20% / 53.58% per round), BatchNorm without running statistics, channels_last, DDP; with
# seconds-long runs on data generated in those formats (`runs.rehearsal`), one density and one seed for every figure.
# The rewind point stays in iterations at batch 128: at these sizes the paper's 4.8% (ResNet-20) or 9.6% (VGG-16) of
# training rounds to 0, so it is 1 iteration (the smallest that rewinds) for the CIFAR-10 models; for ResNet-50, where
# one iteration at batch 128 would be 32 of its rehearsal steps, it rounds to 0 (its rewind phase is the same code,
# rehearsed on the CIFAR-10 models).
REHEARSAL_VARIABLE = "CTS_REHEARSE"
_REHEARSAL: dict[str, dict[str, Any]] = {  # (SynFlow's 100 scoring rounds are a size too: 10 min of VGG-16 here)
    "resnet20": dict(epochs=4, milestones=(2, 3), batch_size=32, train_examples=64, test_examples=32,
                     synflow_rounds=2),
    "vgg16": dict(epochs=4, milestones=(2, 3), batch_size=32, train_examples=64, test_examples=32, synflow_rounds=2),
    "resnet50": dict(epochs=2, milestones=(1, 1, 2), warmup_epochs=2 * 5 / 90, batch_size=4, train_examples=8,
                     test_examples=4, synflow_rounds=2),
}
REHEARSAL_ROUNDS = {"resnet20": 3, "vgg16": 3, "resnet50": 1}  # its one density: 51.2% (46.4% for ResNet-50)


def rehearsing() -> bool:
    """Whether the `paper` preset is rehearsed ($CTS_REHEARSE set to anything but '' or '0')."""
    return os.environ.get(REHEARSAL_VARIABLE, "") not in ("", "0")


def _rehearsed(scale: str, model: str, fields_: dict[str, Any]) -> dict[str, Any]:
    if scale != "paper" or not rehearsing():
        return fields_
    return {**fields_, **_REHEARSAL[preset_model(model)]}


def check_preset(scale: str) -> str:
    """`scale` if it names a preset, else a ValueError naming it and the valid ones."""
    if scale not in PRESETS:
        raise ValueError(f"unknown preset {scale!r}; choose one of: {', '.join(PRESETS)}")
    return scale


def default_scale() -> str:
    """The scale from $CTS_SCALE (what notebooks use), else 'cpu'."""
    return check_preset(os.environ.get("CTS_SCALE") or DEFAULT_PRESET)


def resolve_scale(scale: str | None) -> str:
    """`scale` checked, or the default scale ($CTS_SCALE, else 'cpu') for None or ''."""
    return check_preset(scale) if scale else default_scale()


def default_dataset(scale: str | None, model: str) -> str:
    """Fashion-MNIST for every model at smoke/cpu scale (the data this machine has); the paper's otherwise."""
    return "fashion_mnist" if resolve_scale(scale) in ("smoke", "cpu") else MODEL_DATASET[preset_model(model)]


def _settings(scale: str | None, model: str) -> tuple[str, dict[str, Any]]:
    """The preset's fields for `model` (your own model: those of the zoo model it is registered like)."""
    scale = resolve_scale(scale)
    like = preset_model(model)  # raises, naming the model, if there is no such model
    if (scale, like) not in _SETTINGS:
        have = [s for s in PRESETS if (s, like) in _SETTINGS]
        raise ValueError(f"preset {scale!r} has no setting for model {model!r}"
                         + (f" (presets of {like})" if like != model else "")
                         + f" (the paper's settings cover resnet20, vgg16 and resnet50); "
                         f"for {model} use preset {' or '.join(repr(s) for s in have)}")
    return scale, _rehearsed(scale, like, dict(_SETTINGS[(scale, like)]))


def base_config(scale: str | None = None, model: str = "lenet300", dataset: str | None = None, *,
                quick: bool = False, **overrides: Any) -> RunConfig:
    """The config of `model` at `scale` ('smoke' | 'cpu' | 'paper'; None: $CTS_SCALE, else 'cpu').

    `dataset` defaults to `default_dataset(scale, model)` (Fashion-MNIST at smoke and cpu scale, the paper's
    dataset at paper scale). `quick=True` is Quick CTS (search for 1/8 of the training epochs). `overrides` are
    any RunConfig fields (method, density, objective, seed, ...) and win over the preset. Above smoke the paper's
    proportions follow the overridden schedule (`--epochs 8` searches 8 epochs and rewinds to 4.8% of 8 epochs),
    unless `search_epochs` or `rewind_step` is given explicitly.
    """
    scale, fields_ = _settings(scale, model)
    fields_.update(model=model, dataset=dataset or default_dataset(scale, model))
    fields_.update({k: v for k, v in overrides.items() if k not in ("search_epochs", "rewind_step")})
    fields_ = protocol(scale, model, fields_["dataset"], fields_)
    if scale == "paper" and rehearsing() and preset_model(model) != "resnet50":  # (see _REHEARSAL)
        fields_["rewind_step"] = max(1, fields_["rewind_step"])
    if quick:
        fields_["search_epochs"] = fields_.get("epochs", RunConfig.epochs) * QUICK_FRACTION
    fields_.update(overrides)
    return RunConfig.from_dict(fields_)


def on_grid(rounds: Iterable[int], scale: str | None = None, model: str = "lenet300") -> tuple[float, ...]:
    """The densities (1 - ltr_rate)^n for the given exponents n: on LTR's chain, so one LTR run per seed serves
    them all (computed one way everywhere, so run ids agree)."""
    scale, fields_ = _settings(scale, model)
    keep = 1 - fields_.get("ltr_rate", RunConfig.ltr_rate)
    if scale == "paper" and rehearsing():  # every figure's grid is the rehearsal's one density
        return (keep ** REHEARSAL_ROUNDS[preset_model(model)],)
    return tuple(keep ** n for n in rounds)


def default_densities(scale: str | None = None, model: str = "lenet300") -> tuple[float, ...]:
    """The densities a figure at `scale` sweeps: (1 - ltr_rate)^n, on LTR's chain, sparsest last."""
    scale, _ = _settings(scale, model)
    return on_grid(_DENSITY_ROUNDS[(scale, preset_model(model))], scale, model)


def default_seeds(scale: str | None = None) -> tuple[int, ...]:
    scale = resolve_scale(scale)
    return (0,) if scale == "paper" and rehearsing() else _SEEDS[scale]


def grid(scale: str | None = None, model: str = "lenet300", *, methods: Sequence[str] = ("cts",),
         objectives: Sequence[str] = ("kl",), densities: Iterable[float] | None = None,
         seeds: Iterable[int] | None = None, dataset: str | None = None, quick: bool = False,
         **overrides: Any) -> list[RunConfig]:
    """Every config of a sweep: methods x objectives (for CTS and saliency) x densities x seeds.

    Densities and seeds default to the preset's; `dense` runs once per seed at density 1.
    """
    densities = tuple(densities) if densities is not None else default_densities(scale, model)
    seeds = tuple(seeds) if seeds is not None else default_seeds(scale)
    configs: list[RunConfig] = []
    for method in methods:
        objs = objectives if get_method(method).uses_objective else (overrides.get("objective", RunConfig.objective),)
        dens = (1.0,) if method == "dense" else densities
        for objective, density, seed in product(objs, dens, seeds):
            configs.append(base_config(scale, model, dataset, quick=quick,
                                       **{**overrides, "method": method, "objective": objective,
                                          "density": density, "seed": seed}))
    return list({c.run_id: c for c in configs}.values())
