import math

import pytest
import torch
from torch import nn

from helpers import needs_fashion_mnist
from ctslib.cts import ConcreteSearch, SearchSettings, concrete_mask, init_alpha_logit, search, sparsity_loss


def toy_problem(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 20, generator=g)
    y = (x[:, :3].sum(1) > 0).long()
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 2))
    return net, [(x[i:i + 64], y[i:i + 64]) for i in range(0, n, 64)]


def test_alpha_initialised_to_kappa_and_sparsity_loss_starts_at_zero():
    a = init_alpha_logit(1000, 0.05)
    assert torch.allclose(torch.sigmoid(a), torch.full((1000,), 0.05))
    loss, grad = sparsity_loss(a, 0.05)
    assert float(loss) == pytest.approx(0, abs=1e-5)


def test_sparsity_gradient_is_analytic_gradient_of_eq10():
    a = torch.randn(50, requires_grad=True)
    loss, grad = sparsity_loss(a.detach(), 0.1)
    (auto,) = torch.autograd.grad(torch.sigmoid(a).sum() / (0.1 * 50) - 1, a)
    assert torch.allclose(grad, auto, atol=1e-7)
    assert float(loss) == pytest.approx(float(torch.sigmoid(a.detach()).mean() / 0.1 - 1), rel=1e-5)


def test_concrete_mask_is_relaxed_bernoulli_with_mean_alpha():
    a = torch.full((200_000,), math.log(0.2 / 0.8))
    s = concrete_mask(a, 2 / 3, torch.Generator().manual_seed(0))
    assert ((s > 0) & (s < 1)).all()
    # P(s > 0.5) = P(logit(alpha) + eps > 0) = alpha exactly, for any tau
    assert float((s > 0.5).float().mean()) == pytest.approx(0.2, abs=0.005)
    # low temperature -> close to binary
    s_cold = concrete_mask(a, 0.05, torch.Generator().manual_seed(0))
    assert float(((s_cold < 0.01) | (s_cold > 0.99)).float().mean()) > 0.9


def test_gradbalance_lambda_target_zero_below_kappa_eff():
    net, batches = toy_problem()
    cts = ConcreteSearch(net, 0.1, "task", total_steps=10)
    # expected density starts at kappa < kappa_eff = 1.1 kappa: no sparsity pressure at all
    g_obj = torch.randn(cts.d)
    l_sp, g_sp = sparsity_loss(cts.alpha_logit.detach(), cts.kappa_constraint)
    assert float(l_sp) < 0
    g = cts.gradbalance(g_obj, l_sp, g_sp)
    assert float(cts.lam) == 0.0
    assert torch.equal(g, g_obj)
    # above kappa_eff, lambda_target = ||g_obj|| / ||g_sparsity|| and lambda is its EMA
    with torch.no_grad():
        cts.alpha_logit.fill_(math.log(0.3 / 0.7))
    l_sp, g_sp = sparsity_loss(cts.alpha_logit.detach(), cts.kappa_constraint)
    assert float(l_sp) > 0
    g = cts.gradbalance(g_obj, l_sp, g_sp)
    target = g_obj.norm() / g_sp.norm()
    assert float(cts.lam) == pytest.approx((1 - cts.settings.eta) * float(target), rel=1e-5)
    assert torch.allclose(g, g_obj + cts.lam * g_sp)


def test_search_leaves_weights_untouched_and_ticket_exact():
    net, batches = toy_problem()
    before = {n: p.clone() for n, p in net.named_parameters()}
    result = search(net, batches, 0.05, "kl", steps=20)
    assert all(torch.equal(before[n], p) for n, p in net.named_parameters())
    assert result.ticket.num_kept == round(0.05 * (20 * 64 + 64 * 2))
    assert result.steps == 20 and len(result.expected_density) == 20


@pytest.mark.parametrize("step", ["gradbalance", "lagrange"])
@pytest.mark.parametrize("objective", ["task", "delta_loss", "grad_norm", "kl", "feature", "grad"])
def test_every_objective_and_step_runs(objective, step):
    net, batches = toy_problem()
    result = search(net, batches, 0.1, objective, steps=8, settings=SearchSettings(step=step))
    assert result.ticket.num_kept == round(0.1 * result.ticket.num_total)
    assert all(math.isfinite(v) for v in result.objective)


def test_bad_settings_are_clear_errors():
    net, batches = toy_problem()
    with pytest.raises(ValueError, match="unknown search step 'adam'"):
        SearchSettings(step="adam")
    with pytest.raises(ValueError, match="density must be in"):
        search(net, batches, 0.0, "kl", steps=1)
    with pytest.raises(ValueError, match="unknown objective 'l2'"):
        search(net, batches, 0.1, "l2", steps=1)
    with pytest.raises(ValueError, match="expects inputs of shape"):
        from ctslib.models import build_model
        model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
        search(model, [(torch.randn(4, 3, 32, 32), torch.zeros(4, dtype=torch.long))], 0.1, "kl", steps=1)


@needs_fashion_mnist
def test_gradbalance_meets_kappa_eff_on_real_data():
    """LeNet-300-100 on (a subset of) Fashion-MNIST at 2% density: E[density] ends within 10% of kappa_eff."""
    from ctslib.data import Batches, load_dataset
    from ctslib.models import build_model

    data = load_dataset("fashion_mnist", "train").subset(8192, seed=0)
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    g = torch.Generator().manual_seed(0)
    kappa = 0.02
    result = search(model, Batches(data, 128, generator=g), kappa, "kl", steps=600, generator=g)
    kappa_eff = 1.1 * kappa
    assert abs(result.expected_density[-1] - kappa_eff) / kappa_eff < 0.10
    assert result.ticket.num_kept == round(kappa * 266200)
    assert max(result.lam) > 0  # the balancer actually engaged
