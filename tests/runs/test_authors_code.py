"""The authors' code as ctslib settings: the bundles, the settings they use, and the committed equivalence.

The last test is the side-by-side check in every build: ctslib's `authors_code` bundle redraws the tickets the
authors' own search code drew on identical inputs and noise (committed by scripts/authors_code.py; their code is
not needed here) and must agree with them ticket for ticket and step for step.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ctslib.cts import ConcreteSearch, SearchSettings
from ctslib.models import build_model, count_parameters
from ctslib.objectives import OBJECTIVES, PAPER_OBJECTIVES, forward_kl, get_objective, reverse_kl
from ctslib.runs.authors_code import (BUNDLES, DIFFERENCES, OBJECTIVE_SCALES, authors_lr_drop_at, bundle_fields,
                                      bundle_of, search_like)
from ctslib.runs.config import RunConfig
from ctslib.runs.presets import base_config
from ctslib.tickets import Ticket, prunable_parameters
from ctslib.training import Schedule, train

from helpers import needs_fashion_mnist


# --- the bundles ---------------------------------------------------------------------------------------------

def test_their_lr_drop_falls_after_epoch_int_088E_minus_1():
    # reduce_epochs=[int(0.88 E)] tested as (epoch + 1) after the counter moved: after epoch int(0.88 E) - 1
    assert authors_lr_drop_at(4) == 0.5              # int(3.52) - 1 = 2 of 4
    assert authors_lr_drop_at(160) == 139 / 160  # int(140.8) - 1 = 139 of 160: 0.869
    assert authors_lr_drop_at(2) == 1.0 and authors_lr_drop_at(0.5) == 1.0  # int(1.76) - 1 = 0: never
    search = ConcreteSearch(nn.Linear(4, 2), 0.5, "task", 472, SearchSettings(lr_drop_at=authors_lr_drop_at(4)))
    assert search.lr_drop_step == 236  # step 2 x 118, exactly (not 235)


def test_the_search_bundle_sets_every_search_choice_of_their_code():
    paper = base_config("cpu", "lenet300", method="cts", objective="kl", density=0.01)
    code = search_like(paper, "authors_code")
    assert code.search_settings == SearchSettings(concrete_form="authors_code", eta=0.99, lam_start="first_target",
                                                  lr_drop_at=0.5, objective_scale=100.0, sparsity_scale=100.0)
    assert bundle_of(code) == ("authors_code",) and bundle_of(paper) == ()
    assert code.run_id != paper.run_id
    from ctslib.runs.config import rewind_key
    assert rewind_key(code) == rewind_key(paper)  # search-side only: the same rewind point
    # their scale of each objective; LAGRANGE's SGD ascent at 1e-2 x the mask's lr (on the x100 error)
    assert search_like(paper.with_(objective="delta_loss"), "authors_code").objective_scale == 1e4
    assert search_like(paper.with_(objective="grad_norm"), "authors_code").objective_scale == 1.0
    lag = search_like(paper.with_(step="lagrange"), "authors_code")
    assert (lag.lagrange_optimizer, lag.lagrange_lr) == ("sgd", pytest.approx(1e-3))
    assert set(OBJECTIVE_SCALES) == set(OBJECTIVES)
    # a method without a search is left as it is; the training bundle is not a search choice
    ltr = base_config("cpu", "lenet300", method="ltr", density=0.01)
    assert search_like(ltr, "authors_code") == ltr
    assert bundle_fields(paper, "authors_training") == {"clip_grad_norm": 2.0}
    r20 = base_config("cpu", "resnet20", method="ltr", density=0.01)
    assert bundle_fields(r20, "authors_training") == {"clip_grad_norm": 2.0, "shortcut_kernel": 3}
    with pytest.raises(ValueError, match="unknown bundle 'authors'; choose one of: authors_code"):
        search_like(paper, "authors")


def test_every_difference_names_its_file_and_line_or_says_why_not():
    for d in DIFFERENCES:
        assert d.paper and d.code and d.ctslib
        assert ".py:" in d.code or d.choice in ("their driver",) or "(" in d.code
        assert d.setting or d.note, d.choice  # a setting, or the reason there is none
        if d.bundle:
            assert d.bundle in BUNDLES and d.value is not None and d.setting


def test_the_cli_applies_a_bundle_after_the_flags(capsys):
    from ctslib.cli import build_parser, config_from_args, main
    args = build_parser().parse_args(["run", "--preset", "cpu", "--density", "0.01", "--search-like", "authors_code"])
    assert bundle_of(config_from_args(args)) == ("authors_code",)
    assert main(["run", "--search-like", "authors", "--no-store"]) == 2
    assert "unknown bundle 'authors'; choose one of: authors_code, authors_training" in capsys.readouterr().err


# --- the settings the bundles use -------------------------------------------------------------------------

def test_the_scales_enter_lambda_and_the_gradient_as_their_code_has_them():
    torch.manual_seed(0)
    net, x, y = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3)), torch.randn(32, 8), torch.randint(0, 3, (32,))

    def first_step(**scales):
        cts = ConcreteSearch(net, 0.2, "kl", 10, SearchSettings(lam_start="first_target", **scales),
                             generator=torch.Generator().manual_seed(1))
        with torch.no_grad():  # a mask above its budget, so that lambda_target is the ratio of the norms
            cts.alpha_logit.fill_(math.log(0.5 / 0.5))
        r = cts.step(x, y)
        return float(cts.lam), float(r), cts.trace[0, 1].item()

    lam, r, density = first_step()
    lam_both, r_both, density_both = first_step(objective_scale=100.0, sparsity_scale=100.0)
    lam_sparsity, _, _ = first_step(sparsity_scale=100.0)
    assert lam_both == pytest.approx(lam, rel=1e-5)          # the same scale on both cancels in lambda_target
    assert lam_sparsity == pytest.approx(lam / 100, rel=1e-5)
    assert r_both == pytest.approx(r) and density_both == pytest.approx(density)  # traced unscaled
    with pytest.raises(ValueError, match="objective_scale must be > 0"):
        SearchSettings(objective_scale=0.0)


def test_forward_kl_is_kl_of_the_dense_net_from_the_ticket():
    torch.manual_seed(0)
    student, teacher = torch.randn(16, 10), torch.randn(16, 10)
    t = F.log_softmax(teacher, 1)
    expected = F.kl_div(F.log_softmax(student, 1), t, reduction="batchmean", log_target=True)  # KL(teacher||student)
    assert float(forward_kl(student, t)) == pytest.approx(float(expected), rel=1e-5)
    assert float(forward_kl(teacher, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(forward_kl(student, t)) != pytest.approx(float(reverse_kl(student, t)), rel=1e-3)
    assert "forward_kl" in OBJECTIVES and "forward_kl" not in PAPER_OBJECTIVES and len(PAPER_OBJECTIVES) == 6
    assert get_objective("forward_kl").symbol == "R_fKL"
    assert base_config("cpu", "lenet300", method="cts", objective="forward_kl").label == "CTS_fKL"


def test_gradient_clipping_bounds_each_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 4))
    batch = [(torch.randn(64, 1, 4, 5) * 50, torch.randint(0, 4, (64,)))]
    before = [p.detach().clone() for p in model.parameters()]
    train(model, None, Schedule(epochs=1, batch_size=64, lr=1.0, momentum=0.0, weight_decay=0.0, milestones=(),
                                augment=False, clip_grad_norm=0.01), batches=batch)
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.parameters(), before)))
    assert float(step) == pytest.approx(0.01, rel=1e-4)  # one SGD step of lr 1 moves by the clipped norm
    with pytest.raises(ValueError, match="clip_grad_norm must be >= 0"):
        Schedule(clip_grad_norm=-1.0)


def test_resnet20s_shortcut_can_be_their_3x3():
    ours = build_model("resnet20", in_channels=3, image_size=32, num_classes=10)
    theirs = build_model("resnet20", in_channels=3, image_size=32, num_classes=10, shortcut_kernel=3)
    n = lambda m: sum(p.numel() for p in prunable_parameters(m).values())  # noqa: E731
    assert n(ours) == 270_896 and n(theirs) == 270_896 + 20_480
    assert theirs.blocks[3].shortcut[0].kernel_size == (3, 3) and theirs.blocks[3].shortcut[0].padding == (1, 1)
    assert theirs(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert count_parameters(ours) == 272_474
    with pytest.raises(ValueError, match="shortcut_kernel=3 is a setting of the CIFAR ResNets"):
        RunConfig(model="lenet300", shortcut_kernel=3)
    with pytest.raises(ValueError, match=r"shortcut_kernel must be one of \(1, 3\)"):
        RunConfig(model="resnet20", shortcut_kernel=5)
    r20 = base_config("cpu", "resnet20", method="cts", density=0.01)
    assert r20.with_(shortcut_kernel=1).run_id == r20.run_id and r20.with_(clip_grad_norm=0.0).run_id == r20.run_id
    from ctslib.runs.config import rewind_key
    assert rewind_key(r20.with_(shortcut_kernel=3)) != rewind_key(r20)  # a training choice: a new rewind point


# --- the committed equivalence ----------------------------------------------------------------------------

def _equivalence():
    from ctslib.report.authors import load_equivalence
    return load_equivalence()


def test_the_committed_equivalence_is_complete():
    eq = _equivalence()
    cases = eq.cases
    assert len(cases) == 6 and sorted(set(cases["seed"])) == [0, 1, 2] and len(set(cases["density"])) == 2
    assert eq.manifest["authors_commit"] == eq.manifest["expected_commit"]
    for i, c in enumerate(eq.manifest["cases"]):
        config = RunConfig.from_dict(c["config"])
        assert config.run_id == c["run_id"] and bundle_of(config) == ("authors_code",)
        assert eq.ticket(i).num_kept == c["kept_authors"]
        assert len(eq.trace(i)["authors"]["lam"]) == c["steps"] == 472


@needs_fashion_mnist
@pytest.mark.parametrize("case", range(6))
def test_the_bundle_redraws_the_authors_tickets_and_traces(case, one_thread):
    """ctslib's search with `search_like(config, 'authors_code')` against the authors' committed search: the tickets
    agree (IoU >= 0.999, or at a near-tie of the threshold one pair of weights swapped, IoU 642/644 at 0.24%), and
    each step's R_KL, expected density and lambda within 1e-4 relative (1e-3 where this machine's vector kernels differ
    from those the data was computed with: a chaotic search amplifies the last bits of every sum)."""
    from ctslib.report.authors import max_relative
    from ctslib.runs.pipeline import cts_search
    eq = _equivalence()
    c = eq.manifest["cases"][case]
    result = cts_search(RunConfig.from_dict(c["config"]))
    theirs = eq.ticket(case)
    ours = Ticket(result.ticket.masks)
    differ = sum(int((ours.masks[n] ^ theirs.masks[n]).sum()) for n in ours.masks)
    assert ours.iou(theirs) >= 0.999 or differ <= 2, (ours.iou(theirs), differ)
    same_kernels = torch.backends.cpu.get_cpu_capability() == eq.manifest["environment"]["cpu_capability"]
    tolerance = 1e-4 if same_kernels else 1e-3
    trace = eq.trace(case)["authors"]
    for name in ("objective", "expected_density", "lam"):
        assert max_relative(getattr(result, name), trace[name]) <= tolerance, name
