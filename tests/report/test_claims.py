"""The verdict logic of the claims table on hand-built frames: a claim that holds, one that fails, one that cannot
be tested; and the statistics the verdicts rest on (`beats`, `sanity_results`, `mean_ci`)."""

import math

import pandas as pd
import pytest

from ctslib.report import claims
from ctslib.report.claims import NOT_REPRODUCED, NOT_TESTED, REPRODUCED, Evidence
from ctslib.report.stats import SANITY_MARGIN, accuracy_table, beats, mean_ci, sanity_results

DENSITIES = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01)


def runs(rows):
    """A frame of runs as `frames.collect` gives it, from (name, density, seed, top1[, extra]) rows."""
    records = []
    for row in rows:
        name, density, seed, top1, *extra = row
        records.append({"name": name, "family": name, "density": density, "seed": seed, "top1": top1,
                        "model": "lenet300", "dataset": "fashion_mnist", "ablation": "", "method": name.lower(),
                        **(extra[0] if extra else {})})
    columns = ["name", "family", "density", "seed", "top1", "model", "dataset", "ablation", "method"]
    return pd.DataFrame(records, columns=list(dict.fromkeys(columns + [k for r in records for k in r])))


def evidence(**frames) -> Evidence:
    """Evidence whose figures' data are the given frames (nothing is read from a store)."""
    ev = Evidence("smoke")
    ev._cache.update(frames)
    return ev


def curve(name, gap_by_density, base=0.8, seeds=(0, 1, 2)):
    """`name`'s runs at every density: base + gap, the same in each seed."""
    return [(name, d, s, base + gap_by_density(d)) for d in DENSITIES for s in seeds]


# --- the statistics ---------------------------------------------------------------------------------------------

def test_beats_needs_every_seed_and_the_margin():
    ticket = runs([("CTS_KL", 0.1, s, 0.80) for s in range(3)])
    ahead = runs([("CTS_KL", 0.1, s, 0.78) for s in range(3)])
    assert beats(ticket, ahead)[:2] == (True, pytest.approx(0.02))
    one_seed_behind = runs([("CTS_KL", 0.1, 0, 0.78), ("CTS_KL", 0.1, 1, 0.78), ("CTS_KL", 0.1, 2, 0.81)])
    assert beats(ticket, one_seed_behind)[0] is False
    within_margin = runs([("CTS_KL", 0.1, s, 0.80 - SANITY_MARGIN / 2) for s in range(3)])
    assert beats(ticket, within_margin)[0] is False
    other_seeds = runs([("CTS_KL", 0.1, s, 0.5) for s in (7, 8)])
    verdict, diff, _ = beats(ticket, other_seeds)
    assert verdict is False and math.isnan(diff)  # nothing to pair: no verdict in its favour


def test_sanity_results_one_row_per_ablation():
    rows = [("CTS_KL", 0.1, s, 0.80) for s in range(2)]
    rows += [("CTS_KL", 0.1, s, 0.70, {"ablation": "shuffle"}) for s in range(2)]
    rows += [("CTS_KL", 0.1, s, 0.85, {"ablation": "invert"}) for s in range(2)]
    res = sanity_results(runs(rows)).set_index("ablation")
    assert res.loc["shuffle", "passes"] and not res.loc["invert", "passes"]
    assert res.loc["shuffle", "diff"] == pytest.approx(0.10) and res.loc["invert", "diff"] == pytest.approx(-0.05)


