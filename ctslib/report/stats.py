"""Statistics over seeds for the figures and the verdicts: means with Student-t 95% confidence intervals, mean
accuracy and objective tables, per-seed tables (`ctslib.report.verdicts` turns them into verdicts)."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) (continued fraction, modified Lentz; Numerical Recipes
    6.4), to ~1e-14."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1) / (a + b + 2):  # the continued fraction converges fast on this side only
        return 1.0 - _betainc(b, a, 1.0 - x)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return math.exp(log_front) * h / a


def t_cdf(t: float, df_: float) -> float:
    """P(T <= t) for Student's t with `df_` (real, > 0) degrees of freedom."""
    tail = 0.5 * _betainc(df_ / 2, 0.5, df_ / (df_ + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(df_: float, q: float = 0.975) -> float:
    """Student t quantile for any real `df_` > 0 (Welch's degrees of freedom are not whole), scipy-free: the root
    of `t_cdf` by bisection, to 1e-10."""
    if not df_ > 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df_}")
    if not 0 < q < 1:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if q < 0.5:
        return -t_quantile(df_, 1 - q)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df_) < q:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if t_cdf(mid, df_) < q else (lo, mid)
        if hi - lo < 1e-10:
            break
    return (lo + hi) / 2


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
