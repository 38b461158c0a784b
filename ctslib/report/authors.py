"""The page "ctslib and the authors' code": the committed side-by-side data, read (never computed) and drawn.

`scripts/authors_code.py` runs the authors' search (their clone, at run time) and ctslib's `authors_code` bundle on
identical inputs and noise and commits what came out under `results/authors-code/equivalence/`; this module reads it:

    eq = load_equivalence()        # manifest, per-step traces, the authors' tickets
    eq.cases                       # one row per (density, seed): IoU, trace agreement, kept counts, trained top-1
    eq.ticket(i), eq.trace(i)      # the authors' ticket of case i; its traces, both codes
    differences_frame()            # paper / their code (file:line) / ctslib / setting, from runs.authors_code
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..runs.archive import RESULTS_DIR
from ..runs.authors_code import BUNDLE_TITLES, DIFFERENCES
from ..tickets import Ticket

EQUIVALENCE_DIR = RESULTS_DIR / "authors-code" / "equivalence"
EQUIVALENCE_FORMAT = "ctslib.authors-equivalence/1"
TRACE_NAMES = ("objective", "expected_density", "lam")


@dataclass
class Equivalence:
    """The committed side-by-side search data (`scripts/authors_code.py`)."""

    manifest: dict[str, Any]
    traces: dict[str, np.ndarray]
    tickets: dict[str, np.ndarray]

    @property
    def cases(self) -> pd.DataFrame:
        rows = []
        for i, c in enumerate(self.manifest["cases"]):
            diff = c["max_relative_difference"]
            rows.append({"case": i, "density": c["density"], "seed": c["seed"], "iou": c["iou"],
                         "kept_authors": c["kept_authors"], "kept_ctslib": c["kept_ctslib"],
                         "max_rel_objective": diff["objective"], "max_rel_expected_density": diff["expected_density"],
                         "max_rel_lam": diff["lam"], "iou_without_scales": c["iou_without_scales"],
                         "iou_authors_other_noise": c.get("iou_authors_other_noise", np.nan),
                         "top1_authors_ticket": c["top1_authors_ticket"],
                         "seconds_authors": c["seconds_authors"], "seconds_ctslib": c["seconds_ctslib"]})
        return pd.DataFrame(rows)

    def trace(self, i: int) -> dict[str, dict[str, np.ndarray]]:
        """{'authors': {name: per-step values}, 'ctslib': {...}} for case i (R_KL, E[density] before the step,
        lambda after it)."""
        return {who: {name: self.traces[f"{who}_{name}_{i}"] for name in TRACE_NAMES} for who in ("authors", "ctslib")}

    def ticket(self, i: int) -> Ticket:
        """The authors' code's ticket of case i."""
        names = self.tickets["names"].tolist()
        masks = {}
        for j, name in enumerate(names):
            shape = tuple(int(v) for v in self.tickets[f"shape{j}"])
            bits = np.unpackbits(self.tickets[f"bits{i}_{j}"])[: int(np.prod(shape))].astype(bool)
            masks[name] = torch.from_numpy(bits.reshape(shape).copy())
        return Ticket(masks)


def load_equivalence(folder: str | Path = EQUIVALENCE_DIR) -> Equivalence:
    """The committed data of `scripts/authors_code.py`; a clear error naming the command if it is missing."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no {manifest_path}: it is computed by `CTS_AUTHORS_CODE=/path/to/TLAB python "
                                f"scripts/authors_code.py` (with a clone of the authors' repository) and committed")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format") != EQUIVALENCE_FORMAT:
        raise ValueError(f"{manifest_path} is not a {EQUIVALENCE_FORMAT} file (format {manifest.get('format')!r})")
    with np.load(folder / "traces.npz", allow_pickle=False) as z:
        traces = {k: z[k] for k in z.files}
    with np.load(folder / "tickets.npz", allow_pickle=False) as z:
        tickets = {k: z[k] for k in z.files}
    return Equivalence(manifest, traces, tickets)


