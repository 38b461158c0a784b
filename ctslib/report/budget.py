"""The chapter "Does CTS catch up with more training?": CTS_KL's gap to LTR along the training budget.

The runs (`figures.FIGURES["budget"]`, committed under results/budget-fmnist) are LeNet-300-100 on Fashion-MNIST at
the budgets of `presets.BUDGETS` (x1, x4, x16 the cpu preset's SGD steps, the paper's proportions kept), at one
density of the matching regime and three of the highly sparse one (`figures.BUDGET_ROUNDS`, fixed by the claims
page's regime rule from LTR's runs alone), 3 seeds. This module reads them:

    with_budget(df)               # the run frame with a `budget` column (the multiple of the cpu preset's steps)
    gap_frame(df)                 # per (line, budget, density): line minus LTR, paired by seed, 95% CI
    allocation_frame(layers)      # per (budget, density): how far CTS_KL's per-layer densities lie from LTR's
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ..runs import presets
from .comparisons import PAIRED, WELCH
from .stats import accuracy_table as stats_accuracy_table
from .verdicts import HIGHLY_SPARSE, MATCHING, Effect, regimes

LINES = ("CTS_KL", "CTS_KL, the authors' search", "Quick CTS_KL", "SynFlow", "random")


def steps_of(row: Any) -> int:
    """A run's training budget in SGD steps: its epochs x the steps of one epoch of its training examples."""
    from ..data import DATASETS
    examples = int(row["train_examples"]) or DATASETS[row["dataset"]].train_size
    return int(row["epochs"]) * math.ceil(examples / int(row["batch_size"]))


def with_budget(df: pd.DataFrame) -> pd.DataFrame:
    """The set's run frame with `budget` (its steps as a multiple of the smallest budget's, rounded: x1, x4, x16 at
    cpu scale) and `line` (the authors' search named apart from ctslib's CTS_KL)."""
    from .authors import variant
    out = df.copy()
    if out.empty:
        return out.assign(budget=[], line=[])
    steps = [steps_of(r) for _, r in out.iterrows()]
    out["budget"] = [int(round(x / min(steps))) for x in steps]
    out["line"] = [("CTS_KL, the authors' search" if variant(r) == "CTS_KL, the authors' search" else r["name"])
                   for _, r in out.iterrows()]
    return out


def gap_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Per (line, budget, density): the line's top-1 minus LTR's, paired by seed (mean, 95% CI, seeds), and the
    line's own mean top-1."""
    df = with_budget(df)
    rows = []
    for budget, part in df.groupby("budget"):
        part = part.assign(name=part["line"])
        for line in LINES:
            for density, e in PAIRED.differences(part, line, "LTR").items():
                mean = part.loc[(part["name"] == line) & (part["density"] == density), "top1"].mean()
                rows.append({"line": line, "budget": budget, "density": density, "gap": e.mean, "lo": e.lo,
                             "hi": e.hi, "n": e.n, "top1": mean, "effect": e})
    return pd.DataFrame(rows, columns=["line", "budget", "density", "gap", "lo", "hi", "n", "top1", "effect"])


def closing(df: pd.DataFrame, densities, line: str = "CTS_KL", lo: int | None = None, hi: int | None = None) -> Effect:
    """How much `line`'s gap to LTR grows (closes) from the smallest to the largest budget, averaged over
    `densities`, paired by seed: mean over d of [(line - LTR)(hi, d) - (line - LTR)(lo, d)]."""
    df = with_budget(df)
    budgets = sorted(set(df["budget"]))
    lo, hi = lo if lo is not None else budgets[0], hi if hi is not None else budgets[-1]
    ds = list(densities)
    terms: dict[tuple[str, float], float] = {}
    for b, sign in ((hi, 1.0), (lo, -1.0)):
        for d in ds:
            terms[(f"{line}@{b}", d)] = sign / len(ds)
            terms[(f"LTR@{b}", d)] = -sign / len(ds)
    named = df.assign(name=df["line"] + "@" + df["budget"].astype(str))
    return PAIRED.combination(named, terms)


def authors_gap(regime: str) -> Effect:
    """The authors' 160-epoch ResNet-20 / CIFAR-10 runs: CTS_KL minus LTR averaged over the densities of `regime`
    (the paper's own regimes on their runs; Welch's t on their summary statistics), for scale."""
    from .reference import authors_runs
    df = authors_runs("resnet20", names=["CTS_KL", "LTR", "dense"])
    regime_of = regimes(stats_accuracy_table(df)["LTR"], df[df["name"] == "dense"]["top1"].mean(), model="resnet20")
    ds = [d for d in WELCH.differences(df, "CTS_KL", "LTR") if regime_of.get(d) == regime]
    return WELCH.mean_difference(df, "CTS_KL", "LTR", ds)


