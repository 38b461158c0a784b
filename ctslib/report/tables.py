"""Tables I and II of the paper from this build's runs, beside the paper's own numbers."""

from __future__ import annotations

import math

import pandas as pd

from .names import sparsity_label
from .stats import mean_ci
from .verdicts import INCONCLUSIVE, REPRODUCED, beats, every

# The paper's numbers (Tables I and II; ResNet-20 on CIFAR-10 unless said otherwise).
PAPER_TABLE1 = {  # method: (passes sanity checks, avoids tuning, computation, top-1 %) at 1.44% density
    "LTR": ("✓", "✓", "3058 epochs", 80.90), "SNIP": ("✗", "✓", "160 epochs", 67.73),
    "GraSP": ("✗", "✓", "160 epochs", 62.59), "SynFlow": ("✗", "✓", "161 epochs", 70.18),
    "Quick CTS_KL": ("✓", "✓", "180 epochs", 79.04), "CTS_KL": ("✓", "✓", "320 epochs", 80.26),
}
PAPER_TABLE2 = {  # sparsity: (CTS_KL top-1 %, CTS_KL minutes, LTR top-1 %, LTR minutes), ResNet-20 / CIFAR-10
    0.982: (81.7, 7.9, 83.5, 78.7), 0.993: (74.0, 7.9, 68.3, 95.2), 0.997: (58.8, 7.9, 55.7, 108.3),
}
PAPER_TABLE2_RESNET50 = {  # sparsity: (metric, CTS_KL %, hours, LTR %, hours), ResNet-50 / ImageNet
    0.90: ("top-1", 66.3, 20.7, 71.3, 35.2), 0.99: ("top-3", 65.4, 20.8, 60.5, 59.1),
    0.999: ("top-5", 24.2, 20.7, 6.7, 82.6),
}


def table1_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Table I from table1's runs: per method, sanity checks passed (beats every ablation: `verdicts.beats`, the
    whole 95% interval over seeds above the margin; "?" where the interval does not decide), tuning, computation
    (epochs from the records), accuracy here, and the paper's numbers."""
    rows = []
    for name, group in df.groupby("family", sort=False):
        ticket = group[group["ablation"] == ""]
        if ticket.empty:
            continue
        checks = []
        for ablation, part in group[group["ablation"] != ""].groupby("ablation"):
            verdict, effect = beats(ticket, part)
            checks.append((ablation, verdict, effect))
        verdict = every(v for _, v, _ in checks) if checks else None
        mean, ci, n = mean_ci(ticket["top1"])
        paper = PAPER_TABLE1.get(name, ("", "", "", math.nan))
        rows.append({
            "method": name,
            "passes sanity checks (here)": ("-" if verdict is None else "✓" if verdict == REPRODUCED
                                            else "?" if verdict == INCONCLUSIVE else "✗"),
            "ticket minus ablation": ", ".join(f"{a} {e.text()}" for a, _, e in checks),
            "avoids tuning": "✓",
            "computation (epochs, here)": f"{ticket['epochs_total'].mean():.3g}",
            "top-1 here (%)": f"{100 * mean:.2f}" + (f" ± {100 * ci:.2f}" if n > 1 else ""),
            "paper: sanity": paper[0], "paper: computation": paper[2],
            "paper: top-1 (%)": "" if math.isnan(paper[3]) else f"{paper[3]:.2f}",
        })
    return pd.DataFrame(rows)


def table2_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Table II from table2's runs: CTS_KL and LTR accuracy and total time (draw + training) per sparsity."""
    rows = []
    for density, group in df.sort_values("density", ascending=False).groupby("density", sort=False):
        row = {"sparsity": sparsity_label(density).removesuffix(" sparsity"), "density": f"{100 * density:.3g}%"}
        for name in ("CTS_KL", "LTR"):
            part = group[group["name"] == name]
            row[f"{name} top-1 (%): mean [95% CI]"] = top1_interval(part["top1"])
            row[f"{name} time"] = _duration(part["seconds_total"].mean())
        paper = min(PAPER_TABLE2.items(), key=lambda kv: abs(kv[0] - (1 - density)))
        if abs(paper[0] - (1 - density)) < 5e-4:
            row["paper: CTS_KL / LTR top-1 (%)"] = f"{paper[1][0]} / {paper[1][2]}"
            row["paper: CTS_KL / LTR time (min)"] = f"{paper[1][1]} / {paper[1][3]}"
        else:
            row["paper: CTS_KL / LTR top-1 (%)"] = row["paper: CTS_KL / LTR time (min)"] = "-"
        rows.append(row)
    return pd.DataFrame(rows)


def top1_interval(top1) -> str:
    """'81.2 [79.9, 82.5]': mean top-1 (%) over seeds and its 95% interval, clipped to the possible 0-100%; one
    seed: its value alone; none: '-'."""
    mean, ci, n = mean_ci(top1)
    if n == 0:
        return "-"
    if n == 1:
        return f"{100 * mean:.1f}"
    return f"{100 * mean:.1f} [{max(0.0, 100 * (mean - ci)):.1f}, {min(100.0, 100 * (mean + ci)):.1f}]"


def _duration(seconds: float) -> str:
    if seconds is None or math.isnan(seconds):
        return "-"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


