"""The chapter "Self-attention" (FIGURES["vit"]): what it runs, that a book build reads its committed records and
never computes the rest, the pooling of layer densities by kind, and the verdict logic of the open question (Q1)."""

import pandas as pd
import pytest

from ctslib.cli import main
from ctslib.models.vit import KIND_NAMES, projection_kind
from ctslib.report import claims, frames
from ctslib.report import figures as F
from ctslib.report.verdicts import INCONCLUSIVE, NOT_REPRODUCED, NOT_TESTED, REPRODUCED
from ctslib.runs import eta


def test_the_set_is_the_papers_protocol_on_the_vit():
    fig = F.FIGURES["vit"]
    setting = fig.setting(scale="cpu")
    configs = fig.configs(setting)
    assert setting.model == "vit" and setting.seeds == (0, 1, 2)
    labels = {c.label for c in configs}
    assert labels == {"CTS_KL", "Quick CTS_KL", "CTS_L", "LTR", "SNIP", "GraSP", "SynFlow", "magnitude", "random",
                      "dense", "CTS_L at init"}
    assert {c.ablation for c in configs} == {"", "shuffle", "invert", "reinit"}
    cts = [c for c in configs if c.label == "CTS_KL"]
    assert {c.search_epochs for c in cts} == {c.epochs for c in cts} == {4}  # as long as training
    assert {c.search_epochs for c in configs if c.label == "Quick CTS_KL"} == {0.5}
    assert {c.rewind_step for c in cts} == {12}  # 4.8% of 4 epochs of 8,192 images at batch 128
    assert {c.rewind_step for c in configs if c.label in ("SNIP", "GraSP", "SynFlow", "magnitude", "random")} == {0}
    assert {c.ltr_rate for c in configs} == {0.2}
    sanity = {c.density for c in configs if c.ablation}
    assert len(sanity) == 2 and sanity < set(setting.densities)
    hours = sum(eta.estimates(configs).values()) / 3600
    assert 0.5 < hours < 3, hours  # sized to ~1.5 core-hours at this machine's step cost


def test_the_vit_runs_at_smoke_and_cpu_scale_only():
    fig = F.FIGURES["vit"]
    assert fig.configs(scale="paper") == [] and fig.configs(scale="smoke")
    with pytest.raises(ValueError, match="vit runs at scale smoke and cpu only, not 'paper'"):
        fig.setting(scale="paper")
    assert not any(c.model == "vit" for c in F.all_configs("paper"))


