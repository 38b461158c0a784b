"""The two tests behind every verdict (paired by seed on this book's runs, Welch's on the authors' summary statistics),
on hand-built frames with known answers, and the verdicts they give on the authors' published runs (numbers checked
against an independent recomputation from the CSV alone)."""

import math

import pandas as pd
import pytest

from ctslib.report import claims
from ctslib.report.comparisons import PAIRED, WELCH
from ctslib.report.stats import t_cdf, t_quantile
from ctslib.report.verdicts import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTED, REPRODUCED


def frame(groups: dict[tuple[str, float], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"name": n, "density": d, "seed": s, "top1": v}
                         for (n, d), values in groups.items() for s, v in enumerate(values)])


def test_t_quantile_is_exact_for_any_degrees_of_freedom():
    # reference values: scipy.stats.t.ppf(0.975, df)
    for df_, q in ((1, 12.706205), (2, 4.302653), (2.3, 3.807163), (50 / 17, 3.218759), (4.7, 2.620726),
                   (30, 2.042272), (57.2, 2.002314)):
        assert t_quantile(df_) == pytest.approx(q, abs=2e-6)
    assert t_cdf(t_quantile(3.3), 3.3) == pytest.approx(0.975, abs=1e-9)
    assert t_quantile(5, 0.025) == pytest.approx(-t_quantile(5, 0.975))
    with pytest.raises(ValueError, match="degrees of freedom must be > 0"):
        t_quantile(0)


def test_welch_on_two_groups_by_hand():
    # A = [1, 2, 3] (sd 1), B = [2, 4, 6] (sd 2): A - B = -2, var = 1/3 + 4/3, df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2)
    df = frame({("A", 0.1): [1.0, 2.0, 3.0], ("B", 0.1): [2.0, 4.0, 6.0]})
    e = WELCH.difference(df, "A", "B", 0.1)
    dof = (5 / 3) ** 2 / ((1 / 9) / 2 + (16 / 9) / 2)
    assert dof == pytest.approx(50 / 17)
    half = t_quantile(dof) * math.sqrt(5 / 3)
    assert (e.mean, e.lo, e.hi, e.n) == pytest.approx((-2.0, -2.0 - half, -2.0 + half, 3))
    # the same frame paired by seed: A - B = [-1, -2, -3]
    p = PAIRED.difference(df, "A", "B", 0.1)
    assert (p.mean, p.hi - p.mean) == pytest.approx((-2.0, t_quantile(2) / math.sqrt(3)))


def test_a_mean_over_densities_has_the_variance_of_a_mean_of_independent_differences():
    df = frame({("A", 0.1): [1.0, 2.0, 3.0], ("B", 0.1): [0.0, 0.0, 0.0],
                ("A", 0.01): [4.0, 4.0, 4.0], ("B", 0.01): [1.0, 3.0, 5.0]})
    e = WELCH.mean_difference(df, "A", "B", [0.1, 0.01])
    # (2 + 1) / 2 = 1.5; var = (1/3 + 0 + 0 + 4/3) / 4; its two non-zero parts have 2 df each
    var = (1 / 3 + 4 / 3) / 4
    dof = var ** 2 / (((1 / 3) / 4) ** 2 / 2 + ((4 / 3) / 4) ** 2 / 2)
    assert e.mean == pytest.approx(1.5) and e.hi - e.mean == pytest.approx(t_quantile(dof) * math.sqrt(var))
    shift = WELCH.shift(df, "A", "B", dense=[0.1], sparse=[0.01])  # (4 - 3) - (2 - 0) = -1
    assert shift.mean == pytest.approx(-1.0)
    assert PAIRED.shift(df, "A", "B", dense=[0.1], sparse=[0.01]).mean == pytest.approx(-1.0)
    each = WELCH.against_each(df.assign(name=df["name"].replace({"B": "C"})).pipe(lambda d: pd.concat([df, d])),
                              "A", ["B", "C"])
    assert set(each) == {(0.1, "B"), (0.01, "B"), (0.1, "C"), (0.01, "C")}
    assert math.isnan(WELCH.difference(df, "A", "Z", 0.1).mean)  # a missing line: nothing to test


