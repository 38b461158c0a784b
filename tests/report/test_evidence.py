"""ResNet-20's evidence set (the chapter "The paper's model on CPU"): what it runs, and that a book build reads its
committed records without ever computing the missing ones."""

import pytest

from ctslib.cli import main
from ctslib.report import figures as F
from ctslib.runs import eta, presets
from ctslib.runs.store import RunStore


def test_the_set_is_the_papers_protocol_on_resnet20():
    fig = F.FIGURES["resnet20"]
    setting = fig.setting(scale="cpu")
    configs = fig.configs(setting)
    assert setting.model == "resnet20" and setting.seeds == (0, 1, 2)
    assert [round(d, 6) for d in setting.densities] == [round(0.8 ** n, 6) for n in (18, 22, 26, 30)]
    labels = {c.label for c in configs}
    assert {"CTS_KL", "Quick CTS_KL", "CTS_L", "LTR", "SNIP", "GraSP", "SynFlow", "random", "dense",
            "CTS_L at init"} <= labels
    assert {c.ablation for c in configs} == {"", "shuffle", "invert", "reinit"}
    cts = [c for c in configs if c.method == "cts" and c.label == "CTS_KL"]
    assert {c.search_epochs for c in cts} == {c.epochs for c in cts} == {2}  # as long as training
    assert {c.search_epochs for c in configs if c.label == "Quick CTS_KL"} == {0.25}
    assert {c.rewind_step for c in cts} == {6}  # 4.8% of 2 epochs of 8,192 images at batch 128
    assert all(c.track_running_stats is False and not c.augment for c in configs)
    # Figs. 2 and 4 and Table II at ResNet-20 are parts of it (the claims' ResNet-20 column reads them)
    ids = {c.run_id for c in configs}
    for name in ("fig2", "table2", "fig4", "fig5"):
        assert {c.run_id for c in F.FIGURES[name].configs(scale="cpu", model="resnet20")} <= ids
    hours = sum(eta.estimates(configs).values()) / 3600
    assert 7 < hours < 10  # sized to ~8 core-hours at this machine's step cost


def test_a_book_build_reads_the_committed_runs_and_computes_none_of_the_rest(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CTS_RESULTS", "none")
    assert main(["--store", str(tmp_path), "book", "--scale", "cpu", "--dry-run"]) == 0
    captured = capsys.readouterr()
    # 135 of ResNet-20, 201 of the ViT, 54 of the page "ctslib and the authors' code" (its 24 LeNet runs under the
    # authors' choices, 18 ResNet-20 CTS_KL runs and LTR's 12 under their clipping and their 3x3 shortcut; its runs
    # with ctslib's defaults are the other figures'), 222 of the budget set (its dense runs at x1 are fig2's)
    assert "612 runs of fig5, resnet20, vit, authors, authors_resnet20, budget are not committed yet" in captured.err
    assert "make reproduce-resnet20" in captured.err and "make reproduce-vit" in captured.err
    assert "make reproduce-authors" in captured.err and "make reproduce-budget" in captured.err
    lines = {line.split()[0]: line for line in captured.out.splitlines() if line.strip()}
    assert lines["resnet20"].split()[1] == "0" and lines["fig5"].split()[1] == "0"
    # named explicitly, the set is computed (what make reproduce-resnet20 does)
    assert main(["--store", str(tmp_path), "book", "--scale", "cpu", "--figures", "resnet20", "--dry-run"]) == 0
    assert "resnet20  135 runs (135 not in the store)" in capsys.readouterr().out


def test_the_committed_setting_is_read_never_computed(tmp_path, monkeypatch):
    monkeypatch.setenv("CTS_RESULTS", "none")
    fig = F.FIGURES["resnet20"]
    from ctslib.report import frames
    monkeypatch.setattr(frames, "compute_missing", lambda *a, **k: pytest.fail("a committed run was computed"))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the page says what it has (committed_status), with no warning
        df = fig.data(fig.setting(scale="cpu"), RunStore(tmp_path))
    assert df.empty
    assert "0 of 135 in `results/resnet20-fmnist/`" in fig.committed_status(fig.setting(scale="cpu"), RunStore(tmp_path))
    assert fig.committed_only(fig.setting(scale="cpu")) and not fig.committed_only(fig.setting(scale="smoke"))
    assert not fig.committed_only(fig.setting(scale="cpu", seeds=[0]))  # another setting is the user's to compute
    assert presets.base_config("cpu", "resnet20").batch_size == 64


def test_the_chapter_and_the_claims_page_state_each_effect_alike(tmp_path, monkeypatch):
    """A number on two pages is one number: each CTS_KL − LTR effect that decides a claim on ResNet-20's set (the
    claims page's cell: 'effect at density') is, character for character, in the chapter's reading."""
    from ctslib.report import claims
    monkeypatch.setenv("CTS_STORE", str(tmp_path))
    ev = claims.model_evidence("cpu")
    reading = claims.evidence_reading("cpu")
    by_id = {c.id: c for c in claims.CLAIMS}
    shown = {i: claims.judge(by_id[i], ev)[2] for i in ("C1", "A2", "C4")}
    assert all(" pp [" in e and " at " in e for e in shown.values()), shown
    for claim_id, effect in shown.items():
        assert effect in reading, (claim_id, effect)
