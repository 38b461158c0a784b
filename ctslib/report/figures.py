"""Every figure and table of the book as one spec: its runs, its data, its plot, its caption and its reading.

    fig = FIGURES["fig2"]
    setting = fig.setting(scale="cpu")     # model, dataset, densities, seeds (each None: the figure's default)
    df = fig.data(setting)                 # its runs (computed if missing), as a tidy frame
    fig.plot(df)                           # a matplotlib Figure (a styled table for Tables I and II)
    fig.caption(setting, df)               # this build's scale, the paper's result, the reading of the data

Adding a figure = one `Figure(...)` here (its runs, its densities, its plot and reading) + one notebook.
A config's identity is its run id, so figures that need the same run share it: fig6 and table2 reuse fig2's
runs, table1 reuses fig4's, fig1 and fig7 reuse fig2's pruning-at-initialisation runs, and every LTR density
comes from one chain of rounds per seed.

Choices (the paper leaves them open or the CPU budget forces them):
- Densities are powers of LTR's keep fraction, 0.8^n, so one LTR chain serves every density; the
  paper's own densities are on that grid (Table I's 1.44% = 0.8^19, Table II's 98.2/99.3/99.7%
  sparsity = 0.8^18, 0.8^22, 0.8^26). The grids are the presets' (`ctslib.runs.presets`): at cpu scale
  LeNet's grid reaches 0.8^40, where LTR has lost ~49 pp, and Table II takes the densities where LeNet's
  LTR has lost what ResNet-20's has at the paper's three sparsities (the claims' regimes, `verdicts.regimes`).
- The schedules keep the paper's proportions at every scale above smoke (`presets.protocol`): CTS searches
  as many epochs as the ticket trains, Quick CTS 1/8 of that, the rewind point at ~5% (VGG-16 ~10%) of
  training, 3 seeds for every figure; the cpu budget is cut in training examples (LeNet: 15,000) and in the
  densities of the figures with many runs per density (Figs. 3, 4, 7, 8: the sparser three of four), never in
  the search.
- SNIP, GraSP, SynFlow and random pruning are applied at initialisation (rewind_step 0): they are
  pruning-at-initialisation methods (`Method.at_init`), and the paper says so for random pruning. CTS and
  LTR draw at the rewind step k of the preset. CTS_L "at initialisation" (Figs. 4-5) searches on theta_0.
- Smoke and cpu scale use Fashion-MNIST for every model (CIFAR-10 cannot be downloaded on the
  development machine). ResNet-20 at cpu scale is its evidence set (figure `resnet20`, the chapter "The paper's
  model on CPU": Figs. 2 and 4 and Table II on the paper's model, 135 runs, ~8 core-hours; Fig. 5 at cpu scale is
  its sanity-check part): committed under results/resnet20-fmnist (`Figure.committed`), read by every build and
  never computed by one (`make reproduce-resnet20` computes them; `ctslib.runs.archive`).
- Self-attention (figure `vit`, not in the paper): the evidence set's methods and magnitude pruning on the zoo's ViT
  at six densities down to LTR's breakdown, Fig. 4's checks at two; 201 runs committed under results/vit-fmnist
  (`make reproduce-vit`). It runs at smoke and cpu scale only (`Figure.scales`: no paper-scale ViT preset).
"""

from __future__ import annotations

from collections import Counter

import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from ..data import DATASETS
from ..objectives import PAPER_OBJECTIVES
from ..runs import eta, presets
from ..runs.authors_code import FORWARD_KL_COMMIT, bundle_fields, search_like
from ..runs.config import RunConfig
from ..runs.methods import METHODS, QUICK_FRACTION, is_quick
from ..runs.store import RunStore
from . import authors as authors_page
from . import budget as budget_page
from . import frames, plots, reference, tables
from .names import OBJECTIVE_TITLES, dataset_name, model_name, pct, pp, sparsity_label
from .stats import accuracy_table, objective_means
from .verdicts import Effect, sanity_results

SALIENCY_NAMES = ("SNIP", "GraSP", "SynFlow")
PAI_METHODS = tuple(m.name for m in METHODS.values() if m.at_init)  # snip, grasp, synflow, random


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
        return presets.base_config(self.scale, self.model, self.dataset, **overrides)

    def sweep(self, **fields_: Any) -> list[RunConfig]:
        """One config per (density, seed) with `fields_` on top of the preset."""
        return [self.base(density=d, seed=seed, **fields_) for d in self.densities for seed in self.seeds]

    @property
    def quick(self) -> float:
        """Quick CTS's search epochs: 1/8 of the training epochs."""
        return self.base().epochs * QUICK_FRACTION


def _unique(configs: Iterable[RunConfig]) -> list[RunConfig]:
    return list({c.run_id: c for c in configs}.values())


# --- densities and seeds of each figure ---------------------------------------------------------------------

def _thin(grid: Sequence[float], keep: int = 4) -> tuple[float, ...]:
    """At most `keep` densities of `grid`, spread evenly and always including the sparsest."""
    grid = tuple(grid)
    if len(grid) <= keep:
        return grid
    step = len(grid) / keep
    picks = sorted({len(grid) - 1 - int(round(i * step)) for i in range(keep)})
    return tuple(grid[i] for i in picks)


def full_grid(scale: str, model: str) -> tuple[float, ...]:
    return presets.default_densities(scale, model)


def four_of_grid(scale: str, model: str) -> tuple[float, ...]:
    return _thin(full_grid(scale, model), 4)


def many_runs_per_density(scale: str, model: str) -> tuple[float, ...]:
    """Figures with many runs per density (Figs. 3, 4, 7, 8): the sparsest density at smoke scale (seconds), the
    sparser three of `four_of_grid` at cpu scale (the cold book's 45-minute budget; the sparse regime is where
    the claims are), four of the grid otherwise."""
    if scale == "smoke":
        return full_grid(scale, model)[-1:]
    return four_of_grid(scale, model)[1:] if scale == "cpu" else four_of_grid(scale, model)


def sanity_densities(scale: str, model: str) -> tuple[float, ...]:
    if (scale, model) in presets.SANITY_ROUNDS:
        return presets.on_grid(presets.SANITY_ROUNDS[(scale, model)], scale, model)
    return many_runs_per_density(scale, model)


