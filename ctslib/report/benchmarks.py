"""The benchmark appendix: every JSON result of `benchmarks/` as titled tables, and the ticket-time plot.

The results are not part of the installed package: pass their folder (the book passes `../benchmarks/results`),
or set $CTS_BENCHMARKS.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from .names import color, model_name
from .plots import ReportFigure, density_axis, styled


_MACHINE_PATH = re.compile(r"(?:/(?:tmp|work|root|home|var|private)/)[^\s,;:'\")]*")


def _scrub(text: str) -> str:
    """A machine's paths (/tmp/..., /work/..., /root/...) shortened to their last component: what made a number,
    not where it lay on one machine."""
    return _MACHINE_PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def _is_summary(value) -> bool:
    return isinstance(value, dict) and {"median", "q1", "q3"} <= set(value)


def _cell(value) -> str:
    """A JSON leaf as a table cell: quantile summaries as 'median [q1-q3]', a missing or undefined number as '—',
    a list of numbers as its count and range, paths without the machine's folders."""
    if _is_summary(value):
        return f"{_cell(value['median'])} [{_cell(value['q1'])}-{_cell(value['q3'])}]"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and len(value) > 4:
            numbers = [v for v in value if not (isinstance(v, float) and math.isnan(v))]
            return f"{len(value)} values, {_cell(min(numbers))} to {_cell(max(numbers))}" if numbers else "—"
        return ", ".join(_cell(v) for v in value)
    return _scrub(str(value))


def _leaves(value, prefix: str = "") -> dict:
    """A record's nested dicts as one flat dict of dotted keys (quantile summaries and lists kept as leaves)."""
    if isinstance(value, dict) and not _is_summary(value):
        out = {}
        for k, v in value.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _parts(record: dict) -> tuple[dict, dict]:
    """A record split into its own scalars and its parts: every value that is a dict of dicts (contenders,
    configs) or a list of dicts (samples) becomes one part per entry."""
    own, parts = {}, {}
    for key, value in record.items():
        if isinstance(value, dict) and value and not _is_summary(value) and \
                all(isinstance(v, dict) and not _is_summary(v) for v in value.values()):
            parts.update({f"{key}: {k}": v for k, v in value.items()})
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            parts.update({f"{key} {i + 1}": v for i, v in enumerate(value)})
        elif isinstance(value, dict) and value and all(isinstance(v, list) and v and all(isinstance(x, dict) for x in v)
                                                       for v in value.values()):
            parts.update({f"{key}: {k} {i + 1}": x for k, v in value.items() for i, x in enumerate(v)})
        else:
            own[key] = value
    return own, parts


def records_table(records: list[dict]) -> pd.DataFrame:
    """Records (dicts, possibly nested) as one readable table: a row per record, or, where a record holds parts
    (one entry per contender, config or sample), a row per part carrying the record's own values; nested values
    become dotted columns; every cell is text (`_cell`)."""
    def rows(record: dict, carried: dict):
        own, parts = _parts(record)
        own = {**carried, **_leaves(own)}
        if not parts:
            yield own
        for name, part in parts.items():
            yield from rows(part, {**own, "part": f"{own['part']} / {name}" if "part" in own else name})

    table = pd.DataFrame([row for record in records for row in rows(record, {})])
    return table.apply(lambda column: column.map(_cell)) if not table.empty else table


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
        shown = ("device", "cpu_count", "threads", "torch", "load_average", "time")
        machine = ", ".join(f"{k.replace('_', ' ')} {_cell(env[k])}" for k in shown if k in env)
        if "argv" in env and "benchmark" in blob:  # the command that made it
            command = " ".join(["PYTHONPATH=. python3", f"benchmarks/{blob['benchmark']}.py", *map(str, env["argv"])])
            machine += ("; " if machine else "") + f"made by `{command}`"
        title = str(blob.get("benchmark", path.stem)) + (" (tiny)" if blob.get("tiny") else "")
        tables, scalars = [], {}
        for key, value in blob.items():
            if key in ("environment", "benchmark", "tiny"):
                continue
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                tables.append((key, records_table(value)))
            elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()) \
                    and not _is_summary(value):
                tables.append((key, records_table([{"": k, **v} for k, v in value.items()])))
            else:
                scalars.update({k: _cell(v) for k, v in _leaves(value, key).items()})
        if scalars:  # one row per setting: a wide row of settings would not fit the page
            tables.insert(0, ("settings", pd.DataFrame({"setting": list(scalars), "value": list(scalars.values())})))
        out.append((f"{title} — {path.name}", _scrub(machine), tables))
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
            title += (f"\nat {100 * density[-1]:.2g}%: LTR/CTS {summary['ltr_over_cts_at_lowest']:.1f}× "
                      f"(engine target ≥ "
                      f"{targets.get('ltr_over_cts', float('nan')):g}×), LTR/Quick CTS "
                      f"{summary.get('ltr_over_quick_cts_at_lowest', float('nan')):.0f}× (≥ "
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
            display(styled(table, caption=name.replace("_", " "), fit=True))
