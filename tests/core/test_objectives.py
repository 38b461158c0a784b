import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ctslib.objectives import OBJECTIVES, PAPER_OBJECTIVES, FunctionalNet, evaluate_objectives, get_objective, normalize, reverse_kl


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))


def test_six_objectives_registered():
    assert PAPER_OBJECTIVES == ("task", "delta_loss", "grad_norm", "kl", "feature", "grad")
    assert set(OBJECTIVES) == set(PAPER_OBJECTIVES) | {"forward_kl"}  # the authors' published CTS_KL runs' KL
    with pytest.raises(ValueError, match="unknown objective 'foo'"):
        get_objective("foo")


def test_reverse_kl_matches_hand_computation():
    student = torch.tensor([[2.0, 0.0, -1.0]])
    teacher = torch.tensor([[0.0, 1.0, 0.5]])
    ps = [math.exp(v) for v in (2.0, 0.0, -1.0)]
    ps = [p / sum(ps) for p in ps]
    pt = [math.exp(v) for v in (0.0, 1.0, 0.5)]
    pt = [p / sum(pt) for p in pt]
    hand = sum(a * math.log(a / b) for a, b in zip(ps, pt))  # KL(student || teacher)
    forward = sum(b * math.log(b / a) for a, b in zip(ps, pt))
    got = float(reverse_kl(student, F.log_softmax(teacher, 1)))
    assert got == pytest.approx(hand, rel=1e-5)
    assert abs(got - forward) > 1e-3  # it is the reverse, not the forward KL


def test_all_objectives_zero_or_trivial_on_dense_network():
    net = small_net()
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    masks = {n: torch.ones_like(p) for n, p in net.named_parameters() if n.endswith("weight")}
    values = evaluate_objectives(net, {n: m.bool() for n, m in masks.items()}, [(x, y)])
    assert values["kl"] == pytest.approx(0, abs=1e-6)
    assert values["delta_loss"] == pytest.approx(0, abs=1e-6)
    assert values["feature"] == pytest.approx(0, abs=1e-6)
    assert values["grad"] == pytest.approx(0, abs=1e-6)
    assert values["task"] == pytest.approx(F.cross_entropy(net(x), y).item(), rel=1e-5)
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), [net[0].weight, net[2].weight])
    assert values["grad_norm"] == pytest.approx(-float(torch.sqrt(sum((g * g).sum() for g in grads))), rel=1e-5)


def test_grad_objectives_differentiate_through_the_mask():
    net = small_net()
    fn = FunctionalNet(net)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    for name in OBJECTIVES:
        objective = get_objective(name)
        teacher = objective.teacher(fn, x, y)
        s = {n: torch.full_like(fn.theta[n], 0.7, requires_grad=True) for n in fn.prunable}
        value = objective(fn, s, x, y, teacher)
        grads = torch.autograd.grad(value, list(s.values()))
        assert all(torch.isfinite(g).all() for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name
    # the network's own parameters are never touched or given gradients
    assert all(p.grad is None for p in net.parameters())


def test_feature_objective_uses_each_prunable_layer_and_normalises():
    t = torch.randn(100) * 5 + 3
    n = normalize(t)
    assert float(n.mean()) == pytest.approx(0, abs=1e-5)
    assert float(n.var(unbiased=False)) == pytest.approx(1, abs=1e-4)
    fn = FunctionalNet(small_net())
    logits, features = fn.with_features(None, torch.randn(4, 5))
    assert [tuple(f.shape) for f in features] == [(4, 8), (4, 3)]
    assert torch.equal(features[-1], logits)
    _, again = fn.with_features(None, torch.randn(4, 5))
    assert len(again) == 2  # hooks removed after each call, nothing accumulates
