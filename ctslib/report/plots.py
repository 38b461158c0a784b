"""Figure helpers shared by the notebooks: each takes a tidy DataFrame (from `ctslib.report.frames`) and returns a
matplotlib Figure, built without pyplot so a notebook shows it exactly once (as the cell's value).

Lines are means over seeds; shaded bands are 95% confidence intervals of the mean (Student t over seeds),
drawn wherever a point has two or more seeds, as in the paper's Figs. 2-5. For the authors' published runs
(`ctslib.report.reference`, rows with source 'authors') the band is their files' population std.
"""

from __future__ import annotations

import io
import math
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from .names import ABLATION_STYLES, DENSITY_MARKERS, color, density_color
from .stats import mean_ci, summarize
from .verdicts import VERDICT_MARKS

class ReportFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in Jupyter (no pyplot, no inline backend needed)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


def density_axis(ax, densities: Sequence[float]) -> None:
    """Density on a log axis, sparser to the right, labelled in percent of weights kept."""
    ax.set_xscale("log")
    ax.invert_xaxis()
    ticks = sorted(set(densities), reverse=True)
    if len(ticks) > 8:
        ticks = ticks[:: math.ceil(len(ticks) / 8)] + ([ticks[-1]] if ticks[-1] not in ticks[:: math.ceil(len(ticks) / 8)] else [])
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{100 * x:.3g}%"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda x, _: ""))
    ax.set_xlabel("density: weights kept (log scale; sparser →)")
    ax.grid(True, which="major", alpha=0.3)


def _lines(ax, df: pd.DataFrame, value: str, hue: str, order: Sequence[str] | None = None,
           scale: float = 1.0, styles: dict | None = None, bounds: tuple[float, float] | None = None) -> None:
    """One line per `hue` value with its band (95% CI over seeds; the authors' runs: mean ± their std), the band
    clipped to `bounds` (an accuracy's 0-100%) where given."""
    lo_, hi_ = bounds if bounds is not None else (-math.inf, math.inf)
    names = list(order) if order is not None else list(dict.fromkeys(df[hue]))
    for i, name in enumerate(names):
        part = df[df[hue] == name]
        if part.empty:
            continue
        s = summarize(part, value, ["density"]).sort_values("density", ascending=False)
        x, y, ci = s["density"].to_numpy(), s["mean"].to_numpy() * scale, s["ci"].to_numpy() * scale
        style = (styles or {}).get(name, {})
        c = style.pop("color", color(name, i))
        style.setdefault("marker", "o")
        ax.plot(x, y, ms=3.5, lw=1.6, color=c, label=name, **style)
        if "source" in part and (part["source"] == "authors").all():  # published mean ± population std
            std = part.groupby("density")[value].std(ddof=0).reindex(s["density"]).to_numpy() * scale
            ax.fill_between(x, np.clip(y - std, lo_, hi_), np.clip(y + std, lo_, hi_), color=c, alpha=0.15, lw=0)
        elif (s["n"] > 1).any():
            ax.fill_between(x, np.clip(y - ci, lo_, hi_), np.clip(y + ci, lo_, hi_), color=c, alpha=0.15, lw=0)


