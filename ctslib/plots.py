"""Figure helpers shared by the notebooks: each takes a tidy DataFrame (from `ctslib.figures`) and returns a
matplotlib Figure, built without pyplot so a notebook shows it exactly once (as the cell's value).

Lines are means over seeds; shaded bands are 95% confidence intervals of the mean (Student t over seeds),
drawn wherever a point has two or more seeds, as in the paper's Figs. 2-5.
"""

from __future__ import annotations

import io
import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

class ReportFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG in Jupyter (no pyplot, no inline backend needed)."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


# A fixed colour per method, so a method looks the same in every figure.
COLORS = {
    "CTS_KL": "#d62728", "CTS_L": "#1f77b4", "CTS_ΔL": "#9467bd", "CTS_-‖∇L‖": "#8c564b",
    "CTS_feature": "#e377c2", "CTS_grad": "#bcbd22", "Quick CTS_KL": "#ff9896",
    "CTS_L at init": "#1f77b4", "LTR": "#2ca02c", "SNIP": "#ff7f0e", "GraSP": "#17becf", "SynFlow": "#7f7f7f",
    "random": "#000000", "magnitude": "#9edae5", "dense": "#555555", "saliency": "#ff7f0e",
    "Quick CTS (GRADBALANCE)": "#d62728", "Quick CTS (LAGRANGE)": "#9467bd",
    "none (the ticket)": "#d62728", "layerwise shuffle": "#1f77b4", "score inversion": "#2ca02c",
    "reinitialisation": "#ff7f0e",
}
_FALLBACK = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def color(name: str, i: int = 0) -> str:
    return COLORS.get(name, _FALLBACK[i % len(_FALLBACK)])


def t_quantile(df_: int, q: float = 0.975) -> float:
    """Student t quantile (scipy-free): exact table for small df, normal approximation beyond."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
             10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}
    if df_ in table:
        return table[df_]
    if df_ < 30:
        below = max(k for k in table if k < df_)
        return table[below]
    return 1.96 + 2.4 / df_


def mean_ci(values: Iterable[float]) -> tuple[float, float, int]:
    """Mean, half-width of its 95% confidence interval (0 for a single value), and count."""
    v = np.asarray([x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))], float)
    if v.size == 0:
        return math.nan, math.nan, 0
    if v.size == 1:
        return float(v[0]), 0.0, 1
    return float(v.mean()), float(t_quantile(v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)), int(v.size)


def summarize(df: pd.DataFrame, value: str, by: Sequence[str]) -> pd.DataFrame:
    """Mean, 95% CI half-width (`ci`) and seed count (`n`) of `value` for each group of `by`."""
    rows = []
    for key, group in df.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        mean, ci, n = mean_ci(group[value])
        rows.append({**dict(zip(by, key)), "mean": mean, "ci": ci, "n": n})
    return pd.DataFrame(rows)


def _density_axis(ax, densities: Sequence[float]) -> None:
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
           scale: float = 1.0, styles: dict | None = None) -> None:
    names = list(order) if order is not None else list(dict.fromkeys(df[hue]))
    for i, name in enumerate(names):
        part = df[df[hue] == name]
        if part.empty:
            continue
        s = summarize(part, value, ["density"]).sort_values("density", ascending=False)
        x, y, ci = s["density"].to_numpy(), s["mean"].to_numpy() * scale, s["ci"].to_numpy() * scale
        style = (styles or {}).get(name, {})
        c = style.pop("color", color(name, i))
        ax.plot(x, y, marker="o", ms=3.5, lw=1.6, color=c, label=name, **style)
        if (s["n"] > 1).any():
            ax.fill_between(x, y - ci, y + ci, color=c, alpha=0.15, lw=0)


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
    _lines(ax, main, metric, hue, order=[o for o in (order or []) if o != reference] or None, scale=100)
    if not ref.empty:
        mean, ci, n = mean_ci(ref[metric])
        ax.axhline(100 * mean, color=color(reference), ls="--", lw=1, label=f"{reference} ({100 * mean:.1f}%)")
    _density_axis(ax, main["density"].tolist())
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
               scale=100)
        means = 100 * part.groupby(["density", "ablation_name"])["top1"].mean()
        if len(means):
            ax.set_ylim(max(0.0, means.min() - 5), min(100.0, means.max() + 3))
        _density_axis(ax, part["density"].tolist())
        ax.set_ylabel("test accuracy (top-1, %)")
        ax.set_title(family)
        ax.legend(fontsize=8, loc="lower left")
    if title:
        fig.suptitle(title)
    return fig


def layerwise_density(layers: pd.DataFrame, methods: Sequence[str] | None = None, title: str | None = None) -> Figure:
    """Per-layer density of each method's ticket (bars, mean over seeds), one panel per density, with each
    layer's share of the prunable parameters as grey bars (right axis)."""
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
        for i, method in enumerate(methods):
            m = part[part["name"] == method]
            if m.empty:
                continue
            s = summarize(m, "layer_density", ["layer"]).set_index("layer").reindex(layer_order["layer"])
            ax.bar(x - 0.4 + width * (i + 0.5), 100 * s["mean"].to_numpy(), width=width, color=color(method, i),
                   label=method)
        ax.set_yscale("log")
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
        _density_axis(ax, part["density"].tolist() or [1.0])
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


