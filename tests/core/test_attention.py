"""Models outside the zoo: a small transformer classifier (nn.TransformerEncoder over Fashion-MNIST patches).

Its attention projections are prunable, every objective works on it (R_feature included, and the objectives that
differentiate a gradient), the search runs with dropout off, and a CTS_KL ticket trains.
"""

import pytest
import torch
from torch import nn

from helpers import needs_fashion_mnist
from ctslib import pruners
from ctslib.cts import search
from ctslib.data import Batches, load_dataset
from ctslib.objectives import OBJECTIVES, FunctionalNet, evaluate_objectives, feature_modules, scoring_mode
from ctslib.tickets import Ticket, num_to_keep, prunable_names
from ctslib.training import Schedule, evaluate, train

pytestmark = pytest.mark.usefixtures("one_thread")


class PatchTransformer(nn.Module):
    """7x7 patches of a 28x28 image (16 tokens) -> linear embedding -> pre-norm encoder (with dropout) -> mean -> head."""

    def __init__(self, dim=32, depth=2, heads=4, patch=7, num_classes=10, dropout=0.1):
        super().__init__()
        torch.manual_seed(0)
        self.patch = patch
        self.embed = nn.Linear(patch * patch, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        p = self.patch
        tokens = x.unfold(2, p, p).unfold(3, p, p).reshape(x.shape[0], -1, p * p)
        return self.head(self.encoder(self.embed(tokens)).mean(1))


def attention_weights(names):
    return [n for n in names if n.endswith("in_proj_weight")]


@pytest.fixture(scope="module")
def data():
    return load_dataset("fashion_mnist", "train").subset(2000, seed=0)


def test_attention_projections_are_prunable_and_nothing_else():
    model = PatchTransformer()
    names = prunable_names(model)
    layer = [f"encoder.layers.{i}.{w}" for i in range(2) for w in
             ("self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight", "linear2.weight")]
    assert names == ["embed.weight", *layer, "head.weight"]
    d = sum(p.numel() for n, p in model.named_parameters() if n in names)
    assert d == 49 * 32 + 2 * (3 * 32 * 32 + 32 * 32 + 2 * 32 * 32 * 2) + 32 * 10
    # separate Q/K/V weights (keys and values of another size)
    cross = nn.MultiheadAttention(8, 2, kdim=4, vdim=6)
    assert prunable_names(cross) == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"]


def test_feature_modules_fold_out_proj_into_its_attention():
    model = PatchTransformer()
    names = [n for n, _ in feature_modules(model)]
    per_layer = [f"encoder.layers.{i}.{m}" for i in range(2) for m in ("self_attn", "linear1", "linear2")]
    assert names == ["embed", *per_layer, "head"]
    logits, features = FunctionalNet(model).with_features(None, torch.randn(3, 1, 28, 28))
    assert len(features) == len(names)
    assert all(isinstance(f, torch.Tensor) for f in features)  # attention's (output, weights) -> output
    assert torch.equal(features[-1], logits)


def test_feature_matching_fails_loudly_where_it_cannot_be_defined():
    model = PatchTransformer()
    only_out_proj = ["encoder.layers.0.self_attn.out_proj.weight"]  # attention never calls its out_proj
    with pytest.raises(ValueError, match="out_proj.*did not run"):
        FunctionalNet(model, only_out_proj).with_features(None, torch.randn(2, 1, 28, 28))

    class DictOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)

    class Wrapper(nn.Module):
        feature_modules = ("inner",)

        def __init__(self):
            super().__init__()
            self.inner = DictOut()
            self.inner.register_forward_hook(lambda m, i, o: {"out": o})  # a module that returns a dict

        def forward(self, x):
            return self.inner(x)["out"]

    with pytest.raises(TypeError, match="'inner'.*dict"):
        FunctionalNet(Wrapper()).with_features(None, torch.randn(2, 4))


def test_search_and_scores_run_with_dropout_off_and_batch_statistics():
    model = PatchTransformer(dropout=0.5)
    model.eval()
    seen = []
    for module in model.modules():
        module.register_forward_pre_hook(lambda m, i: seen.append((type(m).__name__, m.training)))
    with scoring_mode(model):
        model(torch.randn(2, 1, 28, 28))
    modes = dict(seen)
    assert modes["Dropout"] is False and modes["MultiheadAttention"] is False
    assert modes["TransformerEncoderLayer"] is True and modes["LayerNorm"] is True
    assert not any(m.training for m in model.modules())  # modes restored
    # the objective of a fixed mask is then a function of the mask alone: two evaluations agree exactly
    x = torch.randn(8, 1, 28, 28)
    y = torch.randint(0, 10, (8,))
    ticket = Ticket.from_scores({n: torch.rand_like(p) for n, p in model.named_parameters()
                                 if n in prunable_names(model)}, 0.3)
    first = evaluate_objectives(model, ticket.masks, [(x, y)], ["kl", "feature"])
    assert evaluate_objectives(model, ticket.masks, [(x, y)], ["kl", "feature"]) == first


@needs_fashion_mnist
def test_cts_ticket_for_a_transformer_with_every_objective(data):
    """Every objective draws a ticket with the exact count that prunes the attention projections; the CTS_KL
    ticket trains well above chance."""
    model = PatchTransformer()
    d = sum(p.numel() for n, p in model.named_parameters() if n in prunable_names(model))
    batches = Batches(data, 100, shuffle=True, augment=False, generator=torch.Generator().manual_seed(0))
    tickets = {}
    for objective in OBJECTIVES:
        result = search(model, batches, density=0.1, objective=objective, steps=8,
                        generator=torch.Generator().manual_seed(1))
        ticket = result.ticket
        assert ticket.num_kept == num_to_keep(0.1, d), objective
        assert set(ticket.masks) == set(prunable_names(model))
        for name in attention_weights(ticket.masks):
            assert 0 < ticket.layer_densities()[name] < 1, (objective, name)
        assert all(torch.isfinite(torch.tensor(v)) for v in result.objective), objective
        tickets[objective] = ticket
    test = load_dataset("fashion_mnist", "test").subset(1000, seed=0)
    schedule = Schedule(epochs=2, batch_size=100, lr=0.05, milestones=(), augment=False)
    train(model, data, schedule, ticket=tickets["kl"], generator=torch.Generator().manual_seed(2))
    params = dict(model.named_parameters())
    for name, mask in tickets["kl"].masks.items():
        assert torch.all(params[name][~mask] == 0), name
    assert evaluate(model, test)["top1"] > 0.25  # chance is 0.1 (measured: 0.32; the dense net 0.62 with Adam)


@needs_fashion_mnist
@pytest.mark.parametrize("method", ["snip", "grasp", "saliency"])
def test_data_driven_baselines_work_on_attention(method, data):
    model = PatchTransformer()
    batches = pruners.scoring_batches(data, 100, generator=torch.Generator().manual_seed(0))
    if method == "snip":
        scores = pruners.snip_scores(model, batches)
    elif method == "grasp":  # a Hessian-gradient product: a double backward through attention
        scores = pruners.grasp_scores(model, batches)
    else:
        scores = pruners.saliency_scores(model, batches, "grad", generator=torch.Generator().manual_seed(0))
    assert set(attention_weights(scores)) == set(attention_weights(prunable_names(model)))
    for name in attention_weights(scores):
        assert torch.isfinite(scores[name]).all() and scores[name].abs().sum() > 0, (method, name)
    assert Ticket.from_scores(scores, 0.05).num_kept == num_to_keep(0.05, sum(s.numel() for s in scores.values()))
