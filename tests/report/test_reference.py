"""The authors' published results (ctslib/report/reference): loading, known values, the pseudo-seeds the verdict
code reads, the figures' paper-scale panels and the claims' second verdict column."""

import math

import numpy as np
import pytest

from ctslib.report import claims, reference, tables
from ctslib.report.figures import FIGURES


def point(frame, name, density, value="top1"):
    s = reference.authors_summary(frame, value)
    row = s[(s["name"] == name) & ((s["density"] - density).abs() < 1e-12)]
    assert len(row) == 1, (name, density)
    return row["mean"].iloc[0], row["std"].iloc[0]


def test_known_values_of_the_papers_tables():
    runs = reference.authors_runs("resnet20")
    at_144 = 0.8 ** 19  # Table I's 1.44%
    assert point(runs, "LTR", at_144)[0] == pytest.approx(0.8090, abs=5e-5)
    assert point(runs, "SNIP", at_144)[0] == pytest.approx(0.6773, abs=5e-5)
    assert point(runs, "GraSP", at_144)[0] == pytest.approx(0.6259, abs=5e-5)
    for n, ltr, cts in ((18, 0.835, 0.806), (22, 0.6838, 0.7254), (26, 0.5566, 0.5640)):  # Table II's densities
        assert point(runs, "LTR", 0.8 ** n)[0] == pytest.approx(ltr, abs=5e-4)
        assert point(runs, "CTS_KL", 0.8 ** n)[0] == pytest.approx(cts, abs=5e-4)
    assert point(runs, "dense", 1.0)[0] == pytest.approx(0.9212, abs=5e-4)  # LTR's level 0: the paper's 92.12%


def test_densities_are_snapped_to_the_grid():
    ref = reference.authors_results()
    assert np.allclose(ref["density"], 0.8 ** ref["rounds"], rtol=0, atol=0)
    raw = ref.loc[ref["rounds"] == 42, "density"].iloc[0]
    assert raw == 0.8 ** 42 and abs(raw - 8.5e-05) < 1e-6  # the files' 8.5e-05 (6 decimals)


def test_pseudo_seeds_have_the_files_mean_and_std_and_face_each_other():
    ref = reference.authors_results()
    row = ref[(ref["model"] == "resnet20") & (ref["quantity"] == "top1_after_training") & (ref["method"] == "ltr")
              & (ref["rounds"] == 22)].iloc[0]
    runs = reference.authors_runs("resnet20", names=["LTR", "CTS_KL"])
    ltr = runs[(runs["name"] == "LTR") & (runs["density"] == 0.8 ** 22)].sort_values("seed")["top1"].to_numpy()
    cts = runs[(runs["name"] == "CTS_KL") & (runs["density"] == 0.8 ** 22)].sort_values("seed")["top1"].to_numpy()
    assert ltr.mean() == pytest.approx(row["mean"]) and ltr.std(ddof=0) == pytest.approx(row["std"])
    assert ltr[0] > ltr[2] and cts[0] < cts[2]  # baselines descend, CTS ascends: differences at their widest
    gaps = cts - ltr
    welch_var = cts.var(ddof=1) + ltr.var(ddof=1)
    assert gaps.var(ddof=1) >= welch_var  # the paired interval is no narrower than an unpaired one


def test_objective_values_follow_ctslibs_sign_and_names():
    values = reference.authors_objectives("resnet20", "init", ("task", "grad_norm"))
    assert (values.loc[values["objective"] == "grad_norm", "value"].groupby(values["name"]).mean() < 0).all()
    assert set(values["name"]) >= {"Quick CTS (GRADBALANCE)", "Quick CTS (LAGRANGE)", "SNIP", "GraSP", "LTR",
                                   "magnitude", "random"}
    with pytest.raises(ValueError, match="no runs of model 'lenet300'"):
        reference.authors_runs("lenet300")


@pytest.mark.parametrize("name", ["fig1", "fig2", "fig3", "fig7", "fig8"])
def test_figures_draw_the_authors_runs(name):
    fig = FIGURES[name]
    assert fig.has_authors and not fig.authors_data().empty
    drawn = fig.plot_authors()
    assert "the authors' published runs" in drawn._suptitle.get_text()


def test_tables_show_the_paper_beside_the_files():
    t2 = tables.authors_table2()
    row = t2[t2["sparsity"] == "99.3%"].iloc[0]
    assert row["paper: CTS_KL (%)"] == "74.0" and row["authors' files: CTS_KL (%)"].startswith("72.54")
    t1 = tables.authors_table1().set_index("method")
    assert t1.loc["LTR", "authors' files: top-1 (%)"].startswith("80.90")
    assert "no run at 1.44%" in t1.loc["CTS_KL", "authors' files: top-1 (%)"]  # the files' CTS grid skips it


@pytest.mark.parametrize("model", claims.AUTHORS_MODELS)
def test_every_claim_is_judged_on_the_authors_runs_without_error(model):
    ev = claims.AuthorsEvidence(model)
    found = {c.id: claims.judge(c, ev) for c in claims.CLAIMS}
    assert not [i for i, (_, measured, _) in found.items() if measured.startswith("could not be checked")]
    assert found["A1"][0] == claims.NOT_TESTED  # no sanity-check ablations in the files
    assert found["V-C4"][0] == claims.REPRODUCED  # KL / ΔL / L ahead of the other three objectives on their runs
    if model == "resnet20":
        assert "no times in the files" in found["A4"][1]
    else:
        assert found["A4"][0] == claims.NOT_TESTED  # Table II's claims are ResNet-20's
    cells, total = found["V-E3"][2].removesuffix(" cells").split("/")
    assert 0 < int(cells) <= int(total)  # GRADBALANCE significantly better than LAGRANGE in some cells
