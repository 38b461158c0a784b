"""A run is a frozen config; its identity is a stable hash of every field.

`run_id` names a run; `rewind_key` names the rewind point it shares with every run that differs only in how
the ticket is drawn, and `chain_key` the chain of tickets (LTR's rounds) it shares with every run that differs
only in density.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Iterable

from ..cts import STEPS, SearchSettings
from ..data import DATASETS
from ..models import SHORTCUT_KERNELS, SHORTCUT_MODELS, resolve_model, takes_shortcut_kernel
from ..objectives import OBJECTIVES
from ..sanity import ABLATIONS
from ..tickets import check_density
from ..training import Schedule
from .methods import METHODS, label

# The version of what a config produces. Bump it with any change to the code that changes a run's outcome for the
# same config (a ticket, trained weights, an objective value): it is part of every run id and shared key, so a store
# never serves a record computed by older code as the new code's. 2: BatchNorm gamma ~ U(0, 1), R_feature on
# post-ReLU layer activations, global score inversion, SynFlow's cumulative scores, the paper's proportions, the
# LAGRANGE multiplier's learning rate dropped 10x with the mask's (and set by scripts/lagrange_lr.py).
RESULTS_VERSION = 2

# Config fields the rewind point does not depend on (everything else does; a new field is kept by default).
NOT_REWIND_FIELDS = ("method", "density", "objective", "step", "search_epochs", "lagrange_lr", "tau", "eta",
                     "kappa_eff_factor", "concrete_form", "lam_start", "search_lr_drop_at", "lagrange_optimizer",
                     "objective_scale", "sparsity_scale", "ltr_rate", "synflow_rounds", "ablation", "test_examples")
# Config fields a chain of tickets (LTR's rounds) does not depend on.
NOT_CHAIN_FIELDS = ("density", "ablation", "test_examples")


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides the outcome of one run: data, model, how the ticket is drawn, how it is trained.

    Iteration counts follow the paper: `rewind_step` k is in iterations at batch size 128.
    """

    dataset: str = "fashion_mnist"
    model: str = "lenet300"
    method: str = "cts"
    density: float = 0.01
    objective: str = "kl"            # CTS objective, or the objective of `saliency`
    step: str = "gradbalance"        # CTS gradient step: gradbalance | lagrange
    search_epochs: float = 3.0       # CTS: epochs of ticket search (paper: = training epochs; Quick CTS: 1/8)
    lagrange_lr: float = SearchSettings.lagrange_lr  # CTS with step lagrange: the multiplier's learning rate
    # CTS, the choices the paper leaves open or its authors' code makes differently (SearchSettings; the paper's
    # values by default; "What the paper leaves open" in the book measures them):
    tau: float = SearchSettings.tau                   # Concrete temperature
    eta: float = SearchSettings.eta                   # GRADBALANCE's smoothing of lambda
    kappa_eff_factor: float = SearchSettings.kappa_eff_factor  # GRADBALANCE enforces kappa_eff = factor x kappa
    concrete_form: str = SearchSettings.concrete_form  # paper | authors_code
    lam_start: str = SearchSettings.lam_start          # zero | first_target
    search_lr_drop_at: float = SearchSettings.lr_drop_at  # the search's 10x learning-rate drop, fraction of its steps
    lagrange_optimizer: str = SearchSettings.lagrange_optimizer  # LAGRANGE's ascent: adam | sgd (the authors' code)
    objective_scale: float = SearchSettings.objective_scale  # the search minimises objective_scale x R (their code 100)
    sparsity_scale: float = SearchSettings.sparsity_scale    # ... + lambda x sparsity_scale x L_sparsity (their code 100)
    rewind_step: int = 469           # k, iterations at batch 128 (0: draw at initialisation)
    epochs: int = 20                 # T, whole training schedule in epochs
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-3
    milestones: tuple[int, ...] = (10, 15)
    warmup_epochs: float = 0.0
    augment: bool = False
    clip_grad_norm: float = 0.0      # training: clip the gradient's L2 norm to this (0: never; the authors' code: 2.0)
    train_examples: int = 0          # 0: the whole training set; else a fixed random subset of this size
    test_examples: int = 0           # 0: the whole test set; else a fixed random subset of this size
    ltr_rate: float = 0.2            # LTR: fraction of remaining weights pruned per round
    synflow_rounds: int = 100
    ablation: str = ""               # sanity check applied to the drawn ticket: sanity.ABLATIONS
    track_running_stats: bool = False
    shortcut_kernel: int = 1         # CIFAR ResNets: kernel of the projection shortcut (1: open_lth's; their code: 3)
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        resolve_model(self.model)  # the zoo, a registered model or 'module:factory'; else says so
        checks = [("dataset", self.dataset, DATASETS),
                  ("method", self.method, METHODS), ("objective", self.objective, OBJECTIVES),
                  ("step", self.step, STEPS)]
        for field_name, value, valid in checks:
            if value not in valid:
                raise ValueError(f"unknown {field_name} {value!r}; choose one of: {', '.join(valid)}")
        if self.ablation and self.ablation not in ABLATIONS:
            raise ValueError(f"unknown ablation {self.ablation!r}; choose one of: {', '.join(ABLATIONS)} (or '')")
        check_density(self.density)
        for field_name in ("train_examples", "test_examples"):
            if getattr(self, field_name) < 0:
                raise ValueError(f"{field_name} must be >= 0 (0: the whole split), got {getattr(self, field_name)}")
        if self.rewind_step < 0:
            raise ValueError(f"rewind_step must be >= 0, got {self.rewind_step}")
        if self.search_epochs <= 0:
            raise ValueError(f"search_epochs must be > 0, got {self.search_epochs}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")
        if not self.lagrange_lr > 0:
            raise ValueError(f"lagrange_lr must be > 0, got {self.lagrange_lr}")
        self.search_settings  # validates tau, eta, kappa_eff_factor, concrete_form, lam_start, search_lr_drop_at, ...
        if self.shortcut_kernel not in SHORTCUT_KERNELS:
            raise ValueError(f"shortcut_kernel must be one of {SHORTCUT_KERNELS} (the projection shortcut of a CIFAR "
                             f"ResNet: 1x1 or 3x3), got {self.shortcut_kernel!r}")
        if self.shortcut_kernel != 1 and not takes_shortcut_kernel(self.model):
            raise ValueError(f"shortcut_kernel={self.shortcut_kernel} is a setting of the CIFAR ResNets "
                             f"({', '.join(SHORTCUT_MODELS)}); model {self.model!r} has no projection shortcut to "
                             f"change: leave shortcut_kernel at 1")
        if not 0 < self.ltr_rate < 1:
            raise ValueError(f"ltr_rate must be in (0, 1), got {self.ltr_rate}")
        Schedule(**self.schedule_kwargs())  # validates epochs and batch size

    def schedule_kwargs(self) -> dict[str, Any]:
        return dict(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum,
                    weight_decay=self.weight_decay, milestones=self.milestones,
                    warmup_epochs=self.warmup_epochs, augment=self.augment, clip_grad_norm=self.clip_grad_norm)

    @property
    def schedule(self) -> Schedule:
        return Schedule(**self.schedule_kwargs())

    @property
    def search_settings(self) -> SearchSettings:
        """CTS's hyperparameters for this run (the paper's, but for the fields set otherwise)."""
        return SearchSettings(step=self.step, lagrange_lr=self.lagrange_lr, tau=self.tau, eta=self.eta,
                              kappa_eff_factor=self.kappa_eff_factor, concrete_form=self.concrete_form,
                              lam_start=self.lam_start, lr_drop_at=self.search_lr_drop_at,
                              lagrange_optimizer=self.lagrange_optimizer, objective_scale=self.objective_scale,
                              sparsity_scale=self.sparsity_scale)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config field(s) {sorted(unknown)}; valid fields: {sorted(known)}")
        return cls(**d)

    @property
    def run_id(self) -> str:
        """Stable identity: sha256 of the canonical JSON of every field and `RESULTS_VERSION` (16 hex digits)."""
        return _key(self, ())

    def with_(self, **changes: Any) -> "RunConfig":
        return replace(self, **changes)

    def unablated(self) -> "RunConfig":
        """The run whose ticket this one ablates (itself if it has no ablation)."""
        return replace(self, ablation="") if self.ablation else self

    @property
    def label(self) -> str:
        """The run's method as the paper writes it: CTS_KL, Quick CTS_L at init, SNIP, LTR, ... (`methods.label`)."""
        return label(self)


