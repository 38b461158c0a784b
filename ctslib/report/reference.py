"""The authors' published results, paper scale, beside this build's: one CSV, read through one function.

    ref = authors_results()                 # the whole table (reference/README.md): model, quantity, method, ...
    runs = authors_runs("resnet20")         # trained accuracies as a run frame: name, density, seed, top1, ...
    values = authors_objectives("resnet20", "init")  # objective values as Figs. 1, 7, 8's frames

`reference/authors_results.csv` holds the result files the paper's authors published with their code (ResNet-20
and VGG-16 on CIFAR-10, Section V-A's 160 epochs, 3 seeds each: mean and population std per point); provenance in
`reference/README.md`. Densities are snapped to the grid 0.8^n they were run on (the files round them to 6
decimals), so they meet this build's densities exactly.

The files give each point's mean and std, not its three seeds. To run the figures' code and the claims' checks on
them unchanged, each point becomes three rows with that mean and population std, m - sqrt(3/2) s, m, m + sqrt(3/2) s
(CTS lines ascending over the three "seeds", the others descending). The rows carry the point's summary statistics
and nothing more: the claims judge the authors' runs with Welch's t on those statistics (`comparisons.WELCH` reads
each group's mean, sample sd = std x sqrt(3/2) and n = 3 off the rows and ignores the seed labels), never by pairing
the pseudo-seeds.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from ..runs import presets
from ..runs.methods import label
from .names import explorer_label

CSV = "authors_results.csv"
SEEDS = (0, 1, 2)
KEEP = 0.8  # the files' densities are powers of 0.8 (LTR's keep fraction)
# the files' baselines that ctslib does not have, by the names the figures give them
EXTRA_NAMES = {"imp": "IMP (rewound to init)", "grasp_abs": "GraSP (|score|)", "cts_feature_v1": "CTS_feature (v1)",
               "cts_feature_v2": "CTS_feature (v2)"}
_Z = np.array([-1.0, 0.0, 1.0]) * math.sqrt(1.5)  # three values with mean 0 and population std 1


@lru_cache(maxsize=1)
def _table() -> pd.DataFrame:
    with resources.files("ctslib.report").joinpath("reference", CSV).open("r") as f:
        df = pd.read_csv(f)
    rounds = np.rint(np.log(df["density"]) / np.log(KEEP)).astype(int)
    snapped = KEEP ** rounds
    off = np.abs(snapped - df["density"])  # the files round to 6 decimals
    if (off > np.maximum(1e-6, 1e-4 * df["density"])).any():
        bad = df["density"][off > np.maximum(1e-6, 1e-4 * df["density"])].iloc[0]
        raise ValueError(f"{CSV}: density {bad} is not a power of {KEEP} rounded to 6 decimals")
    return df.assign(density=snapped, rounds=rounds)


def authors_results() -> pd.DataFrame:
    """The whole table, densities snapped to 0.8^n (column `rounds`: n). A copy: change it freely."""
    return _table().copy()


def _config(row, model: str):
    """The ctslib config of a CTS / baseline row (for its name), at the paper's preset."""
    base = presets.base_config("paper", model)
    fields = dict(method=row.method, density=float(row.density), rewind_step=0 if row.drawn_at == "init" else
                  base.rewind_step)
    if row.method == "cts":
        fields.update(objective=row.objective, step="lagrange" if row.step == "multiplier" else "gradbalance",
                      search_epochs=base.epochs / 8 if row.search == "quick" else float(base.epochs))
    return presets.base_config("paper", model, **fields)


def _name(row, model: str) -> str:
    if row.method in EXTRA_NAMES:
        return EXTRA_NAMES[row.method] + (" @k" if row.drawn_at == "rewind" and row.method != "imp" else "")
    if row.method == "ltr" and row.density == 1.0:
        return "dense"
    config = _config(row, model)
    return label(config) if row.method in ("cts", "ltr") else explorer_label(config)