def allocation_frame(layers: pd.DataFrame) -> pd.DataFrame:
    """Per (budget, density, seed): the mean over layers of |log10 CTS_KL's layer density - log10 LTR's| (0: the
    same allocation), from the set's layer frame (`frames.layer_frame` with `budget`)."""
    rows = []
    part = layers[layers["name"].isin(["CTS_KL", "LTR"])]
    for (budget, density, seed), g in part.groupby(["budget", "density", "seed"]):
        table = g.pivot_table(index="layer_index", columns="name", values="layer_density")
        if {"CTS_KL", "LTR"} <= set(table.columns):
            d = np.abs(np.log10(table["CTS_KL"].clip(lower=1e-6)) - np.log10(table["LTR"].clip(lower=1e-6)))
            rows.append({"budget": budget, "density": density, "seed": seed, "distance": float(d.mean())})
    return pd.DataFrame(rows, columns=["budget", "density", "seed", "distance"])


def regimes_at_x1(df: pd.DataFrame) -> dict[float, str]:
    """Each density's regime by LTR and the dense network at the smallest budget (the rule that chose the set's
    densities: `presets.BUDGET_ROUNDS`)."""
    df = with_budget(df)
    if df.empty:
        return {}
    first = df[df["budget"] == df["budget"].min()]
    dense = first.loc[first["name"] == "dense", "top1"].mean()
    acc = stats_accuracy_table(first)
    if math.isnan(dense) or "LTR" not in acc:
        return {}
    return dict(regimes(acc["LTR"], dense))


def gap_plot(df: pd.DataFrame, regime_of: dict[float, str]):
    """CTS_KL - LTR (paired by seed, 95% CI) against the budget, one line per density; beside it, for scale, the
    authors' 160-epoch ResNet-20 gap in the same regimes (their CSV, Welch)."""
    from .names import DENSITY_MARKERS, density_color
    from .plots import ReportFigure
    gaps = gap_frame(df)
    fig = ReportFigure(figsize=(9.5, 4.2), layout="constrained")
    ax, side = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]}, sharey=True)
    cts = gaps[gaps["line"] == "CTS_KL"]
    n = cts["density"].nunique()
    for i, (density, g) in enumerate(cts.groupby("density", sort=False)):
        g = g.sort_values("budget")
        offset = 1 + 0.04 * (i - 1.5)
        ax.errorbar(g["budget"] * offset, 100 * g["gap"], yerr=[100 * (g["gap"] - g["lo"]), 100 * (g["hi"] - g["gap"])],
                    marker=DENSITY_MARKERS[i % len(DENSITY_MARKERS)], capsize=3, color=density_color(i, n),
                    label=f"{100 * density:.3g}% ({regime_of.get(density, '?')})")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(set(cts["budget"])), [f"x{b}" for b in sorted(set(cts["budget"]))])
    ax.set_xlabel("training budget (x the cpu preset's SGD steps)")
    ax.set_ylabel("CTS_KL − LTR (pp, paired by seed, 95% CI)")
    ax.set_title("LeNet-300-100 / Fashion-MNIST", fontsize=9)
    ax.legend(fontsize=7, title="density (regime)", title_fontsize=7)
    for j, regime in enumerate((MATCHING, HIGHLY_SPARSE)):
        e = authors_gap(regime)
        if not math.isnan(e.mean):
            side.errorbar([j], [100 * e.mean], yerr=[[100 * (e.mean - e.lo)], [100 * (e.hi - e.mean)]], fmt="s",
                          capsize=3, color="#444444")
    side.axhline(0, color="grey", lw=0.8)
    side.set_xticks([0, 1], ["matching", "highly\nsparse"], fontsize=8)
    side.set_xlim(-0.6, 1.6)
    side.set_title("the authors' ResNet-20,\n160 epochs (mean over regime)", fontsize=8)
    for a in (ax, side):
        a.grid(True, alpha=0.3)
    return fig