def field_help() -> dict[str, tuple[str, tuple[str, ...] | None]]:
    """Each RunConfig field's help line (what it means, in the paper's words where it has them) and its choices
    where it has a fixed set: what `ctslib run` / `ctslib sweep` show for its flag."""
    from ..cts import CONCRETE_FORMS, LAGRANGE_OPTIMIZERS, LAMBDA_STARTS
    from ..models import ZOO
    return {
        "dataset": ("the data (smoke/cpu presets: fashion_mnist, the data this machine has)", tuple(DATASETS)),
        "model": (f"a zoo model ({', '.join(ZOO)}), a registered one, or your own as module:factory "
                  "(see ctslib.models)", None),
        "method": ("how the ticket is drawn", tuple(METHODS)),
        "density": ("fraction of prunable weights kept, in (0, 1]", None),
        "objective": ("CTS's objective R (or saliency's): kl = reverse KL to the dense net", tuple(OBJECTIVES)),
        "step": ("CTS's gradient step for the sparsity constraint", tuple(STEPS)),
        "search_epochs": ("CTS: epochs of ticket search (the paper: as many as training; Quick CTS 1/8)", None),
        "lagrange_lr": ("CTS with --step lagrange: the multiplier's learning rate", None),
        "tau": ("CTS: the Concrete temperature tau (paper 2/3)", None),
        "eta": ("CTS, GRADBALANCE: the smoothing eta of lambda (the paper gives none; ctslib 0.7)", None),
        "kappa_eff_factor": ("CTS, GRADBALANCE: kappa_eff = this x kappa (paper 1.1)", None),
        "concrete_form": ("CTS: the Concrete sample: the paper's eq. (8), or the authors' code's", CONCRETE_FORMS),
        "lam_start": ("CTS, GRADBALANCE: where the smoothed lambda starts", LAMBDA_STARTS),
        "search_lr_drop_at": ("CTS: the search's 10x learning-rate drop, as a fraction of its steps (paper 0.9)",
                              None),
        "lagrange_optimizer": ("CTS, LAGRANGE: the multiplier's ascent", LAGRANGE_OPTIMIZERS),
        "objective_scale": ("CTS: the search minimises this x R (the paper: 1; the authors' code: 100 for R_KL)", None),
        "sparsity_scale": ("CTS: ... + lambda x this x L_sparsity (the paper: 1; the authors' code: 100)", None),
        "rewind_step": ("k: the rewind point, in iterations at batch 128 (0: draw at initialisation)", None),
        "epochs": ("T: the training schedule in epochs", None),
        "batch_size": ("SGD batch size (also the search's)", None),
        "lr": ("SGD learning rate", None),
        "momentum": ("SGD momentum", None),
        "weight_decay": ("SGD weight decay", None),
        "milestones": ("epochs at which the learning rate drops 10x", None),
        "warmup_epochs": ("linear learning-rate warm-up, in epochs", None),
        "augment": ("random flips and 4-pixel shifts while training", None),
        "clip_grad_norm": ("training: clip the gradient's global L2 norm to this before each step (0: never; the "
                           "paper: never; the authors' code: 2.0)", None),
        "train_examples": ("a fixed random subset of the training set of this size (0: all of it)", None),
        "test_examples": ("a fixed random subset of the test set of this size (0: all of it)", None),
        "ltr_rate": ("LTR: fraction of the remaining weights pruned per round, in (0, 1)", None),
        "synflow_rounds": ("SynFlow: rounds of iterative scoring", None),
        "ablation": ("a sanity check applied to the drawn ticket ('' for none)", ("",) + tuple(ABLATIONS)),
        "track_running_stats": ("BatchNorm keeps running statistics (the paper: no, each batch its own)", None),
        "shortcut_kernel": ("CIFAR ResNets: the projection shortcut's kernel, 1 (open_lth's, ctslib's) or 3 (the "
                            "authors' code)", None),
        "seed": ("the seed of initialisation, data order and noise", None),
        "device": ("auto (a GPU when there is one), cpu, cuda, cuda:N", None),
        "precision": ("fp32, or bf16 autocast (on an AVX2 CPU 8x slower: benchmarks/number_formats.py)",
                      ("fp32", "bf16")),
    }


