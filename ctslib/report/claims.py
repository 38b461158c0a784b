"""The paper's claims beside what this build measured, each with a verdict computed from the runs.

    table = claims.evaluate(scale="cpu")     # one row per claim: source, claim, paper, measured, verdict per evidence
    claims.headline(table)                   # the headline claims, one cell per model: verdict and deciding effect

Verdicts (`ctslib.report.verdicts`): each claim is judged on an effect with its 95% confidence interval:
"reproduced" only when the interval clears the claim's threshold, "not reproduced" only when it lies wholly on the
other side, "inconclusive" otherwise (one seed is always inconclusive), or "not tested at this scale" (the claim is
about a model, dataset, regime or quantity this evidence does not hold, e.g. ResNet-50 on ImageNet). An effect is
computed by the evidence's test (`comparisons`): paired by seed on this book's runs, Welch's t on the authors'
summary statistics. A claim "at every density" must hold at every point; the effect shown is the point that decided
it; a claim against several baselines is judged against each. Claims about "the sparse regime" use the paper's regimes
(`verdicts.regimes`: the paper's own boundary on the authors' runs of ResNet-20 and VGG-16, an LTR-only transfer of it
elsewhere). A claim about a particular model is tested only on that model; a general claim ("CTS passes sanity
checks") is tested on whatever each evidence holds, and the measured column says on what. The evidences: this
build's figures, ResNet-20's evidence set and the ViT's runs (committed records), and the authors' published runs
of each of their models (`AuthorsEvidence`), one verdict over them (a claim must hold on every model it is tested
on). Thresholds are explicit module constants.

The checks read the figures' data (`FIGURES[...].data`); Tables I and II are in `ctslib.report.tables`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..objectives import PAPER_OBJECTIVES
from ..runs import presets
from ..runs.methods import objective_symbol
from ..runs.store import RunStore
from .figures import FIGURES, SALIENCY_NAMES, all_configs, sanity_densities
from .frames import by_kind, collect, layer_frame
from . import reference
from .names import ablation_name, dataset_name, model_name, pct, pp, sparsity_label
from .stats import accuracy_table, seed_table
from .tables import table1_frame
from .comparisons import PAIRED, WELCH, Test
from .verdicts import (HIGHLY_SPARSE, INCONCLUSIVE, MATCHING, MATCHING_DROP, NOT_REPRODUCED, NOT_TESTED, REPRODUCED,
                       SANITY_MARGIN, VERDICT_MARKS, VERDICTS, Effect, above, below, deciding, deciding_part, every,
                       regime_rule, regimes, sanity_results, some)

TOLERANCE = 0.01          # "comparable" accuracy: within 1 percentage point
SMALL_FRACTION = 0.25     # "a small fraction of the computation": at most a quarter of LTR's epochs
MUCH_FASTER = 2.0         # "significantly faster": at least twice as fast
ORDERS_OF_MAGNITUDE = 10.0
EQUAL_TIME = 1.5          # "drawn in equal time": costliest / cheapest draw (in epochs) at most 1.5x

# --- helpers on run frames ------------------------------------------------------------------------------

# --- the evidence: every figure's runs at one scale --------------------------------------------------------

@dataclass
class Evidence:
    """The data of every figure at `scale` (each figure's default setting), collected lazily from the store.

    With `model`, the figures in `figures` run on that model instead (`model_evidence`: ResNet-20's evidence set),
    and the claims resting on no figure of `figures` are not tested on it."""

    scale: str | None = None
    store: RunStore | None = None
    compute: bool = True
    model: str | None = None
    figures: tuple[str, ...] | None = None  # None: every figure
    _cache: dict = field(default_factory=dict)
    # how an effect's interval is computed (`comparisons`): this book's runs are paired by seed
    test = PAIRED
    # the model whose regimes the paper defines, where the evidence is the paper's own runs of it (the authors')
    paper_model = None

    def __post_init__(self) -> None:
        self.scale = presets.resolve_scale(self.scale)

    def covers(self, claim: "Claim") -> bool:
        """Whether any figure the claim rests on is in this evidence."""
        return self.figures is None or any(f.strip() in self.figures for f in claim.where.split(","))

    def _setting(self, figure: str):
        return FIGURES[figure].setting(scale=self.scale, model=self.model)

    def configs(self, figure: str) -> list:
        return FIGURES[figure].configs(self._setting(figure))

    def data(self, figure: str) -> pd.DataFrame:
        """`FIGURES[figure].data` at this scale: runs, objective values or layers, as the figure has them."""
        if figure not in self._cache:
            if self.figures is not None and figure not in self.figures:
                self._cache[figure] = pd.DataFrame(columns=_EMPTY_COLUMNS)
            elif self.figures is not None:  # a model's evidence set: its committed runs, as many as there are
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=r".* runs are not in the store")
                    self._cache[figure] = FIGURES[figure].data(self._setting(figure), self.store, compute=False)
            else:
                fig = FIGURES[figure]
                self._cache[figure] = fig.data(self._setting(figure), self.store, compute=self.compute)
        return self._cache[figure]

    def runs(self, figure: str) -> pd.DataFrame:
        """The runs of a figure (for the objective figures, their runs rather than their tickets' values)."""
        fig = FIGURES[figure]
        if fig.frame == "runs" or (self.figures is not None and figure not in self.figures):
            return self.data(figure)
        key = f"{figure}/runs"
        if key not in self._cache:
            with warnings.catch_warnings():
                if self.figures is not None:
                    warnings.filterwarnings("ignore", message=r".* runs are not in the store")
                self._cache[key] = collect(self.configs(figure), self.store, compute=self.compute)
        return self._cache[key]

    def objectives(self, figure: str) -> pd.DataFrame:
        return self.data(figure)

    def layers(self) -> pd.DataFrame:
        return self.data("fig6")

    def sanity(self) -> pd.DataFrame:
        frames = [self.runs(f) for f in ("fig4", "fig5") if self.figures is None or f in self.figures]
        return pd.concat(frames, ignore_index=True)

    def setting(self, figure: str) -> str:
        df = self.runs(figure)
        return f"{model_name(df['model'].iloc[0])} / {dataset_name(df['dataset'].iloc[0])}"

    def has(self, figure: str, model: str, dataset: str) -> bool:
        df = self.runs(figure)
        return bool(((df["model"] == model) & (df["dataset"] == dataset)).any())

    def search_density_ratios(self) -> list[float]:
        """Per GRADBALANCE search of Figs. 2-3: the expected density after the search / the target 1.1 kappa."""
        store = self.store or RunStore()
        configs = [c for f in ("fig2", "fig3") if self.figures is None or f in self.figures for c in self.configs(f)
                   if c.method == "cts" and c.step == "gradbalance" and not c.ablation]
        ratios = []
        for c in {c.run_id: c for c in configs}.values():
            if not self.compute and not store.has(c):
                continue
            info = store.get(c, compute=self.compute).get("info", {})
            if info.get("final_expected_density") is not None:
                ratios.append(info["final_expected_density"] / (c.kappa_eff_factor * c.density))
        return ratios


# ResNet-20's evidence set (the chapter "The paper's model on CPU"): the figures whose runs it holds at smoke and
# cpu scale; at paper scale ResNet-20 is every figure's model already.
EVIDENCE_MODEL = "resnet20"
EVIDENCE_FIGURES = ("fig2", "table2", "fig4")


def model_evidence(scale: str | None = None, store: RunStore | None = None) -> Evidence | None:
    """ResNet-20's evidence set at `scale` as evidence for the claims (its committed runs only: never computed
    here), or None at paper scale."""
    scale = presets.resolve_scale(scale)
    if scale == "paper":
        return None
    return Evidence(scale, store, compute=False, model=EVIDENCE_MODEL, figures=EVIDENCE_FIGURES)


def vit_evidence(scale: str | None = None, store: RunStore | None = None) -> Evidence | None:
    """The ViT chapter's committed runs as evidence for the claims on Figs. 2 and 4 (cpu and smoke scale), or None
    at a scale the ViT has no preset for."""
    scale = presets.resolve_scale(scale)
    if scale not in FIGURES["vit"].scales:
        return None
    return Evidence(scale, store, compute=False, model="vit", figures=VIT_FIGURES)


VIT_FIGURES = ("fig2", "fig4")


class AuthorsEvidence(Evidence):
    """The authors' published runs of one model (paper scale, `ctslib.report.reference`; ResNet-20 or VGG-16 on
    CIFAR-10) in the shape of the figures' data, so that every check runs on them unchanged: Figs. 1-3, 7, 8 and
    Table II's accuracies, each with the lines the figure draws. Their effects are Welch's (`comparisons.WELCH`: the
    files hold a mean and std per point, seeds unpaired) and their regimes the paper's own (Section V-A). What the
    files do not hold (sanity-check ablations, layerwise densities, times, search traces) is absent here, and the
    claims that rest on it are not tested on them."""

    test = WELCH

    def __init__(self, model: str = "resnet20") -> None:
        super().__init__("paper", None, False)
        self.paper_model = model

    def data(self, figure: str) -> pd.DataFrame:
        if figure not in self._cache:
            fig = FIGURES[figure]
            df = fig.authors_data()
            if figure == "table2":  # CTS_KL and LTR at Table II's densities (ResNet-20 only: Table II's model)
                ds = FIGURES["table2"].densities("paper", "resnet20")
                df = reference.authors_runs("resnet20", names=["CTS_KL", "LTR"]) if self.paper_model == "resnet20" \
                    else None
                df = df[df["density"].isin(ds)] if df is not None else None
            elif df is not None and df["model"].iloc[0] != self.paper_model:  # the same lines, of this model
                lines = sorted(set(df["name"]))
                df = (reference.authors_objectives(self.paper_model, fig.scored_at, fig.objectives, tuple(lines))
                      if fig.frame == "objectives" else reference.authors_runs(self.paper_model, names=lines))
            self._cache[figure] = df if df is not None and len(df) else pd.DataFrame(columns=_EMPTY_COLUMNS)
        return self._cache[figure]

    def runs(self, figure: str) -> pd.DataFrame:
        return self.data(figure)

    def setting(self, figure: str) -> str:
        df = self.runs(figure)
        if df.empty:
            return "the authors' files (no such runs)"
        return f"{model_name(df['model'].iloc[0])} / CIFAR-10, the authors' runs"

    def search_density_ratios(self) -> list[float]:
        return []


AUTHORS_MODELS = ("resnet20", "vgg16")  # the models of the authors' published runs


_EMPTY_COLUMNS = ["name", "method", "objective", "step", "density", "sparsity", "seed", "top1", "model", "dataset",
                  "ablation", "ablation_name", "family", "layer", "layer_index", "layer_density", "layer_size",
                  "epochs_total", "epochs_draw", "seconds_total", "seconds_draw", "value"]


# --- claims -------------------------------------------------------------------------------------------

@dataclass
class Claim:
    id: str
    source: str
    text: str
    paper: str
    where: str
    check: Callable[[Evidence], Finding]   # -> (verdict, what was measured, the effect with its 95% interval)


Finding = tuple  # (verdict, what was measured, the effect the verdict rests on: text with its 95% interval)


def _pair_effects(ev: Evidence, df: pd.DataFrame, a: str, b: str | Sequence[str]) -> dict:
    """`a` minus `b` per density by the evidence's test (`ev.test`: paired by seed on this book's runs, Welch on the
    authors'); with several names in `b`, `a` minus each of them, keyed (density, name)."""
    if isinstance(b, str):
        return ev.test.differences(df, a, b)
    return ev.test.against_each(df, a, list(b))


def _best_line(df: pd.DataFrame, names: Sequence[str], label: str = "best") -> pd.DataFrame:
    """A line `label` holding, per seed and density, the best top-1 of `names` (this book's paired runs only)."""
    part = df[df["name"].isin(names)]
    best = part.groupby(["seed", "density"])["top1"].max().reset_index()
    return best.assign(name=label)


def _ltr_regimes(ev: Evidence, figure: str = "fig2") -> pd.Series:
    """Each density of `figure`'s runs in the paper's regimes (`verdicts.regimes`: the paper's own boundary on the
    authors' runs of a model it defines one for, the outcome-blind transfer rule elsewhere)."""
    df = ev.runs(figure)
    dense = df[df["name"] == "dense"]["top1"].mean()
    acc = accuracy_table(df)
    if math.isnan(dense) or "LTR" not in acc:
        return pd.Series(dtype=object)
    return regimes(acc["LTR"], dense, model=ev.paper_model)


def _dense_and_sparse(densities: Sequence[float], regime_of: pd.Series) -> tuple[list[float], list[float], str]:
    """The densities of the denser and of the highly sparse regime: by the regimes where both occur, else the
    densest and sparsest thirds; and how they were chosen."""
    densities = sorted(densities, reverse=True)
    sparse = [d for d in densities if regime_of.get(d) == HIGHLY_SPARSE]
    dense = [d for d in densities if regime_of.get(d) == MATCHING]
    if sparse and dense:
        return dense, sparse, "the matching vs the highly sparse regime"
    n = max(1, len(densities) // 3)
    return densities[:n], densities[-n:], "the densest vs the sparsest third (a regime is missing)"


def _densities_text(ds: Sequence[float]) -> str:
    return ", ".join(pct(d, 2) for d in sorted(ds, reverse=True))


def _every_point(effects: dict, threshold: float, what: str, unit: str = "pp", below_: bool = False) -> Finding:
    """"effect > threshold at every point" (`below_`: "< threshold"): its verdict, what was measured, and the effect
    of the point that decided it, as measured (a claim "CTS_KL − LTR < 0" shows CTS_KL − LTR, not its negation)."""
    if not effects:
        return NOT_TESTED, f"no {what}", ""
    if below_:
        flipped = {k: e.negated() for k, e in effects.items()}
        verdicts = {k: above(e, -threshold) for k, e in flipped.items()}
        key, _ = deciding(flipped, -threshold)
        decided = effects[key]
    else:
        verdicts = {k: above(e, threshold) for k, e in effects.items()}
        key, decided = deciding(effects, threshold)
    counts = {v: sum(1 for x in verdicts.values() if x == v) for v in (REPRODUCED, INCONCLUSIVE, NOT_REPRODUCED)}
    text = (f"{what}: holds at {counts[REPRODUCED]}, inconclusive at {counts[INCONCLUSIVE]}, fails at "
            f"{counts[NOT_REPRODUCED]} of {len(effects)} points; decided at {_point(key)}")
    return every(verdicts.values()), text, f"{decided.text(unit)} at {_point(key)}"


def _all_of(parts: Sequence[Finding], what: str) -> Finding:
    """A claim that needs every one of `parts` (findings of its own): their `every`, with the effect of the part
    that decided it (`verdicts.deciding_part`) and `what` was measured."""
    i = deciding_part(v for v, _, _ in parts)
    return every(v for v, _, _ in parts), what, parts[i][2]


def _point(key) -> str:
    if isinstance(key, float):
        return pct(key, 2)
    if isinstance(key, tuple):
        return " ".join(pct(k, 2) if isinstance(k, float) else str(k) for k in key)
    return str(key)


def check_sanity_cts(ev: Evidence) -> Finding:
    res = sanity_results(ev.sanity())
    if res.empty:
        return NOT_TESTED, "no sanity-check runs", ""
    effects = {(model_name(r.model), r.family, ablation_name(r.ablation), r.density): Effect(r.diff, r.lo, r.hi, r.n)
               for r in res.itertuples()}
    return _every_point(effects, SANITY_MARGIN, f"ticket minus ablation > {pp(SANITY_MARGIN)} "
                        f"({', '.join(sorted(set(res['model'].map(model_name))))})")


def check_shuffle_invert(ev: Evidence) -> Finding:
    res = sanity_results(ev.sanity())
    res = res[res["ablation"].isin(["shuffle", "invert"])]
    if res.empty:
        return NOT_TESTED, "no shuffle / inversion runs", ""
    effects = {(model_name(r.model), r.family, ablation_name(r.ablation), r.density): Effect(r.diff, r.lo, r.hi, r.n)
               for r in res.itertuples()}
    return _every_point(effects, SANITY_MARGIN, "ticket minus shuffled / inverted ticket")


def check_reinit(ev: Evidence) -> Finding:
    res = sanity_results(ev.sanity())
    res = res[res["ablation"] == "reinit"]
    if res.empty:
        return NOT_TESTED, "no reinitialisation runs", ""
    effects = {(model_name(r.model), r.density): Effect(r.diff, r.lo, r.hi, r.n) for r in res.itertuples()}
    return _every_point(effects, SANITY_MARGIN, "CTS_L at init minus reinitialised")


def check_comparable_ltr(ev: Evidence) -> Finding:
    effects = _pair_effects(ev, ev.runs("fig2"), "CTS_KL", "LTR")
    return _every_point(effects, -TOLERANCE, f"{ev.setting('fig2')}: CTS_KL − LTR ≥ {pp(-TOLERANCE)}")


def check_ltr_sparse(ev: Evidence) -> Finding:
    df = ev.runs("fig2")
    effects = _pair_effects(ev, df, "CTS_KL", "LTR")
    if len(effects) < 2:
        return NOT_TESTED, "fewer than two densities", ""
    dense, sparse, how = _dense_and_sparse(list(effects), _ltr_regimes(ev))
    gain = ev.test.mean_difference(df, "CTS_KL", "LTR", sparse)
    shift = ev.test.shift(df, "CTS_KL", "LTR", dense, sparse)
    return _all_of([(above(gain, 0.0), "", f"{gain.text()} (mean over {_densities_text(sparse)})"),
                    (above(shift, 0.0), "", f"{shift.text()} (shift from {_densities_text(dense)})")],
                   f"{ev.setting('fig2')}, {how}: CTS_KL − LTR averages {gain.text()} at {_densities_text(sparse)} "
                   f"and {shift.text()} more than at {_densities_text(dense)}")


def check_ltr_sparse_regime(ev: Evidence) -> Finding:
    effects = _pair_effects(ev, ev.runs("fig2"), "CTS_KL", "LTR")
    if not effects:
        return NOT_TESTED, "no CTS_KL / LTR runs", ""
    regime_of = _ltr_regimes(ev)
    sparse = [d for d in effects if regime_of.get(d) == HIGHLY_SPARSE]
    if not sparse:
        lowest = min(effects)
        return NOT_TESTED, (f"{ev.setting('fig2')}: the grid does not reach the highly sparse regime ("
                            f"{regime_rule(ev.paper_model).split('; ')[1]}; sparsest density {pct(lowest, 2)})"), ""
    ahead = {d: effects[d] for d in sparse}
    sparse_part = _every_point(ahead, 0.0, "CTS_KL − LTR > 0 in the highly sparse regime")
    all_part = _every_point(effects, -TOLERANCE, f"comparable (≥ {pp(-TOLERANCE)}) throughout")
    return _all_of([sparse_part, all_part], f"{ev.setting('fig2')}: {sparse_part[1]}; {all_part[1]}")


def check_beats_saliency(ev: Evidence) -> Finding:
    df = ev.runs("fig2")
    names = [n for n in SALIENCY_NAMES if n in set(df["name"])]
    if not names:
        return NOT_TESTED, "no saliency runs", ""
    effects = _pair_effects(ev, df, "CTS_KL", names)
    return _every_point(effects, 0.0, f"{ev.setting('fig2')}: CTS_KL minus each of {', '.join(names)} > 0 "
                        f"({len(effects)} comparisons, each at 95%: all must hold)")


def check_saliency_dense_regime(ev: Evidence) -> Finding:
    df = ev.runs("fig2")
    names = [n for n in SALIENCY_NAMES if n in set(df["name"])]
    effects = _pair_effects(ev, df, "CTS_KL", names) if names else {}
    densities = sorted({d for d, _ in effects}, reverse=True)
    if len(densities) < 2:
        return NOT_TESTED, "not enough runs", ""
    dense, sparse, how = _dense_and_sparse(densities, _ltr_regimes(ev))
    shifts, leads = {}, []
    for name in names:
        own = [d for (d, n) in effects if n == name]
        d_here, s_here = [d for d in dense if d in own], [d for d in sparse if d in own]
        if d_here and s_here:
            shifts[name] = ev.test.shift(df, "CTS_KL", name, d_here, s_here)
            leads.append(f"{name} {ev.test.mean_difference(df, 'CTS_KL', name, d_here).text()} → "
                         f"{ev.test.mean_difference(df, 'CTS_KL', name, s_here).text()}")
    if not shifts:
        return NOT_TESTED, "no saliency method has runs in both regimes", ""
    verdict, text, effect = _every_point(shifts, 0.0, "CTS_KL's lead grows from the denser to the sparser regime, "
                                         "against each saliency method")
    return verdict, (f"{how} ({_densities_text(dense)} vs {_densities_text(sparse)}): CTS_KL's lead over "
                     + "; ".join(leads) + f". {text}"), effect


def _objective_lines(ev: Evidence) -> pd.DataFrame:
    """Fig. 3's CTS runs with each line named by its objective (the lines compared by their mean over densities)."""
    df = ev.runs("fig3")
    df = df[df["method"] == "cts"]
    return df.assign(name=df["objective"])


def check_grad_norm_weak(ev: Evidence) -> Finding:
    df = _objective_lines(ev)
    others = [o for o in PAPER_OBJECTIVES if o != "grad_norm" and o in set(df["name"])]
    if not others or "grad_norm" not in set(df["name"]):
        return NOT_TESTED, "fewer than two objectives", ""
    effects = {f"CTS_{objective_symbol(o)}": ev.test.mean_over(df, o, "grad_norm") for o in others}
    rank = df.groupby("name")["top1"].mean().sort_values(ascending=False)
    text = "mean top-1 over densities: " + ", ".join(f"CTS_{objective_symbol(o)} {pct(v)}" for o, v in rank.items())
    verdict, what, effect = _every_point(effects, 0.0, "each other objective's mean minus R_-‖∇L‖'s > 0")
    return verdict, f"{text}; {what}", effect


def check_three_weak(ev: Evidence) -> Finding:
    df = _objective_lines(ev)
    strong, weak = ["kl", "delta_loss", "task"], ["grad_norm", "feature", "grad"]
    if not set(strong + weak) <= set(df["name"]):
        return NOT_TESTED, "not all six objectives ran", ""
    effects = {f"CTS_{objective_symbol(a)} − CTS_{objective_symbol(b)}": ev.test.mean_over(df, a, b)
               for a in strong for b in weak}
    return _every_point(effects, 0.0, "each of KL/ΔL/L minus each of -‖∇L‖/feature/grad, mean top-1 over densities "
                        "(9 comparisons, all must hold)")


def check_first_last(ev: Evidence) -> Finding:
    layers = ev.layers()
    layers = layers[layers["name"] != "random"]
    if layers.empty:
        return NOT_TESTED, "no per-layer densities in this evidence", ""
    per = layers.groupby(["seed", "density", "name", "layer_index"])["layer_density"].mean().unstack("layer_index")
    if per.shape[1] < 3:
        return NOT_TESTED, "the model has fewer than three prunable layers", ""
    first, last = per.columns[0], per.columns[-1]
    margin = np.minimum(per[first], per[last]) - per[per.columns[1:-1]].median(axis=1)
    effects = {key: Effect.of(g.values) for key, g in margin.groupby(level=["name", "density"])}
    return _every_point(effects, 0.0, "min(first, last layer density) minus the median middle layer's, per "
                        "(method, density) ticket")


def check_similar_ratios(ev: Evidence) -> Finding:
    layers = ev.layers()
    if layers.empty:
        return NOT_TESTED, "no per-layer densities in this evidence", ""
    per_seed = []
    for seed, part in layers.groupby("seed"):
        means = np.log10(part.groupby(["density", "name", "layer_index"])["layer_density"].mean()
                         .unstack("layer_index").clip(lower=1e-6))
        within, between = [], []
        for density, block in means.groupby(level="density"):
            block = block.droplevel("density")
            others = [n for n in block.index if n != "random"]
            for i, a in enumerate(others):
                for b in others[i + 1:]:
                    within.append(float(np.abs(block.loc[a] - block.loc[b]).mean()))
                if "random" in block.index:
                    between.append(float(np.abs(block.loc["random"] - block.loc[a]).mean()))
        if within and between:
            per_seed.append(np.mean(between) - np.mean(within))
    if not per_seed:
        return NOT_TESTED, "needs random and two other methods", ""
    gap = Effect.of(per_seed)
    return above(gap, 0.0), ("mean |Δ log10 layer density| between random and the others minus that between the "
                             "non-random methods"), gap.text(unit=" decades", digits=3)


def _cts_vs_baselines(ev: Evidence, values: pd.DataFrame, step: str, objectives: Sequence[str]) -> dict:
    """Per (objective, density, baseline): the baseline's value minus the Quick CTS line of `step`'s (positive: CTS
    lower, i.e. better), by the evidence's test."""
    own = f"Quick CTS ({step.upper()})"
    effects = {}
    for objective in objectives:
        part = values[values["objective"] == objective]
        names = set(part["name"])
        if own not in names:
            continue
        for other in sorted(n for n in names if not n.startswith("Quick CTS") and not n.startswith("CTS")):
            for d, e in ev.test.differences(part, other, own, "value").items():
                effects[(objective_symbol(objective), d, other)] = e
    return effects


def check_objectives_init(ev: Evidence) -> Finding:
    effects = _cts_vs_baselines(ev, ev.objectives("fig7"), "gradbalance", ("task", "grad_norm"))
    return _every_point(effects, 0.0, "each baseline minus Quick CTS (GRADBALANCE), per (objective, density)",
                        unit=" (objective value)")


def check_objectives_rewind(ev: Evidence) -> Finding:
    objectives = [o for o in PAPER_OBJECTIVES if o != "grad"]
    effects = _cts_vs_baselines(ev, ev.objectives("fig8"), "gradbalance", objectives)
    return _every_point(effects, 0.0, "each baseline minus Quick CTS (GRADBALANCE), every objective but R_grad",
                        unit=" (objective value)")


def check_gradbalance_consistent(ev: Evidence) -> Finding:
    values = pd.concat([ev.objectives("fig7"), ev.objectives("fig8").assign(objective=lambda d: d["objective"] + "@k")])
    values = values[values["name"].str.startswith("Quick CTS")]
    if values.empty:
        return NOT_TESTED, "no objective values", ""
    gb, lag = "Quick CTS (GRADBALANCE)", "Quick CTS (LAGRANGE)"
    if not {gb, lag} <= set(values["name"]):
        return NOT_TESTED, "needs both gradient steps", ""
    cells = {}
    for objective, part in values.groupby("objective"):
        for d, e in ev.test.differences(part, lag, gb, "value").items():  # > 0: GRADBALANCE's value lower, better
            cells[(objective, d)] = e
    verdicts = [above(e, 0.0) for e in cells.values()]
    better, worse = verdicts.count(REPRODUCED), verdicts.count(NOT_REPRODUCED)
    # "better and more consistently": significantly better in more than half of the cells
    verdict = REPRODUCED if better > len(cells) / 2 else (NOT_REPRODUCED if better <= worse else INCONCLUSIVE)
    return verdict, (f"GRADBALANCE's ticket significantly better than LAGRANGE's (whole interval) in {better} of the "
                     f"{len(cells)} (objective, density) cells of Figs. 7-8, worse in {worse} (claim: better in more "
                     f"than half)"), f"{better}/{len(cells)} cells"


def check_orders_of_magnitude(ev: Evidence) -> Finding:
    values = ev.objectives("fig7")
    values = values[values["objective"] == "grad_norm"]
    if values.empty:
        return NOT_TESTED, "no gradient-norm values", ""
    own = "Quick CTS (GRADBALANCE)"
    norms = values.assign(value=-values["value"]).query("value > 0")  # the gradient norms (R is minus the norm)
    logs = norms.assign(value=np.log10(norms["value"]))
    others = sorted(n for n in set(logs["name"]) if "CTS" not in n)
    effects = {(d, b): e for (d, b), e in ev.test.against_each(logs, own, others, "value").items()}
    return _every_point(effects, 1.0, "log10 of CTS's gradient norm / each baseline's at initialisation (on the "
                        "authors' files: the log of each seed's value, Welch on those)", unit=" decades")


def check_ltr_worst_objectives(ev: Evidence) -> Finding:
    runs = ev.runs("fig8")
    if not ((runs["model"] == "resnet20") & (runs["dataset"] == "cifar10")).any():
        return NOT_TESTED, f"claim is about ResNet-20 / CIFAR-10; this build's Fig. 8 ran {ev.setting('fig8')}", ""
    values = ev.objectives("fig8")
    values = values[values["objective"] != "grad_norm"]
    effects = {}
    for objective, part in values.groupby("objective"):
        others = sorted(n for n in set(part["name"]) if n not in ("LTR", "random"))
        for (d, b), e in ev.test.against_each(part, "LTR", others, "value").items():
            effects[(objective_symbol(objective), d, b)] = e
    return _every_point(effects, 0.0, "LTR's value minus each other non-random method's", unit=" (objective value)")


def _table2_frame(ev: Evidence) -> pd.DataFrame:
    return ev.runs("table2")


def check_small_fraction(ev: Evidence) -> Finding:
    df = _table2_frame(ev)
    sparsest = df["density"].min()
    part = df[df["density"] == sparsest].groupby("name")[["epochs_total", "seconds_total"]].mean()
    if not {"CTS_KL", "LTR"} <= set(part.index):
        return NOT_TESTED, "no CTS_KL / LTR runs", ""
    if part["epochs_total"].isna().any():
        return NOT_TESTED, "no computation costs recorded", ""
    epochs = Effect.exact(part.loc["CTS_KL", "epochs_total"] / part.loc["LTR", "epochs_total"])
    seconds = part.loc["CTS_KL", "seconds_total"] / part.loc["LTR", "seconds_total"]
    return below(epochs, SMALL_FRACTION), (
        f"{ev.setting('table2')} at {sparsity_label(sparsest)}: CTS_KL needs {epochs.mean:.1%} of LTR's epochs "
        f"({part.loc['CTS_KL', 'epochs_total']:.3g} vs {part.loc['LTR', 'epochs_total']:.3g}; epochs do not vary "
        f"between seeds) and {seconds:.1%} of its time"), f"{epochs.mean:.1%} of LTR's epochs"


def _time_ratios(seconds: pd.DataFrame) -> dict[float, Effect]:
    """LTR's time over CTS_KL's per density, from a `seed_table` of times: each seed's ratio, their mean and
    interval (the one speed-up every claim and page quotes)."""
    ratio = (seconds["LTR"] / seconds["CTS_KL"]).dropna()
    return {d: Effect.of(g.values) for d, g in ratio.groupby(level="density")}


def check_faster(ev: Evidence) -> Finding:
    df = _table2_frame(ev)
    table = seed_table(df, "seconds_total")
    if not {"CTS_KL", "LTR"} <= set(table.columns):
        return NOT_TESTED, "no CTS_KL / LTR runs", ""
    effects = _time_ratios(table)
    if not effects:
        return NOT_TESTED, "no times in this evidence (the authors' files hold accuracies only)", ""
    return _every_point(effects, MUCH_FASTER, f"{ev.setting('table2')}: LTR's time / CTS_KL's (claim: ≥ "
                        f"{MUCH_FASTER:g}×), wall clock on a shared machine", unit="×")


def check_similar_or_better(ev: Evidence) -> Finding:
    df = _table2_frame(ev)
    effects = _pair_effects(ev, df, "CTS_KL", "LTR")
    if len(effects) < 2:
        return NOT_TESTED, "no CTS_KL / LTR runs", ""
    comparable = _every_point(effects, -TOLERANCE, f"CTS_KL − LTR ≥ {pp(-TOLERANCE)}")
    densest, sparsest = max(effects), min(effects)
    shift = ev.test.shift(df, "CTS_KL", "LTR", [densest], [sparsest])
    return _all_of([comparable, (above(shift, 0.0), "", f"{shift.text()} (shift from {sparsity_label(densest)} to "
                                                       f"{sparsity_label(sparsest)})")],
                   f"{comparable[1]}; CTS_KL − LTR " + ", ".join(f"{e.text()} at {sparsity_label(d)}"
                                                                for d, e in sorted(effects.items(), reverse=True)))


def check_equal_time(ev: Evidence) -> Finding:
    df = pd.concat([ev.runs("fig2"), ev.runs("table2")])
    draw = df.groupby(["name", "density"])[["epochs_draw", "seconds_draw"]].mean()
    if "CTS_KL" not in draw.index.get_level_values("name"):
        return NOT_TESTED, "no CTS_KL runs", ""
    cts = draw.loc["CTS_KL"]
    if cts["epochs_draw"].isna().all():
        return NOT_TESTED, "no draw costs recorded", ""
    spread = Effect.exact(cts["epochs_draw"].max() / max(cts["epochs_draw"].min(), 1e-9))
    lo, hi = cts["epochs_draw"].min(), cts["epochs_draw"].max()
    cost = f"{lo:.3g}" if math.isclose(lo, hi) else f"{lo:.3g}-{hi:.3g}"
    text = (f"CTS_KL's draw costs {cost} epochs of search at every density ({cts['seconds_draw'].min():.3g}-"
            f"{cts['seconds_draw'].max():.3g} s of wall clock on a shared machine)")
    if "LTR" in draw.index.get_level_values("name"):
        ltr = draw.loc["LTR"]
        text += (f"; LTR's grows from {ltr['epochs_draw'].loc[ltr.index.max()]:.3g} to "
                 f"{ltr['epochs_draw'].loc[ltr.index.min()]:.3g} epochs")
    verdict = REPRODUCED if spread.mean <= EQUAL_TIME else NOT_REPRODUCED
    return verdict, text, f"{spread.mean:.3g}× (costliest / cheapest draw)"


def _specific(model: str, dataset: str, sparsity: float, label: str) -> Callable[[Evidence], Finding]:
    def check(ev: Evidence) -> Finding:
        df = _table2_frame(ev)
        here = df[(df["model"] == model) & (df["dataset"] == dataset)]
        near = df.loc[(df["sparsity"] - sparsity).abs() < 5e-4]
        analog = ""
        if not near.empty:
            acc = near.groupby("name")[["top1", "seconds_total"]].mean()
            if {"CTS_KL", "LTR"} <= set(acc.index) and not near["seconds_total"].isna().all():
                speedup = next(iter(_time_ratios(seed_table(near, "seconds_total")).values()))
                analog = (f"; this build ({ev.setting('table2')}) at {sparsity_label(1 - sparsity)}: CTS_KL "
                          f"{pct(acc.loc['CTS_KL', 'top1'])} in {acc.loc['CTS_KL', 'seconds_total']:.0f} s, LTR "
                          f"{pct(acc.loc['LTR', 'top1'])} in {acc.loc['LTR', 'seconds_total']:.0f} s (CTS_KL "
                          f"{speedup.text('×')} faster)")
        if here.empty:
            return NOT_TESTED, f"needs {label}" + analog, ""
        here = here.loc[(here["sparsity"] - sparsity).abs() < 5e-4]
        effects = _pair_effects(ev, here, "CTS_KL", "LTR")
        if not effects:
            return NOT_TESTED, f"no {label} runs at {sparsity:.1%} sparsity", ""
        effect = next(iter(effects.values()))
        acc = here.groupby("name")[["top1", "seconds_total"]].mean()
        if here["seconds_total"].isna().all():  # accuracies without times (the authors' files)
            return above(effect, 0.0), (f"CTS_KL {pct(acc.loc['CTS_KL', 'top1'])}, LTR {pct(acc.loc['LTR', 'top1'])} "
                                        f"(no times in the files: accuracy only)"), effect.text()
        faster = next(iter(_time_ratios(seed_table(here, "seconds_total")).values()))
        return _all_of([(above(effect, 0.0), "", effect.text()),
                        (above(faster, 1.0), "", f"LTR's time / CTS_KL's {faster.text('×')}")], (
            f"CTS_KL {pct(acc.loc['CTS_KL', 'top1'])} in {acc.loc['CTS_KL', 'seconds_total'] / 60:.1f} min, LTR "
            f"{pct(acc.loc['LTR', 'top1'])} in {acc.loc['LTR', 'seconds_total'] / 60:.1f} min (CTS_KL "
            f"{faster.text('×')} faster)"))
    return check


def check_passes_saliency_fails(ev: Evidence) -> Finding:
    table = table1_frame(ev.runs("table1"))
    if table.empty:
        return NOT_TESTED, "no Table I runs", ""
    marks = dict(zip(table["method"], table["passes sanity checks (here)"]))
    as_verdict = {"✓": REPRODUCED, "✗": NOT_REPRODUCED, "?": INCONCLUSIVE}
    cts = [as_verdict.get(marks[m], NOT_TESTED) for m in ("CTS_KL", "Quick CTS_KL") if m in marks]
    # a saliency method failing is what the claim needs: its "✗" supports it, its "✓" refutes it
    flip = {REPRODUCED: NOT_REPRODUCED, NOT_REPRODUCED: REPRODUCED, INCONCLUSIVE: INCONCLUSIVE}
    sal = [flip[as_verdict[marks[m]]] for m in SALIENCY_NAMES if m in marks and marks[m] in as_verdict]
    if not cts or not sal:
        return NOT_TESTED, "needs CTS and saliency methods in Table I", ""
    text = ", ".join(f"{m} {v}" for m, v in marks.items())
    return every(cts + sal), f"sanity checks passed (✓), failed (✗), undecided (?): {text}", ""


def check_matching_regime(ev: Evidence) -> Finding:
    effects = _pair_effects(ev, ev.runs("fig2"), "CTS_KL", "LTR")
    regime_of = _ltr_regimes(ev)
    if not effects or regime_of.empty:
        return NOT_TESTED, "no dense / LTR / CTS_KL runs", ""
    matching = {d: e for d, e in effects.items() if regime_of.get(d) == MATCHING}
    if not matching:
        return NOT_TESTED, "LTR matches the dense network at none of the densities run", ""
    return _every_point(matching, 0.0, f"in the matching regime (LTR within {pp(MATCHING_DROP).lstrip('+')} of dense: "
                        f"{_densities_text(matching)}) CTS_KL − LTR < 0", below_=True)


def _vit_parts(ev: Evidence) -> tuple[pd.DataFrame, dict, pd.Series, list[str]]:
    """The ViT chapter's runs: the tickets (no ablations), CTS_KL − LTR per density, LTR's regime at each density
    and the saliency methods run."""
    df = ev.runs("vit")
    base = df[df["ablation"] == ""]
    return df, _pair_effects(ev, base, "CTS_KL", "LTR"), _ltr_regimes(ev, "vit"), \
        [n for n in SALIENCY_NAMES if n in set(base["name"])]


def check_self_attention(ev: Evidence) -> Finding:
    """The paper's open question, on the ViT: do CTS's advantages carry over? Its three advantages as the paper
    claims them on ResNet-20 (C1, A5, A1): CTS_KL ahead of LTR in the highly sparse regime, ahead of every saliency
    method at every density, above its sanity-check ablations at every point."""
    df, effects, regime_of, saliency = _vit_parts(ev)
    if df.empty or not effects:
        return NOT_TESTED, "no ViT runs (the chapter Self-attention)", ""
    sparse = {d: e for d, e in effects.items() if regime_of.get(d) == HIGHLY_SPARSE}
    if not sparse:
        return NOT_TESTED, (f"{ev.setting('vit')}: the grid does not reach the highly sparse regime "
                            f"({regime_rule().split('; ')[1]})"), ""
    base = df[df["ablation"] == ""]
    parts = [_every_point(sparse, 0.0, "CTS_KL − LTR > 0 in the highly sparse regime"),
             _every_point(_pair_effects(ev, base, "CTS_KL", saliency), 0.0,
                          f"CTS_KL − each of {', '.join(saliency)} > 0") if saliency else
             (NOT_TESTED, "no saliency runs", "")]
    res = sanity_results(df)
    parts.append(_every_point({(r.family, ablation_name(r.ablation), r.density): Effect(r.diff, r.lo, r.hi, r.n)
                               for r in res.itertuples()}, SANITY_MARGIN, f"ticket minus ablation > {pp(SANITY_MARGIN)}")
                 if not res.empty else (NOT_TESTED, "no sanity-check runs", ""))
    return _all_of(parts, f"{ev.setting('vit')}: " + "; ".join(t for _, t, _ in parts))


def check_gradbalance_hits_target(ev: Evidence) -> Finding:
    ratios = ev.search_density_ratios()
    if not ratios:
        return NOT_TESTED, "no search traces", ""
    lo, hi = min(ratios), max(ratios)
    # each search is its own measurement: the claim must hold for every one of them
    return (REPRODUCED if 0.75 <= lo and hi <= 1.25 else NOT_REPRODUCED), (
        f"with the paper's settings (Adam lr 0.1, τ = 2/3, η = 0.7; nothing tuned per run), the expected density "
        f"after the search is {lo:.2f}-{hi:.2f} × the target 1.1κ over {len(ratios)} searches"), f"{lo:.2f}-{hi:.2f}×"


def _fig1_cells(ev: Evidence, other: str) -> dict:
    """Per (objective, density) of Fig. 1: `other`'s value minus the saliency method's on its own objective
    (SNIP on R_ΔL, GraSP on R_-‖∇L‖), by the evidence's test (positive: the saliency method is better)."""
    values = ev.objectives("fig1")
    effects = {}
    for objective, own in (("delta_loss", "SNIP"), ("grad_norm", "GraSP")):
        part = values[values["objective"] == objective]
        effects.update({(f"{own} on R_{objective_symbol(objective)}", d): e
                        for d, e in ev.test.differences(part, other, own, "value").items()})
    return effects


def check_saliency_vs_ltr_fig1(ev: Evidence) -> Finding:
    effects = _fig1_cells(ev, "LTR")
    if not effects:
        return NOT_TESTED, "no objective values", ""
    worse = {k: below(e, 0.0) for k, e in effects.items()}  # LTR's value lower: the saliency method is worse
    share = sum(v == REPRODUCED for v in worse.values()) / len(worse)
    decided = sum(v != INCONCLUSIVE for v in worse.values()) / len(worse)
    verdict = REPRODUCED if share >= 0.5 else (NOT_REPRODUCED if decided - share > 0.5 else INCONCLUSIVE)
    return verdict, (f"SNIP (on R_ΔL) / GraSP (on R_-‖∇L‖) worse than LTR's ticket (whole interval) in "
                     f"{sum(v == REPRODUCED for v in worse.values())}/{len(worse)} cells, better in "
                     f"{sum(v == NOT_REPRODUCED for v in worse.values())} (claim: a consistent majority)"), f"{share:.0%} of cells"


def check_magnitude_fig1(ev: Evidence) -> Finding:
    effects = _fig1_cells(ev, "magnitude")
    if not effects:
        return NOT_TESTED, "no objective values", ""
    beaten = {k: below(e, 0.0) for k, e in effects.items()}  # magnitude's value lower
    n = sum(v == REPRODUCED for v in beaten.values())
    return some(beaten.values()), (f"magnitude pruning beats the saliency method on its own objective (whole "
                                   f"interval) in {n}/{len(beaten)} cells"), ""


PAPER_ROUNDING = 0.0005  # the paper's Table II gives accuracies to 0.1 pp: a file's mean within 0.05 pp is its number


def check_paper_numbers(ev: Evidence) -> Finding:
    """Are Table II's numbers the means of the authors' published runs? Per (method, sparsity): reproduced where the
    paper's number is the files' mean to its rounding, not reproduced where it lies beyond what any single seed of
    the files can reach (three values with that mean and population std lie within mean ± sqrt(2) std), inconclusive
    between. Only the authors' ResNet-20 files can answer it."""
    if not isinstance(ev, AuthorsEvidence) or ev.paper_model != "resnet20":
        return NOT_TESTED, "a claim about the authors' ResNet-20 files", ""
    from .tables import PAPER_TABLE2
    df = ev.runs("table2")
    summary = reference.authors_summary(df)
    verdicts, parts, worst_gap = [], [], (0.0, "")
    implied, files = [], []
    for sparsity, (cts, _, ltr, _) in PAPER_TABLE2.items():
        density = min(summary["density"].unique(), key=lambda d: abs((1 - d) - sparsity))
        at = summary[(summary["density"] - density).abs() < 1e-9].set_index("name")
        for name, paper in (("CTS_KL", cts / 100), ("LTR", ltr / 100)):
            mean, std = at.loc[name, "mean"], at.loc[name, "std"]
            gap, reach = paper - mean, math.sqrt(2) * std
            verdicts.append(REPRODUCED if abs(gap) <= PAPER_ROUNDING else
                            NOT_REPRODUCED if abs(gap) > reach + PAPER_ROUNDING else INCONCLUSIVE)
            parts.append(f"{name} at {sparsity:.1%}: paper {100 * paper:.1f}, files {100 * mean:.2f} ± {100 * std:.2f}"
                         f" ({pp(gap)}{', beyond any single seed' if verdicts[-1] == NOT_REPRODUCED else ''})")
            if abs(gap) > abs(worst_gap[0]):
                worst_gap = (gap, f"{pp(gap)} ({name} at {sparsity:.1%})")
        implied.append(f"{cts - ltr:+.1f}")
        files.append(f"{100 * (at.loc['CTS_KL', 'mean'] - at.loc['LTR', 'mean']):+.1f}")
    return every(verdicts), ("; ".join(parts) + f". CTS_KL − LTR as the paper implies: {' / '.join(implied)} pp; in the "
                             f"files: {' / '.join(files)} pp"), worst_gap[1]


def check_gap_shrinks(ev: Evidence) -> Finding:
    """This book's claim under test (the chapter "Does CTS catch up with more training?"): in the highly sparse
    regime, CTS_KL's gap to LTR grows (closes) from the smallest training budget to the largest, paired by seed."""
    from . import budget
    if ev.figures is not None or isinstance(ev, AuthorsEvidence) or ev.scale not in FIGURES["budget"].scales:
        return NOT_TESTED, "the budget set is LeNet-300-100's at cpu scale (the chapter of that name)", ""
    df = ev.runs("budget")
    regime_of = budget.regimes_at_x1(df)
    sparse = [d for d, r in regime_of.items() if r == HIGHLY_SPARSE]
    if df.empty or not sparse or budget.with_budget(df)["budget"].nunique() < 2:
        return NOT_TESTED, "the budget set's runs are not all in (results/budget-fmnist)", ""
    effect = budget.closing(df, sparse)
    gaps = budget.gap_frame(df)
    cts = gaps[(gaps["line"] == "CTS_KL") & gaps["density"].isin(sparse)].groupby("budget")["gap"].mean()
    return above(effect, 0.0), ("CTS_KL − LTR averaged over the highly sparse densities "
                                + ", ".join(f"{pp(v)} at x{b}" for b, v in cts.items())
                                + "; the change from the smallest to the largest budget"), effect.text()


CLAIMS: list[Claim] = [
    Claim("A1", "Abstract", "CTS produces subnetworks that robustly pass sanity checks",
          "Figs. 4-5: CTS above every ablation", "fig4, fig5", check_sanity_cts),
    Claim("A2", "Abstract", "CTS achieves accuracy comparable to or exceeding LTR",
          "Fig. 2, Table II", "fig2", check_comparable_ltr),
    Claim("A3", "Abstract", "... while requiring only a small fraction of the computation",
          "Table I: 320 (Quick: 180) vs 3058 epochs", "table2", check_small_fraction),
    Claim("A4", "Abstract", "ResNet-20 / CIFAR-10 at 99.3% sparsity: CTS_KL 74.0% in 7.9 min, LTR 68.3% in 95.2 min",
          "74.0% vs 68.3%; 7.9 vs 95.2 min", "table2", _specific("resnet20", "cifar10", 0.993, "ResNet-20 / CIFAR-10")),
    Claim("A5", "Abstract", "CTS outperforms saliency-based methods in the sparsity-accuracy trade-off across all "
          "sparsities", "Fig. 2", "fig2", check_beats_saliency),
    Claim("A6", "Abstract", "Advantages over LTR emerge most clearly only in the highly sparse regime",
          "Fig. 2, Table II", "fig2", check_ltr_sparse),
    Claim("A7", "Abstract / IV-B", "GRADBALANCE controls sparsity without sensitive hyperparameter tuning",
          "Section IV-B", "fig2, fig3", check_gradbalance_hits_target),
    Claim("III", "Section III (Fig. 1)", "Saliency methods do worse than LTR on their own objectives at "
          "initialisation, on a relatively consistent basis", "Fig. 1 (VGG-16)", "fig1", check_saliency_vs_ltr_fig1),
    Claim("III-b", "Section III (Fig. 1)", "Saliency methods can be surpassed by naive magnitude pruning on their "
          "own objectives", "Fig. 1 (VGG-16)", "fig1", check_magnitude_fig1),
    Claim("V-C1", "Section V-C", "CTS outperforms LTR in the sparse regime and remains comparable throughout",
          "Fig. 2", "fig2", check_ltr_sparse_regime),
    Claim("V-C2", "Section V-C", "In the denser regimes the shortcomings of saliency-based methods are less "
          "prominent", "Fig. 2", "fig2", check_saliency_dense_regime),
    Claim("V-C3", "Section V-C", "Maximising the gradient norm is a particularly weak objective",
          "Fig. 3", "fig3", check_grad_norm_weak),
    Claim("V-C4", "Fig. 3 caption", "Tickets under R_-‖∇L‖, R_feature and R_grad cannot match those under R_KL, "
          "R_ΔL and R_L", "Fig. 3", "fig3", check_three_weak),
    Claim("V-D1", "Section V-D", "CTS comfortably surpasses layerwise shuffling and score inversion",
          "Figs. 4-5", "fig4, fig5", check_shuffle_invert),
    Claim("V-D2", "Section V-D", "CTS_L consistently outperforms reinitialisation, especially when sparse",
          "Figs. 4-5", "fig4, fig5", check_reinit),
    Claim("V-D3", "Section V-D / Fig. 6", "All (non-random) methods keep the most weights in the first and last "
          "layer", "Fig. 6", "fig6", check_first_last),
    Claim("V-D4", "Section V-D / Fig. 6", "All methods but random pruning give similar layerwise density ratios",
          "Fig. 6", "fig6", check_similar_ratios),
    Claim("V-E1", "Section V-E / Fig. 7", "At initialisation, Quick CTS beats every other method on its objective "
          "at all sparsities", "Fig. 7", "fig7", check_objectives_init),
    Claim("V-E2", "Section V-E / Fig. 7", "CTS draws tickets with orders of magnitude larger gradient norms",
          "Fig. 7 (log scale)", "fig7", check_orders_of_magnitude),
    Claim("V-E3", "Figs. 7-8 captions", "GRADBALANCE tickets do better and more consistently than LAGRANGE ones",
          "Figs. 7-8", "fig7, fig8", check_gradbalance_consistent),
    Claim("V-E4", "Section V-E / Fig. 8", "At the rewind step, Quick CTS beats every other method on every "
          "objective but R_grad, at all sparsities", "Fig. 8", "fig8", check_objectives_rewind),
    Claim("V-E5", "Section V-E", "On ResNet-20, LTR is worse than every method but random on all objectives but "
          "R_-‖∇L‖", "Fig. 8 (ResNet-20)", "fig8", check_ltr_worst_objectives),
    Claim("V-F1", "Section V-F / Table II", "CTS computes winning subnetworks significantly faster than LTR",
          "Table II: 7.9 vs 78.7-108.3 min", "table2", check_faster),
    Claim("V-F2", "Section V-F / Table II", "CTS achieves similar or better performance, its benefits more visible "
          "in the sparse regime", "Table II", "table2", check_similar_or_better),
    Claim("V-F3", "Section V-F", "Tickets of all sparsities are drawn in equal time", "Table II: 7.9 min at each",
          "table2", check_equal_time),
    Claim("V-F4", "Table II", "ResNet-50 / ImageNet at 99.0% sparsity: CTS_KL 65.4% top-3 in 20.8 h vs LTR 60.5% "
          "in 59.1 h", "65.4% vs 60.5%", "table2", _specific("resnet50", "imagenet", 0.99, "ResNet-50 / ImageNet")),
    Claim("C1", "Conclusion", "CTS_KL outperforms LTR in the highly sparse regime and remains competitive",
          "Fig. 2, Table II", "fig2", check_ltr_sparse_regime),
    Claim("C2", "Conclusion", "CTS_KL is 12× faster than LTR at 99.3% sparsity on ResNet-20 / CIFAR-10 (74.0% vs "
          "68.3%)", "12×", "table2", _specific("resnet20", "cifar10", 0.993, "ResNet-20 / CIFAR-10")),
    Claim("C3", "Conclusion", "CTS tickets pass the sanity checks that saliency-based PaI methods fail",
          "Table I", "table1", check_passes_saliency_fails),
    Claim("C4", "Conclusion", "CTS cannot match LTR at the matching sparsities (where LTR loses no accuracy)",
          "Conclusion", "fig2", check_matching_regime),
    Claim("P1", "Table II", "The paper's Table II numbers are the authors' published runs (the means of their files)",
          "CTS_KL 81.7 / 74.0 / 58.8%, LTR 83.5 / 68.3 / 55.7% at 98.2 / 99.3 / 99.7% sparsity", "table2",
          check_paper_numbers),
    Claim("B1", "This book (not the paper)", "CTS_KL's gap to LTR shrinks with the training budget (highly sparse "
          "regime; LeNet-300-100 at 1x, 4x and 16x the cpu preset's steps)", "not in the paper: the question of the "
          "chapter \"Does CTS catch up with more training?\"", "budget", check_gap_shrinks),
    Claim("Q1", "Conclusion (open question)", "CTS's advantages carry over to self-attention: on a ViT, CTS_KL beats "
          "LTR in the highly sparse regime and every saliency method, and passes its sanity checks",
          "not tested: \"it remains to be seen\"", "vit", check_self_attention),
]


RESNET_COLUMNS = ("on ResNet-20 (its evidence set)", "its effect", "verdict on ResNet-20")
VIT_COLUMNS = ("on the ViT (its chapter's runs)", "its effect (ViT)", "verdict on the ViT")
AUTHORS_COLUMNS = ("on the authors' runs", "their effect", "verdict on theirs")
AUTHORS_VERDICT = {"resnet20": "verdict on their ResNet-20", "vgg16": "verdict on their VGG-16"}
AUTHORS_DETAIL = {m: (f"on their {model_name(m)}", f"its effect (their {model_name(m)})") for m in AUTHORS_VERDICT}


def authors_verdict(verdicts: dict[str, str]) -> str:
    """One verdict of the authors' runs from each model's: a claim must hold on every model it is tested on
    (`every`); the columns per model show which one decides."""
    return every(verdicts.values())


def evaluate(scale: str | None = None, store=None, compute: bool = True,
             claims: Sequence[Claim] | None = None) -> pd.DataFrame:
    """Every claim with its verdict, the effect it rests on (mean [95% interval]) and what was measured (a claim
    whose check fails to run says why): on this build's runs (the figures' default models), on ResNet-20's
    evidence set and on the ViT's runs (their committed records), and on the authors' published runs of each model
    (ResNet-20, VGG-16), with one verdict over those."""
    ev = Evidence(scale, store, compute)
    ours = [(RESNET_COLUMNS, model_evidence(scale, store)), (VIT_COLUMNS, vit_evidence(scale, store))]
    authors = {m: AuthorsEvidence(m) for m in AUTHORS_MODELS}
    rows = []
    for claim in claims or CLAIMS:
        verdict, measured, effect = judge(claim, ev)
        row = {"id": claim.id, "source": claim.source, "claim": claim.text, "paper": claim.paper,
               "measured here": measured, "effect [95% CI]": effect, "verdict": verdict}
        for (measured_col, effect_col, verdict_col), other in ours:
            if other is not None:
                row[verdict_col], row[measured_col], row[effect_col] = judge(claim, other)
        found = {m: judge(claim, a) for m, a in authors.items()}
        tested = {m: f for m, f in found.items() if f[0] != NOT_TESTED}
        shown = tested or found
        row.update({AUTHORS_COLUMNS[0]: "; ".join(f"{model_name(m)}: {f[1]}" for m, f in shown.items()),
                    AUTHORS_COLUMNS[1]: "; ".join(f"{model_name(m)} {f[2]}" for m, f in tested.items() if f[2]),
                    **{AUTHORS_VERDICT[m]: f[0] for m, f in found.items()},
                    **{AUTHORS_DETAIL[m][0]: f[1] for m, f in found.items()},
                    **{AUTHORS_DETAIL[m][1]: f[2] for m, f in found.items()},
                    AUTHORS_COLUMNS[2]: authors_verdict({m: f[0] for m, f in found.items()}),
                    "figure": claim.where})
        rows.append(row)
    return pd.DataFrame(rows)


def judge(claim: Claim, ev: Evidence) -> Finding:
    """The claim's check on `ev` (this build's runs or the authors', `AuthorsEvidence`): the one verdict function
    of every column. A check that cannot run says why, and the other claims go on."""
    if not ev.covers(claim):
        return NOT_TESTED, f"not in this evidence (it holds {', '.join(ev.figures)}; the claim rests on {claim.where})", ""
    try:
        return claim.check(ev)
    except Exception as err:
        return NOT_TESTED, f"could not be checked: {type(err).__name__}: {err}", ""


# The claims the book's summary screen shows first: the paper's headline claims.
HEADLINE = ("A2", "A6", "C1", "A5", "A1", "C4", "A4", "P1")


def headline(table: pd.DataFrame, scale: str | None = None) -> pd.DataFrame:
    """One row per headline claim: its verdict with the effect that decided it, on each model of this build and on
    each model of the authors' runs (cells 'verdict: effect')."""
    scale = presets.resolve_scale(scale)
    here = {"smoke": "the figures (smoke)", "cpu": "the figures (LeNet-300-100)",
            "paper": "the figures (paper scale)"}[scale]
    columns = [(here, "verdict", "effect [95% CI]"), ("ResNet-20", RESNET_COLUMNS[2], RESNET_COLUMNS[1]),
               ("ViT", VIT_COLUMNS[2], VIT_COLUMNS[1])]
    rows = []
    for _, r in table[table["id"].isin(HEADLINE)].set_index("id").loc[[i for i in HEADLINE if i in set(table["id"])]] \
            .reset_index().iterrows():
        row = {"claim": f"{r['id']}: {r['claim']}"}
        for label, verdict, effect in columns:
            if verdict in r:
                row[f"ours: {label}"] = _cell(r[verdict], r.get(effect, ""))
        for model, column in AUTHORS_VERDICT.items():
            effect = next((part.split(" ", 1)[1] for part in str(r[AUTHORS_COLUMNS[1]]).split("; ")
                           if part.startswith(model_name(model) + " ")), "")
            row[f"the authors': {model_name(model)}"] = _cell(r[column], effect)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class EvidenceSet:
    """One column of verdicts on the claims page: its name, and the table's columns of its verdict, of what it
    measured and of the effect that decided."""

    name: str
    verdict: str
    measured: str
    effect: str
    about: str


def evidence_sets(table: pd.DataFrame, scale: str | None = None) -> list[EvidenceSet]:
    """The evidence sets `evaluate` judged the claims on, in the page's order (only those in `table`)."""
    scale = presets.resolve_scale(scale)
    here = {"smoke": "LeNet-300-100 (smoke)", "cpu": "LeNet-300-100", "paper": "the paper's models"}[scale]
    sets = [EvidenceSet(here, "verdict", "measured here", "effect [95% CI]",
                        f"this build's figures at the {scale} scale (Fashion-MNIST; paired by seed)"),
            EvidenceSet("ResNet-20", RESNET_COLUMNS[2], RESNET_COLUMNS[0], RESNET_COLUMNS[1],
                        "ResNet-20's evidence set on Fashion-MNIST (committed records; paired by seed)"),
            EvidenceSet("ViT", VIT_COLUMNS[2], VIT_COLUMNS[0], VIT_COLUMNS[1],
                        "the small ViT's runs on Fashion-MNIST (committed records; paired by seed)")]
    sets += [EvidenceSet(f"their {model_name(m)}", AUTHORS_VERDICT[m], *AUTHORS_DETAIL[m],
                         f"the authors' published {model_name(m)} runs on CIFAR-10 (160 epochs; Welch's t on their "
                         f"means and standard deviations)") for m in AUTHORS_VERDICT]
    return [e for e in sets if e.verdict in table]


def overview(table: pd.DataFrame, scale: str | None = None) -> pd.DataFrame:
    """Every claim with its verdict on each evidence set, and over both of the authors' models (one row a claim),
    each verdict as its mark (`VERDICT_MARKS`: ✓ reproduced, ✗ not reproduced, ? inconclusive, – not tested)."""
    sets = evidence_sets(table, scale)
    out = table[["id", "claim"]].copy()
    for e in sets:
        out[e.name] = table[e.verdict].map(VERDICT_MARKS)
    if AUTHORS_COLUMNS[2] in table:
        out["theirs, both models"] = table[AUTHORS_COLUMNS[2]].map(VERDICT_MARKS)
    return out


def marks_legend() -> str:
    return ", ".join(f"{mark} {verdict}" for verdict, mark in VERDICT_MARKS.items())


def verdict_counts(table: pd.DataFrame, scale: str | None = None) -> pd.DataFrame:
    """How many claims each evidence set reproduced, did not reproduce, left inconclusive or could not test (one row
    an evidence set; the front page's and the claims page's counts)."""
    columns = [(e.name, e.verdict) for e in evidence_sets(table, scale)]
    if AUTHORS_COLUMNS[2] in table:
        columns.append(("theirs, both models", AUTHORS_COLUMNS[2]))
    rows = [{"evidence": name, **{v: int((table[column] == v).sum()) for v in VERDICTS}} for name, column in columns]
    return pd.DataFrame(rows, columns=["evidence", *VERDICTS])


def evidence_table(table: pd.DataFrame, evidence: EvidenceSet) -> pd.DataFrame:
    """One evidence set's verdicts: claim, what the paper says, what was measured, the effect that decided (the
    point and its 95% interval, with units), the verdict and the pages the claim rests on."""
    return pd.DataFrame({"id": table["id"], "claim": table["claim"], "the paper": table["paper"],
                         "measured": table[evidence.measured], "decided by": table[evidence.effect],
                         "verdict": table[evidence.verdict], "page": table["figure"]})


# Intervals are shown as computed, never clipped: a difference of two accuracies lies within ±100 pp, but its 95%
# interval over 3 seeds (t = 4.30) can run past that when the seeds disagree by tens of points.
INTERVAL_NOTE = "intervals as computed: over 3 seeds one can run past ±100 pp when the seeds disagree widely"


def method_text() -> str:
    """How the verdicts are reached, with the numbers the rules use and where they come from (for the claims page)."""
    return (
        f"**Two tests, one per kind of evidence.** On this book's runs: {PAIRED.description} (`comparisons.PAIRED`). "
        f"On the authors' published runs: {WELCH.description} (`comparisons.WELCH`). Both compute the same "
        f"quantity for a claim, a difference at one density, a mean of differences over a regime, the shift of a "
        f"difference between regimes, as one linear combination of group means; a claim against several baselines "
        f"is judged against each of them (it must hold against all: an intersection-union test, so no correction "
        f"for the number of comparisons is needed, and the count of comparisons is stated).\n\n"
        f"**Intervals** are shown as computed ({INTERVAL_NOTE.split(': ', 1)[1]}); a verdict needs the whole "
        f"interval on one side, so a wide one leaves the claim inconclusive.\n\n"
        f"**The regimes, fixed before any CTS result is looked at.** On the authors' ResNet-20 runs: "
        f"{regime_rule('resnet20')}. On their VGG-16 runs: {regime_rule('vgg16')}. On every model and scale the paper "
        f"did not run (LeNet-300-100, ResNet-20 on Fashion-MNIST, the ViT): {regime_rule()} (`verdicts.regimes`).")


def _cell(verdict: str, effect: str) -> str:
    return verdict if verdict == NOT_TESTED or not effect else f"{verdict}: {effect}"


def _dense_line(label: str, dense: pd.Series) -> str:
    """The readings' first line: the dense network's mean top-1 over its seeds, or that it is not in yet."""
    if len(dense):
        return f"**{label}** reaches {pct(dense.mean())} (mean of {len(dense)} seeds)."
    return f"**{label}** is not among the runs yet (LTR's regimes need it: '?' below)."


def _sanity_line(res: pd.DataFrame) -> str:
    """Each ticket minus each of its ablations, with its 95% interval (`sanity_results` rows)."""
    return "**Sanity checks** (ticket minus ablation): " + "; ".join(
        f"{r.family} vs {ablation_name(r.ablation)} at {pct(r.density, 2)}: {Effect(r.diff, r.lo, r.hi, r.n).text()}"
        for r in res.itertuples()) + "."


def evidence_reading(scale: str | None = None, store: RunStore | None = None) -> str:
    """What ResNet-20's evidence set says, as markdown: the dense net, CTS_KL (and Quick CTS_KL, CTS_L, the best
    pruning-at-initialisation method) minus LTR at each density with its 95% interval over the seeds and LTR's
    regime there, the sanity checks, and the verdicts of the paper's claims on it."""
    ev = model_evidence(scale, store)
    if ev is None:
        return "At paper scale every figure runs on ResNet-20 already."
    df = ev.runs("fig2")
    chapter = FIGURES["resnet20"].data(FIGURES["resnet20"].setting(scale=ev.scale), ev.store, compute=False)
    if df.empty or chapter.empty:
        return "No runs of the evidence set are in the store or committed yet."
    dense = df[df["name"] == "dense"]["top1"]
    regime_of = _ltr_regimes(ev)
    lines = [_dense_line("The dense network", dense)]
    pai = [n for n in SALIENCY_NAMES + ("random",) if n in set(df["name"])]
    rows = []
    for name in ("CTS_KL", "Quick CTS_KL", "CTS_L"):
        effects = _pair_effects(ev, chapter[chapter["ablation"] == ""], name, "LTR")
        if effects:
            rows.append(f"{name} − LTR: " + "; ".join(
                f"{e.text()} at {pct(d, 2)} ({regime_of.get(d, '?')})" for d, e in sorted(effects.items(), reverse=True)))
    if pai:
        best = ev.test.differences(pd.concat([df, _best_line(df, pai)]), "CTS_KL", "best")
        rows.append("CTS_KL − the best of " + ", ".join(pai) + " (seed by seed): " + "; ".join(
            f"{e.text()} at {pct(d, 2)}" for d, e in sorted(best.items(), reverse=True)))
    lines.append(f"**Paired by seed, mean [95% interval]** ({INTERVAL_NOTE}; LTR's regime at each density in "
                 "brackets, by its drop from dense):\n\n" + "\n".join(f"- {r}" for r in rows))
    res = sanity_results(ev.sanity())
    if not res.empty:
        lines.append(_sanity_line(res))
    # counted as the claims page counts them: every claim, those resting on no figure of this set not tested
    verdicts = [(c, judge(c, ev)) for c in CLAIMS]
    counts = {v: sum(1 for _, (verdict, _, _) in verdicts if verdict == v) for v in VERDICTS}
    lines.append(f"**The {len(CLAIMS)} claims of the claims page on this set:** "
                 + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + "; of those it holds runs for: "
                 + "; ".join(f"{c.id} {verdict}" for c, (verdict, _, _) in verdicts if ev.covers(c))
                 + " (the claims table has each effect).")
    return "\n\n".join(lines)


def vit_budget_densities(scale: str | None = None) -> tuple[float, ...]:
    """The densities at which the ViT chapter shows where the budget goes: its sanity-check densities (cpu: 2.8%
    and 0.19%, the moderate and the highly sparse regime), where every method of the chapter has tickets."""
    return sanity_densities(presets.resolve_scale(scale), "vit")


def vit_reading(scale: str | None = None, store: RunStore | None = None) -> str:
    """What the ViT chapter's runs say, as markdown: the dense net, CTS_KL (Quick CTS_KL, CTS_L, the best saliency
    method) minus LTR at each density with its 95% interval and LTR's regime, the sanity checks, where each method
    puts its budget (the kinds of layer that keep most and least), and the answer to the open question (Q1)."""
    from ..models.vit import KIND_NAMES, projection_kind
    ev = Evidence(scale, store, compute=False, figures=("vit",))
    if ev.scale not in FIGURES["vit"].scales:
        return f"The ViT runs at scale {' and '.join(FIGURES['vit'].scales)} only."
    df, effects, regime_of, saliency = _vit_parts(ev)
    if df.empty:
        return "No runs of the ViT set are in the store or committed yet."
    base = df[df["ablation"] == ""]
    dense = base[base["name"] == "dense"]["top1"]
    lines = [_dense_line("The dense ViT", dense)]
    rows = []
    for name in ("CTS_KL", "Quick CTS_KL", "CTS_L", *saliency, "magnitude", "random"):
        e = _pair_effects(ev, base, name, "LTR")
        if e:
            rows.append(f"{name} − LTR: " + "; ".join(f"{x.text()} at {pct(d, 2)} ({regime_of.get(d, '?')})"
                                                     for d, x in sorted(e.items(), reverse=True)))
    lines.append(f"**Paired by seed, mean [95% interval]** ({INTERVAL_NOTE}; LTR's regime at each density in "
                 "brackets):\n\n" + "\n".join(f"- {r}" for r in rows))
    res = sanity_results(df)
    if not res.empty:
        lines.append(_sanity_line(res))
    store = ev.store or RunStore()
    tickets = [c for c in FIGURES["vit"].configs(ev._setting("vit")) if not c.ablation and c.method != "dense"]
    layers = layer_frame([c for c in tickets if store.has(c)], store, compute=False)
    if not layers.empty:
        kinds = by_kind(layers, projection_kind, KIND_NAMES)
        for d in vit_budget_densities(ev.scale):
            here = kinds[kinds["density"] == d]
            means = here.groupby(["name", "layer"])["layer_density"].mean() / d
            parts = []
            for name in dict.fromkeys(here["name"]):
                m = means.loc[name].sort_values()
                parts.append(f"{name} {m.index[-1]} {m.iloc[-1]:.2g}×, {m.index[0]} {m.iloc[0]:.2g}×")
            pattern = by_kind(layers[layers["density"] == d], lambda n: projection_kind(n) in ("q", "k"))
            qk = pattern[pattern["kind"]].groupby("name")["layer_density"].mean() / d
            lines.append(f"**Where the budget goes** at {pct(d, 2)} density: each method's most and least kept kind "
                         f"of weight, its density as a multiple of the ticket's (mean over seeds; random pruning keeps "
                         f"every kind at ~1×): " + "; ".join(parts) + ". Q and K together (the weights of the "
                         f"attention pattern): " + ", ".join(f"{n} {qk[n]:.2g}×" for n in dict.fromkeys(here["name"])
                                                            if n in qk) + ".")
    claim = next(c for c in CLAIMS if c.id == "Q1")
    verdict, measured, effect = judge(claim, ev)
    # the answer first, then what the tickets do to attention, then the numbers behind them
    first = [f"**The paper's open question (claims table, Q1): {verdict}.** {measured}"
             + (f" (decided by {effect})." if effect else ".")]
    if not layers.empty:
        first.append(_attention_line(layers, vit_budget_densities(ev.scale)))
    return "\n\n".join(first + lines)


def _attention_line(layers: pd.DataFrame, densities: Sequence[float]) -> str:
    """Which tickets keep no weight of Q and K (the attention pattern: without them every token attends to every
    other equally), at each of `densities`; and the multiple of the ticket's density they keep otherwise."""
    from ..models.vit import projection_kind
    parts = []
    for d in sorted(densities):
        pattern = by_kind(layers[layers["density"] == d], lambda n: projection_kind(n) in ("q", "k"))
        qk = pattern[pattern["kind"]].groupby("name")["layer_density"].mean()
        none = [n for n, v in qk.items() if v == 0]
        if none:
            verb = "keeps" if len(none) == 1 else "keep"
            parts.append(f"at {pct(d, 2)} density {', '.join(none)} {verb} no Q or K weight at all: their attention is "
                         f"uniform, every token weighs every other equally")
        cts = qk.get("CTS_KL")
        if cts is not None and cts > 0:
            parts.append(f"at {pct(d, 2)} CTS_KL keeps Q and K at {cts / d:.2g}× its density")
    return ("**What the tickets do to attention:** " + "; ".join(parts) + ".") if parts else ""


def build_info(scale: str | None = None, store=None) -> str:
    """What this build ran: runs, their compute time, the machine and the versions (from the records)."""
    store = store or RunStore()
    scale = presets.resolve_scale(scale)
    configs = all_configs(scale)
    records = [store.get(c, compute=False) for c in configs if store.has(c)]
    if not records:
        return f"No runs of scale `{scale}` in the store `{store.root}`."
    seconds = sum(r["seconds"]["total"] for r in records)
    env = records[-1].get("environment", {})
    finished = sorted(r.get("finished", "") for r in records)
    return (f"**About this build.** Scale `{scale}`: {len(records)} of {len(configs)} runs in the store, "
            f"{seconds / 60:.0f} min of compute as recorded (work shared between runs, like LTR's chain or a "
            f"rewind point, counts in each run that uses it); runs finished {finished[0][:16]} to "
            f"{finished[-1][:16]} UTC; ctslib {env.get('ctslib_version')}, torch {env.get('torch_version')}, "
            f"{env.get('threads')} threads, {env.get('cuda') or 'CPU'}. Store: `{store.root}`.")


