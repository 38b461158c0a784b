"""Statistics over seeds for the figures and the verdicts: means with Student-t 95% confidence intervals, mean
accuracy and objective tables, per-seed tables (`ctslib.report.verdicts` turns them into verdicts)."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd


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


def accuracy_table(df: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    """Mean `metric` over seeds: index density (densest first), one column per name."""
    table = df.groupby(["density", "name"])[metric].mean().unstack("name")
    return table.sort_index(ascending=False)


def objective_means(values: pd.DataFrame) -> pd.DataFrame:
    """Mean objective value over seeds: index (objective, density), one column per line name."""
    return values.groupby(["objective", "density", "name"])["value"].mean().unstack("name")


def seed_table(df: pd.DataFrame, value: str = "top1", columns: str = "name",
               index: Sequence[str] = ("density",)) -> pd.DataFrame:
    """`value` per seed: index (seed, *index), one column per `columns` value (duplicates averaged)."""
    return df.groupby(["seed", *index, columns])[value].mean().unstack(columns)