def max_relative(ours, theirs) -> float:
    """max over steps of |ours - theirs| / |theirs|."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12)))


def differences_frame() -> pd.DataFrame:
    """Every choice where the paper, the authors' code and ctslib may differ (`runs.authors_code.DIFFERENCES`)."""
    return pd.DataFrame([{"choice": d.choice, "the paper": d.paper, "their code (f5ac761)": d.code,
                          "ctslib's default": d.ctslib,
                          "setting": (f"`{d.setting}`" if d.setting else "-")
                          + (f" (bundle `{d.bundle}`)" if d.bundle else "") + (f": {d.note}" if d.note else "")}
                         for d in DIFFERENCES])


def bundle_title(name: str) -> str:
    return BUNDLE_TITLES[name]


# --- the runs of the page: which variant each is ------------------------------------------------------------------

BASELINE = "CTS_KL (ctslib's defaults)"


def variant(row: Any) -> str:
    """A run of the page by what it changes: 'LTR', 'CTS_KL (ctslib's defaults)', 'CTS_KL, the authors' search',
    'CTS_KL, x100 scale only', 'CTS_fKL, the authors' search', 'CTS_KL, gradient clipping 2.0', ..."""
    from dataclasses import fields
    from ..runs.authors_code import bundle_of
    from ..runs.config import RunConfig
    config = RunConfig(**{f.name: row[f.name] for f in fields(RunConfig)})
    base = "LTR" if config.method == "ltr" else config.label
    changes = []
    if "authors_code" in bundle_of(config):
        changes.append("the authors' search")
    elif config.objective_scale != 1.0 or config.sparsity_scale != 1.0:
        changes.append(f"x{config.objective_scale:g} scale only")
    if config.clip_grad_norm:
        changes.append(f"gradient clipping {config.clip_grad_norm:g}")
    if config.shortcut_kernel != 1:
        changes.append(f"{config.shortcut_kernel}x{config.shortcut_kernel} shortcut")
    return base + (", " + ", ".join(changes) if changes else ("" if base == "LTR" else " (ctslib's defaults)"))


def with_variants(df: pd.DataFrame) -> pd.DataFrame:
    """The page's run frame with a `variant` column (and `name` set to it, for the shared plots)."""
    out = df.copy()
    out["variant"] = [variant(row) for _, row in df.iterrows()] if len(df) else []
    out["name"] = out["variant"]
    return out


TRAINING_CHANGES = ("gradient clipping", "shortcut")


def ltr_for(name: str, names) -> str:
    """The LTR run a CTS variant is held against: LTR under the same training where it was run, else LTR."""
    change = name.partition(", ")[2]
    same = f"LTR, {change}"
    return same if change and any(t in change for t in TRAINING_CHANGES) and same in set(names) else "LTR"


def _effect(df: pd.DataFrame, a: str, b: str, density: float):
    from .verdicts import Effect
    at = df[df["density"] == density]
    per_seed = at.groupby(["variant", "seed"])["top1"].mean().unstack("variant")
    if a not in per_seed or b not in per_seed:
        return None
    return Effect.of((per_seed[a] - per_seed[b]).dropna())