def accuracy_vs_density(df: pd.DataFrame, hue: str = "name", order: Sequence[str] | None = None,
                        title: str | None = None, metric: str = "top1", reference: str | None = "dense",
                        ax=None) -> Figure:
    """Test accuracy (%) against density, one line per `hue` value, 95% CI bands over seeds.

    Runs whose `hue` is `reference` (the dense network, density 1) are drawn as a horizontal line.
    """
    fig = None
    if ax is None:
        fig = ReportFigure(figsize=(7.5, 4.6), layout="constrained")
        ax = fig.add_subplot()
    ref = df[df[hue] == reference] if reference else df.iloc[0:0]
    main = df[df[hue] != reference] if reference else df
    _lines(ax, main, metric, hue, order=[o for o in (order or []) if o != reference] or None, scale=100,
           bounds=(0.0, 100.0))
    if not ref.empty:
        mean, ci, n = mean_ci(ref[metric])
        ax.axhline(100 * mean, color=color(reference), ls="--", lw=1, label=f"{reference} ({100 * mean:.1f}%)")
    density_axis(ax, main["density"].tolist())
    means = 100 * main.groupby(["density", hue])[metric].mean()
    if len(means):  # frame the means; confidence bands from few seeds may run past them (and past 0-100%)
        ax.set_ylim(max(0.0, means.min() - 5), min(100.0, max(means.max(), 100 * ref[metric].mean()
                                                             if not ref.empty else 0) + 3))
    ax.set_ylabel(f"test accuracy ({metric.replace('top', 'top-')}, %)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, ncol=2, loc="best")
    return fig if fig is not None else ax.figure


def sanity_checks(df: pd.DataFrame, families: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """One panel per method family (e.g. CTS_KL, CTS_L at init): the ticket vs each of its ablations."""
    families = list(families or dict.fromkeys(df["family"]))
    fig = ReportFigure(figsize=(7.5, 3.6 * len(families)), layout="constrained")
    axes = fig.subplots(len(families), 1, squeeze=False)[:, 0]
    order = ["none (the ticket)", "layerwise shuffle", "score inversion", "reinitialisation"]
    for ax, family in zip(axes, families):
        part = df[df["family"] == family]
        _lines(ax, part, "top1", "ablation_name", order=[o for o in order if o in set(part["ablation_name"])],
               scale=100, styles={k: dict(v) for k, v in ABLATION_STYLES.items()}, bounds=(0.0, 100.0))
        means = 100 * part.groupby(["density", "ablation_name"])["top1"].mean()
        if len(means):
            ax.set_ylim(max(0.0, means.min() - 5), min(100.0, means.max() + 3))
        density_axis(ax, part["density"].tolist())
        ax.set_ylabel("test accuracy (top-1, %)")
        ax.set_title(family)
        ax.legend(fontsize=8, loc="lower left")
    if title:
        fig.suptitle(title)
    return fig


def layerwise_density(layers: pd.DataFrame, methods: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Per-layer density of each method's ticket (bars, mean over seeds), one panel per density, with each
    layer's share of the prunable parameters as grey bars (right axis); a layer a ticket keeps nothing of is marked
    '0' (a log axis has no bar for it)."""
    methods = list(methods or dict.fromkeys(layers["name"]))
    densities = sorted(set(layers["density"]), reverse=True)
    fig = ReportFigure(figsize=(max(7.5, 0.9 * layers["layer"].nunique() + 3), 3.6 * len(densities)), layout="constrained")
    axes = fig.subplots(len(densities), 1, squeeze=False)[:, 0]
    for ax, density in zip(axes, densities):
        part = layers[layers["density"] == density]
        layer_order = (part.drop_duplicates("layer").sort_values("layer_index")[["layer", "layer_size"]])
        x = np.arange(len(layer_order))
        share = layer_order["layer_size"].to_numpy() / layer_order["layer_size"].sum()
        twin = ax.twinx()
        twin.bar(x, 100 * share, width=0.9, color="#dddddd", zorder=0, label="share of parameters")
        twin.set_ylabel("share of prunable parameters (%)", color="#888888")
        twin.set_zorder(ax.get_zorder() - 1)
        ax.patch.set_visible(False)
        width = 0.8 / max(1, len(methods))
        zeros = []
        for i, method in enumerate(methods):
            m = part[part["name"] == method]
            if m.empty:
                continue
            s = summarize(m, "layer_density", ["layer"]).set_index("layer").reindex(layer_order["layer"])
            ax.bar(x - 0.4 + width * (i + 0.5), 100 * s["mean"].to_numpy(), width=width, color=color(method, i),
                   label=method)
            zero = np.flatnonzero(s["mean"].to_numpy() == 0)
            zeros.append((x[zero] - 0.4 + width * (i + 0.5), color(method, i)))
        ax.set_yscale("log")
        # a layer a ticket keeps nothing of has no bar on a log axis: mark it with a '0' at the axis' floor
        floor = ax.get_ylim()[0]
        for xs, c in zeros:
            for xi in xs:
                ax.text(xi, floor, "0", color=c, ha="center", va="bottom", fontsize=7, fontweight="bold")
        ax.set_xticks(x)
        ax.set_xticklabels([l.removesuffix(".weight") for l in layer_order["layer"]], rotation=45, ha="right",
                           fontsize=7)
        ax.set_ylabel("layer density (%, log)")
        ax.set_title(f"tickets at {100 * density:.3g}% density ({100 * (1 - density):.3g}% sparsity)")
        ax.legend(fontsize=7, ncol=min(5, len(methods)), loc="upper center")
    if title:
        fig.suptitle(title)
    return fig


def objectives_vs_density(values: pd.DataFrame, objectives: Sequence[str], titles: dict[str, str] | None = None,
                          order: Sequence[str] | None = None, ncols: int = 2, title: str | None = None) -> Figure:
    """One panel per objective: its value for each method's ticket against density (lower is better;
    R_-‖∇L‖ is shown as the gradient norm ‖∇L‖ on a log scale, higher is better, as in the paper)."""
    objectives = list(objectives)
    ncols = min(ncols, len(objectives))
    nrows = math.ceil(len(objectives) / ncols)
    fig = ReportFigure(figsize=(5.2 * ncols, 3.6 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, objective in zip(axes, objectives):
        part = values[values["objective"] == objective].copy()
        label = (titles or {}).get(objective, objective)
        if objective == "grad_norm":
            part["value"] = -part["value"]
            ax.set_yscale("log")
            label += "\n(shown: ‖∇L‖, higher is better)"
        else:
            label += "\n(lower is better)"
        _lines(ax, part, "value", "name", order=[o for o in (order or dict.fromkeys(part["name"]))
                                                  if o in set(part["name"])])
        density_axis(ax, part["density"].tolist() or [1.0])
        ax.set_title(label, fontsize=9)
    for ax in axes[len(objectives):]:
        ax.set_visible(False)
    handles = {}
    for ax in axes[:len(objectives)]:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(name, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=min(4, len(handles)),
               fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def open_choices(df: pd.DataFrame, title: str | None = None) -> Figure:
    """One column per open choice of the search: top-1 (%) at each of its values (the default first, marked *),
    one line per density (its own palette and marker) with 95% CI bars over seeds, clipped to what is possible
    (top row), and the expected density after the search over the target kappa_eff (bottom row; 1 = on target)."""
    choices = list(dict.fromkeys(df["choice"]))
    fig = ReportFigure(figsize=(2.6 * max(len(choices), 1), 5.4), layout="constrained")
    axes = fig.subplots(2, max(len(choices), 1), squeeze=False)
    densities = sorted(set(df["density"]), reverse=True)
    for j, choice in enumerate(choices):
        part = df[df["choice"] == choice]
        values = list(dict.fromkeys(part["value"]))
        labels = [v + (" *" if part[part["value"] == v]["is_default"].any() else "") for v in values]
        for i, density in enumerate(densities):
            at = part[part["density"] == density]
            for row, (metric, scale) in enumerate((("top1", 100.0), ("tracking", 1.0))):
                s = summarize(at, metric, ["value"]).set_index("value").reindex(values)
                mean, ci = s["mean"].to_numpy() * scale, s["ci"].fillna(0).to_numpy() * scale
                # an accuracy's bar stops at 0% and 100%; the density ratio's at 0
                low = np.minimum(ci, mean)
                high = np.minimum(ci, 100.0 - mean) if metric == "top1" else ci
                axes[row, j].errorbar(np.arange(len(values)) + 0.08 * (i - (len(densities) - 1) / 2), mean,
                                      yerr=[low, high], marker=DENSITY_MARKERS[i % len(DENSITY_MARKERS)], ms=4,
                                      capsize=2, lw=1.2, color=density_color(i, len(densities)),
                                      label=f"{100 * density:.3g}% density" if (row, j) == (0, 0) else None)
        for row in (0, 1):
            axes[row, j].set_xticks(range(len(values)), labels, rotation=30, ha="right", fontsize=8)
            axes[row, j].grid(True, axis="y", alpha=0.3)
        axes[1, j].axhline(1.0, color="grey", lw=0.8, ls="--")
        axes[0, j].set_title(choice, fontsize=9)
    axes[0, 0].set_ylabel("test accuracy (top-1, %)")
    axes[1, 0].set_ylabel("E[density] / κ_eff after the search")
    fig.legend(loc="outside lower center", ncol=len(densities), fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


VERDICT_COLORS = {"reproduced": "#d9f2d9", "not reproduced": "#f8d7d7", "inconclusive": "#fdf0c8",
                  "not tested at this scale": "#eeeeee"}


def verdict_color(cell) -> str:
    """The background of a verdict cell: its verdict's colour, also for cells that go on after it ('reproduced:
    +4.2 pp [+1.1, +7.2]') and for its mark ('✓', `verdicts.VERDICT_MARKS`)."""
    text = str(cell)
    text = next((v for v, mark in VERDICT_MARKS.items() if text == mark), text)
    verdict = max((v for v in VERDICT_COLORS if text == v or text.startswith(v + ":")), key=len, default=None)
    return VERDICT_COLORS[verdict] if verdict else "white"


def _page_links(names: str) -> str:
    """'fig4, fig5' -> links to those pages of the book (pages sit side by side in notebooks/)."""
    parts = [n.strip() for n in str(names).split(",") if n.strip()]
    return ", ".join(f'<a href="{n}.html">{n.replace("fig", "Fig. ").replace("table", "Table ")}</a>' for n in parts)


def styled(table: pd.DataFrame, caption: str | None = None, verdicts: bool | Sequence[str] = False,
           links: str | None = None, fit: bool = False):
    """A table rendered as plain HTML (index hidden), for the book; `verdicts` colours the verdict columns (every
    column whose name starts with 'verdict', or the columns named), `links` names a column of page names ('fig2,
    fig3') to turn into links, `fit` makes the table as wide as the page, its long cells wrapping (class
    ctslib-fit in book/_static/ctslib.css)."""
    styler = table.style.hide(axis="index")
    if links and links in table:
        styler = styler.format(_page_links, subset=[links])
    columns = ([c for c in table.columns if str(c).startswith("verdict")] if verdicts is True
               else [c for c in (verdicts or ()) if c in table.columns])
    if columns:
        styler = styler.map(lambda v: f"background-color: {verdict_color(v)}", subset=columns)
    if caption:
        styler = styler.set_caption(caption)
    styler = styler.set_table_styles([{"selector": "td, th", "props": "padding: 2px 8px; text-align: left; "
                                                                      "vertical-align: top;"},
                                      {"selector": "caption", "props": "caption-side: top; font-weight: bold;"}])
    if fit:
        styler = styler.set_table_attributes('class="ctslib-fit"')
        if "id" in table.columns:  # a claim's id ('V-E4') never breaks
            styler = styler.set_table_styles({"id": [{"selector": "td", "props": "white-space: nowrap;"}]},
                                             overwrite=False)
    return styler
