"""The CTS authors' public code beside the paper and ctslib, choice by choice, and the bundles that set ctslib to it.

The authors' code is github.com/tanayarora09/TLAB (research code without a licence: nothing of it is copied here;
`scripts/authors_code.py` loads a clone of it at run time). Every place where it differs from the paper's text or
from ctslib's defaults is one `Difference` in `DIFFERENCES`: what the paper says, what their code does (file:line at
`AUTHORS_COMMIT`), ctslib's default, and the RunConfig field that sets it (None where ctslib has no setting, with
the reason). Two bundles apply their values:

    search_like(config, "authors_code")      # every search-side choice as their HEAD code makes it
    search_like(config, "authors_training")  # their training-side choices (gradient clipping, ResNet shortcut)

`ctslib run --search-like authors_code` does the same from the command line. A bundle is a set of RunConfig fields,
so a run's identity stays its fields: `bundle_of(config)` names the bundle a config matches.

ctslib's defaults follow the paper's text where the two disagree (the search's learning-rate drop at 90%, lambda
starting at 0, eq. (8)'s Concrete sample, R + lambda L_sparsity unscaled); where the paper is silent (GRADBALANCE's
eta) ctslib measured its own choice, and the authors' value is a setting, measured on the book's page "ctslib and the
authors' code".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..cts import SearchSettings
from .config import RunConfig

AUTHORS_REPOSITORY = "https://github.com/tanayarora09/TLAB"
AUTHORS_COMMIT = "f5ac761f9182abe56a93a0c1ff3ac1613072c8a2"  # their HEAD, 2025-12-27 ("fixes to scnn")
# The commit of their published CTS_KL result files (saved/results/resnet20/.../fwkldlogit/): 32 of its 34 files are
# byte-identical to the files of 2025-07-30 (commit 508ed14, then under .../kldlogit/), when their KldLogit computed
# F.kl_div(sparse, dense) = KL(dense || sparse), the forward KL; reverse KL became their default on 2025-08-21
# (commit 059f246, "fixed kld").
FORWARD_KL_COMMIT = "508ed14"
REVERSE_KL_COMMIT = "059f246"

# Their scale of each objective (search/concrete.py: each class's build multiplies `_loss_scaler_constant`).
OBJECTIVE_SCALES = {"task": 100.0, "delta_loss": 1e4, "grad_norm": 1.0, "kl": 100.0, "feature": 100.0,
                    "grad": 100.0, "forward_kl": 100.0}
SPARSITY_SCALE = 100.0  # search/concrete.py:118, `_sparsity_scaler_constant`
LR_DROP_FRACTION = 0.88  # experiments/cts.py:70, reduce_epochs=[int(0.88 * cepochs)]


def authors_lr_drop_at(search_epochs: float) -> float:
    """Where their search's 10x learning-rate drop falls, as a fraction of the search (`search_lr_drop_at`).

    experiments/cts.py:70 passes reduce_epochs=[int(0.88 E)] and search/concrete.py:322 tests `(epoch + 1) in
    reduce_epochs` after the epoch counter has moved: the drop comes after epoch int(0.88 E) - 1, at
    (int(0.88 E) - 1) / E of the search (0.5 for E = 4, 0.869 for E = 160), and never for E <= 2 (1.0: no drop).
    """
    epochs = math.floor(search_epochs)
    drop_epoch = math.floor(LR_DROP_FRACTION * epochs) - 1
    return drop_epoch / search_epochs if drop_epoch >= 1 else 1.0


@dataclass(frozen=True)
class Difference:
    """One choice where the paper, the authors' code and ctslib may differ."""

    choice: str                   # what is chosen
    paper: str                    # what the paper's text says (Section, equation)
    code: str                     # what their code does, with file:line at AUTHORS_COMMIT
    ctslib: str                   # ctslib's default
    setting: str | None           # the RunConfig field(s) that set it, or None
    bundle: str | None = None     # the bundle that applies the authors' value
    value: Callable[[RunConfig], dict[str, Any]] | None = None  # the fields the bundle sets, for a config
    note: str = ""                # why there is no setting, or what a setting does not cover