def test_the_authors_resnet20_runs_under_welch():
    """The numbers of an independent recomputation from the CSV alone (n = 3, sample sd = std sqrt(3/2), Welch)."""
    ev = claims.AuthorsEvidence("resnet20")
    df = ev.runs("fig2")
    effects = WELCH.differences(df, "CTS_KL", "LTR")
    at = {round(d, 6): e for d, e in effects.items()}
    assert at[round(0.8 ** 22, 6)].text(digits=2) == "+4.16 pp [+1.08, +7.25]"  # 0.74%: Table II's 99.3%
    assert at[round(0.8 ** 18, 6)].text(digits=2) == "-2.88 pp [-3.34, -2.42]"  # 1.8%: inside the paper's regime
    assert at[round(0.8 ** 2, 6)].text(digits=2) == "-0.68 pp [-1.23, -0.12]"   # 64%: the matching regime (C4)
    ds = sorted(effects)
    assert WELCH.mean_difference(df, "CTS_KL", "LTR", ds).text(digits=3) == "-2.261 pp [-3.202, -1.321]"
    sparse = [d for d in ds if d < 0.02]
    assert WELCH.mean_difference(df, "CTS_KL", "LTR", sparse).text(digits=3) == "-1.568 pp [-3.448, +0.312]"
    by = {c.id: c for c in claims.CLAIMS}
    verdict, _, effect = claims.judge(by["A4"], ev)
    assert verdict == REPRODUCED and effect == "+4.2 pp [+1.1, +7.2]"
    assert claims.judge(by["C4"], ev)[0] == REPRODUCED
    assert claims.judge(by["A6"], ev)[0] == INCONCLUSIVE
    for claim in ("A2", "V-C1", "C1", "V-F2", "V-C3"):
        assert claims.judge(by[claim], ev)[0] == NOT_REPRODUCED, claim


def test_the_authors_vgg16_runs_reach_the_claims():
    ev = claims.AuthorsEvidence("vgg16")
    df = ev.runs("fig2")
    assert set(df["model"]) == {"vgg16"}
    at = {round(d, 6): e for d, e in WELCH.differences(df, "CTS_KL", "LTR").items()}
    assert at[round(0.8 ** 40, 6)].text(digits=2) == "+2.96 pp [+2.29, +3.63]"  # ahead only at 0.013%
    assert at[round(0.8 ** 28, 6)].hi < 0  # 0.19%: inside VGG-16's regime (< 0.2%), behind LTR
    snip = WELCH.difference(df, "CTS_KL", "SNIP", 0.8 ** 6)
    assert snip.text(digits=2) == "-0.42 pp [-0.78, -0.07]"  # SNIP beats CTS_KL at 26.2%
    by = {c.id: c for c in claims.CLAIMS}
    assert claims.judge(by["A5"], ev)[0] == NOT_REPRODUCED
    assert claims.judge(by["C1"], ev)[0] == NOT_REPRODUCED
    assert claims.judge(by["A4"], ev)[0] == NOT_TESTED  # a claim about ResNet-20


def test_the_papers_numbers_against_the_authors_files():
    by = {c.id: c for c in claims.CLAIMS}
    verdict, measured, effect = claims.judge(by["P1"], claims.AuthorsEvidence("resnet20"))
    assert verdict == NOT_REPRODUCED and effect == "+2.4 pp (CTS_KL at 99.7%)"
    assert "files 72.54 ± 0.41 (+1.5 pp, beyond any single seed)" in measured
    assert "LTR at 98.2%: paper 83.5, files 83.50 ± 0.06 (+0.0 pp)" in measured
    assert "as the paper implies: -1.8 / +5.7 / +3.1 pp; in the files: -2.9 / +4.2 / +0.7 pp" in measured
    assert claims.judge(by["P1"], claims.Evidence("smoke"))[0] == NOT_TESTED


def test_one_verdict_over_the_authors_models_and_the_headline_table():
    assert claims.authors_verdict({"resnet20": REPRODUCED, "vgg16": NOT_REPRODUCED}) == NOT_REPRODUCED
    assert claims.authors_verdict({"resnet20": REPRODUCED, "vgg16": NOT_TESTED}) == REPRODUCED
    table = claims.evaluate("smoke", claims=[c for c in claims.CLAIMS if c.id in ("A4", "P1")], compute=False)
    head = claims.headline(table, "smoke").set_index("claim")
    a4 = head.filter(like="A4", axis=0).iloc[0]
    assert a4["the authors': ResNet-20"] == "reproduced: +4.2 pp [+1.1, +7.2]"
    assert a4["the authors': VGG-16"] == NOT_TESTED


def test_the_front_pages_numbers_are_the_computed_ones():
    """The book's front page quotes verdicts on the authors' runs: they must be what the claims compute."""
    from pathlib import Path
    import json
    page = json.loads((Path(__file__).resolve().parents[2] / "book" / "intro.ipynb").read_text())
    intro = "".join("".join(c["source"]) for c in page["cells"] if c["cell_type"] == "markdown")
    resnet, vgg = claims.AuthorsEvidence("resnet20").runs("fig2"), claims.AuthorsEvidence("vgg16").runs("fig2")
    assert WELCH.difference(resnet, "CTS_KL", "LTR", 0.8 ** 22).text() in intro         # +4.2 pp [+1.1, +7.2]
    assert WELCH.difference(vgg, "CTS_KL", "LTR", 0.8 ** 40).text() in intro            # +3.0 pp [+2.3, +3.6]
    assert "2.9 pp [−3.3, −2.4]" in intro and WELCH.difference(resnet, "CTS_KL", "LTR", 0.8 ** 18).text() == \
        "-2.9 pp [-3.3, -2.4]"
    assert "1.1 / 1.5 / 2.4 pp" in intro