VERDICT_COLORS = {"reproduced": "#d9f2d9", "not reproduced": "#f8d7d7", "not tested at this scale": "#eeeeee"}


def _page_links(names: str) -> str:
    """'fig4, fig5' -> links to those pages of the book (pages sit side by side in notebooks/)."""
    parts = [n.strip() for n in str(names).split(",") if n.strip()]
    return ", ".join(f'<a href="{n}.html">{n.replace("fig", "Fig. ").replace("table", "Table ")}</a>' for n in parts)


def styled(table: pd.DataFrame, caption: str | None = None, verdicts: bool = False, links: str | None = None):
    """A table rendered as plain HTML (index hidden), for the book; `verdicts` colours a 'verdict' column,
    `links` names a column of page names ('fig2, fig3') to turn into links."""
    styler = table.style.hide(axis="index")
    if links and links in table:
        styler = styler.format(_page_links, subset=[links])
    if verdicts and "verdict" in table:
        styler = styler.map(lambda v: f"background-color: {VERDICT_COLORS.get(v, 'white')}", subset=["verdict"])
    if caption:
        styler = styler.set_caption(caption)
    return styler.set_table_styles([{"selector": "td, th", "props": "padding: 2px 8px; text-align: left; "
                                                                    "vertical-align: top;"},
                                    {"selector": "caption", "props": "caption-side: top; font-weight: bold;"}])


def _cell(value) -> str:
    """A JSON value as a table cell: quantile summaries as 'median [q1-q3]', lists shortened."""
    if isinstance(value, dict) and {"median", "q1", "q3"} <= set(value):
        return f"{value['median']:.4g} [{value['q1']:.4g}-{value['q3']:.4g}]"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        text = ", ".join(_cell(v) for v in value[:6])
        return text + (" ..." if len(value) > 6 else "")
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in list(value.items())[:6])
    return str(value)


def benchmark_tables(results_dir) -> list[tuple[str, str, list[tuple[str, pd.DataFrame]]]]:
    """The benchmark results (`benchmarks/results/*.json`) as tables: per file its title, a line about the
    machine it ran on, and one table per list of records it holds (plus one of its scalar settings)."""
    import json
    from pathlib import Path
    out = []
    for path in sorted(Path(results_dir).glob("*.json")):
        try:
            blob = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            out.append((path.name, f"unreadable: {err}", []))
            continue
        if not isinstance(blob, dict):
            blob = {"results": blob}
        env = blob.get("environment", {}) if isinstance(blob.get("environment"), dict) else {}
        machine = ", ".join(f"{k} {_cell(env[k])}" for k in ("device", "cpu_count", "threads", "torch", "load_average",
                                                                 "time") if k in env)
        title = str(blob.get("benchmark", path.stem)) + (" (tiny)" if blob.get("tiny") else "")
        tables, scalars = [], {}
        for key, value in blob.items():
            if key in ("environment", "benchmark", "tiny"):
                continue
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                rows = [{k: _cell(v) for k, v in row.items()} for row in value]
                tables.append((key, pd.DataFrame(rows)))
            elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()) \
                    and not {"median", "q1"} <= set(value):
                rows = [{"": k, **{kk: _cell(vv) for kk, vv in v.items()}} for k, v in value.items()]
                tables.append((key, pd.DataFrame(rows)))
            else:
                scalars[key] = _cell(value)
        if scalars:
            tables.insert(0, ("settings", pd.DataFrame([scalars])))
        out.append((f"{title} — {path.name}", machine, tables))
    return out