def test_mean_ci_is_student_t():
    assert mean_ci([0.5]) == (0.5, 0.0, 1)
    mean, half, n = mean_ci([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3) and half == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert math.isnan(mean_ci([])[0])


# --- the claims ---------------------------------------------------------------------------------------------------

def test_comparable_to_ltr():
    holds = evidence(fig2=runs(curve("LTR", lambda d: 0.0) + curve("CTS_KL", lambda d: -0.005)))
    assert claims.check_comparable_ltr(holds)[0] == REPRODUCED
    fails = evidence(fig2=runs(curve("LTR", lambda d: 0.0) + curve("CTS_KL", lambda d: -0.03 if d == 0.2 else 0.0)))
    verdict, measured = claims.check_comparable_ltr(fails)
    assert verdict == NOT_REPRODUCED and "-3.0 pp" in measured
    untested = evidence(fig2=runs(curve("CTS_KL", lambda d: 0.0)))
    assert claims.check_comparable_ltr(untested)[0] == NOT_TESTED


def test_advantage_in_the_sparse_regime():
    # CTS_KL behind LTR when dense, ahead when sparse: the paper's picture
    sparse_lead = lambda d: 0.03 if d <= 0.02 else (-0.005 if d >= 0.2 else 0.0)  # noqa: E731
    holds = evidence(fig2=runs(curve("LTR", lambda d: 0.0) + curve("CTS_KL", sparse_lead)))
    assert claims.check_ltr_sparse(holds)[0] == REPRODUCED
    assert claims.check_ltr_sparse_regime(holds)[0] == REPRODUCED
    # behind everywhere, more so when sparse (what LeNet-300-100 shows at cpu scale)
    behind = evidence(fig2=runs(curve("LTR", lambda d: 0.0) + curve("CTS_KL", lambda d: -0.1 * (0.5 - d))))
    assert claims.check_ltr_sparse(behind)[0] == NOT_REPRODUCED
    assert claims.check_ltr_sparse_regime(behind)[0] == NOT_REPRODUCED
    one_density = evidence(fig2=runs([("LTR", 0.1, 0, 0.8), ("CTS_KL", 0.1, 0, 0.9)]))
    assert claims.check_ltr_sparse(one_density)[0] == NOT_TESTED


def test_matching_regime_is_where_ltr_matches_dense():
    dense = [("dense", 1.0, s, 0.90) for s in range(3)]
    ltr = curve("LTR", lambda d: 0.10 if d >= 0.1 else -0.2)           # 0.90 down to 0.1, then breaks down
    cts_behind = curve("CTS_KL", lambda d: 0.08 if d >= 0.1 else -0.1)  # behind LTR where LTR matches dense
    assert claims.check_matching_regime(evidence(fig2=runs(dense + ltr + cts_behind)))[0] == REPRODUCED
    cts_level = curve("CTS_KL", lambda d: 0.10 if d >= 0.1 else -0.1)
    assert claims.check_matching_regime(evidence(fig2=runs(dense + ltr + cts_level)))[0] == NOT_REPRODUCED
    never = curve("LTR", lambda d: -0.2)
    verdict, measured = claims.check_matching_regime(evidence(fig2=runs(dense + never + cts_level)))
    assert verdict == NOT_TESTED and "at none of the densities" in measured


def test_sanity_claim_on_both_figures():
    def sanity(margin, model):
        rows = []
        for family in ("CTS_KL", "CTS_L at init"):
            for s in range(2):
                rows.append((family, 0.1, s, 0.80, {"model": model}))
                rows += [(family, 0.1, s, 0.80 - margin, {"ablation": a, "model": model}) for a in ("shuffle", "invert")]
        return runs(rows)
    assert claims.check_sanity_cts(evidence(fig4=sanity(0.05, "lenet300"), fig5=sanity(0.02, "resnet20")))[0] \
        == REPRODUCED
    verdict, measured = claims.check_sanity_cts(evidence(fig4=sanity(0.05, "lenet300"), fig5=sanity(0.0, "resnet20")))
    assert verdict == NOT_REPRODUCED and "of 4" in measured
    empty = runs([])
    assert claims.check_sanity_cts(evidence(fig4=empty, fig5=empty))[0] == NOT_TESTED


def test_time_claims_read_the_records():
    def table2(cts_seconds, cts_epochs):
        rows = []
        for d in (0.018, 0.0074, 0.003):
            for s in range(2):
                rows.append(("CTS_KL", d, s, 0.8, {"seconds_total": cts_seconds, "epochs_total": cts_epochs,
                                                    "sparsity": 1 - d}))
                rows.append(("LTR", d, s, 0.8, {"seconds_total": 100.0, "epochs_total": 80.0, "sparsity": 1 - d}))
        return runs(rows)
    fast = evidence(table2=table2(cts_seconds=10.0, cts_epochs=8.0))
    assert claims.check_faster(fast)[0] == REPRODUCED and claims.check_small_fraction(fast)[0] == REPRODUCED
    slow = evidence(table2=table2(cts_seconds=60.0, cts_epochs=40.0))
    assert claims.check_faster(slow)[0] == NOT_REPRODUCED and claims.check_small_fraction(slow)[0] == NOT_REPRODUCED


def test_a_claim_about_another_model_is_not_tested_here():
    rows = [(n, d, s, 0.8, {"seconds_total": 10.0, "sparsity": 1 - d}) for n in ("CTS_KL", "LTR")
            for d in (0.007,) for s in range(2)]
    check = claims._specific("resnet20", "cifar10", 0.993, "ResNet-20 / CIFAR-10")
    verdict, measured = check(evidence(table2=runs(rows)))
    assert verdict == NOT_TESTED and "needs ResNet-20 / CIFAR-10" in measured


def test_evaluate_keeps_going_when_a_check_fails():
    def broken(ev):
        raise KeyError("top1")
    table = claims.evaluate("smoke", claims=[claims.Claim("X", "here", "a claim", "paper", "fig2", broken)])
    row = table.iloc[0]
    assert row["verdict"] == NOT_TESTED and "could not be checked: KeyError" in row["measured here"]
    assert claims.summary(table, "smoke") == "**1 claims at scale `smoke`: 0 reproduced, 0 not reproduced, " \
                                             "1 not tested at this scale.**"


def test_accuracy_table_is_densest_first():
    table = accuracy_table(runs(curve("LTR", lambda d: d)))
    assert list(table.index) == sorted(DENSITIES, reverse=True)
    assert table.loc[0.01, "LTR"] == pytest.approx(0.81)