def two_of_grid(scale: str, model: str) -> tuple[float, ...]:
    grid = full_grid(scale, model)
    return (grid[len(grid) // 2], grid[-1]) if len(grid) > 1 else grid


def table1_densities(scale: str, model: str) -> tuple[float, ...]:
    return presets.on_grid(presets.TABLE1_ROUNDS[scale], scale, model)


def table2_densities(scale: str, model: str) -> tuple[float, ...]:
    rounds = presets.TABLE2_ROUNDS.get((scale, model), presets.TABLE2_ROUNDS[scale])
    return presets.on_grid(rounds, scale, model)


def preset_seeds(scale: str, model: str) -> tuple[int, ...]:
    """The preset's seeds (3 at cpu and paper scale, as the paper averages)."""
    return presets.default_seeds(scale)


# --- the runs of each figure ---------------------------------------------------------------------------------

def fig1_runs(s: Setting) -> list[RunConfig]:
    """SNIP and GraSP at initialisation, scored on R_dL and R_-|grad L| against LTR, magnitude and random."""
    configs = [c for method in ("snip", "grasp", "magnitude", "random") for c in s.sweep(method=method, rewind_step=0)]
    return _unique(configs + s.sweep(method="ltr"))


def fig2_runs(s: Setting) -> list[RunConfig]:
    """CTS_KL and CTS_L (GRADBALANCE, at the rewind step) vs LTR, SNIP, GraSP, SynFlow, random, and the dense net."""
    configs = s.sweep(method="cts", objective="kl") + s.sweep(method="cts", objective="task")
    configs += s.sweep(method="ltr")
    for method in PAI_METHODS:
        configs += s.sweep(method=method, rewind_step=0)
    configs += [s.base(method="dense", density=1.0, rewind_step=0, seed=seed) for seed in s.seeds]
    return _unique(configs)


def fig3_runs(s: Setting) -> list[RunConfig]:
    """CTS with each of the six objectives (GRADBALANCE, at the rewind step)."""
    return _unique(c for objective in PAPER_OBJECTIVES for c in s.sweep(method="cts", objective=objective))


def sanity_runs(s: Setting) -> list[RunConfig]:
    """Sanity checks: CTS_KL at the rewind step (layerwise shuffle, score inversion) and CTS_L searched on the
    initial weights (and reinitialisation)."""
    configs = []
    for ablation in ("", "shuffle", "invert"):
        configs += s.sweep(method="cts", objective="kl", ablation=ablation)
    for ablation in ("", "shuffle", "invert", "reinit"):
        configs += s.sweep(method="cts", objective="task", rewind_step=0, ablation=ablation)
    return _unique(configs)


def evidence_runs(s: Setting) -> list[RunConfig]:
    """The paper's model on CPU (ResNet-20's evidence set): Fig. 2's runs with Quick CTS_KL beside CTS_KL (Table
    I's methods), Table II's (a subset), and Fig. 4's sanity checks at the sanity-check densities of the grid."""
    configs = fig2_runs(s) + s.sweep(method="cts", objective="kl", search_epochs=s.quick)
    sanity = tuple(d for d in s.densities if d in sanity_densities(s.scale, s.model)) or s.densities[-1:]
    return _unique(configs + sanity_runs(replace(s, densities=sanity)))


def vit_runs(s: Setting) -> list[RunConfig]:
    """Self-attention (the ViT chapter): the evidence set's runs (Fig. 2's methods, Quick CTS_KL, Fig. 4's sanity
    checks at the sanity-check densities) and magnitude pruning at initialisation, so that every method is there."""
    return _unique(evidence_runs(s) + s.sweep(method="magnitude", rewind_step=0))


def evidence_densities(scale: str, model: str) -> tuple[float, ...]:
    """The evidence set's densities: the grid (cpu: Table II's three and 0.12%); at smoke scale its sanity-check
    density alone (seconds, not minutes, of ResNet-20)."""
    return sanity_densities(scale, model) if scale == "smoke" else full_grid(scale, model)


def evidence_part(df: pd.DataFrame, figure: str, scale: str, model: str) -> pd.DataFrame:
    """The rows of the evidence set's frame that `figure` (fig2, table2 or fig4) has at (scale, model)."""
    ids = {c.run_id for c in FIGURES[figure].configs(scale=scale, model=model)}
    return df[df["run_id"].isin(ids)].reset_index(drop=True)


def fig6_runs(s: Setting) -> list[RunConfig]:
    """The tickets of random pruning, LTR, SynFlow, CTS_KL and CTS_L (fig2's runs)."""
    configs = s.sweep(method="random", rewind_step=0) + s.sweep(method="ltr")
    configs += s.sweep(method="synflow", rewind_step=0)
    configs += s.sweep(method="cts", objective="kl") + s.sweep(method="cts", objective="task")
    return _unique(configs)


def _objective_runs(s: Setting, objectives: Sequence[str], rewind_step: int) -> list[RunConfig]:
    configs = []
    for objective in objectives:                                    # Quick CTS, both gradient steps
        for step in ("gradbalance", "lagrange"):
            configs += s.sweep(method="cts", objective=objective, step=step, search_epochs=s.quick,
                               rewind_step=rewind_step)
        saliency = next(m for m in METHODS.values() if objective in m.baseline_for)
        extra = {"objective": objective} if saliency.uses_objective else {}
        configs += s.sweep(method=saliency.name, rewind_step=rewind_step, **extra)
    for method in ("random", "magnitude"):
        configs += s.sweep(method=method, rewind_step=rewind_step)
    configs += s.sweep(method="ltr")                                # LTR: its usual ticket, rewound to k
    return _unique(configs)


def fig7_runs(s: Setting) -> list[RunConfig]:
    """Tickets drawn at initialisation for R_L and R_-|grad L| (Quick CTS GRADBALANCE/LAGRANGE, SNIP, GraSP,
    random, magnitude) and LTR's ticket; scored at initialisation."""
    return _objective_runs(s, ("task", "grad_norm"), rewind_step=0)


def fig8_runs(s: Setting) -> list[RunConfig]:
    """As fig7 for all six objectives, every ticket drawn at the rewind step and scored there."""
    return _objective_runs(s, PAPER_OBJECTIVES, rewind_step=s.base().rewind_step)


TABLE1_METHODS = ("ltr", "snip", "grasp", "synflow", "quick_cts_kl", "cts_kl")


def _table1_base(s: Setting, method: str, **fields_: Any) -> list[RunConfig]:
    if method == "cts_kl":
        return s.sweep(method="cts", objective="kl", **fields_)
    if method == "quick_cts_kl":
        return s.sweep(method="cts", objective="kl", search_epochs=s.quick, **fields_)
    if method == "ltr":
        return s.sweep(method="ltr", **fields_)
    return s.sweep(method=method, rewind_step=0, **fields_)


def table1_ablations(config: RunConfig) -> tuple[str, ...]:
    """The sanity checks a method is held to: reinitialisation only for tickets drawn at initialisation."""
    return ("shuffle", "invert", "reinit") if config.rewind_step == 0 else ("shuffle", "invert")


def table1_runs(s: Setting) -> list[RunConfig]:
    """At one density (paper: 1.44%): LTR, SNIP, GraSP, SynFlow, Quick CTS_KL and CTS_KL, each with its ablations."""
    configs = []
    for method in TABLE1_METHODS:
        bases = _table1_base(s, method)
        configs += bases
        for ablation in table1_ablations(bases[0]):
            configs += _table1_base(s, method, ablation=ablation)
    return _unique(configs)


def table2_runs(s: Setting) -> list[RunConfig]:
    """CTS_KL and LTR at three densities (paper: 98.2, 99.3 and 99.7% sparsity; cpu: LeNet's LTR at -6, -17, -49 pp)."""
    return _unique(s.sweep(method="cts", objective="kl") + s.sweep(method="ltr"))


# --- what the paper leaves open: CTS_KL under each open choice -------------------------------------------------

# choice: (the field, its values: the paper's (or ctslib's, where the paper gives none) first). Search length and
# rewind point are multiples of the preset's (at cpu and paper scale the paper's: as long as training, ~5% of it);
# the rest are RunConfig fields (SearchSettings).
OPEN_CHOICES: dict[str, tuple[str, tuple]] = {
    "Concrete form": ("concrete_form", ("paper", "authors_code")),
    "η (GRADBALANCE's smoothing)": ("eta", (0.7, 0.9, 0.99)),
    "search length (× the training epochs)": ("search_fraction", (1.0, 1 / 8, 1 / 2, 2.0)),  # x the preset's
    "κ_eff / κ": ("kappa_eff_factor", (1.1, 1.0)),
    "τ (Concrete temperature)": ("tau", (2 / 3, 0.5, 1.0)),
    "rewind point (fraction of training)": ("rewind_fraction", (None, 0.0, 2.0)),
    "scale of R and L_sparsity": ("search_scale", (1.0, 100.0)),  # the authors' code: x100 both (R_KL)
    "KL's direction": ("objective", ("kl", "forward_kl")),  # their published CTS_KL runs: the forward KL
    "the authors' search, whole": ("search_like", (None, "authors_code")),  # every search-side choice of their code
}


def open_fields(s: Setting, field_: str, value: Any) -> dict[str, Any]:
    """The config fields of one open choice's value (search length and rewind point relative to the preset's)."""
    base = s.base()
    if field_ == "search_fraction":  # 1.0: the preset's search (the paper's: as long as training)
        return {} if value == 1.0 else {"search_epochs": base.search_epochs * value}
    if field_ == "rewind_fraction":  # None: the preset's k; 0: at initialisation; 2.0: twice the preset's k
        return {} if value is None else {"rewind_step": round(base.rewind_step * value)}
    if field_ == "search_scale":  # R and L_sparsity both scaled (their code: x100 each)
        return {} if value == 1.0 else {"objective_scale": value, "sparsity_scale": value}
    if field_ == "search_like":  # a bundle of runs.authors_code: the fields it sets for CTS_KL at this preset
        return {} if value is None else bundle_fields(base.with_(method="cts", objective="kl"), value)
    return {field_: value}


def open_variants(s: Setting) -> list[tuple[str, Any, RunConfig]]:
    """(choice, value, config) for every run of the page: CTS_KL (GRADBALANCE) at each value of each choice, at
    the setting's densities and seeds; the paper's values share one set of runs."""
    out = []
    for choice, (field_, values) in OPEN_CHOICES.items():
        for value in values:
            for c in s.sweep(**{"method": "cts", "objective": "kl", **open_fields(s, field_, value)}):
                out.append((choice, value, c))
    return out


def open_runs(s: Setting) -> list[RunConfig]:
    return _unique(c for _, _, c in open_variants(s))


def open_densities(scale: str, model: str) -> tuple[float, ...]:
    return presets.on_grid(presets.OPEN_ROUNDS[scale], scale, model)


def open_frame(s: Setting, df: pd.DataFrame, store: RunStore | None) -> pd.DataFrame:
    """The page's runs, one row per (choice, value, run), with the expected density after the search over the
    target kappa_eff (`tracking`)."""
    store = store or RunStore()
    by_id = df.drop_duplicates("run_id").set_index("run_id")
    rows = []
    for choice, value, c in open_variants(s):
        if c.run_id not in by_id.index:
            continue
        row = by_id.loc[c.run_id].to_dict()
        info = store.get(c, compute=False).get("info", {})
        final = info.get("final_expected_density")
        rows.append({**row, "run_id": c.run_id, "choice": choice, "value": _open_value(choice, value, c),
                     "is_default": value == OPEN_CHOICES[choice][1][0],
                     "tracking": final / (c.kappa_eff_factor * c.density) if final is not None else math.nan})
    return pd.DataFrame(rows)


def _open_value(choice: str, value: Any, c: RunConfig) -> str:
    field_ = OPEN_CHOICES[choice][0]
    if field_ == "rewind_fraction":
        return f"k = {c.rewind_step}"
    if field_ == "search_fraction":
        return {1 / 8: "Quick (1/8)", 1 / 2: "Half (1/2)", 1.0: "full (1)", 2.0: "2x"}[value]
    if field_ == "tau":
        return f"{value:.3g}"
    if field_ == "search_scale":
        return f"x{value:g}"
    if field_ == "search_like":
        return "ctslib's defaults" if value is None else BUNDLE_LABELS[value]
    if field_ == "objective":
        return {"kl": "reverse (R_KL)", "forward_kl": "forward (R_fKL)"}[value]
    if field_ == "concrete_form":
        return {"paper": "eq. (8)", "authors_code": "the authors' code's"}[value]
    return str(value)


def read_open(df: pd.DataFrame) -> str:
    """Per choice: each value's top-1 minus the paper's value's, paired by seed and averaged over the densities;
    the changes beyond seed noise (95% interval clear of 0) first, then one line per choice."""
    lines, decisive = [], []
    for choice, g in df.groupby("choice", sort=False):
        base = g[g["is_default"]].groupby("seed")["top1"].mean()
        base_name = g[g["is_default"]]["value"].iloc[0] if g["is_default"].any() else "?"
        diffs = []
        for value, v in g[~g["is_default"]].groupby("value", sort=False):
            effect = Effect.of((v.groupby("seed")["top1"].mean() - base).dropna())
            diffs.append(f"{value} {effect.text()}")
            if effect.lo > 0 or effect.hi < 0:
                decisive.append(f"{choice}: {value} instead of {base_name}, {effect.text()}")
        track = g.groupby("value", sort=False)["tracking"].mean()
        lines.append(f"- **{choice}** (vs {base_name}): " + ", ".join(diffs) + "; E[density]/κ_eff after the search "
                     + ", ".join(f"{k} {v:.2f}" for k, v in track.items()))
    lead = ("Beyond seed noise (the 95% interval clear of 0): " + "; ".join(decisive) + "." if decisive else
            "No choice changes top-1 beyond seed noise (every 95% interval includes 0).")
    return (f"{lead} Every choice, top-1 change from the default, mean over the densities [95% CI over seeds]:\n\n"
            + "\n".join(lines))


# --- ctslib and the authors' code (the page of that name; ctslib.runs.authors_code) ------------------------------

AUTHORS_ARCHIVE = "authors-code"  # results/<this>: the runs of the page "ctslib and the authors' code"
BUNDLE_LABELS = {"authors_code": "the authors' search", "authors_training": "the authors' training"}
AUTHORS_LENET_ROUNDS = (21, 27)     # LeNet: 0.92% and 0.24%, the side-by-side cases (scripts/authors_code.py)
AUTHORS_RESNET20_ROUNDS = (22, 26)  # ResNet-20: 0.74% and 0.30% (Table II's 99.3 and 99.7% sparsity)


def authors_lenet_densities(scale: str, model: str) -> tuple[float, ...]:
    return presets.on_grid(AUTHORS_LENET_ROUNDS, scale, model) if scale == "cpu" else full_grid(scale, model)[-2:]


def authors_resnet20_densities(scale: str, model: str) -> tuple[float, ...]:
    return presets.on_grid(AUTHORS_RESNET20_ROUNDS, scale, model) if scale == "cpu" else full_grid(scale, model)[-1:]


def authors_lenet_runs(s: Setting) -> list[RunConfig]:
    """CTS_KL with ctslib's defaults, with the authors' search (the bundle) and with its x100 scale alone; the forward
    KL with both; LTR. The bundle's runs are the ones scripts/authors_code.py holds against the authors' code."""
    configs = []
    for objective in ("kl", "forward_kl"):
        for c in s.sweep(method="cts", objective=objective):
            configs += [c, search_like(c, "authors_code")]
    configs += s.sweep(method="cts", objective="kl", objective_scale=100.0, sparsity_scale=100.0)
    return _unique(configs + s.sweep(method="ltr"))


def authors_resnet20_runs(s: Setting) -> list[RunConfig]:
    """ResNet-20's evidence set at two of its densities: CTS_KL with ctslib's defaults, with the authors' search
    (the bundle), with their training's gradient clipping (2.0) and with their 3x3 projection shortcut; LTR with
    ctslib's training. (LTR under a training choice of theirs joins where that choice moves CTS_KL by more than 2 pp:
    `AUTHORS_LTR_TRAINING`.)"""
    configs = []
    for c in s.sweep(method="cts", objective="kl"):
        configs += [c, search_like(c, "authors_code"), c.with_(clip_grad_norm=2.0), c.with_(shortcut_kernel=3)]
    configs += s.sweep(method="ltr")
    for fields_ in AUTHORS_LTR_TRAINING:
        configs += s.sweep(method="ltr", **fields_)
    return _unique(configs)


# The training choices of the authors' code under which LTR is run too: those that moved ResNet-20's CTS_KL by more
# than 2 pp (mean over the 3 seeds, at either density), a rule fixed before any LTR run under them and decided on
# the CTS_KL runs alone. Gradient clipping at 2.0: CTS_KL 71.7 -> 30.4% at 0.74%, 55.3 -> 12.4% at 0.30%; the 3x3
# shortcut: 71.7 -> 73.6% at 0.74%, 55.3 -> 65.6% at 0.30% (means of 3 seeds).
AUTHORS_LTR_TRAINING: tuple[dict[str, Any], ...] = ({"clip_grad_norm": 2.0}, {"shortcut_kernel": 3})


# --- does CTS catch up with more training? (the chapter of that name; ctslib.report.budget) ------------------------

BUDGET_ARCHIVE = "budget-fmnist"  # results/<this>: the runs of the chapter "Does CTS catch up with more training?"


def budget_densities(scale: str, model: str) -> tuple[float, ...]:
    return presets.on_grid(presets.BUDGET_ROUNDS, scale, model) if scale == "cpu" else full_grid(scale, model)[-2:]


def budget_runs(s: Setting) -> list[RunConfig]:
    """At every budget of `presets.BUDGETS` (smoke: the smoke preset at x1 and x2 its epochs): CTS_KL with ctslib's
    defaults and with the authors' search, Quick CTS_KL, LTR, SynFlow and random pruning at the set's densities, and
    the dense network, 3 seeds; the paper's proportions at each budget."""
    base = s.base()
    budgets = presets.BUDGETS if s.scale == "cpu" else {  # smoke: its schedule at x1 and x2 (search included)
        1: {}, 2: dict(epochs=2 * base.epochs, milestones=tuple(2 * m for m in base.milestones),
                       search_epochs=2 * base.search_epochs)}
    configs = []
    for fields_ in budgets.values():
        sweep = lambda **f: [s.base(density=d, seed=seed, **{**fields_, **f}) for d in s.densities  # noqa: E731
                             for seed in s.seeds]
        cts = sweep(method="cts", objective="kl")
        configs += cts + [search_like(c, "authors_code") for c in cts]
        epochs = fields_.get("epochs", base.epochs)
        configs += sweep(method="cts", objective="kl", search_epochs=epochs * QUICK_FRACTION)
        configs += sweep(method="ltr")
        configs += sweep(method="synflow", rewind_step=0) + sweep(method="random", rewind_step=0)
        configs += [s.base(method="dense", density=1.0, rewind_step=0, seed=seed, **fields_) for seed in s.seeds]
    return _unique(configs)


# --- the authors' published runs of each figure (ctslib.report.reference) -----------------------------------

# Said wherever the book draws the authors' published CTS_KL runs (the evidence: the page "ctslib and the authors' code").
FORWARD_KL_NOTE = (" Their CTS_KL result files were computed with the **forward** KL, KL(dense ‖ sparse), not the "
                   "paper's reverse one: the files are byte-identical to those of their commit "
                   f"{FORWARD_KL_COMMIT} (see the page [ctslib and the authors' code](authors.html)).")

FIG1_LINES = ["SNIP", "GraSP", "LTR", "magnitude", "random"]
FIG2_LINES = ["CTS_KL", "CTS_L", "LTR", "SNIP", "GraSP", "SynFlow", "random"]
EVIDENCE_ARCHIVE = "resnet20-fmnist"  # results/<this>: ResNet-20's evidence set (and Fig. 5 at cpu scale, a part of it)
EVIDENCE_LINES = ["CTS_KL", "Quick CTS_KL", "CTS_L", "LTR", "SNIP", "GraSP", "SynFlow", "random"]
VIT_ARCHIVE = "vit-fmnist"  # results/<this>: the ViT chapter's runs at cpu scale
# each committed folder's command that computes its runs from scratch (the Makefile's targets)
REPRODUCE = {EVIDENCE_ARCHIVE: "make reproduce-resnet20", VIT_ARCHIVE: "make reproduce-vit",
             AUTHORS_ARCHIVE: "make reproduce-authors", BUDGET_ARCHIVE: "make reproduce-budget"}
VIT_LINES = EVIDENCE_LINES + ["magnitude"]


def _authors_runs(model: str, lines: Sequence[str]) -> Callable[[], pd.DataFrame]:
    return lambda: reference.authors_runs(model, names=list(lines))


def _authors_objectives(model: str, at: str, objectives: Sequence[str],
                        lines: Sequence[str]) -> Callable[[], pd.DataFrame]:
    return lambda: reference.authors_objectives(model, at, tuple(objectives), tuple(lines))


# --- readings: what a figure shows, in a sentence computed from its data ----------------------------------

def _at(acc: pd.DataFrame, density: float, name: str) -> str:
    return pct(acc.loc[density, name]) if name in acc and not pd.isna(acc.loc[density, name]) else "-"


def read_fig2(df: pd.DataFrame) -> str:
    acc = accuracy_table(df)
    d = acc.index.min()
    sal = max((n for n in SALIENCY_NAMES if n in acc), key=lambda n: acc.loc[d, n], default=None)
    dense = df[df["name"] == "dense"]["top1"].mean()
    return (f"At the sparsest density, {pct(d, 2)} ({sparsity_label(d)}), CTS_KL reaches {_at(acc, d, 'CTS_KL')}, "
            f"CTS_L {_at(acc, d, 'CTS_L')} and LTR {_at(acc, d, 'LTR')}; the best pruning-at-initialisation "
            f"method ({sal}) {_at(acc, d, sal) if sal else '-'} and random pruning {_at(acc, d, 'random')}"
            + (f" (dense network: {pct(dense)})." if not math.isnan(dense) else "."))


def read_fig3(df: pd.DataFrame) -> str:
    rank = df[df["method"] == "cts"].groupby("name")["top1"].mean().sort_values(ascending=False)
    return "Mean top-1 accuracy over the densities shown: " + ", ".join(f"{n} {pct(v)}" for n, v in rank.items()) + "."


def read_sanity(df: pd.DataFrame) -> str:
    res = sanity_results(df)
    parts = []
    for family, g in res.groupby("family", sort=False):
        points = g.groupby("density")["passes"].all()
        parts.append(f"{family} beats all its ablations (the whole 95% interval over seeds) at {int(points.sum())} "
                     f"of {len(points)} densities (smallest mean margin over an ablation: {pp(g['diff'].min())})")
    return "; ".join(parts) + "."


def read_fig6(df: pd.DataFrame) -> str:
    means = df.groupby(["density", "name", "layer"])["layer_density"].mean()
    d = df["density"].min()
    first = df.sort_values("layer_index")["layer"].iloc[0]
    last = df.sort_values("layer_index")["layer"].iloc[-1]
    names = list(dict.fromkeys(df["name"]))
    return (f"At {pct(d, 2)} density, the first layer ({first}) keeps "
            + ", ".join(f"{n} {pct(means.loc[(d, n, first)], 2)}" for n in names)
            + f" of its weights and the last ({last}) "
            + ", ".join(f"{n} {pct(means.loc[(d, n, last)], 1)}" for n in names) + ".")


def read_objectives(df: pd.DataFrame) -> str:
    wins: dict[str, int] = {}
    for _, row in objective_means(df).iterrows():
        row = row.dropna()
        if not row.empty:
            wins[row.idxmin()] = wins.get(row.idxmin(), 0) + 1
    best = ", ".join(f"{n} in {k}" for n, k in sorted(wins.items(), key=lambda kv: -kv[1]))
    return f"Lowest objective value (the best ticket on that objective), by (objective, density) cell: {best}."


def read_table1(df: pd.DataFrame) -> str:
    t = tables.table1_frame(df)
    passed = [m for m, v in zip(t["method"], t["passes sanity checks (here)"]) if v == "✓"]
    return (f"Methods whose tickets beat every ablation here: {', '.join(passed) or 'none'}; "
            f"the others' ablations do as well as (or better than) the ticket itself.")


def read_table2(df: pd.DataFrame) -> str:
    acc = accuracy_table(df)
    t = df.groupby("name")["seconds_total"].mean()
    return ("CTS_KL − LTR top-1: " + ", ".join(f"{pp(acc.loc[d, 'CTS_KL'] - acc.loc[d, 'LTR'])} at {sparsity_label(d)}"
                                                 for d in acc.index)
            + f"; CTS_KL takes {t.get('CTS_KL', math.nan):.0f} s per ticket, LTR {t.get('LTR', math.nan):.0f} s.")


# --- the spec ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    """One figure or table of the paper, as the book builds it."""

    name: str
    title: str
    paper: str                                        # the paper's result, for the caption
    runs: Callable[[Setting], list[RunConfig]]
    densities: Callable[[str, str], tuple[float, ...]]
    draw: Callable[[pd.DataFrame], Any]               # the figure (or styled table) of the data
    read: Callable[[pd.DataFrame], str]
    paper_model: str = "resnet20"                     # the model at paper scale
    cpu_model: str = "lenet300"                       # the model at smoke and cpu scale
    seeds: Callable[[str, str], tuple[int, ...]] = preset_seeds
    frame: str = "runs"                               # runs | objectives | layers | open
    scored_at: str = ""                               # objective figures: the weights they score on (init | rewind)
    objectives: tuple[str, ...] = ()                  # objective figures: their panels
    authors: Callable[[], pd.DataFrame] | None = None  # the authors' published runs of this figure, if any
    authors_view: Callable[[], Any] | None = None     # tables: the paper's numbers beside the authors' files
    authors_model: str = "resnet20"                   # the model of those runs
    # scale -> the results/ folder its runs are committed in, at the figure's default setting: a book build never
    # computes them (they cost hours); `ctslib book --figures NAME` or `make reproduce-resnet20` does
    committed: dict[str, str] = field(default_factory=dict)
    scales: tuple[str, ...] = presets.PRESETS         # the scales it runs at (the ViT has no paper-scale preset)
    extra: dict[str, Any] = field(default_factory=dict)

    def committed_status(self, setting: Setting, store: RunStore | None = None) -> str:
        """For a committed setting: how many of its runs are committed (and in which folder), and their compute
        as recorded; '' otherwise."""
        if not self.committed_only(setting):
            return ""
        store = store or RunStore()
        configs = self.configs(setting)
        records = [store.get(c, compute=False) for c in configs if store.has(c)]
        recorded = sum(r["seconds"]["total"] for r in records) / 3600
        spent = eta.spent_seconds(records) / 3600
        text = (f"**Committed runs:** {len(records)} of {len(configs)} in `results/{self.committed[setting.scale]}/`: "
                f"{spent:.1f} core-hours of compute, each piece of work shared between runs (rewind points, LTR's "
                f"chains, the tickets the sanity checks ablate) counted once ({recorded:.1f} counting it in every "
                f"run that uses it; wall clock as recorded).")
        if len(records) < len(configs):
            text += (f" The other {len(configs) - len(records)} are not computed by a book build: "
                     f"`{REPRODUCE[self.committed[setting.scale]]}` computes the whole set; this page shows the runs "
                     f"there are.")
        return text

    def committed_only(self, setting: Setting) -> bool:
        """Whether `setting` is the one whose runs are committed records only (never computed by a book build)."""
        return setting.scale in self.committed and setting == self.setting(scale=setting.scale)

    def setting(self, model: str | None = None, dataset: str | None = None, scale: str | None = None,
                densities: Iterable[float] | None = None, seeds: Iterable[int] | None = None) -> Setting:
        """The figure's setting, every None replaced by the figure's default at `scale` (None: $CTS_SCALE, else cpu)."""
        scale = presets.resolve_scale(scale)
        if scale not in self.scales:
            raise ValueError(f"{self.name} runs at scale {' and '.join(self.scales)} only, not {scale!r}: "
                             f"{self.title} has no preset there")
        model = model or (self.paper_model if scale == "paper" else self.cpu_model)
        dataset = dataset or presets.default_dataset(scale, model)
        presets.base_config(scale, model, dataset)  # validates model, dataset and scale together
        dens = tuple(float(d) for d in densities) if densities is not None else self.densities(scale, model)
        if not dens:
            raise ValueError(f"{self.name} needs at least one density")
        seeds_ = tuple(int(s) for s in seeds) if seeds is not None else self.seeds(scale, model)
        if not seeds_:
            raise ValueError(f"{self.name} needs at least one seed")
        return Setting(self.name, scale, model, dataset, tuple(sorted(dens, reverse=True)), seeds_)

    def configs(self, setting: Setting | None = None, **kwargs: Any) -> list[RunConfig]:
        """The figure's runs at `setting` (or at `self.setting(**kwargs)`; none at a scale it does not run at)."""
        if setting is None and presets.resolve_scale(kwargs.get("scale")) not in self.scales:
            return []
        return self.runs(setting if setting is not None else self.setting(**kwargs))

    def data(self, setting: Setting, store: RunStore | None = None, compute: bool = True,
             progress: bool | None = None) -> pd.DataFrame:
        """The figure's tidy frame: its runs (`frames.collect`), their layers, or their tickets' objective values.
        Runs the store lacks are computed first (`compute`), showing the runs done and the time left (`progress`:
        a bar; default, off a terminal, e.g. under papermill: a line per run). A figure's committed setting
        (`committed_only`) is read as it is, never computed here."""
        configs = self.configs(setting)
        if self.committed_only(setting):  # read as committed; `committed_status` says how many runs there are
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r".* runs are not in the store")
                return self._data(setting, configs, store, False, progress)
        return self._data(setting, configs, store, compute, progress)

    def _data(self, setting: Setting, configs: list[RunConfig], store: RunStore | None, compute: bool,
              progress: bool | None) -> pd.DataFrame:
        if self.frame == "objectives":
            return frames.objective_values(configs, self.scored_at, presets.EVAL_BATCHES[setting.scale], store,
                                           self.objectives, compute=compute, progress=bool(progress))
        if self.frame == "layers":
            return frames.layer_frame(configs, store, compute=compute)
        if self.frame == "open":
            return open_frame(setting, frames.collect(configs, store, compute=compute, progress=progress), store)
        return frames.collect(configs, store, compute=compute, progress=progress)

    def plot(self, df: pd.DataFrame) -> Any:
        return self.draw(df)

    def authors_data(self) -> pd.DataFrame | None:
        """The authors' published runs of this figure at paper scale (`reference`), or None if they have none."""
        return self.authors() if self.authors is not None else None

    def plot_authors(self) -> Any:
        """The same figure drawn from the authors' published runs (paper scale; bands: their std over 3 seeds),
        or None."""
        if self.authors_view is not None:
            return self.authors_view()
        df = self.authors_data()
        if df is None:
            return None
        fig = self.draw(df)
        fig.suptitle(f"paper scale: {model_name(self.authors_model)} / CIFAR-10, the authors' published runs "
                     f"(mean ± std over 3 seeds)", fontsize=10)
        return fig

    @property
    def has_authors(self) -> bool:
        return self.authors is not None or self.authors_view is not None

    def authors_caption(self) -> str:
        """The markdown over the authors' panel: what it is and where it comes from."""
        if self.authors_view is not None:
            return ("**The paper's table beside the authors' files.** The paper's numbers and the same points of the "
                    "results the authors published with their code (ResNet-20 on CIFAR-10, 3 seeds: mean ± population "
                    "std; `ctslib/report/reference/`). Where the two differ, both are shown as they are." + FORWARD_KL_NOTE
                    + (" In Table II the paper's CTS_KL numbers lie above the mean of the authors' own files, and above "
                       "the best single seed three runs with that mean and std can hold (mean + √2 std), while its LTR "
                       "numbers are the files' means." if self.name == "table2" else ""))
        return (f"**The paper's own runs.** The same figure from the results the authors published with their code "
                f"({model_name(self.authors_model)} on CIFAR-10, Section V-A's 160 epochs, 3 seeds; bands: their "
                f"population std; `ctslib/report/reference/`). Same methods, same colours: hold this build's panel "
                f"above against it." + (FORWARD_KL_NOTE if self.frame == "runs" else ""))

    def caption(self, setting: Setting, df: pd.DataFrame | None = None) -> str:
        """The markdown under the figure: this build's scale, the paper's result, and (with `df`) the reading."""
        text = f"**{self.title}.** This build: {describe(setting, self.configs(setting))}\n\n**Paper:** {self.paper}"
        if df is not None:
            text += "\n\n**Reading.** " + (self.read(df) if len(df) else "No runs to read.")
        return text


def _by_use(values) -> list:
    """The distinct values, the most used first (ties: the smaller first)."""
    counts = Counter(values)
    return sorted(counts, key=lambda v: (-counts[v], v))


def describe(setting: Setting, configs: Sequence[RunConfig]) -> str:
    """The scale of a set of runs in one sentence: model, data, epochs, rewind step, search, seeds."""
    configs = list(configs)
    if not configs:
        return "no runs"
    c = configs[0]
    info = DATASETS[c.dataset]
    n_train = c.train_examples or info.train_size
    n_test = c.test_examples or info.test_size
    seeds = sorted({x.seed for x in configs})
    # the value most runs use is the setting's; the others are named as the variations they are (the open
    # choices' page varies the rewind step and the search length around the defaults)
    ks = _by_use(x.rewind_step for x in configs)
    k = next((v for v in ks if v > 0), 0)
    others = [v for v in ks if v not in (k, 0)]
    where = ("tickets drawn at initialisation" if k == 0 else
             f"tickets drawn after k = {k} iterations (at batch 128)" +
             (" or at initialisation (0), as the text says" if 0 in ks else "") +
             (f"; some runs at k = {', '.join(map(str, others))}" if others else ""))
    full = _by_use(x.search_epochs for x in configs if x.method == "cts" and not is_quick(x))
    quick = _by_use(x.search_epochs for x in configs if is_quick(x))

    def epochs(values: list) -> str:
        also = f" (some runs {', '.join(f'{v:g}' for v in values[1:])})" if len(values) > 1 else ""
        return f"{values[0]:g} epoch{'s' if values[0] != 1 else ''}{also}"
    searches = ([f"CTS searches {epochs(full)}"] if full else []) + ([f"Quick CTS {epochs(quick)}"] if quick else [])
    search = "; " + " and ".join(searches) if searches else ""
    return (f"**Scale `{setting.scale}`**: {model_name(c.model)} on {dataset_name(c.dataset)} "
            f"({n_train:,} training / {n_test:,} test images), {c.epochs} epochs of SGD (lr {c.lr:g}, batch "
            f"{c.batch_size}, momentum {c.momentum:g}, weight decay {c.weight_decay:g}, lr /10 at epochs "
            f"{', '.join(map(str, c.milestones)) or '-'}); {where}"
            f"{search}; {len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))}).")


def _objective_plot(objectives: Sequence[str], order: Sequence[str], **kwargs: Any) -> Callable[[pd.DataFrame], Any]:
    return lambda df: plots.objectives_vs_density(df, objectives, titles=OBJECTIVE_TITLES, order=list(order), **kwargs)


_OBJECTIVE_LINES = ["Quick CTS (GRADBALANCE)", "Quick CTS (LAGRANGE)", "SNIP", "GraSP", "saliency", "LTR", "magnitude",
                    "random"]
_CTS_LINES = ["CTS_KL", "CTS_ΔL", "CTS_L", "CTS_-‖∇L‖", "CTS_feature", "CTS_grad"]

_FIGURES = [
    Figure("fig1", "Fig. 1: saliency pruning on its own objectives, at initialisation",
           "VGG-16 on CIFAR-10 at initialisation: tickets drawn by saliency pruning rarely outperform the baselines "
           "(LTR's ticket, magnitude pruning), even on the objectives they are designed to optimise. The paper gives "
           "no numbers.",
           fig1_runs, four_of_grid, _objective_plot(("delta_loss", "grad_norm"), FIG1_LINES),
           read_objectives, paper_model="vgg16", frame="objectives", scored_at="init",
           objectives=("delta_loss", "grad_norm"),
           authors=_authors_objectives("vgg16", "init", ("delta_loss", "grad_norm"), FIG1_LINES),
           authors_model="vgg16"),
    Figure("fig2", "Fig. 2: sparsity-accuracy trade-off, CTS vs LTR and pruning at initialisation",
           "ResNet-20 and VGG-16 on CIFAR-10, 160 epochs, 3 seeds: CTS outperforms LTR in the sparse regime and remains "
           "comparable throughout. ResNet-20 top-1 at 98.2 / 99.3 / 99.7% sparsity: CTS_KL 81.7 / 74.0 / 58.8%, LTR "
           "83.5 / 68.3 / 55.7% (Table II; the abstract's 74.0% vs 68.3%). At 1.44% density: SNIP 67.73%, GraSP "
           "62.59%, SynFlow 70.18%, CTS_KL 80.26%, LTR 80.90% (Table I). Dense ResNet-20: 92.12%.",
           fig2_runs, full_grid, lambda df: plots.accuracy_vs_density(df, order=FIG2_LINES), read_fig2,
           authors=_authors_runs("resnet20", FIG2_LINES + ["dense"])),
    Figure("fig3", "Fig. 3: the six CTS objectives",
           "ResNet-20 and VGG-16 on CIFAR-10: tickets drawn under R_-‖∇L‖, R_feature and R_grad cannot match those drawn "
           "under R_KL, R_ΔL and R_L; maximising the gradient norm is particularly weak. No numbers given.",
           fig3_runs, many_runs_per_density, lambda df: plots.accuracy_vs_density(df, order=_CTS_LINES), read_fig3,
           authors=_authors_runs("resnet20", _CTS_LINES)),
    Figure("fig4", "Fig. 4: sanity checks, first model",
           "ResNet-20 on CIFAR-10, 3 seeds: CTS_KL and CTS_L (at initialisation) consistently outperform their "
           "sanity-check ablations, especially in the sparse regime. No numbers given.",
           sanity_runs, sanity_densities, lambda df: plots.sanity_checks(df, families=["CTS_KL", "CTS_L at init"]),
           read_sanity),
    Figure("fig5", "Fig. 5: sanity checks, second model",
           "VGG-16 on CIFAR-10, 3 seeds: as Fig. 4, CTS consistently outperforms its ablations. No numbers given.",
           sanity_runs, sanity_densities, lambda df: plots.sanity_checks(df, families=["CTS_KL", "CTS_L at init"]),
           read_sanity, paper_model="vgg16", cpu_model="resnet20", committed={"cpu": EVIDENCE_ARCHIVE}),
    Figure("fig6", "Fig. 6: layerwise density of the tickets",
           "ResNet-20 and VGG-16 on CIFAR-10: all non-random methods prune with similar layerwise ratios and keep a "
           "large share of the first and last layer (VGG-16's last layer is always dense). No numbers given.",
           fig6_runs, two_of_grid,
           lambda df: plots.layerwise_density(df, methods=["random", "LTR", "SynFlow", "CTS_KL", "CTS_L"]),
           read_fig6, frame="layers"),
    Figure("fig7", "Fig. 7: objective values at initialisation",
           "ResNet-20 and VGG-16 on CIFAR-10, Quick CTS, every method at initialisation: both versions of Quick CTS "
           "excel on both objectives, with orders of magnitude larger gradient norms (log scale); GRADBALANCE is more "
           "consistent than LAGRANGE.",
           fig7_runs, many_runs_per_density, _objective_plot(("task", "grad_norm"), _OBJECTIVE_LINES), read_objectives,
           frame="objectives", scored_at="init", objectives=("task", "grad_norm"),
           authors=_authors_objectives("resnet20", "init", ("task", "grad_norm"), _OBJECTIVE_LINES)),
    Figure("fig8", "Fig. 8: objective values at the rewind step",
           "ResNet-20 and VGG-16 on CIFAR-10, Quick CTS, every method at the rewind step: both versions of Quick CTS "
           "excel on all non-defective objectives (R_grad is the exception), GRADBALANCE more so than LAGRANGE; on "
           "ResNet-20, LTR is worse than all but random on every objective but R_-‖∇L‖.",
           fig8_runs, many_runs_per_density, _objective_plot(PAPER_OBJECTIVES, _OBJECTIVE_LINES, ncols=3), read_objectives,
           frame="objectives", scored_at="rewind", objectives=PAPER_OBJECTIVES,
           authors=_authors_objectives("resnet20", "rewind", PAPER_OBJECTIVES, _OBJECTIVE_LINES)),
    Figure("table1", "Table I: methods at one high sparsity",
           "Table I, ResNet-20 on CIFAR-10 at 1.44% density (rewind k = 3000): the paper's columns are beside this "
           "build's.",
           table1_runs, table1_densities, lambda df: plots.styled(tables.table1_frame(df)), read_table1,
           authors_view=lambda: plots.styled(tables.authors_table1())),
    Figure("resnet20", "The paper's model on CPU: ResNet-20 on Fashion-MNIST",
           "ResNet-20 on CIFAR-10, 160 epochs, 3 seeds: CTS_KL 81.7 / 74.0 / 58.8% vs LTR 83.5 / 68.3 / 55.7% at 98.2 / "
           "99.3 / 99.7% sparsity (Table II); CTS above its sanity-check ablations (Fig. 4); dense 92.12%.",
           evidence_runs, evidence_densities,
           lambda df: plots.accuracy_vs_density(df[df["ablation"] == ""], order=EVIDENCE_LINES), read_fig2,
           cpu_model="resnet20", authors=_authors_runs("resnet20", EVIDENCE_LINES + ["dense"]),
           committed={"cpu": EVIDENCE_ARCHIVE}),
    Figure("vit", "Self-attention: a small ViT on Fashion-MNIST",
           "Not tested in the paper, whose conclusion leaves it open: \"It remains to be seen whether the advantages of "
           "CTS can translate to other tasks like NLP, particularly with the additional complexities of "
           "self-attention.\"",
           vit_runs, evidence_densities,
           lambda df: plots.accuracy_vs_density(df[df["ablation"] == ""], order=VIT_LINES), read_fig2,
           paper_model="vit", cpu_model="vit", committed={"cpu": VIT_ARCHIVE}, scales=("smoke", "cpu")),
    Figure("open", "What the paper leaves open: CTS_KL under each open choice",
           "The paper fixes τ = 2/3, κ_eff = 1.1κ, the search as long as training and Adam at 0.1 with a 10x drop "
           "at 90%; it gives no η and no scale of its loss. Its authors' public code draws s = sigmoid(α_logit + ε/τ) "
           "instead of eq. (8)'s sigmoid((α_logit + ε)/τ), smooths λ with η = 0.99, scales R and L_sparsity by 100 "
           "and drops the search's learning rate at (int(0.88 E) − 1)/E; their published CTS_KL runs used the forward "
           "KL. No numbers.",
           open_runs, open_densities, lambda df: plots.open_choices(df), read_open, frame="open"),
    Figure("authors", "ctslib and the authors' code: CTS_KL under their search, trained",
           "Not in the paper. The authors' public code (tanayarora09/TLAB, f5ac761) makes several search choices the "
           "paper's text does not (a Concrete sample sigmoid(log α + ε/τ), R and L_sparsity x100, η = 0.99, λ "
           "starting at λ_target, the search's lr drop at (int(0.88 E) − 1)/E); their published CTS_KL runs used the "
           "forward KL.",
           authors_lenet_runs, authors_lenet_densities, authors_page.variants_plot, authors_page.read_variants,
           committed={"cpu": AUTHORS_ARCHIVE}, scales=("smoke", "cpu")),
    Figure("authors_resnet20", "ctslib and the authors' code on ResNet-20: their search and their training",
           "Not in the paper. The authors' training clips the gradient norm at 2.0 (training/hparams.py:97) and their "
           "ResNet-20's projection shortcut is a 3x3 convolution (models/resnet.py:92); the paper mentions neither.",
           authors_resnet20_runs, authors_resnet20_densities, authors_page.variants_plot, authors_page.read_variants,
           cpu_model="resnet20", committed={"cpu": AUTHORS_ARCHIVE}, scales=("smoke", "cpu")),
    Figure("budget", "Does CTS catch up with more training? CTS_KL against LTR along the training budget",
           "Not in the paper, which trains only at 160 CIFAR-10 epochs: there, on ResNet-20, CTS_KL leads LTR in a window "
           "of the highly sparse regime (0.74% density) and trails it elsewhere.",
           budget_runs, budget_densities, lambda df: budget_page.gap_plot(df, budget_page.regimes_at_x1(df)),
           lambda df: budget_page.reading(df, None, budget_page.regimes_at_x1(df)),
           committed={"cpu": BUDGET_ARCHIVE}, scales=("smoke", "cpu")),
    Figure("table2", "Table II: CTS_KL vs LTR, accuracy and time",
           "Table II, ResNet-20 on CIFAR-10 (160 epochs; CTS_KL searches 160 epochs): the paper's numbers are beside "
           "this build's. ResNet-50 on ImageNet (Table II's lower half) is not run at this scale.",
           table2_runs, table2_densities, lambda df: plots.styled(tables.table2_frame(df)), read_table2,
           authors_view=lambda: plots.styled(tables.authors_table2())),
]
FIGURES: dict[str, Figure] = {f.name: f for f in _FIGURES}


REHEARSAL_FIGURES = ("fig2", "fig4", "table2")  # the paper's figures whose every method `ctslib rehearse` runs


def rehearsal_configs(models: Sequence[str] = ("resnet20", "vgg16")) -> list[RunConfig]:
    """The dress rehearsal's CIFAR-10 runs (`runs.rehearsal`): every run of Table II and Figs. 2 and 4 at paper scale
    (rehearsed: one density, one seed) for each model."""
    from ..runs.rehearsal import require_rehearsal
    require_rehearsal()
    return _unique(c for model in models for figure in REHEARSAL_FIGURES
                   for c in FIGURES[figure].configs(scale="paper", model=model))


def all_configs(scale: str | None = None, figures: Iterable[str] | None = None, **kwargs: Any) -> list[RunConfig]:
    """Every run the chosen figures (default: all) need at `scale`, each once."""
    return _unique(c for f in (figures or FIGURES) for c in FIGURES[f].configs(scale=scale, **kwargs))

