"""The paper's claims beside what this build measured, each with a verdict computed from the runs.

    table = claims.evaluate(scale="cpu")     # one row per claim: source, claim, paper, measured, verdict

Verdicts: "reproduced", "not reproduced", or "not tested at this scale" (the claim is about a model or dataset
this build did not run, e.g. ResNet-50 on ImageNet). A claim about a particular model is tested only on
that model; a general claim ("CTS passes sanity checks") is tested on whatever this build ran, and the
measured column says on what. Thresholds are explicit module constants.

The checks read the figures' data (`FIGURES[...].data`); Tables I and II are in `ctslib.report.tables`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..objectives import OBJECTIVES
from ..runs import presets
from ..runs.methods import objective_symbol
from ..runs.store import RunStore
from .figures import FIGURES, SALIENCY_NAMES, all_configs
from .frames import collect
from .names import ablation_name, dataset_name, model_name, pct, pp, sparsity_label
from .stats import accuracy_table, objective_means, sanity_results
from .tables import table1_frame

REPRODUCED, NOT_REPRODUCED, NOT_TESTED = "reproduced", "not reproduced", "not tested at this scale"
TOLERANCE = 0.01          # "comparable" accuracy: within 1 percentage point
SMALL_FRACTION = 0.25     # "a small fraction of the computation": at most a quarter of LTR's epochs
MUCH_FASTER = 2.0         # "significantly faster": at least twice as fast
ORDERS_OF_MAGNITUDE = 10.0
EQUAL_TIME = 1.5          # "drawn in equal time": costliest / cheapest draw (in epochs) at most 1.5x

# --- helpers on run frames ------------------------------------------------------------------------------

# --- the evidence: every figure's runs at one scale --------------------------------------------------------

@dataclass
class Evidence:
    """The data of every figure at `scale` (each figure's default setting), collected lazily from the store."""

    scale: str | None = None
    store: RunStore | None = None
    compute: bool = True
    _cache: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scale = presets.resolve_scale(self.scale)

    def data(self, figure: str) -> pd.DataFrame:
        """`FIGURES[figure].data` at this scale: runs, objective values or layers, as the figure has them."""
        if figure not in self._cache:
            fig = FIGURES[figure]
            self._cache[figure] = fig.data(fig.setting(scale=self.scale), self.store, compute=self.compute)
        return self._cache[figure]

    def runs(self, figure: str) -> pd.DataFrame:
        """The runs of a figure (for the objective figures, their runs rather than their tickets' values)."""
        fig = FIGURES[figure]
        if fig.frame == "runs":
            return self.data(figure)
        key = f"{figure}/runs"
        if key not in self._cache:
            self._cache[key] = collect(fig.configs(scale=self.scale), self.store, compute=self.compute)
        return self._cache[key]

    def objectives(self, figure: str) -> pd.DataFrame:
        return self.data(figure)

    def layers(self) -> pd.DataFrame:
        return self.data("fig6")

    def sanity(self) -> pd.DataFrame:
        return pd.concat([self.runs("fig4"), self.runs("fig5")], ignore_index=True)

    def setting(self, figure: str) -> str:
        df = self.runs(figure)
        return f"{model_name(df['model'].iloc[0])} / {dataset_name(df['dataset'].iloc[0])}"

    def has(self, figure: str, model: str, dataset: str) -> bool:
        df = self.runs(figure)
        return bool(((df["model"] == model) & (df["dataset"] == dataset)).any())


# --- claims -------------------------------------------------------------------------------------------

@dataclass
class Claim:
    id: str
    source: str
    text: str
    paper: str
    where: str
    check: Callable[[Evidence], tuple[str, str]]   # -> (verdict, what was measured)


def _ctskl_vs_ltr(ev: Evidence) -> pd.Series:
    acc = accuracy_table(ev.runs("fig2"))
    if "CTS_KL" not in acc or "LTR" not in acc:
        return pd.Series(dtype=float)
    return (acc["CTS_KL"] - acc["LTR"]).dropna()


def _thirds(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Densest and sparsest third of a density-indexed series (densest first)."""
    n = max(1, len(series) // 3)
    return series.iloc[:n], series.iloc[-n:]


def check_sanity_cts(ev: Evidence) -> tuple[str, str]:
    res = sanity_results(ev.sanity())
    if res.empty:
        return NOT_TESTED, "no sanity-check runs"
    points = res.groupby(["model", "family", "density"])["passes"].all()
    worst = res.loc[res["diff"].idxmin()]
    text = (f"{int(points.sum())} of {len(points)} (model, CTS variant, density) points beat every ablation; "
            f"smallest gap {pp(worst['diff'])} ({worst['family']} vs {ablation_name(worst['ablation'])}, "
            f"{model_name(worst['model'])}, {pct(worst['density'], 2)} density)")
    return (REPRODUCED if points.all() else NOT_REPRODUCED), text


def check_shuffle_invert(ev: Evidence) -> tuple[str, str]:
    res = sanity_results(ev.sanity())
    res = res[res["ablation"].isin(["shuffle", "invert"])]
    if res.empty:
        return NOT_TESTED, "no shuffle / inversion runs"
    text = "; ".join(f"{ablation_name(a)}: ticket ahead by {pp(g['diff'].min())} to {pp(g['diff'].max())}, "
                     f"beaten at {int(g['passes'].sum())}/{len(g)} points" for a, g in res.groupby("ablation"))
    return (REPRODUCED if res["passes"].all() else NOT_REPRODUCED), text


def check_reinit(ev: Evidence) -> tuple[str, str]:
    res = sanity_results(ev.sanity())
    res = res[res["ablation"] == "reinit"].sort_values("density", ascending=False)
    if res.empty:
        return NOT_TESTED, "no reinitialisation runs"
    gaps = ", ".join(f"{model_name(r.model)} {pct(r.density, 2)}: {pp(r.diff)}"
                     for r in res.itertuples())
    return (REPRODUCED if res["passes"].all() else NOT_REPRODUCED), f"CTS_L at init minus reinitialised: {gaps}"


def check_comparable_ltr(ev: Evidence) -> tuple[str, str]:
    diff = _ctskl_vs_ltr(ev)
    if diff.empty:
        return NOT_TESTED, "no CTS_KL / LTR runs"
    text = (f"{ev.setting('fig2')}: CTS_KL − LTR from {pp(diff.min())} to {pp(diff.max())} over {len(diff)} "
            f"densities ({pct(diff.index.max(), 2)} to {pct(diff.index.min(), 2)})")
    return (REPRODUCED if diff.min() >= -TOLERANCE else NOT_REPRODUCED), text


def check_ltr_sparse(ev: Evidence) -> tuple[str, str]:
    diff = _ctskl_vs_ltr(ev)
    if len(diff) < 2:
        return NOT_TESTED, "fewer than two densities"
    dense, sparse = _thirds(diff)
    ok = sparse.mean() > 0 and sparse.mean() > dense.mean() and diff.min() >= -TOLERANCE
    return (REPRODUCED if ok else NOT_REPRODUCED), (
        f"{ev.setting('fig2')}: CTS_KL − LTR averages {pp(dense.mean())} at the densest third, "
        f"{pp(sparse.mean())} at the sparsest third (lowest {pp(diff.min())})")


def check_ltr_sparse_regime(ev: Evidence) -> tuple[str, str]:
    diff = _ctskl_vs_ltr(ev)
    if diff.empty:
        return NOT_TESTED, "no CTS_KL / LTR runs"
    _, sparse = _thirds(diff)
    ok = (sparse > 0).all() and diff.min() >= -TOLERANCE
    return (REPRODUCED if ok else NOT_REPRODUCED), (
        f"{ev.setting('fig2')}: at the sparsest densities ({', '.join(pct(d, 2) for d in sparse.index)}) "
        f"CTS_KL − LTR = {', '.join(pp(v) for v in sparse)}; lowest anywhere {pp(diff.min())}")


def check_beats_saliency(ev: Evidence) -> tuple[str, str]:
    acc = accuracy_table(ev.runs("fig2"))
    names = [n for n in SALIENCY_NAMES if n in acc]
    if "CTS_KL" not in acc or not names:
        return NOT_TESTED, "no CTS_KL / saliency runs"
    gap = (acc["CTS_KL"] - acc[names].max(axis=1)).dropna()
    return (REPRODUCED if (gap > 0).all() else NOT_REPRODUCED), (
        f"{ev.setting('fig2')}: CTS_KL minus the best of {', '.join(names)}: {pp(gap.min())} to {pp(gap.max())}, "
        f"ahead at {int((gap > 0).sum())}/{len(gap)} densities")


def check_saliency_dense_regime(ev: Evidence) -> tuple[str, str]:
    acc = accuracy_table(ev.runs("fig2"))
    names = [n for n in SALIENCY_NAMES if n in acc]
    if "CTS_KL" not in acc or not names or len(acc) < 2:
        return NOT_TESTED, "not enough runs"
    gap = (acc["CTS_KL"] - acc[names].max(axis=1)).dropna()
    dense, sparse = _thirds(gap)
    return (REPRODUCED if dense.mean() < sparse.mean() else NOT_REPRODUCED), (
        f"CTS_KL's lead over the best saliency method: {pp(dense.mean())} at the densest third, "
        f"{pp(sparse.mean())} at the sparsest third")


def _objective_ranking(ev: Evidence) -> pd.Series:
    df = ev.runs("fig3")
    df = df[df["method"] == "cts"]
    return df.groupby("objective")["top1"].mean().sort_values()


def check_grad_norm_weak(ev: Evidence) -> tuple[str, str]:
    rank = _objective_ranking(ev)
    if len(rank) < 2:
        return NOT_TESTED, "fewer than two objectives"
    text = "mean top-1 over densities: " + ", ".join(
        f"CTS_{objective_symbol(o)} {pct(v)}" for o, v in rank.sort_values(ascending=False).items())
    return (REPRODUCED if rank.index[0] == "grad_norm" else NOT_REPRODUCED), text


def check_three_weak(ev: Evidence) -> tuple[str, str]:
    rank = _objective_ranking(ev)
    strong, weak = ["kl", "delta_loss", "task"], ["grad_norm", "feature", "grad"]
    if not set(strong + weak) <= set(rank.index):
        return NOT_TESTED, "not all six objectives ran"
    ok = rank[strong].min() > rank[weak].max()
    return (REPRODUCED if ok else NOT_REPRODUCED), (
        f"worst of KL/ΔL/L: {pct(rank[strong].min())}; best of -‖∇L‖/feature/grad: {pct(rank[weak].max())}")


def _layer_means(ev: Evidence) -> pd.DataFrame:
    layers = ev.layers()
    return layers.groupby(["density", "name", "layer_index"])["layer_density"].mean().unstack("layer_index")


def check_first_last(ev: Evidence) -> tuple[str, str]:
    means = _layer_means(ev)
    means = means[[n != "random" for n in means.index.get_level_values("name")]]
    if means.shape[1] < 3:
        return NOT_TESTED, "the model has fewer than three prunable layers"
    first, last = means.columns[0], means.columns[-1]
    middle = means[means.columns[1:-1]]
    ok_rows = (means[first] >= middle.median(axis=1)) & (means[last] >= middle.median(axis=1))
    failing = [f"{n} at {pct(d, 2)}" for (d, n), ok in ok_rows.items() if not ok]
    text = (f"first and last layer denser than the median middle layer for {int(ok_rows.sum())}/{len(ok_rows)} "
            f"(method, density) tickets" + (f"; not for {', '.join(failing)}" if failing else ""))
    return (REPRODUCED if ok_rows.all() else NOT_REPRODUCED), text


def check_similar_ratios(ev: Evidence) -> tuple[str, str]:
    means = np.log10(_layer_means(ev).clip(lower=1e-6))
    within, between = [], []
    for density, block in means.groupby(level="density"):
        block = block.droplevel("density")
        names = list(block.index)
        others = [n for n in names if n != "random"]
        for i, a in enumerate(others):
            for b in others[i + 1:]:
                within.append(float(np.abs(block.loc[a] - block.loc[b]).mean()))
            if "random" in names:
                between.append(float(np.abs(block.loc["random"] - block.loc[a]).mean()))
    if not within or not between:
        return NOT_TESTED, "needs random and two other methods"
    return (REPRODUCED if np.mean(within) < np.mean(between) else NOT_REPRODUCED), (
        f"mean |Δ log10 layer density|: {np.mean(within):.3f} between non-random methods, "
        f"{np.mean(between):.3f} between random and the others")


def _cts_vs_baselines(values: pd.DataFrame, step: str, objectives: Sequence[str]) -> tuple[int, int, list[str]]:
    """In how many (objective, density) cells the Quick CTS line of `step` has a lower value than every baseline."""
    means = objective_means(values)
    own = f"Quick CTS ({step.upper()})"
    others = [c for c in means.columns if not c.startswith("Quick CTS") and not c.startswith("CTS")]
    won, cells, lost = 0, 0, []
    for (objective, density), row in means.iterrows():
        if objective not in objectives or pd.isna(row.get(own)):
            continue
        cells += 1
        if (row[own] < row[others].dropna()).all():
            won += 1
        else:
            lost.append(f"{objective_symbol(objective)} at {pct(density, 2)}")
    return won, cells, lost


def check_objectives_init(ev: Evidence) -> tuple[str, str]:
    won, cells, lost = _cts_vs_baselines(ev.objectives("fig7"), "gradbalance", ("task", "grad_norm"))
    if not cells:
        return NOT_TESTED, "no objective values"
    return (REPRODUCED if won == cells else NOT_REPRODUCED), (
        f"Quick CTS (GRADBALANCE) below every baseline in {won}/{cells} (objective, density) cells"
        + (f"; not at {', '.join(lost)}" if lost else ""))


def check_objectives_rewind(ev: Evidence) -> tuple[str, str]:
    objectives = [o for o in OBJECTIVES if o != "grad"]
    won, cells, lost = _cts_vs_baselines(ev.objectives("fig8"), "gradbalance", objectives)
    if not cells:
        return NOT_TESTED, "no objective values"
    return (REPRODUCED if won == cells else NOT_REPRODUCED), (
        f"Quick CTS (GRADBALANCE) below every baseline in {won}/{cells} cells (all objectives but R_grad)"
        + (f"; not at {', '.join(lost[:6])}{' ...' if len(lost) > 6 else ''}" if lost else ""))


def check_gradbalance_consistent(ev: Evidence) -> tuple[str, str]:
    values = pd.concat([ev.objectives("fig7"), ev.objectives("fig8").assign(objective=lambda d: d["objective"] + "@k")])
    values = values[values["name"].str.startswith("Quick CTS")]
    if values.empty:
        return NOT_TESTED, "no objective values"
    means = values.groupby(["objective", "density", "name"])["value"].mean().unstack("name").dropna()
    gb, lag = "Quick CTS (GRADBALANCE)", "Quick CTS (LAGRANGE)"
    if gb not in means or lag not in means:
        return NOT_TESTED, "needs both gradient steps"
    better = int((means[gb] <= means[lag]).sum())
    ok = better >= len(means) / 2
    return (REPRODUCED if ok else NOT_REPRODUCED), (
        f"GRADBALANCE's ticket at least as good as LAGRANGE's in {better}/{len(means)} (objective, density) "
        f"cells of Figs. 7-8")


def check_orders_of_magnitude(ev: Evidence) -> tuple[str, str]:
    means = objective_means(ev.objectives("fig7"))
    if "grad_norm" not in means.index.get_level_values("objective"):
        return NOT_TESTED, "no gradient-norm values"
    block = -means.loc["grad_norm"]  # the gradient norms
    own = "Quick CTS (GRADBALANCE)"
    others = [c for c in block.columns if "CTS" not in c]
    ratio = (block[own] / block[others].max(axis=1)).dropna()
    return (REPRODUCED if ratio.min() >= ORDERS_OF_MAGNITUDE else NOT_REPRODUCED), (
        f"CTS's gradient norm / the largest baseline's: {ratio.min():.3g}× to {ratio.max():.3g}× at initialisation")


def check_ltr_worst_objectives(ev: Evidence) -> tuple[str, str]:
    values = ev.objectives("fig8")
    runs = ev.runs("fig8")
    if not ((runs["model"] == "resnet20") & (runs["dataset"] == "cifar10")).any():
        return NOT_TESTED, f"claim is about ResNet-20 / CIFAR-10; this build's Fig. 8 ran {ev.setting('fig8')}"
    means = objective_means(values)
    worse = []
    for (objective, density), row in means.iterrows():
        if objective == "grad_norm":
            continue
        others = row.drop(labels=[c for c in ("LTR", "random") if c in row]).dropna()
        worse.append(bool(row["LTR"] > others.max()))
    return (REPRODUCED if all(worse) else NOT_REPRODUCED), f"LTR worst but for random in {sum(worse)}/{len(worse)} cells"


def _table2_frame(ev: Evidence) -> pd.DataFrame:
    return ev.runs("table2")


def check_small_fraction(ev: Evidence) -> tuple[str, str]:
    df = _table2_frame(ev)
    sparsest = df["density"].min()
    part = df[df["density"] == sparsest].groupby("name")[["epochs_total", "seconds_total"]].mean()
    if not {"CTS_KL", "LTR"} <= set(part.index):
        return NOT_TESTED, "no CTS_KL / LTR runs"
    epochs = part.loc["CTS_KL", "epochs_total"] / part.loc["LTR", "epochs_total"]
    seconds = part.loc["CTS_KL", "seconds_total"] / part.loc["LTR", "seconds_total"]
    return (REPRODUCED if epochs <= SMALL_FRACTION else NOT_REPRODUCED), (
        f"{ev.setting('table2')} at {sparsity_label(sparsest)}: CTS_KL needs {epochs:.1%} of LTR's epochs "
        f"({part.loc['CTS_KL', 'epochs_total']:.3g} vs {part.loc['LTR', 'epochs_total']:.3g}) and "
        f"{seconds:.1%} of its time")


def check_faster(ev: Evidence) -> tuple[str, str]:
    df = _table2_frame(ev)
    t = df.groupby(["density", "name"])["seconds_total"].mean().unstack("name")
    if not {"CTS_KL", "LTR"} <= set(t.columns):
        return NOT_TESTED, "no CTS_KL / LTR runs"
    ratio = (t["LTR"] / t["CTS_KL"]).sort_index(ascending=False)
    return (REPRODUCED if ratio.min() >= MUCH_FASTER else NOT_REPRODUCED), (
        f"{ev.setting('table2')}: LTR takes {', '.join(f'{r:.1f}×' for r in ratio)} CTS_KL's time at "
        f"{', '.join(sparsity_label(d) for d in ratio.index)}")


def check_similar_or_better(ev: Evidence) -> tuple[str, str]:
    acc = accuracy_table(_table2_frame(ev))
    if not {"CTS_KL", "LTR"} <= set(acc.columns):
        return NOT_TESTED, "no CTS_KL / LTR runs"
    diff = (acc["CTS_KL"] - acc["LTR"]).dropna()
    ok = diff.min() >= -TOLERANCE and diff.iloc[-1] >= diff.iloc[0]
    return (REPRODUCED if ok else NOT_REPRODUCED), (
        f"CTS_KL − LTR: {', '.join(f'{pp(v)} at {sparsity_label(d)}' for d, v in diff.items())}")


def check_equal_time(ev: Evidence) -> tuple[str, str]:
    df = pd.concat([ev.runs("fig2"), ev.runs("table2")])
    draw = df.groupby(["name", "density"])[["epochs_draw", "seconds_draw"]].mean()
    if "CTS_KL" not in draw.index.get_level_values("name"):
        return NOT_TESTED, "no CTS_KL runs"
    cts = draw.loc["CTS_KL"]
    spread = cts["epochs_draw"].max() / max(cts["epochs_draw"].min(), 1e-9)
    lo, hi = cts["epochs_draw"].min(), cts["epochs_draw"].max()
    cost = f"{lo:.3g}" if math.isclose(lo, hi) else f"{lo:.3g}-{hi:.3g}"
    text = (f"CTS_KL's draw costs {cost} epochs of search at every density ({cts['seconds_draw'].min():.3g}-"
            f"{cts['seconds_draw'].max():.3g} s of wall clock on a shared machine)")
    if "LTR" in draw.index.get_level_values("name"):
        ltr = draw.loc["LTR"]
        text += (f"; LTR's grows from {ltr['epochs_draw'].loc[ltr.index.max()]:.3g} to "
                 f"{ltr['epochs_draw'].loc[ltr.index.min()]:.3g} epochs")
    return (REPRODUCED if spread <= EQUAL_TIME else NOT_REPRODUCED), text


def _specific(model: str, dataset: str, sparsity: float, label: str) -> Callable[[Evidence], tuple[str, str]]:
    def check(ev: Evidence) -> tuple[str, str]:
        df = _table2_frame(ev)
        here = df[(df["model"] == model) & (df["dataset"] == dataset)]
        near = df.loc[(df["sparsity"] - sparsity).abs() < 5e-4]
        analog = ""
        if not near.empty:
            acc = near.groupby("name")[["top1", "seconds_total"]].mean()
            if {"CTS_KL", "LTR"} <= set(acc.index):
                analog = (f"; this build ({ev.setting('table2')}) at {sparsity_label(1 - sparsity)}: CTS_KL "
                          f"{pct(acc.loc['CTS_KL', 'top1'])} in {acc.loc['CTS_KL', 'seconds_total']:.0f} s, LTR "
                          f"{pct(acc.loc['LTR', 'top1'])} in {acc.loc['LTR', 'seconds_total']:.0f} s "
                          f"({acc.loc['LTR', 'seconds_total'] / acc.loc['CTS_KL', 'seconds_total']:.1f}× faster)")
        if here.empty:
            return NOT_TESTED, f"needs {label}" + analog
        acc = here.loc[(here["sparsity"] - sparsity).abs() < 5e-4].groupby("name")[["top1", "seconds_total"]].mean()
        if not {"CTS_KL", "LTR"} <= set(acc.index):
            return NOT_TESTED, f"no {label} runs at {sparsity:.1%} sparsity"
        ok = acc.loc["CTS_KL", "top1"] > acc.loc["LTR", "top1"] and \
            acc.loc["CTS_KL", "seconds_total"] < acc.loc["LTR", "seconds_total"]
        return (REPRODUCED if ok else NOT_REPRODUCED), (
            f"CTS_KL {pct(acc.loc['CTS_KL', 'top1'])} in {acc.loc['CTS_KL', 'seconds_total'] / 60:.1f} min, LTR "
            f"{pct(acc.loc['LTR', 'top1'])} in {acc.loc['LTR', 'seconds_total'] / 60:.1f} min")
    return check


def check_passes_saliency_fails(ev: Evidence) -> tuple[str, str]:
    table = table1_frame(ev.runs("table1"))
    if table.empty:
        return NOT_TESTED, "no Table I runs"
    verdicts = dict(zip(table["method"], table["passes sanity checks (here)"]))
    cts_ok = all(verdicts.get(m) == "✓" for m in ("CTS_KL", "Quick CTS_KL") if m in verdicts)
    sal = [m for m in SALIENCY_NAMES if m in verdicts]
    sal_fail = all(verdicts[m] == "✗" for m in sal)
    text = ", ".join(f"{m} {v}" for m, v in verdicts.items())
    return (REPRODUCED if cts_ok and sal_fail and sal else NOT_REPRODUCED), f"sanity checks passed: {text}"


def check_matching_regime(ev: Evidence) -> tuple[str, str]:
    df = ev.runs("fig2")
    dense = df[df["name"] == "dense"]["top1"].mean()
    acc = accuracy_table(df)
    if math.isnan(dense) or "LTR" not in acc:
        return NOT_TESTED, "no dense / LTR runs"
    if "CTS_KL" not in acc:
        return NOT_TESTED, "no CTS_KL runs"
    matching = acc[acc["LTR"] >= dense - TOLERANCE]
    if matching.empty:
        return NOT_TESTED, f"LTR matches the dense network ({pct(dense)}) at none of the densities run"
    diff = matching["CTS_KL"] - matching["LTR"]
    return (REPRODUCED if (diff < 0).all() else NOT_REPRODUCED), (
        f"LTR within {pp(TOLERANCE).lstrip('+')} of dense ({pct(dense)}) at {len(matching)} densities "
        f"(down to {pct(matching.index.min(), 2)}); there CTS_KL − LTR = {pp(diff.min())} to {pp(diff.max())}")


def check_gradbalance_hits_target(ev: Evidence) -> tuple[str, str]:
    store = ev.store or RunStore()
    configs = [c for f in ("fig2", "fig3") for c in FIGURES[f].configs(scale=ev.scale)
               if c.method == "cts" and c.step == "gradbalance" and not c.ablation]
    ratios = []
    for c in {c.run_id: c for c in configs}.values():
        info = store.get(c, compute=ev.compute).get("info", {})
        if info.get("final_expected_density") is not None:
            ratios.append(info["final_expected_density"] / (1.1 * c.density))
    if not ratios:
        return NOT_TESTED, "no search traces"
    lo, hi = min(ratios), max(ratios)
    return (REPRODUCED if 0.75 <= lo and hi <= 1.25 else NOT_REPRODUCED), (
        f"with the paper's settings (Adam lr 0.1, τ = 2/3, η = 0.7; nothing tuned per run), the expected density "
        f"after the search is {lo:.2f}-{hi:.2f} × the target 1.1κ over {len(ratios)} searches")


def check_saliency_vs_ltr_fig1(ev: Evidence) -> tuple[str, str]:
    means = objective_means(ev.objectives("fig1"))
    worse, cells = 0, 0
    for (objective, density), row in means.iterrows():
        own = {"delta_loss": "SNIP", "grad_norm": "GraSP"}.get(objective)
        if own is None or own not in row or "LTR" not in row or pd.isna(row[own]):
            continue
        cells += 1
        worse += bool(row[own] > row["LTR"])
    if not cells:
        return NOT_TESTED, "no objective values"
    return (REPRODUCED if worse >= cells / 2 else NOT_REPRODUCED), (
        f"SNIP (on R_ΔL) / GraSP (on R_-‖∇L‖) worse than LTR's ticket in {worse}/{cells} (objective, density) cells")


def check_magnitude_fig1(ev: Evidence) -> tuple[str, str]:
    means = objective_means(ev.objectives("fig1"))
    beaten, cells = 0, 0
    for (objective, density), row in means.iterrows():
        own = {"delta_loss": "SNIP", "grad_norm": "GraSP"}.get(objective)
        if own is None or own not in row or "magnitude" not in row or pd.isna(row[own]):
            continue
        cells += 1
        beaten += bool(row["magnitude"] < row[own])
    if not cells:
        return NOT_TESTED, "no objective values"
    return (REPRODUCED if beaten > 0 else NOT_REPRODUCED), (
        f"magnitude pruning beats the saliency method on its own objective in {beaten}/{cells} cells")


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
]


def evaluate(scale: str | None = None, store=None, compute: bool = True,
             claims: Sequence[Claim] | None = None) -> pd.DataFrame:
    """Every claim with its verdict and what was measured (a claim whose check fails to run says why)."""
    ev = Evidence(scale, store, compute)
    rows = []
    for claim in claims or CLAIMS:
        try:
            verdict, measured = claim.check(ev)
        except Exception as err:  # a missing figure must not hide the other claims
            verdict, measured = NOT_TESTED, f"could not be checked: {type(err).__name__}: {err}"
        rows.append({"id": claim.id, "source": claim.source, "claim": claim.text, "paper": claim.paper,
                     "measured here": measured, "verdict": verdict, "figure": claim.where})
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame, scale: str | None = None) -> str:
    """One line: how many claims were reproduced, not reproduced, not tested."""
    counts = table["verdict"].value_counts()
    parts = [f"{counts.get(v, 0)} {v}" for v in (REPRODUCED, NOT_REPRODUCED, NOT_TESTED)]
    return f"**{len(table)} claims at scale `{presets.resolve_scale(scale)}`: {', '.join(parts)}.**"


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