def test_a_book_build_reads_the_committed_vit_runs_and_computes_none_of_the_rest(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTS_RESULTS", "none")
    assert main(["--store", str(tmp_path), "book", "--scale", "cpu", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "make reproduce-vit" in captured.err
    lines = {line.split()[0]: line for line in captured.out.splitlines() if line.strip()}
    assert lines["vit"].split()[1] == "0"
    assert main(["--store", str(tmp_path), "book", "--scale", "paper", "--dry-run"]) == 0
    assert "vit" not in {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}


def test_layer_densities_pool_by_kind():
    layers = pd.DataFrame([
        dict(run_id="r", name="CTS_KL", method="cts", density=0.1, seed=0, layer=layer, layer_index=i,
             layer_density=density, layer_size=size)
        for i, (layer, density, size) in enumerate([
            ("embed.weight", 0.5, 100), ("blocks.0.attn.q.weight", 0.1, 40), ("blocks.0.attn.k.weight", 0.0, 40),
            ("blocks.1.attn.q.weight", 0.3, 60), ("head.weight", 1.0, 10)])])
    kinds = frames.by_kind(layers, projection_kind, KIND_NAMES).set_index("kind")
    assert list(kinds.index) == ["embed", "q", "k", "head"]
    assert kinds.loc["q", "layer_density"] == pytest.approx((0.1 * 40 + 0.3 * 60) / 100)
    assert kinds.loc["q", "layer_size"] == 100 and kinds.loc["q", "layer"] == "Q"
    assert list(kinds["layer_index"]) == [0, 1, 2, 3]


class _Frame(claims.Evidence):
    """Evidence whose ViT chapter is a given frame."""

    def __init__(self, df):
        super().__init__("cpu", None, False, figures=("vit",))
        self.df = df

    def runs(self, figure):
        return self.df


def _vit_frame(cts_minus_ltr_sparse, ablation_gap=0.3, saliency_gap=0.2):
    """Dense 80%; LTR 79% at 10% density (the matching regime) and 50% at 1% (highly sparse); CTS_KL at its gap to
    LTR (none at 10%), SNIP `saliency_gap` below CTS_KL, CTS_KL's shuffle `ablation_gap` below it; 3 seeds."""
    rows = []
    for seed, jitter in zip((0, 1, 2), (-0.004, 0.0, 0.004)):
        rows.append(dict(seed=seed, name="dense", density=1.0, ablation="", top1=0.80 + jitter))
        for density, ltr, gap in ((0.1, 0.79, 0.0), (0.01, 0.50, cts_minus_ltr_sparse)):
            cts = ltr + gap + jitter
            rows += [dict(seed=seed, name="LTR", density=density, ablation="", top1=ltr + jitter / 2),
                     dict(seed=seed, name="CTS_KL", density=density, ablation="", top1=cts),
                     dict(seed=seed, name="SNIP", density=density, ablation="", top1=cts - saliency_gap),
                     dict(seed=seed, name="CTS_KL", density=density, ablation="shuffle", top1=cts - ablation_gap)]
    df = pd.DataFrame(rows)
    return df.assign(family=df["name"], model="vit", dataset="fashion_mnist")


def test_the_open_question_is_answered_from_the_three_advantages():
    q1 = next(c for c in claims.CLAIMS if c.id == "Q1")
    assert q1.where == "vit"
    verdict, measured, effect = q1.check(_Frame(_vit_frame(+0.05)))
    assert verdict == REPRODUCED, measured
    assert "highly sparse" in measured and "SNIP" in measured and "ablation" in measured
    assert claims.judge(q1, _Frame(_vit_frame(-0.10)))[0] == NOT_REPRODUCED  # behind LTR where the paper leads
    assert claims.judge(q1, _Frame(_vit_frame(+0.05, ablation_gap=-0.1)))[0] == NOT_REPRODUCED  # fails a sanity check
    assert claims.judge(q1, _Frame(_vit_frame(+0.05, saliency_gap=0.0)))[0] in (INCONCLUSIVE, NOT_REPRODUCED)
    assert claims.judge(q1, _Frame(pd.DataFrame(columns=claims._EMPTY_COLUMNS)))[0] == NOT_TESTED
    # the other evidence sets do not hold the ViT
    assert claims.judge(q1, claims.model_evidence("cpu"))[0] == NOT_TESTED


def test_the_accuracy_table_gives_each_ticket_mean_and_interval():
    from ctslib.report import tables
    t = tables.accuracy_frame(_vit_frame(+0.05), ["CTS_KL", "LTR", "GraSP"]).set_index("method")
    assert list(t.columns) == ["10%", "1%"] and list(t.index) == ["CTS_KL", "LTR"]  # GraSP did not run
    assert t.loc["CTS_KL", "1%"].startswith("55.0 ± ")  # the tickets alone, not their ablations
    assert t.loc["LTR", "10%"] == "79.0 ± 0.5"


def test_the_chapter_reads_the_committed_set(tmp_path, monkeypatch):
    """The reading at cpu scale, from the committed records alone (an empty store): the numbers of the chapter."""
    monkeypatch.setenv("CTS_STORE", str(tmp_path))
    text = claims.vit_reading("cpu")
    assert "**The dense ViT** reaches 78.1% (mean of 3 seeds)" in text
    assert "CTS_KL − LTR: -7.7 pp [-9.3, -6.1] at 40.96% (matching)" in text
    assert "Q and K together" in text and "LTR 1.9×" in text
    assert text.startswith("**The paper's open question (claims table, Q1): not reproduced.**")  # the answer first
    assert "**What the tickets do to attention:** at 0.19% density CTS_KL, CTS_L, CTS_L at init, Quick CTS_KL keep " \
           "no Q or K weight at all" in text.split("\n\n")[1]