# --- the paper's tables beside the authors' published runs (ctslib.report.reference) ----------------------------

def _authors_point(summary: pd.DataFrame, name: str, density: float) -> str:
    """'80.90 ± 0.69' at `density`; where the files have no run there, their two neighbouring densities."""
    line = summary[summary["name"] == name]
    row = line[(line["density"] - density).abs() < 1e-9]
    if not row.empty:
        return f"{100 * row['mean'].iloc[0]:.2f} ± {100 * row['std'].iloc[0]:.2f}"
    denser, sparser = line[line["density"] > density], line[line["density"] < density]
    if denser.empty or sparser.empty:
        return "-"
    a, b = denser.loc[denser["density"].idxmin()], sparser.loc[sparser["density"].idxmax()]
    return (f"no run at {100 * density:.3g}%: {100 * a['mean']:.2f} ± {100 * a['std']:.2f} at {100 * a['density']:.3g}%, "
            f"{100 * b['mean']:.2f} ± {100 * b['std']:.2f} at {100 * b['density']:.3g}%")


def authors_table1() -> pd.DataFrame:
    """Table I's top-1 column (ResNet-20 / CIFAR-10, 1.44% density) beside the same point of the authors' published
    runs (mean ± population std over their 3 seeds)."""
    from .reference import authors_runs, authors_summary
    summary = authors_summary(authors_runs("resnet20"))
    density = 0.8 ** 19
    return pd.DataFrame([{"method": name, "paper: top-1 (%)": f"{paper[3]:.2f}",
                          "authors' files: top-1 (%)": _authors_point(summary, name, density)}
                         for name, paper in PAPER_TABLE1.items()])


def authors_table2() -> pd.DataFrame:
    """Table II's ResNet-20 rows (paper) beside the authors' published runs at the same densities, with how far the
    paper's CTS_KL lies above their files' mean and above the best single seed those files allow (3 seeds with that
    mean and population std: at most mean + sqrt(2) std). Their CTS_KL files were computed with the forward KL
    (`ctslib.runs.authors_code.FORWARD_KL_COMMIT`)."""
    from .reference import authors_runs, authors_summary
    summary = authors_summary(authors_runs("resnet20", names=["CTS_KL", "LTR"]))
    rows = []
    for sparsity, (cts, cts_min, ltr, ltr_min) in PAPER_TABLE2.items():
        density = min(summary["density"].unique(), key=lambda d: abs((1 - d) - sparsity))
        files = summary[(summary["name"] == "CTS_KL") & ((summary["density"] - density).abs() < 1e-9)]
        mean, std = (100 * files["mean"].iloc[0], 100 * files["std"].iloc[0]) if len(files) else (math.nan, math.nan)
        rows.append({"sparsity": f"{100 * sparsity:.1f}%", "density": f"{100 * density:.3g}%",
                     "paper: CTS_KL (%)": f"{cts:.1f}", "authors' files: CTS_KL (%)": _authors_point(summary, "CTS_KL", density),
                     "paper − files' mean: CTS_KL (pp)": f"{cts - mean:+.2f}",
                     "files' best single seed: CTS_KL (%)": f"{mean + math.sqrt(2) * std:.2f}",
                     "paper: LTR (%)": f"{ltr:.1f}", "authors' files: LTR (%)": _authors_point(summary, "LTR", density)})
    return pd.DataFrame(rows)


def _accuracy_cell(part: pd.DataFrame, density: float) -> str:
    """'81.2 ± 1.3': the mean top-1 (%) of `part`'s runs at `density` ± its 95% CI over seeds ('-' if none)."""
    mean, ci, n = mean_ci(part.loc[part["density"] == density, "top1"])
    return "-" if n == 0 else f"{100 * mean:.1f}" + (f" ± {100 * ci:.1f}" if n > 1 else "")


def _densities(df: pd.DataFrame) -> list[float]:
    return sorted(df.loc[df["name"] != "dense", "density"].unique(), reverse=True)


def accuracy_frame(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per method (rows) and density (columns): mean top-1 ± 95% CI over seeds of its tickets (no ablations)."""
    rows = []
    for name in names:
        part = df[(df["name"] == name) & (df["ablation"] == "")]
        if not part.empty:
            rows.append({"method": name, **{f"{100 * d:.3g}%": _accuracy_cell(part, d) for d in _densities(df)}})
    return pd.DataFrame(rows)


def evidence_vs_authors(df: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per method (rows) and density (columns): this build's mean top-1 ± 95% CI over seeds beside the authors'
    ResNet-20 / CIFAR-10 runs at the same density (mean ± std over their 3 seeds; their neighbours where they have
    no run there)."""
    from .reference import authors_runs, authors_summary
    summary = authors_summary(authors_runs("resnet20", names=names))
    rows = []
    for name in names:
        part = df[(df["name"] == name) & (df["ablation"] == "")]
        if part.empty:
            continue
        row = {"method": name}
        for density in _densities(df):
            row[f"{100 * density:.3g}%: here"] = _accuracy_cell(part, density)
            row[f"{100 * density:.3g}%: paper scale"] = _authors_point(summary, name, density)
        rows.append(row)
    return pd.DataFrame(rows)
