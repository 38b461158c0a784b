"""The choices the paper leaves open, as named settings of the search (SearchSettings, RunConfig): each does what
it says, and the paper's values are the defaults (runs that keep them keep their ids)."""

import math

import pytest
import torch
from torch import nn

from ctslib.cts import ConcreteSearch, SearchSettings, concrete_mask, sparsity_loss
from ctslib.runs.presets import base_config


def toy(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 20, generator=g)
    y = (x[:, :3].sum(1) > 0).long()
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 2)), x, y


@pytest.mark.parametrize("form, keep", [("paper", 0.2), ("authors_code", 1 / (1 + math.exp(-(2 / 3) * math.log(0.25))))])
def test_the_two_concrete_forms_keep_weights_with_their_probabilities(form, keep):
    """Eq. (8) keeps a weight (s > 1/2) with probability alpha = kappa; the authors' code's sigmoid(a + eps / tau)
    with probability sigmoid(tau logit kappa) (0.284 for kappa 0.2, tau 2/3)."""
    a = torch.full((400_000,), math.log(0.2 / 0.8))
    s = concrete_mask(a, 2 / 3, torch.Generator().manual_seed(0), form=form)
    assert float((s > 0.5).float().mean()) == pytest.approx(keep, abs=0.003)
    inplace = concrete_mask(a, 2 / 3, torch.Generator().manual_seed(0), out=torch.empty_like(a), form=form)
    assert torch.allclose(inplace, s, atol=1e-6)  # the search's in-place path draws the same sample


@pytest.mark.parametrize("form", ["paper", "authors_code"])
def test_the_analytic_mask_gradient_matches_autograd_for_both_forms(form):
    net, x, y = toy()
    settings = SearchSettings(concrete_form=form, tau=0.5)
    cts = ConcreteSearch(net, 0.1, "kl", total_steps=4, settings=settings, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        cts.alpha_logit.normal_(generator=torch.Generator().manual_seed(1))
    teacher = cts.objective.teacher(cts.net, x, y)
    alpha = cts.alpha_logit.detach().clone().requires_grad_()
    s = concrete_mask(alpha, 0.5, torch.Generator().manual_seed(3), form=form)
    (auto,) = torch.autograd.grad(cts.objective(cts.net, cts.masks(s), x, y, teacher), alpha)
    _, analytic = cts.objective_gradient(x, y)
    assert torch.allclose(analytic, auto, rtol=1e-4, atol=1e-7)


def test_lambda_starts_at_zero_or_at_the_first_target():
    net, x, y = toy()
    found = {}
    for start in ("zero", "first_target"):
        cts = ConcreteSearch(net, 0.1, "task", total_steps=4, settings=SearchSettings(lam_start=start))
        with torch.no_grad():
            cts.alpha_logit.fill_(math.log(0.3 / 0.7))  # above kappa_eff: lambda_target > 0
        g_obj = torch.randn(cts.d, generator=torch.Generator().manual_seed(0))
        l_sp, g_sp = sparsity_loss(cts.alpha_logit.detach(), cts.kappa_constraint)
        target = float(g_obj.norm() / g_sp.norm())
        cts.gradbalance(g_obj.clone(), l_sp, g_sp)
        found[start] = float(cts.lam) / target
    assert found["zero"] == pytest.approx(1 - 0.7) and found["first_target"] == pytest.approx(1.0)


def test_kappa_eff_factor_and_the_learning_rate_drop():
    net, x, y = toy()
    cts = ConcreteSearch(net, 0.1, "task", total_steps=50, settings=SearchSettings(kappa_eff_factor=1.0, lr_drop_at=0.88))
    assert cts.kappa_constraint == pytest.approx(0.1) and cts.lr_drop_step == 44
    for _ in range(45):
        cts.step(x, y)
    assert cts.optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


def test_bad_choices_are_named():
    for bad, match in ((dict(concrete_form="code"), "concrete_form 'code'"), (dict(lam_start="one"), "lam_start 'one'"),
                       (dict(kappa_eff_factor=0.9), "kappa_eff_factor"), (dict(lr_drop_at=1.5), "lr_drop_at")):
        with pytest.raises(ValueError, match=match):
            SearchSettings(**bad)
    with pytest.raises(ValueError, match="concrete_form"):
        base_config("smoke", concrete_form="tlab")


def test_run_configs_carry_the_choices_and_keep_the_papers_run_ids():
    paper = base_config("cpu", method="cts", density=0.01)
    assert paper.search_settings == SearchSettings()
    explicit = base_config("cpu", method="cts", density=0.01, tau=2 / 3, eta=0.7, concrete_form="paper")
    assert explicit.run_id == paper.run_id  # the paper's values are not part of the id: old runs keep theirs
    code = base_config("cpu", method="cts", density=0.01, concrete_form="authors_code", eta=0.99,
                       lam_start="first_target", search_lr_drop_at=0.88)
    assert code.run_id != paper.run_id
    assert code.search_settings == SearchSettings(concrete_form="authors_code", eta=0.99, lam_start="first_target",
                                                  lr_drop_at=0.88)
    random = base_config("cpu", method="random", density=0.01)
    assert random.with_(tau=0.5).run_id == random.run_id  # no search: the choice does not apply
    from ctslib.runs.config import rewind_key
    assert rewind_key(code) == rewind_key(paper)  # the same rewind point


def test_lagranges_multiplier_ascends_by_adam_or_by_plain_sgd():
    net, x, y = toy()
    for optimizer, lr in (("sgd", 1e-3), ("adam", 1.0)):
        cts = ConcreteSearch(net, 0.1, "task", total_steps=4, settings=SearchSettings(
            step="lagrange", lagrange_optimizer=optimizer, lagrange_lr=lr))
        with torch.no_grad():
            cts.alpha_logit.fill_(math.log(0.3 / 0.7))  # L_sparsity = 0.3 / 0.1 - 1 = 2
        l_sp, g_sp = sparsity_loss(cts.alpha_logit.detach(), cts.kappa_constraint)
        cts.lagrange(torch.zeros(cts.d), l_sp, g_sp)
        # SGD: lambda = lr * L_sparsity; Adam's first step moves by its learning rate whatever the gradient's size
        assert float(cts.lam) == pytest.approx(lr * float(l_sp) if optimizer == "sgd" else lr, rel=1e-4)
    code = base_config("cpu", method="cts", step="lagrange", lagrange_optimizer="sgd", lagrange_lr=1e-3)
    assert code.search_settings.lagrange_optimizer == "sgd"
    assert base_config("cpu", method="cts", lagrange_optimizer="sgd").run_id == base_config("cpu", method="cts").run_id
