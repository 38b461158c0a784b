"""The page "ctslib and the authors' code": its runs, how it names them, and what it reads from the committed data."""

import pandas as pd
import pytest

from ctslib.report import authors
from ctslib.report.figures import FIGURES, authors_lenet_runs, authors_resnet20_runs
from ctslib.runs.authors_code import bundle_of
from ctslib.runs.presets import base_config


def test_the_pages_runs_are_the_side_by_side_cases_and_the_training_choices():
    lenet = FIGURES["authors"].setting(scale="cpu")
    assert [round(d, 6) for d in lenet.densities] == [round(0.8 ** 21, 6), round(0.8 ** 27, 6)]
    configs = authors_lenet_runs(lenet)
    names = {authors.variant(c.to_dict()) for c in configs}
    assert names == {"CTS_KL (ctslib's defaults)", "CTS_KL, the authors' search", "CTS_KL, x100 scale only",
                     "CTS_fKL (ctslib's defaults)", "CTS_fKL, the authors' search", "LTR"}
    # the bundle's LeNet runs are the cases scripts/authors_code.py held against the authors' code
    cases = {c["run_id"] for c in authors.load_equivalence().manifest["cases"]}
    assert cases <= {c.run_id for c in configs if bundle_of(c) == ("authors_code",)}
    resnet = FIGURES["authors_resnet20"].setting(scale="cpu")
    names = {authors.variant(c.to_dict()) for c in authors_resnet20_runs(resnet)}
    assert {"CTS_KL (ctslib's defaults)", "CTS_KL, the authors' search", "CTS_KL, gradient clipping 2",
            "CTS_KL, 3x3 shortcut", "LTR"} <= names
    assert FIGURES["authors"].committed_only(lenet) and FIGURES["authors_resnet20"].committed_only(resnet)


def test_a_cts_variant_is_held_against_ltr_under_the_same_training():
    names = ["LTR", "LTR, gradient clipping 2", "CTS_KL (ctslib's defaults)"]
    assert authors.ltr_for("CTS_KL, gradient clipping 2", names) == "LTR, gradient clipping 2"
    assert authors.ltr_for("CTS_KL, 3x3 shortcut", names) == "LTR"  # no LTR under it: ctslib's LTR
    assert authors.ltr_for("CTS_KL, the authors' search", names) == "LTR"  # a search choice: the same training


def _frame(values: dict[str, list[float]], density: float = 0.01) -> pd.DataFrame:
    base = base_config("cpu", "lenet300", method="cts", objective="kl", density=density)
    rows = []
    for name, tops in values.items():
        config = {"LTR": base.with_(method="ltr"), "default": base,
                  "clip": base.with_(clip_grad_norm=2.0), "ltr clip": base.with_(method="ltr", clip_grad_norm=2.0)}[name]
        for seed, top1 in enumerate(tops):
            rows.append({**config.with_(seed=seed).to_dict(), "top1": top1, "label": config.label})
    return pd.DataFrame(rows)


def test_the_table_and_reading_pair_by_seed():
    df = _frame({"default": [0.80, 0.82, 0.81], "LTR": [0.85, 0.86, 0.85], "clip": [0.50, 0.52, 0.51],
                 "ltr clip": [0.60, 0.61, 0.60]})
    table = authors.variants_table(authors.with_variants(df))
    by = table.set_index("run")
    assert by.loc["CTS_KL (ctslib's defaults)", "− LTR (same training)"] == "-4.3 pp [-5.8, -2.9]"
    assert by.loc["CTS_KL, gradient clipping 2", "− LTR (same training)"] == "-9.3 pp [-10.8, -7.9]"
    assert by.loc["CTS_KL, gradient clipping 2", "− ctslib's CTS_KL"] == "-30.0 pp [-30.0, -30.0]"
    reading = authors.read_variants(df)
    assert "CTS_KL, gradient clipping 2 -9.3 pp [-10.8, -7.9] (against LTR, gradient clipping 2)" in reading
    assert reading.endswith("(Paired by seed; 95% CI over 3 seeds.)")


def test_the_committed_equivalence_reads_as_the_page_says():
    eq = authors.load_equivalence()
    text = authors.equivalence_reading(eq)
    c = eq.cases
    assert f"IoU {c['iou'].min():.4f}-{c['iou'].max():.4f}" in text
    assert (c["iou"] >= 0.996).all() and (c["iou_without_scales"] < 0.95).all()  # the x100 is what aligns them
    assert (c["iou_authors_other_noise"].dropna() < 0.6).all()  # two draws of one search are far apart
    table = authors.equivalence_table(eq)
    assert len(table) == 6 and list(table["IoU"])[0] == f"{c['iou'][0]:.4f}"
    assert "32 of their 34 published CTS_KL result files" in authors.published_forward_kl(eq)
    assert len(authors.differences_frame()) >= 14


def test_the_speed_line_reads_the_benchmark():
    result = authors.speed()
    if result is None:
        pytest.skip("benchmarks/results/vs_authors_code.json not here")
    text = authors.speed_reading(result)
    assert f"{result['ratio_authors_over_ctslib']:.2f}x" in text and "interleaved" in text
