"""The benchmark appendix: every JSON result of `benchmarks/` as titled tables, and the ticket-time plot.

The results are not part of the installed package: pass their folder (the book passes `../benchmarks/results`),
or set $CTS_BENCHMARKS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from .names import color, model_name
from .plots import ReportFigure, density_axis, styled


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
        if "argv" in env and "benchmark" in blob:  # the command that made it
            command = " ".join(["PYTHONPATH=. python3", f"benchmarks/{blob['benchmark']}.py", *map(str, env["argv"])])
            machine += ("; " if machine else "") + f"made by `{command}`"
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
    blobs = []
    results = results or results_dir()
    for path in sorted(Path(results).glob("ticket_time*.json")) if results else []:
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
        density_axis(ax, [r["density"] for r in rounds if r.get("cts_seconds")] or density)
        ax.set_yscale("log")
        env, summary, targets = blob.get("environment", {}), blob.get("summary", {}), blob.get("targets_at_0.47%", {})
        title = (f"{model_name(str(blob.get('model')))}, batch {blob.get('batch_size')}, "
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


def results_dir() -> Path | None:
    """Where the benchmark results are: $CTS_BENCHMARKS, else `benchmarks/results` under the current folder if
    it exists (the book passes its own path), else None."""
    if os.environ.get("CTS_BENCHMARKS"):
        return Path(os.environ["CTS_BENCHMARKS"])
    here = Path("benchmarks") / "results"
    return here if here.is_dir() else None


def benchmark_section(results=None) -> None:
    """Display every benchmark result as titled tables (or say that there is none)."""
    results = results or results_dir()
    sections = benchmark_tables(results) if results else []
    if not sections:
        display(Markdown(f"No benchmark results were found in `{results}` when this book was built. "
                         f"Run the benchmarks (`python benchmarks/<name>.py`, see `benchmarks/`) and rebuild."))
        return
    for title, machine, tables in sections:
        display(Markdown(f"**{title}**" + (f"  \n*{machine}*" if machine else "")))
        for name, table in tables:
            display(styled(table, caption=name))
