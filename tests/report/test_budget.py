"""The chapter "Does CTS catch up with more training?": its set (budgets, densities fixed from LTR alone), and the
reading and claim B1 on hand-built frames with known answers."""

import pandas as pd
import pytest

from helpers import needs_fashion_mnist

from ctslib.report import budget, claims
from ctslib.report.figures import FIGURES
from ctslib.runs import presets
from ctslib.runs.presets import base_config
from ctslib.report.verdicts import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTED, REPRODUCED


def test_the_set_keeps_the_papers_proportions_at_every_budget():
    s = FIGURES["budget"].setting(scale="cpu")
    assert s.densities == presets.on_grid(presets.BUDGET_ROUNDS) and s.seeds == (0, 1, 2)
    configs = FIGURES["budget"].configs(s)
    assert len(configs) == 225 and FIGURES["budget"].committed_only(s)
    steps = {budget.steps_of(c.to_dict()) for c in configs}
    assert steps == {472, 1888, 7504}  # x1, x4, x16 the cpu preset's steps; x16 on all 60,000 images
    for c in configs:
        if c.method == "cts":
            assert c.search_epochs in (c.epochs, c.epochs / 8)  # as long as training, or Quick CTS
        if c.method in ("cts", "ltr"):
            assert c.rewind_step == round(presets.REWIND_FRACTION["lenet300"] * c.epochs *
                                          (c.train_examples or 60_000) / 128)
    x1 = [c for c in configs if c.epochs == 4 and c.method == "ltr"]
    assert {c.run_id for c in x1} <= {c.run_id for c in FIGURES["fig2"].configs(scale="cpu", densities=s.densities)}


def _runs(gaps: dict[int, float], sparse_density: float = 0.0006, n_seeds: int = 3, noise: float = 0.002):
    """LTR, CTS_KL and the dense net at x1 and x16 (LTR-only regimes: 0.38% matching, `sparse_density` highly
    sparse), CTS_KL at LTR + gaps[budget] at the sparse density."""
    rows = []
    for b, fields_ in ((1, presets.BUDGETS[1]), (16, presets.BUDGETS[16])):
        for seed in range(n_seeds):
            jitter = noise * (seed - 1)
            for method, density, top1 in (("dense", 1.0, 0.85), ("ltr", 0.0038, 0.85), ("ltr", sparse_density, 0.70),
                                          ("cts", 0.0038, 0.80 + jitter),
                                          ("cts", sparse_density, 0.70 + gaps[b] + jitter)):
                c = base_config("cpu", "lenet300", method=method, density=density, seed=seed, objective="kl",
                                **fields_)
                rows.append({**c.to_dict(), "top1": top1, "name": c.label, "label": c.label})
    return pd.DataFrame(rows)


def test_the_gap_closing_is_paired_by_seed():
    df = _runs({1: -0.10, 16: -0.02})
    assert budget.regimes_at_x1(df) == {0.0038: "matching", 0.0006: "highly sparse"}
    e = budget.closing(df, [0.0006])
    assert e.mean == pytest.approx(0.08) and e.lo == pytest.approx(0.08)  # the same jitter in both budgets
    gaps = budget.gap_frame(df).set_index(["line", "budget", "density"])
    assert gaps.loc[("CTS_KL", 16, 0.0006), "gap"] == pytest.approx(-0.02)
    assert "the gap closes: it changes by +8.0 pp" in budget.reading(df, None, budget.regimes_at_x1(df))


def test_claim_b1_is_judged_on_the_set():
    ev = claims.Evidence("cpu")
    ev._cache["budget"] = _runs({1: -0.10, 16: -0.02})
    verdict, measured, effect = claims.check_gap_shrinks(ev)
    assert verdict == REPRODUCED and effect == "+8.0 pp" and "-10.0 pp at x1" in measured
    ev._cache["budget"] = _runs({1: -0.02, 16: -0.10})
    assert claims.check_gap_shrinks(ev)[0] == NOT_REPRODUCED
    noisy = _runs({1: -0.05, 16: -0.04})
    at = (noisy["method"] == "cts") & (noisy["density"] == 0.0006) & (noisy["epochs"] == 16)
    noisy.loc[at, "top1"] += noisy.loc[at, "seed"].map({0: 0.09, 1: -0.06, 2: 0.01})  # changes +10, -5, +2 pp
    ev._cache["budget"] = noisy
    assert claims.check_gap_shrinks(ev)[0] == INCONCLUSIVE
    assert claims.check_gap_shrinks(claims.AuthorsEvidence("resnet20"))[0] == NOT_TESTED
    assert claims.check_gap_shrinks(claims.Evidence("paper"))[0] == NOT_TESTED


@needs_fashion_mnist
def test_the_front_pages_budget_numbers_are_the_computed_ones(tmp_path, monkeypatch):
    """The front page quotes the budget chapter's result: it must be what the committed set gives (its three dense
    runs at x1 belong to Fig. 2's runs, not to the set: computed here, seconds each)."""
    import json
    from pathlib import Path
    from ctslib.report import claims
    from ctslib.report.figures import FIGURES
    from ctslib.runs.store import RunStore
    monkeypatch.setenv("CTS_STORE", str(tmp_path))
    store = RunStore(tmp_path)
    configs = FIGURES["budget"].configs(scale="cpu")
    missing = [c for c in configs if not store.has(c)]
    assert {c.method for c in missing} <= {"dense"} and len(missing) <= 3
    for c in missing:
        store.get(c)
    verdict, measured, effect = claims.judge(next(c for c in claims.CLAIMS if c.id == "B1"),
                                             claims.Evidence("cpu", store, compute=False))
    page = json.loads((Path(__file__).resolve().parents[2] / "book" / "intro.ipynb").read_text())
    intro = "".join("".join(c["source"]) for c in page["cells"] if c["cell_type"] == "markdown")
    assert verdict == "inconclusive" and "B1 (the gap shrinks) is *inconclusive*" in intro
    assert effect.replace("-", "−") in intro                                  # +10.6 pp [−2.7, +23.9]
    for part in measured.split("densities ", 1)[1].split(";")[0].split(", "):  # −27.3 pp at x1, ...
        assert part.replace("-", "−") in intro, part