def _fields(**values: Any) -> Callable[[RunConfig], dict[str, Any]]:
    return lambda config: dict(values)


def _cts_only(fields_: Callable[[RunConfig], dict[str, Any]]) -> Callable[[RunConfig], dict[str, Any]]:
    return lambda config: fields_(config) if config.method == "cts" else {}


DIFFERENCES: tuple[Difference, ...] = (
    Difference("Concrete sample", "eq. (8): s = sigmoid((log alpha + eps) / tau)",
               "sigmoid((eps + log alpha * tau) / tau) = sigmoid(log alpha + eps / tau) "
               "(models/LotteryLayers.py:35)",
               "eq. (8)", "concrete_form", "authors_code", _cts_only(_fields(concrete_form="authors_code"))),
    Difference("scale of R", "L = R + lambda L_sparsity (Alg. 1 step 6, Alg. 2), unscaled",
               "R x 100 for R_KL (search/concrete.py:459), R_L (:382), R_feature (:491), R_grad (:659); "
               "x 1e4 for R_dL (:397); x 1 for R_-|grad L|",
               "1", "objective_scale", "authors_code",
               _cts_only(lambda c: {"objective_scale": OBJECTIVE_SCALES[c.objective]}),
               "under GRADBALANCE the scales of R and L_sparsity cancel in lambda; what is left is Adam's eps "
               "(1e-8) against gradients 100x larger"),
    Difference("scale of L_sparsity", "eq. (10), unscaled", "x 100 (search/concrete.py:118)", "1",
               "sparsity_scale", "authors_code", _cts_only(_fields(sparsity_scale=SPARSITY_SCALE))),
    Difference("GRADBALANCE's smoothing eta", "an exponential moving average, eta not given (Section IV-B)",
               "lambda <- 0.99 lambda + 0.01 lambda_target (search/concrete.py:145, :239)",
               "0.7 (scripts/gradbalance_eta.py)", "eta", "authors_code", _cts_only(_fields(eta=0.99))),
    Difference("lambda before the first step", "lambda = 0 (Alg. 3, step 2)",
               "-inf, so the first step sets lambda = lambda_target (search/concrete.py:146, :238)",
               "0 (the paper's)", "lam_start", "authors_code", _cts_only(_fields(lam_start="first_target"))),
    Difference("the search's learning-rate drop", "10x at 90% of the search epochs (Section V-A)",
               "reduce_epochs=[int(0.88 E)] (experiments/cts.py:70) tested after the epoch counter moves "
               "(search/concrete.py:322): at (int(0.88 E) - 1) / E, 0.5 for E = 4",
               "at 90% (the paper's)", "search_lr_drop_at", "authors_code",
               _cts_only(lambda c: {"search_lr_drop_at": authors_lr_drop_at(c.search_epochs)})),
    Difference("LAGRANGE's multiplier", "gradient ascent on lambda (Alg. 1 step 8), optimiser not given",
               "SGD at 1e-2 x the mask's learning rate on the x100 sparsity error (search/concrete.py:140, :143): "
               "0.1 in the units of the unscaled error", "Adam at 1.0 (scripts/lagrange_lr.py)",
               "lagrange_optimizer, lagrange_lr", "authors_code",
               _cts_only(lambda c: {"lagrange_optimizer": "sgd", "lagrange_lr": 1e-2 * SearchSettings.lr}
                         if c.step == "lagrange"
                         else {})),
    Difference("kappa_eff", "1.1 kappa (Section IV-B)", "x 1.1 (search/concrete.py:116)", "1.1 (the paper's)",
               "kappa_eff_factor", note="the same everywhere"),
    Difference("the mask's Adam", "lr 0.1, no weight decay (Section V-A)",
               "lr = the training learning rate (experiments/cts.py:66): 0.1 on CIFAR-10", "0.1", None,
               note="the same at every preset of this book (training lr 0.1)"),
    Difference("the noise's clamp", "not given", "u clamped to [1e-10, 1 - 1e-10] (models/LotteryLayers.py:33)",
               "[1e-6, 1 - 1e-6] (cts.NOISE_CLAMP)", None,
               note="float32 u is a multiple of 2^-24: only u = 0 and the ~16 values below 1e-6 differ, and they "
                    "give s ~ 0 or 1 either way"),
    Difference("kept-weight count", "m = top-k(alpha, kappa) (eq. 5)",
               "int(kappa d) weights and the one tied at the threshold: int(kappa d) + 1 "
               "(models/base.py:103, :108)", "round(kappa d)", None,
               note="one weight: an IoU of 0.9996 at 0.92% density of LeNet-300-100 (2,449 vs 2,450 weights)"),
    Difference("the KL's direction", "reverse: D_KL(softmax(f_s) || softmax(f_dense)) (Section IV-C)",
               f"reverse at HEAD (search/concrete.py:448, default since {REVERSE_KL_COMMIT}); forward "
               f"KL(dense || sparse) at {FORWARD_KL_COMMIT}, which produced their published CTS_KL files",
               "reverse (objective kl)", "objective", note="objective='forward_kl' is the forward KL"),
    Difference("gradient clipping in training", "not mentioned (Section V-A)",
               "global norm clipped at 2.0 (training/hparams.py:97, training/base.py:358)", "none",
               "clip_grad_norm", "authors_training", _fields(clip_grad_norm=2.0)),
    Difference("ResNet-20's projection shortcut", "not given; open_lth's ResNet-20 (1x1)",
               "3x3 convolution (models/resnet.py:92-96)", "1x1 (open_lth's)", "shortcut_kernel",
               "authors_training", lambda c: {"shortcut_kernel": 3} if c.model == "resnet20" else {}),
    Difference("ResNet-20's rewind point", "k = 3000 iterations at batch 128 (7.5 epochs, Section V-A)",
               "9 epochs (training/hparams.py:60)", "the paper's fraction of training (4.8%)", "rewind_step",
               note="not part of a bundle: the book's presets keep the paper's proportion"),
    Difference("their driver", "-", "experiments/cts.py:66 passes data_handle= to a build() that takes handle=: "
               "the HEAD driver does not run as committed", "-", None,
               note="scripts/authors_code.py calls their search (optimize_mask) directly"),
)