def accuracy_table(df: pd.DataFrame) -> pd.DataFrame:
    """Top-1 (mean ± 95% CI over seeds) per line, budget and density, and the dense network per budget."""
    from .stats import mean_ci
    df = with_budget(df)
    rows = []
    for (budget, density), g in df[df["line"] != "dense"].groupby(["budget", "density"]):
        row = {"budget": f"x{budget}", "density": f"{100 * density:.3g}%"}
        for line in ("LTR",) + LINES:
            m, ci, n = mean_ci(g.loc[g["line"] == line, "top1"])
            row[line] = "-" if n == 0 else f"{100 * m:.1f} ± {100 * ci:.1f}"
        dense = df[(df["budget"] == budget) & (df["line"] == "dense")]["top1"]
        row["dense"] = f"{100 * dense.mean():.1f}" if len(dense) else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def reading(df: pd.DataFrame, layers: pd.DataFrame, regime_of: dict[float, str]) -> str:
    """What the set says, computed: the gap at each budget, whether it closes (and at what budget), the allocation."""
    df_b = with_budget(df)
    if df_b.empty:
        return "No runs of the set are committed yet."
    gaps = gap_frame(df)
    cts = gaps[gaps["line"] == "CTS_KL"]
    budgets = sorted(set(cts["budget"]))
    lines = []
    for density, g in cts.groupby("density", sort=False):
        g = g.set_index("budget")
        lines.append(f"{100 * density:.3g}% ({regime_of.get(density, '?')}): " + ", ".join(
            f"x{b} {g.loc[b, 'effect'].text()}" for b in budgets if b in g.index))
    sparse = [d for d, r in regime_of.items() if r == HIGHLY_SPARSE]
    text = ["**CTS_KL − LTR, paired by seed [95% CI], at each budget:** " + "; ".join(lines) + "."]
    if len(budgets) > 1 and sparse:
        closes = closing(df, sparse)
        verdict = ("closes" if closes.lo > 0 else "widens" if closes.hi < 0 else "does not move measurably")
        text.append(f"**From x{budgets[0]} to x{budgets[-1]}, in the highly sparse regime** (mean over "
                    f"{', '.join(f'{100 * d:.3g}%' for d in sparse)}), the gap {verdict}: it changes by "
                    f"{closes.text()}.")
        ahead = cts[(cts["density"].isin(sparse)) & (cts["lo"] > 0)]
        if len(ahead):
            first = ahead.sort_values("budget").iloc[0]
            text.append(f"CTS_KL is ahead of LTR (whole interval) first at x{int(first['budget'])}, "
                        f"{100 * first['density']:.3g}% density.")
        else:
            text.append("At no budget and no highly sparse density is CTS_KL ahead of LTR (whole interval).")
    alloc = allocation_frame(layers) if layers is not None and len(layers) else pd.DataFrame()
    if len(alloc):
        parts = []
        for b in budgets:
            e = Effect.of(alloc.loc[alloc["budget"] == b].groupby("seed")["distance"].mean())
            parts.append(f"x{b} {e.text(unit='', digits=2)}")
        text.append("**Where the tickets differ:** the mean over layers of |log10 CTS_KL's layer density − log10 "
                    "LTR's| (0: the same allocation; mean over densities, 95% CI over seeds): " + ", ".join(parts) + ".")
    return "\n\n".join(text)


def layers(set_configs, store=None) -> pd.DataFrame:
    """The per-layer densities of the set's (`set_configs`: the budget figure's runs) CTS_KL (ctslib's defaults) and
    LTR tickets, with each run's `budget` (committed records only: nothing is computed)."""
    from .frames import layer_frame
    from ..runs.store import RunStore
    store = store or RunStore()
    set_configs = list(set_configs)
    configs = [c for c in set_configs
               if (c.method == "ltr" or (c.method == "cts" and c.label == "CTS_KL" and c.objective_scale == 1.0))
               and store.has(c)]
    frame = layer_frame(configs, store, compute=False)
    if frame.empty:
        return frame.assign(budget=[])
    steps = {c.run_id: steps_of(c.to_dict()) for c in configs}
    smallest = min(steps_of(c.to_dict()) for c in set_configs)
    return frame.assign(budget=frame["run_id"].map(lambda r: int(round(steps[r] / smallest))))


def layer_table(layer_frame_: pd.DataFrame) -> pd.DataFrame:
    """Per budget and density, each layer's density (mean over seeds, as a multiple of the ticket's) for CTS_KL and
    LTR side by side."""
    if layer_frame_.empty:
        return pd.DataFrame()
    means = layer_frame_.groupby(["budget", "density", "layer", "name"])["layer_density"].mean().unstack("name")
    rows = []
    for (budget, density, layer), r in means.iterrows():
        rows.append({"budget": f"x{budget}", "density": f"{100 * density:.3g}%", "layer": layer,
                     **{f"{n} (× density)": f"{r[n] / density:.2f}" for n in ("CTS_KL", "LTR") if n in r}})
    return pd.DataFrame(rows)