# Fields that decide a run's outcome only for some runs, and are part of its identity only there (so adding one
# leaves every other run's id as it was).
# The open choices of the search count only for CTS runs that set them away from the paper's value (so every run
# computed before they existed keeps its id).
SEARCH_CHOICES = {"tau": SearchSettings.tau, "eta": SearchSettings.eta,
                  "kappa_eff_factor": SearchSettings.kappa_eff_factor, "concrete_form": SearchSettings.concrete_form,
                  "lam_start": SearchSettings.lam_start, "search_lr_drop_at": SearchSettings.lr_drop_at,
                  "objective_scale": SearchSettings.objective_scale, "sparsity_scale": SearchSettings.sparsity_scale}
APPLIES = {"clip_grad_norm": lambda c: c.clip_grad_norm != 0, "shortcut_kernel": lambda c: c.shortcut_kernel != 1,
           "lagrange_lr": lambda c: c.method == "cts" and c.step == "lagrange",
           "lagrange_optimizer": lambda c: (c.method == "cts" and c.step == "lagrange"
                                            and c.lagrange_optimizer != SearchSettings.lagrange_optimizer),
           **{name: (lambda c, name=name, default=default: c.method == "cts" and getattr(c, name) != default)
              for name, default in SEARCH_CHOICES.items()}}


def _key(config: RunConfig, drop: Iterable[str]) -> str:
    drop = set(drop) | {name for name, applies in APPLIES.items() if not applies(config)}
    d = {k: v for k, v in config.to_dict().items() if k not in drop}
    d["results_version"] = RESULTS_VERSION
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def rewind_key(config: RunConfig) -> str:
    """Identity of a run's rewind point: its config without the fields that only affect the draw."""
    return _key(config, NOT_REWIND_FIELDS)


def draw_key(config: RunConfig) -> str:
    """Identity of a run's drawn ticket: its config without the ablation applied afterwards (and the test set)."""
    return _key(config, ("ablation", "test_examples"))


def chain_key(config: RunConfig) -> str:
    """Identity of the chain of tickets a method passes through: its config without the density."""
    return _key(config, NOT_CHAIN_FIELDS)