BUNDLES: dict[str, tuple[Difference, ...]] = {}
for _d in DIFFERENCES:
    if _d.bundle:
        BUNDLES.setdefault(_d.bundle, ())
        BUNDLES[_d.bundle] += (_d,)
BUNDLE_TITLES = {"authors_code": "the authors' search (their HEAD code's search-side choices)",
                 "authors_training": "the authors' training (gradient clipping 2.0, 3x3 ResNet shortcut)"}


def bundle_fields(config: RunConfig, name: str) -> dict[str, Any]:
    """The RunConfig fields bundle `name` sets for `config` (its objective, search length and step decide some)."""
    if name not in BUNDLES:
        raise ValueError(f"unknown bundle {name!r}; choose one of: {', '.join(BUNDLES)}")
    out: dict[str, Any] = {}
    for d in BUNDLES[name]:
        out.update(d.value(config))
    return out


def search_like(config: RunConfig, *names: str) -> RunConfig:
    """`config` with every choice of the named bundles set as the authors' code makes it."""
    for name in names:
        config = config.with_(**bundle_fields(config, name))
    return config


def bundle_of(config: RunConfig) -> tuple[str, ...]:
    """The bundles whose every field `config` has (a run with none of them: ())."""
    return tuple(name for name in BUNDLES
                 if (f := bundle_fields(config, name)) and all(getattr(config, k) == v for k, v in f.items()))
