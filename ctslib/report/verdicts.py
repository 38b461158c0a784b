"""How a claim's verdict follows from what was measured: an effect with its 95% confidence interval over seeds,
and the paper's sparsity regimes.

    effect = Effect.of([0.031, 0.012, 0.027])      # one value per seed: mean 2.3 pp, 95% CI [-0.1, 4.8] pp
    above(effect, 0.0)                             # 'inconclusive': the interval does not clear 0
    above(Effect.of([0.03, 0.028, 0.031]), 0.0)    # 'reproduced'

A verdict is "reproduced" only when the whole interval lies on the claim's side of its threshold, "not
reproduced" only when the whole interval lies on the other side, and "inconclusive" otherwise; one seed gives
no interval, so it is always inconclusive (counts that do not vary between seeds, like epochs, are `exact`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

import pandas as pd

from .stats import mean_ci

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTED = (
    "reproduced", "not reproduced", "inconclusive", "not tested at this scale")
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTED)
# each verdict as one mark, for tables read at a glance (the claims page's overview)
VERDICT_MARKS = {REPRODUCED: "✓", NOT_REPRODUCED: "✗", INCONCLUSIVE: "?", NOT_TESTED: "–"}


@dataclass(frozen=True)
class Effect:
    """A measured effect: its mean over seeds and the 95% (Student t) confidence interval [lo, hi]."""

    mean: float
    lo: float
    hi: float
    n: int

    @classmethod
    def of(cls, per_seed: Iterable[float]) -> "Effect":
        """The effect of one value per seed; a single seed has an unbounded interval."""
        mean, half, n = mean_ci(per_seed)
        if n < 2:
            half = math.inf
        return cls(mean, mean - half, mean + half, n)

    @classmethod
    def exact(cls, value: float) -> "Effect":
        """A quantity without seed noise (epochs of computation, a count)."""
        return cls(float(value), float(value), float(value), 1)

    def negated(self) -> "Effect":
        """The effect of the opposite difference (b - a for a - b)."""
        return Effect(-self.mean, -self.hi, -self.lo, self.n)

    def text(self, unit: str = "pp", digits: int | None = None) -> str:
        """'+2.3 pp [-0.1, +4.8]' (pp: fractions shown as percentage points), '0.25× [0.2, 0.3]' with unit='×'
        (`digits` significant digits, default 3), or '1.2 [0.8, 1.6] decades' with a unit in words (' decades')."""
        scale, suffix = (100.0, " pp") if unit == "pp" else (1.0, unit)
        digits = digits if digits is not None else (1 if unit == "pp" else 3)

        def f(x: float) -> str:
            if math.isinf(x):
                return "∞" if x > 0 else "-∞"
            return f"{x * scale:+.{digits}f}" if unit == "pp" else f"{x * scale:.{digits}g}"
        if self.lo == self.hi:
            return f"{f(self.mean)}{suffix}"
        if suffix.startswith(" ") and unit != "pp":  # a unit in words follows the interval: '1.2 [0.8, 1.6] decades'
            return f"{f(self.mean)} [{f(self.lo)}, {f(self.hi)}]{suffix}"
        return f"{f(self.mean)}{suffix} [{f(self.lo)}, {f(self.hi)}]"


def above(effect: Effect, threshold: float) -> str:
    """The claim "effect > threshold": reproduced if the interval lies above it, not reproduced if at or below."""
    if effect.n == 0 or math.isnan(effect.mean):
        return NOT_TESTED
    if effect.lo > threshold:
        return REPRODUCED
    if effect.hi <= threshold:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def below(effect: Effect, threshold: float) -> str:
    """The claim "effect < threshold"."""
    return above(effect.negated(), -threshold)


def every(verdicts: Iterable[str]) -> str:
    """A claim that must hold at every point: reproduced if it does at all, not reproduced if it fails at one."""
    verdicts = [v for v in verdicts if v != NOT_TESTED]
    if not verdicts:
        return NOT_TESTED
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return REPRODUCED if all(v == REPRODUCED for v in verdicts) else INCONCLUSIVE


def some(verdicts: Iterable[str]) -> str:
    """A claim that holds if it does at one point ("can be surpassed"): reproduced if it does anywhere, not
    reproduced if it fails everywhere."""
    verdicts = [v for v in verdicts if v != NOT_TESTED]
    if not verdicts:
        return NOT_TESTED
    if REPRODUCED in verdicts:
        return REPRODUCED
    return NOT_REPRODUCED if all(v == NOT_REPRODUCED for v in verdicts) else INCONCLUSIVE


def worst(effects: Mapping[object, Effect]) -> tuple[object, Effect]:
    """The point with the lowest mean effect (ties: the lowest lower bound)."""
    return min(effects.items(), key=lambda kv: (kv[1].mean, kv[1].lo))


def deciding(effects: Mapping[object, Effect], threshold: float) -> tuple[object, Effect]:
    """The point that decides "effect > threshold at every point" (`every` of `above`), so the effect a verdict
    shows is the one that gave it: where the claim fails somewhere, the clearest failure (the lowest upper bound);
    else the weakest point (the lowest lower bound: an inconclusive one if any is, else the closest to failing)."""
    failing = {k: e for k, e in effects.items() if above(e, threshold) == NOT_REPRODUCED}
    if failing:
        return min(failing.items(), key=lambda kv: (kv[1].hi, kv[1].mean))
    return min(effects.items(), key=lambda kv: (kv[1].lo, kv[1].mean))


def deciding_part(verdicts: Iterable[str]) -> int:
    """Of several parts a claim needs all of (`every`), the index of the one that decides its verdict: the first that
    fails, else the first inconclusive one, else the first."""
    verdicts = list(verdicts)
    overall = every(verdicts)
    return next((i for i, v in enumerate(verdicts) if v == overall), 0)


# --- the paper's sparsity regimes ----------------------------------------------------------------------------
#
# Fixed from the paper's text and from LTR's runs alone, never from a CTS result (a regime chosen from the comparison
# it then decides would be circular):
# - highly sparse: the paper's definition (Section V-A), "> 50 times compression on ResNet-20 and > 500 times
#   compression on VGG-16" (ResNet-50: 10x / 100x / 1000x are its three points), on the authors' runs of those models
#   (`PAPER_SPARSE_DENSITY`); on a model or scale the paper did not run, where LTR has lost at least what the authors'
#   LTR had lost at the paper's boundary on ResNet-20, the model of Fig. 2 and Table II (`transfer_sparse_drop`: dense
#   minus LTR at 2% density, interpolated in log density between the grid points either side of it; 7.66 pp, from
#   their CSV, LTR rows only);
# - matching: where LTR has lost less than 1 pp against the dense network (the conclusion's "matching sparsities,
#   where LTR loses no accuracy", to within the book's tolerance for "comparable"), on every model.
MATCHING_DROP = 0.01
PAPER_SPARSE_DENSITY = {"resnet20": 1 / 50, "vgg16": 1 / 500}  # highly sparse below this density (Section V-A)
TRANSFER_MODEL = "resnet20"
MATCHING, MODERATE, HIGHLY_SPARSE = "matching", "moderate", "highly sparse"


def ltr_drop_at(ltr_by_density: pd.Series, dense: float, density: float) -> float:
    """Dense minus LTR's top-1 at `density`, interpolated linearly in log density between the two densities of
    `ltr_by_density` (index: density, values: LTR's mean top-1) either side of it."""
    ltr = ltr_by_density.dropna().sort_index()
    below, above_ = ltr[ltr.index <= density], ltr[ltr.index >= density]
    if below.empty or above_.empty:
        raise ValueError(f"LTR has no runs either side of {density:.4g} (it has {list(ltr.index)})")
    (d0, a0), (d1, a1) = (below.index[-1], below.iloc[-1]), (above_.index[0], above_.iloc[0])
    acc = a0 if d0 == d1 else a0 + (a1 - a0) * (math.log(density) - math.log(d0)) / (math.log(d1) - math.log(d0))
    return dense - acc


@lru_cache(maxsize=1)
def transfer_sparse_drop() -> float:
    """The authors' ResNet-20 LTR's drop from dense at the paper's boundary of the highly sparse regime (2% density),
    from their published runs (LTR and the dense network only): the transfer rule's threshold."""
    from .reference import authors_runs
    runs = authors_runs(TRANSFER_MODEL, names=["LTR", "dense"]).groupby(["name", "density"])["top1"].mean()
    return ltr_drop_at(runs.loc["LTR"], float(runs.loc["dense"].iloc[0]), PAPER_SPARSE_DENSITY[TRANSFER_MODEL])


def regime(ltr_drop: float, sparse_drop: float | None = None) -> str:
    """The regime of a density where LTR is `ltr_drop` (a fraction, dense minus LTR) below the dense network, by the
    transfer rule (highly sparse from `sparse_drop`, default `transfer_sparse_drop()`)."""
    if ltr_drop < MATCHING_DROP:
        return MATCHING
    return HIGHLY_SPARSE if ltr_drop >= (transfer_sparse_drop() if sparse_drop is None else sparse_drop) else MODERATE


def regimes(ltr_by_density: pd.Series, dense: float, model: str | None = None) -> pd.Series:
    """Each density's regime (index: density), from LTR's mean top-1 there and the dense network's: by the paper's
    own boundary when `model` is one the paper defines it for and the runs are the paper's (the authors'), else by
    the transfer rule."""
    out = {}
    for d, acc in ltr_by_density.dropna().items():
        r = regime(dense - acc)
        if model in PAPER_SPARSE_DENSITY and r != MATCHING:
            r = HIGHLY_SPARSE if d < PAPER_SPARSE_DENSITY[model] else MODERATE
        out[d] = r
    return pd.Series(out, dtype=object)


def regime_rule(model: str | None = None) -> str:
    """The rule `regimes` applies, in words, with its numbers and sources."""
    matching = f"matching where LTR is within {100 * MATCHING_DROP:g} pp of the dense network"
    if model in PAPER_SPARSE_DENSITY:
        return (f"{matching}; highly sparse below {100 * PAPER_SPARSE_DENSITY[model]:g}% density (the paper, Section "
                f"V-A: > {1 / PAPER_SPARSE_DENSITY[model]:g}x compression on this model); moderate between")
    return (f"{matching}; highly sparse where LTR has lost at least {100 * transfer_sparse_drop():.2f} pp, what the "
            f"authors' ResNet-20 LTR had lost at the paper's boundary of 2% density (their CSV, LTR rows only); "
            f"moderate between")


# --- sanity checks (Frankle et al. 2021): does a ticket beat its ablation? ------------------------------------

SANITY_MARGIN = 0.005     # an ablation "hurts" if the ticket beats it by more than 0.5 pp (the whole 95% interval)


def ablation_effect(ticket: pd.DataFrame, ablation: pd.DataFrame) -> Effect:
    """Ticket minus ablation top-1, paired by seed (seeds that have both)."""
    paired = ticket.groupby("seed")["top1"].mean().to_frame("ticket").join(
        ablation.groupby("seed")["top1"].mean().to_frame("ablation"), how="inner")
    return Effect.of(paired["ticket"] - paired["ablation"])


def beats(ticket: pd.DataFrame, ablation: pd.DataFrame) -> tuple[str, Effect]:
    """Does the ticket beat the ablation by more than SANITY_MARGIN? (verdict, effect)."""
    effect = ablation_effect(ticket, ablation)
    return above(effect, SANITY_MARGIN), effect


def sanity_results(df: pd.DataFrame) -> pd.DataFrame:
    """For each (model, family, density, ablation): the verdict of "the ticket beats the ablation" (`beats`),
    `passes` (reproduced), the mean difference `diff`, its interval [`lo`, `hi`] and the seeds paired `n`."""
    rows = []
    for (model, family, density), group in df.groupby(["model", "family", "density"]):
        ticket = group[group["ablation"] == ""]
        if ticket.empty:
            continue
        for ablation, part in group[group["ablation"] != ""].groupby("ablation"):
            verdict, effect = beats(ticket, part)
            rows.append(dict(model=model, family=family, density=density, ablation=ablation, verdict=verdict,
                             passes=verdict == REPRODUCED, diff=effect.mean, lo=effect.lo, hi=effect.hi,
                             n=effect.n, margin=SANITY_MARGIN))
    return pd.DataFrame(rows, columns=["model", "family", "density", "ablation", "verdict", "passes", "diff", "lo",
                                       "hi", "n", "margin"])
