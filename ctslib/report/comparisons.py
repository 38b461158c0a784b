"""How an effect and its 95% interval are computed from runs: one test for each kind of evidence.

Every quantity a claim rests on is a linear combination of group means, one group per (line, density): a difference
at one density (+1, -1), a mean of differences over a regime (+1/k, -1/k at each of its k densities), the shift of a
difference from one regime to another, an objective's mean over densities against another's. The two tests compute
it differently:

- `PAIRED` (this book's runs): every method of a seed starts from the same initialisation, data order and rewind
  point, so the combination is taken seed by seed and a Student t interval is computed over the seeds (df = seeds -
  1). Pairing removes the seed's own luck from the comparison.
- `WELCH` (the authors' published files): each point is a mean and a population std over 3 seeds that are not
  paired across methods, so the groups are independent: the combination's variance is sum(c^2 s^2 / n) with the
  sample sd s = std x sqrt(n / (n - 1)), and its degrees of freedom Welch-Satterthwaite's. (The authors' frames carry
  each point as three values with exactly that mean and population std, `reference.authors_runs`: the test reads
  the mean, the sample sd and n off them and ignores the seed labels.)

    PAIRED.difference(df, "CTS_KL", "LTR", 0.0074)        # Effect: mean [95% CI] of CTS_KL - LTR there
    WELCH.combination(df, {("CTS_KL", d): 1 / 3 for d in ds} | {("LTR", d): -1 / 3 for d in ds})
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .stats import t_quantile
from .verdicts import Effect

Terms = Mapping[tuple[str, float], float]  # (line name, density) -> coefficient


@dataclass(frozen=True)
class Test:
    """A way to turn runs into an effect with its 95% interval; `combination` is the one primitive."""

    name: str
    description: str

    def combination(self, df: pd.DataFrame, terms: Terms, value: str = "top1") -> Effect:
        raise NotImplementedError

    # --- built on `combination` ----------------------------------------------------------------------------------

    def difference(self, df: pd.DataFrame, a: str, b: str, density: float, value: str = "top1") -> Effect:
        """`a` minus `b` at `density`."""
        return self.combination(df, {(a, density): 1.0, (b, density): -1.0}, value)

    def differences(self, df: pd.DataFrame, a: str, b: str, value: str = "top1") -> dict[float, Effect]:
        """`a` minus `b` at every density where both have runs."""
        both = _densities(df, a) & _densities(df, b)
        return {d: self.difference(df, a, b, d, value) for d in sorted(both, reverse=True)}

    def against_each(self, df: pd.DataFrame, a: str, others: Sequence[str],
                     value: str = "top1") -> dict[tuple[float, str], Effect]:
        """`a` minus each of `others` at every density where both have runs: a claim against several baselines
        is judged against each (an intersection-union test: each comparison at the 95% level, no correction needed
        for "beats all of them")."""
        return {(d, b): e for b in others for d, e in self.differences(df, a, b, value).items()}

    def mean_difference(self, df: pd.DataFrame, a: str, b: str, densities: Iterable[float],
                        value: str = "top1") -> Effect:
        """The mean over `densities` of `a` minus `b`."""
        ds = list(densities)
        return self.combination(df, _mean_terms(a, b, ds, 1.0), value)

    def shift(self, df: pd.DataFrame, a: str, b: str, dense: Iterable[float], sparse: Iterable[float],
              value: str = "top1") -> Effect:
        """How much larger `a` minus `b` is, on average, at the `sparse` densities than at the `dense` ones."""
        terms: dict[tuple[str, float], float] = {}
        for ds, sign in ((list(sparse), 1.0), (list(dense), -1.0)):
            for key, c in _mean_terms(a, b, ds, sign).items():
                terms[key] = terms.get(key, 0.0) + c
        return self.combination(df, terms, value)

    def mean_over(self, df: pd.DataFrame, a: str, b: str, value: str = "top1") -> Effect:
        """`a`'s mean over its densities minus `b`'s mean over its own (Fig. 3's objectives compared as lines)."""
        da, db = sorted(_densities(df, a)), sorted(_densities(df, b))
        if not da or not db:
            return Effect.of([])
        terms = {(a, d): 1.0 / len(da) for d in da}
        for d in db:
            terms[(b, d)] = terms.get((b, d), 0.0) - 1.0 / len(db)
        return self.combination(df, terms, value)


def _densities(df: pd.DataFrame, name: str) -> set[float]:
    return set(df.loc[df["name"] == name, "density"]) if len(df) else set()


def _mean_terms(a: str, b: str, densities: list[float], sign: float) -> dict[tuple[str, float], float]:
    k = len(densities)
    out: dict[tuple[str, float], float] = {}
    for d in densities:
        out[(a, d)] = out.get((a, d), 0.0) + sign / k
        out[(b, d)] = out.get((b, d), 0.0) - sign / k
    return out


class _Paired(Test):
    def combination(self, df: pd.DataFrame, terms: Terms, value: str = "top1") -> Effect:
        """The combination seed by seed (seeds that have every term), then its mean and Student t interval."""
        terms = {k: c for k, c in terms.items() if c != 0}
        if not terms or df.empty:
            return Effect.of([])
        table = df.groupby(["seed", "name", "density"])[value].mean()
        per_seed = []
        for _, part in table.groupby(level="seed"):
            part = part.droplevel("seed")
            if all(key in part.index for key in terms):
                per_seed.append(sum(c * float(part.loc[key]) for key, c in terms.items()))
        return Effect.of(per_seed)


class _Welch(Test):
    def combination(self, df: pd.DataFrame, terms: Terms, value: str = "top1") -> Effect:
        """sum(c mean) with variance sum(c^2 s^2 / n) and Welch-Satterthwaite degrees of freedom."""
        terms = {k: c for k, c in terms.items() if c != 0}
        if not terms or df.empty:
            return Effect.of([])
        groups = df.groupby(["name", "density"])[value]
        means, sds, counts = groups.mean(), groups.std(ddof=1), groups.count()
        if any(key not in means.index for key in terms):
            return Effect.of([])
        mean = sum(c * float(means.loc[k]) for k, c in terms.items())
        parts = [(c * c * float(sds.loc[k]) ** 2 / int(counts.loc[k]), int(counts.loc[k])) for k, c in terms.items()]
        n = min(m for _, m in parts)
        if n < 2:
            return Effect(mean, -math.inf, math.inf, n)
        var = sum(v for v, _ in parts)
        if var == 0:
            return Effect(mean, mean, mean, n)
        dof = var ** 2 / sum(v * v / (m - 1) for v, m in parts if v > 0)
        half = t_quantile(dof) * math.sqrt(var)
        return Effect(mean, mean - half, mean + half, n)


PAIRED = _Paired("paired t over seeds",
                 "each seed starts every method from the same initialisation, data order and rewind point, so each difference is taken seed by seed and a Student t interval is computed over "
                 "the seeds")
WELCH = _Welch("Welch's t on summary statistics",
               "their files hold a mean and a population std over 3 seeds per point, the seeds not paired across "
               "methods, so the groups are independent: sample sd = std x sqrt(3/2), the variance of a "
               "combination sum(c^2 s^2 / 3), Welch-Satterthwaite's degrees of freedom")