def variants_table(df: pd.DataFrame, authors_tickets: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per variant and density: top-1 (mean ± 95% CI over seeds), its difference to ctslib's default CTS_KL and to
    LTR (paired by seed, 95% CI). `authors_tickets`: rows (density, seed, top1) of the authors' code's own tickets
    trained by ctslib (the manifest), shown as one more variant."""
    from .stats import mean_ci
    df = df.copy()
    if authors_tickets is not None and len(authors_tickets):
        df = pd.concat([df, authors_tickets.assign(variant="CTS_KL, the authors' code's own ticket")],
                       ignore_index=True)
    rows = []
    for density in sorted(set(df["density"]), reverse=True):
        for name in dict.fromkeys(df.loc[df["density"] == density, "variant"]):
            mean, ci, n = mean_ci(df.loc[(df["density"] == density) & (df["variant"] == name), "top1"])
            is_ltr = name.startswith("LTR")
            to_default = _effect(df, name, BASELINE, density) if name != BASELINE and not is_ltr else None
            ltr = ltr_for(name, df["variant"])
            to_ltr = _effect(df, name, ltr, density) if not is_ltr else None
            rows.append({"density": f"{100 * density:.3g}%", "run": name,
                         "top-1 (%)": f"{100 * mean:.2f} ± {100 * ci:.2f}" if n > 1 else f"{100 * mean:.2f}",
                         "seeds": n,
                         "− ctslib's CTS_KL": to_default.text() if to_default else "",
                         "− LTR (same training)": to_ltr.text() if to_ltr else ""})
    return pd.DataFrame(rows)


def authors_ticket_rows(eq: Equivalence) -> pd.DataFrame:
    """(density, seed, top1) of the authors' code's own tickets, trained with ctslib's training (the manifest)."""
    return pd.DataFrame([{"density": c["density"], "seed": c["seed"], "top1": c["top1_authors_ticket"]}
                         for c in eq.manifest["cases"]])


# --- the side-by-side search ------------------------------------------------------------------------------------

def equivalence_table(eq: Equivalence) -> pd.DataFrame:
    """Per case: kept weights of both codes, their tickets' IoU, the traces' largest relative difference, and two
    references: ctslib without the x100 scales, and the authors' code run again with another noise stream."""
    c = eq.cases
    return pd.DataFrame({
        "density": [f"{100 * d:.3g}%" for d in c["density"]], "seed": c["seed"],
        "kept (authors / ctslib)": [f"{a:,} / {b:,}" for a, b in zip(c["kept_authors"], c["kept_ctslib"])],
        "IoU": [f"{v:.4f}" for v in c["iou"]],
        "max |Δ|/|theirs|: R_KL": [f"{v:.1e}" for v in c["max_rel_objective"]],
        "E[density]": [f"{v:.1e}" for v in c["max_rel_expected_density"]],
        "λ": [f"{v:.1e}" for v in c["max_rel_lam"]],
        "IoU, ctslib without the x100": [f"{v:.3f}" for v in c["iou_without_scales"]],
        "IoU, their code with other noise": ["" if np.isnan(v) else f"{v:.3f}" for v in c["iou_authors_other_noise"]],
    })


def trace_figure(eq: Equivalence, seed: int = 0):
    """Per step of the search (one column per density, `seed`): R_KL, E[density] and lambda of both codes, and
    their relative difference (log scale)."""
    from .plots import ReportFigure
    cases = eq.cases[eq.cases["seed"] == seed].sort_values("density", ascending=False)
    fig = ReportFigure(figsize=(5.2 * len(cases), 8.4), layout="constrained")
    axes = fig.subplots(4, len(cases), squeeze=False, sharex=True)
    titles = {"objective": "R_KL (batch)", "expected_density": "E[density] before the step", "lam": "λ after the step"}
    for j, (_, case) in enumerate(cases.iterrows()):
        tr = eq.trace(int(case["case"]))
        steps = np.arange(1, len(tr["authors"]["lam"]) + 1)
        for i, name in enumerate(TRACE_NAMES):
            ax = axes[i, j]
            ax.plot(steps, tr["authors"][name], color="#444444", lw=2.4, alpha=0.45, label="the authors' code")
            ax.plot(steps, tr["ctslib"][name], color="#1f77b4", lw=0.9, label="ctslib, search_like authors_code")
            ax.set_ylabel(titles[name], fontsize=8)
            ax.grid(True, alpha=0.3)
            rel = np.abs(tr["ctslib"][name] - tr["authors"][name]) / np.maximum(np.abs(tr["authors"][name]), 1e-12)
            axes[3, j].semilogy(steps, np.maximum(rel, 1e-9), lw=0.8, label=titles[name].split(" ")[0])
        axes[0, j].set_title(f"{100 * case['density']:.3g}% density, seed {seed}: ticket IoU {case['iou']:.4f}",
                             fontsize=9)
        axes[3, j].set_ylabel("|ctslib − authors| / |authors|", fontsize=8)
        axes[3, j].set_xlabel("search step")
        axes[3, j].grid(True, alpha=0.3)
        axes[3, j].legend(fontsize=7)
    axes[0, 0].legend(fontsize=7)
    return fig


def speed(results_dir: str | Path | None = None) -> dict[str, Any] | None:
    """benchmarks/results/vs_authors_code.json (scripts/authors_code.py --bench), or None."""
    from .benchmarks import results_dir as default_results
    folder = Path(results_dir) if results_dir is not None else (default_results() or RESULTS_DIR.parent / "benchmarks"
                                                                / "results")
    path = folder / "vs_authors_code.json"
    return json.loads(path.read_text()) if path.is_file() else None


# --- their published CTS_KL runs ------------------------------------------------------------------------------

def published_forward_kl(eq: Equivalence) -> str:
    """One sentence: how many of their published CTS_KL files are byte-identical to the forward-KL commit's."""
    p = eq.manifest.get("published_cts_kl_files", {})
    if "identical" not in p:
        return p.get("note", "")
    from ..runs.authors_code import FORWARD_KL_COMMIT, REVERSE_KL_COMMIT
    return (f"{p['identical']} of their {p['files']} published CTS_KL result files (`saved/results/resnet20/.../"
            f"fwkldlogit/`) are byte-identical to files committed at {FORWARD_KL_COMMIT} (2025-07-30), when their "
            f"`KldLogit` computed `F.kl_div(sparse, dense)` = KL(dense ‖ sparse), the forward KL (reverse KL became "
            f"their default at {REVERSE_KL_COMMIT}, 2025-08-21); the {len(p['different'])} others: "
            f"{', '.join(f'`{x}`' for x in p['different'])}.")


# --- the figures of the page ---------------------------------------------------------------------------------

def variants_plot(df: pd.DataFrame):
    """Top-1 of each run variant (mean, 95% CI over seeds), one panel per density; LTR as a dashed band."""
    from .plots import ReportFigure
    from .stats import summarize
    df = with_variants(df)
    densities = sorted(set(df["density"]), reverse=True)
    fig = ReportFigure(figsize=(5.0 * max(len(densities), 1), 4.2), layout="constrained")
    axes = fig.subplots(1, max(len(densities), 1), squeeze=False)[0]
    for ax, density in zip(axes, densities):
        at = df[df["density"] == density]
        s = summarize(at, "top1", ["variant"]).set_index("variant")
        ltr = s.loc["LTR"] if "LTR" in s.index else None
        names = [n for n in s.index if n != "LTR"]
        if ltr is not None:
            ax.axhspan(100 * (ltr["mean"] - ltr["ci"]), 100 * (ltr["mean"] + ltr["ci"]), color="#2ca02c", alpha=0.15)
            ax.axhline(100 * ltr["mean"], color="#2ca02c", ls="--", lw=1.2, label="LTR (95% CI)")
        ax.errorbar(range(len(names)), 100 * s.loc[names, "mean"], yerr=100 * s.loc[names, "ci"].fillna(0),
                    fmt="o", capsize=3, color="#1f77b4")
        ax.set_xticks(range(len(names)), [n.replace(", ", ",\n", 1) for n in names], rotation=35, ha="right",
                      fontsize=7)
        ax.set_title(f"{100 * density:.3g}% density", fontsize=9)
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("test accuracy (top-1, %)")
    return fig


def read_variants(df: pd.DataFrame) -> str:
    """Per density: each CTS variant minus LTR and minus ctslib's default CTS_KL (paired by seed, 95% CI)."""
    df = with_variants(df)
    parts = []
    for density in sorted(set(df["density"]), reverse=True):
        names = [n for n in dict.fromkeys(df.loc[df["density"] == density, "variant"]) if not n.startswith("LTR")]
        vs_ltr = [f"{n} {e.text()}" + (f" (against {ltr_for(n, df['variant'])})" if ltr_for(n, df["variant"]) != "LTR"
                                       else "")
                  for n in names if (e := _effect(df, n, ltr_for(n, df["variant"]), density)) is not None]
        vs_default = [f"{n} {e.text()}" for n in names if n != BASELINE
                      and (e := _effect(df, n, BASELINE, density)) is not None]
        text = f"At {100 * density:.3g}% density, minus LTR under the same training: " + ("; ".join(vs_ltr) or
                                                                                          "no LTR runs")
        if vs_default:
            text += ". Minus ctslib's default CTS_KL: " + "; ".join(vs_default)
        parts.append(text + ".")
    seeds = df["seed"].nunique()
    return " ".join(parts) + f" (Paired by seed; 95% CI over {seeds} seed{'s' if seeds != 1 else ''}.)"


# --- the readings --------------------------------------------------------------------------------------------

def equivalence_reading(eq: Equivalence) -> str:
    """What the side-by-side search shows, in numbers computed from the committed data."""
    c = eq.cases
    worst = c.loc[c["iou"].idxmin()]
    exact = int((c["iou"] >= 0.999).sum())
    rel = c[["max_rel_objective", "max_rel_expected_density", "max_rel_lam"]].max()
    text = (f"On identical inputs and noise, ctslib's `search_like(config, 'authors_code')` draws the authors' tickets: "
            f"IoU {c['iou'].min():.4f}-{c['iou'].max():.4f} over the {len(c)} cases ({exact} of {len(c)} at IoU ≥ 0.999")
    if exact < len(c):
        case = eq.manifest["cases"][int(worst["case"])]
        # |A & B| / |A | B| = (k - m) / (k + m) for m weights of A swapped out for m others
        m = int(round(worst["kept_ctslib"] * (1 - worst["iou"]) / (1 + worst["iou"])))
        at = case.get("alpha_at_threshold", {})
        text += (f"; at {100 * worst['density']:.3g}%, seed {int(worst['seed'])}, {m} of {int(worst['kept_ctslib'])} "
                 f"weights change places at the threshold")
        if at:
            theirs, ours = abs(at["authors"][0] - at["authors"][1]), abs(at["ctslib"][0] - at["ctslib"][1])
            text += (f", a near-tie: the last kept and the first dropped weight's α_logit lie {theirs:.1e} apart in the "
                     f"authors' search and {ours:.1e} in ctslib's")
    text += (f"). Every step agrees: R_KL within {rel['max_rel_objective']:.1e}, the expected density within "
             f"{rel['max_rel_expected_density']:.1e} and λ within {rel['max_rel_lam']:.1e} (largest relative "
             f"difference over all steps and cases; it grows along the search as float rounding does in any chaotic "
             f"iteration). Without the x100 scales the same search parts from the authors' from the first steps: IoU "
             f"{c['iou_without_scales'].min():.2f}-{c['iou_without_scales'].max():.2f}, because with R unscaled most "
             f"of dR_KL/dα_logit is below Adam's ε (1e-8) and Adam's step is no longer the authors'. For scale: the "
             f"authors' code run twice with different noise shares IoU "
             f"{np.nanmin(c['iou_authors_other_noise']):.2f}-{np.nanmax(c['iou_authors_other_noise']):.2f} of its "
             f"kept weights with itself.")
    return text


def speed_reading(result: dict[str, Any] | None) -> str:
    if result is None:
        return ("No side-by-side timing here: `CTS_AUTHORS_CODE=/path/to/TLAB python scripts/authors_code.py --bench` "
                "writes benchmarks/results/vs_authors_code.json.")
    m = result["median_ms_per_step"]
    return (f"Per search step (LeNet-300-100, 0.92%, batch 128, {result['environment']['threads']} thread, "
            f"{result['repeats'] if 'repeats' in result else len(result['searches'])} interleaved searches of 472 "
            f"steps each): the authors' code {m['authors']:.2f} ms ({m['authors_optimize_step_only']:.2f} ms in its "
            f"optimize_step alone), ctslib {m['ctslib']:.2f} ms: the authors' code takes "
            f"**{result['ratio_authors_over_ctslib']:.2f}x** ctslib's time "
            f"({result['ratio_authors_steps_only_over_ctslib']:.2f}x counting its steps alone). "
            f"`{result['command']}`.")


def page_reading(eq: Equivalence, lenet: pd.DataFrame, resnet: pd.DataFrame) -> str:
    """The page's conclusion in numbers: is ctslib's CTS the authors', and what do their choices change."""
    from .verdicts import Effect
    c = eq.cases
    parts = [f"**Is ctslib's CTS the authors' CTS?** Yes, with the authors' settings: on identical inputs and noise "
             f"ctslib's bundle redraws their tickets (IoU {c['iou'].min():.4f}-{c['iou'].max():.4f}) and follows "
             f"their search step by step; the x100 scale of their loss is what makes Adam's step theirs (without it, "
             f"IoU {c['iou_without_scales'].min():.2f}-{c['iou_without_scales'].max():.2f})."]
    own = authors_ticket_rows(eq)
    lenet = with_variants(lenet)
    if len(lenet) and "LTR" in set(lenet["variant"]):
        lines = []
        for density in sorted(set(own["density"]), reverse=True):
            ltr = lenet[(lenet["density"] == density) & (lenet["variant"] == "LTR")].set_index("seed")["top1"]
            theirs = own[own["density"] == density].set_index("seed")["top1"]
            if len(ltr):
                lines.append(f"{Effect.of((theirs - ltr).dropna()).text()} at {100 * density:.3g}%")
        if lines:
            parts.append("**Does the authors' own code beat LTR here?** No: its tickets, trained with ctslib's training, "
                         "minus LTR (paired by seed, 95% CI): " + ", ".join(lines) + ".")
    changes = []
    for df, model in ((lenet, "LeNet-300-100"), (with_variants(resnet), "ResNet-20")):
        for density in sorted(set(df["density"]), reverse=True) if len(df) else []:
            names = [n for n in dict.fromkeys(df.loc[df["density"] == density, "variant"])
                     if n not in ("LTR", BASELINE) and n.startswith("CTS_KL")]
            effects = [f"{n.removeprefix('CTS_KL, ')} {e.text()}" for n in names
                       if (e := _effect(df, n, BASELINE, density)) is not None]
            if effects:
                changes.append(f"{model} at {100 * density:.3g}%: " + "; ".join(effects))
    if changes:
        parts.append("**What each of their choices does to CTS_KL** (minus ctslib's default CTS_KL, paired by seed, "
                     "95% CI): " + ". ".join(changes) + ".")
    resnet = with_variants(resnet)
    like = []
    for density in sorted(set(resnet["density"]), reverse=True) if len(resnet) else []:
        names = [n for n in dict.fromkeys(resnet.loc[resnet["density"] == density, "variant"]) if n.startswith("CTS")]
        effects = [f"{n.removeprefix('CTS_KL, ')} {e.text()}" for n in names
                   if (e := _effect(resnet, n, ltr_for(n, resnet["variant"]), density)) is not None]
        if effects:
            like.append(f"at {100 * density:.3g}%: " + "; ".join(effects))
    if like:
        parts.append("**ResNet-20: CTS_KL − LTR, like for like** (LTR under the same training where a training "
                     "choice is changed; paired by seed, 95% CI): " + ". ".join(like) + ".")
    return "\n\n".join(parts)