def ticket_time(results=None) -> Figure | None:
    """Seconds to draw a ticket vs density, one panel per non-tiny `ticket_time*.json`: LTR (the time to reach
    each density: its rounds add up), CTS and Quick CTS (median with the interquartile band; flat)."""
    import json
    from pathlib import Path

    from .figures import MODEL_NAMES
    blobs = []
    for path in sorted(Path(results or results_dir()).glob("ticket_time*.json")):
        try:
            blob = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if blob.get("benchmark") == "ticket_time" and not blob.get("tiny") and blob.get("rounds"):
            blobs.append(blob)
    if not blobs:
        return None
    fig = ReportFigure(figsize=(5.2 * len(blobs), 3.8))
    axes = fig.subplots(1, len(blobs), squeeze=False)[0]
    for ax, blob in zip(axes, blobs):
        rounds = blob["rounds"]
        density = [r["density"] for r in rounds]
        ax.plot(density, [r["ltr_seconds"] for r in rounds], marker="o", ms=3, lw=1.6, color=color("LTR"),
                label="LTR (20% per round)")
        for key, name in (("cts_seconds", "CTS_KL"), ("quick_cts_seconds", "Quick CTS_KL")):
            timed = [r for r in rounds if r.get(key)]
            x = [r["density"] for r in timed]
            ax.plot(x, [r[key]["median"] for r in timed], marker="s", ms=3, lw=1.6, color=color(name), label=name)
            ax.fill_between(x, [r[key]["q1"] for r in timed], [r[key]["q3"] for r in timed], color=color(name),
                            alpha=0.2, lw=0)
        _density_axis(ax, [r["density"] for r in rounds if r.get("cts_seconds")] or density)
        ax.set_yscale("log")
        env, summary, targets = blob.get("environment", {}), blob.get("summary", {}), blob.get("targets_at_0.47%", {})
        title = (f"{MODEL_NAMES.get(blob.get('model'), blob.get('model'))}, batch {blob.get('batch_size')}, "
                 f"{env.get('device', '?')}, {env.get('threads', '?')} thread(s)")
        if "ltr_over_cts_at_lowest" in summary:
            title += (f"\nat {100 * density[-1]:.2g}%: LTR/CTS {summary['ltr_over_cts_at_lowest']:.1f}× (target "
                      f"{targets.get('ltr_over_cts', float('nan')):g}×), LTR/Quick CTS "
                      f"{summary.get('ltr_over_quick_cts_at_lowest', float('nan')):.0f}× (target "
                      f"{targets.get('ltr_over_quick_cts', float('nan')):g}×)")
        ax.set_ylabel("seconds to draw the ticket (log)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def results_dir():
    """benchmarks/results of this checkout ($CTS_BENCHMARKS overrides)."""
    import os
    from pathlib import Path
    if os.environ.get("CTS_BENCHMARKS"):
        return Path(os.environ["CTS_BENCHMARKS"])
    return Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def benchmark_section(results=None) -> None:
    """Display every benchmark result as titled tables (or say that there is none)."""
    from IPython.display import Markdown, display
    results = results or results_dir()
    sections = benchmark_tables(results)
    if not sections:
        display(Markdown(f"No benchmark results were found in `{results}` when this book was built. "
                         f"Run the benchmarks (`python benchmarks/<name>.py`, see `benchmarks/`) and rebuild."))
        return
    for title, machine, tables in sections:
        display(Markdown(f"**{title}**" + (f"  \n*{machine}*" if machine else "")))
        for name, table in tables:
            display(styled(table, caption=name))