def _seeds(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """Each row as three rows (seeds 0, 1, 2) whose `value` has the row's mean and population std; CTS rows
    ascend over the seeds, the others descend (see the module docstring)."""
    rows = frame.loc[frame.index.repeat(len(SEEDS))].reset_index(drop=True)
    rows["seed"] = np.tile(SEEDS, len(frame))
    z = np.tile(_Z, len(frame))
    sign = np.where(rows["is_cts"].to_numpy(), 1.0, -1.0)
    rows[value] = rows["mean"].to_numpy() + sign * z * rows["std"].fillna(0.0).to_numpy()
    return rows


@lru_cache(maxsize=4)
def _runs(model: str) -> pd.DataFrame:
    ref = _table()
    part = ref[(ref["model"] == model) & (ref["quantity"] == "top1_after_training")].copy()
    if part.empty:
        raise ValueError(f"the authors' results have no runs of model {model!r}; they have: "
                         f"{', '.join(sorted(ref['model'].unique()))}")
    part["name"] = [_name(r, model) for r in part.itertuples()]
    part["is_cts"] = part["method"].str.startswith("cts")
    rows = _seeds(part, "top1")
    base = presets.base_config("paper", model)
    rows = rows.assign(model=model, dataset="cifar10", ablation="", ablation_name="none (the ticket)",
                       family=rows["name"], label=rows["name"], sparsity=1 - rows["density"], epochs=base.epochs,
                       rewind_step=np.where(rows["drawn_at"] == "init", 0, base.rewind_step),
                       objective=rows["objective"].fillna(""), step=rows["step"].fillna(""),
                       source="authors")
    for phase in ("rewind", "draw", "train", "test", "total"):  # the files hold no times or costs
        rows[f"seconds_{phase}"] = np.nan
        rows[f"epochs_{phase}"] = np.nan
    return rows


def authors_runs(model: str = "resnet20", names: list[str] | None = None) -> pd.DataFrame:
    """The authors' trained-ticket accuracies of `model` as a run frame (the columns the figures and the claims
    read: name, method, objective, step, density, sparsity, seed, top1, model, dataset, ablation, family, ...),
    three pseudo-seeds per point (module docstring); `names`: only those lines."""
    rows = _runs(model)
    if names is not None:
        rows = rows[rows["name"].isin(names)]
    return rows.reset_index(drop=True).copy()


def _objective_line(row, model: str) -> str:
    """Figs. 1, 7, 8's line names for the files' keys (`gradbalance`/`multiplier`: Quick CTS; `salient`: the
    saliency pruner of that objective; `imp`: LTR's ticket)."""
    if row.method in ("gradbalance", "multiplier"):
        return f"Quick CTS ({'GRADBALANCE' if row.method == 'gradbalance' else 'LAGRANGE'})"
    if row.method == "salient":  # the paper's saliency baseline of each objective (`Method.baseline_for`)
        return {"task": "SNIP", "delta_loss": "SNIP", "grad_norm": "GraSP"}.get(row.objective, "saliency")
    return {"imp": "LTR", "iterative": "iterative saliency"}.get(row.method, row.method)


def authors_objectives(model: str, at: str, objectives: tuple[str, ...] | None = None,
                       names: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The objective values of the authors' tickets (`at`: 'init' or 'rewind') as Figs. 1, 7 and 8's frames:
    name, method, density, seed, objective, value (R as ctslib defines it: for R_-‖∇L‖ minus the norm), at; three
    pseudo-seeds per point; `names`: only those lines."""
    ref = _table()
    part = ref[(ref["model"] == model) & (ref["quantity"] == "objective_value") & (ref["drawn_at"] == at)].copy()
    if objectives is not None:
        part = part[part["objective"].isin(objectives)]
    part = part[part["method"] != "dense"]
    # the files store the gradient norm itself; ctslib's R_-‖∇L‖ is minus the norm (smaller is better, as every R)
    part["mean"] = np.where(part["objective"] == "grad_norm", -part["mean"], part["mean"])
    part["name"] = [_objective_line(r, model) for r in part.itertuples()]
    if names is not None:
        part = part[part["name"].isin(names)]
    part["is_cts"] = part["method"].isin(["gradbalance", "multiplier"])
    rows = _seeds(part, "value")
    return rows.assign(at=at, model=model, dataset="cifar10", step=rows["step"].fillna(""),
                       source="authors").reset_index(drop=True)


def authors_summary(frame: pd.DataFrame, value: str = "top1") -> pd.DataFrame:
    """Mean and population std per (name, density) of an authors' frame (the files' own numbers back)."""
    g = frame.groupby(["name", "density"])[value]
    return pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=0)}).reset_index()
