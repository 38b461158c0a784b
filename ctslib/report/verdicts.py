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
from typing import Iterable, Mapping

import pandas as pd

from .stats import mean_ci

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTED = (
    "reproduced", "not reproduced", "inconclusive", "not tested at this scale")
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_TESTED)


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
        """'+2.3 pp [-0.1, +4.8]' (pp: fractions shown as percentage points), or '0.25× [0.2, 0.3]' with
        unit='×' (`digits` significant digits, default 3), etc."""
        scale, suffix = (100.0, " pp") if unit == "pp" else (1.0, unit)
        digits = digits if digits is not None else (1 if unit == "pp" else 3)

        def f(x: float) -> str:
            if math.isinf(x):
                return "∞" if x > 0 else "-∞"
            return f"{x * scale:+.{digits}f}" if unit == "pp" else f"{x * scale:.{digits}g}"
        if self.lo == self.hi:
            return f"{f(self.mean)}{suffix}"
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
    """The point with the lowest mean effect (ties: the lowest lower bound): what a claim "at every point" rests on."""
    return min(effects.items(), key=lambda kv: (kv[1].mean, kv[1].lo))


# --- the paper's sparsity regimes ----------------------------------------------------------------------------

# Classified by LTR's own loss against the dense network at each density. On the authors' ResNet-20 / CIFAR-10
# runs (dense 92.1%) LTR is within 1 pp down to 13.4% density; their CTS_KL trails LTR at 1.8% (LTR -8.6 pp),
# ties it at 1.15% (LTR -16.1 pp) and leads from 0.74% (-23.7 pp, Table II's 99.3% sparsity) on: the "highly
# sparse regime" of the paper's claims is where LTR has lost about 15 pp.
MATCHING_DROP = 0.01
SPARSE_DROP = 0.15
MATCHING, MODERATE, HIGHLY_SPARSE = "matching", "moderate", "highly sparse"


def regime(ltr_drop: float) -> str:
    """The regime of a density where LTR is `ltr_drop` (a fraction, dense minus LTR) below the dense network."""
    if ltr_drop < MATCHING_DROP:
        return MATCHING
    return HIGHLY_SPARSE if ltr_drop >= SPARSE_DROP else MODERATE


def regimes(ltr_by_density: pd.Series, dense: float) -> pd.Series:
    """Each density's regime (index: density), from LTR's mean top-1 there and the dense network's."""
    return pd.Series({d: regime(dense - acc) for d, acc in ltr_by_density.dropna().items()}, dtype=object)


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
