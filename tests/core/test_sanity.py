"""Tests for ctslib.sanity: shuffle, inversion, reinitialisation, the pipeline's ablations, objective scoring."""

import math

import pytest
import torch

from ctslib import sanity
from ctslib.runs.config import RunConfig
from ctslib.data import load_dataset
from ctslib.models import build_model
from ctslib.objectives import PAPER_OBJECTIVES
from ctslib.runs.pipeline import execute
from ctslib.tickets import Ticket, prunable_parameters

MNIST = dict(in_channels=1, image_size=28, num_classes=10)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return load_dataset("fashion_mnist", "train").subset(2000)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("lenet300", **MNIST)


def random_scores(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(p.shape, generator=g) for n, p in prunable_parameters(model).items()}


def counts(ticket):
    return {n: int(m.sum()) for n, m in ticket.masks.items()}


def test_shuffle_keeps_every_layer_count(model):
    ticket = Ticket.from_scores(random_scores(model), 0.05)
    shuffled = sanity.layerwise_shuffle(ticket, torch.Generator().manual_seed(0))
    assert counts(shuffled) == counts(ticket)
    assert shuffled != ticket
    assert shuffled == sanity.layerwise_shuffle(ticket, torch.Generator().manual_seed(0))  # seeded
    assert shuffled != sanity.layerwise_shuffle(ticket, torch.Generator().manual_seed(1))


@pytest.mark.parametrize("density", [0.01, 0.3, 0.7])
def test_inversion_is_global_keeps_the_count_and_is_disjoint_below_half(model, density):
    """The paper's inversion (Section V-D) and Synaptic-Flow's: the network's lowest-scored weights, as many as the
    ticket keeps; the layer-wise densities move with it."""
    scores = random_scores(model)
    ticket = Ticket.from_scores(scores, density)
    inverted = sanity.invert(ticket, scores)
    assert inverted.num_kept == ticket.num_kept
    assert inverted == sanity.invert_scores(scores, ticket) == sanity.invert_scores(scores, density)
    kept = torch.cat([m.reshape(-1) for m in ticket.masks.values()])
    inv = torch.cat([m.reshape(-1) for m in inverted.masks.values()])
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    if density < 0.5:
        assert not (kept & inv).any()
    else:
        assert (kept | inv).all()  # above half, the two overlap as little as possible
    assert flat[inv].max() <= flat[~inv].min()  # the lowest scores of the whole network


def test_inversion_moves_layer_densities_when_layers_score_differently(model):
    scores = random_scores(model)
    scores["fc3.weight"] = scores["fc3.weight"] + 10  # one layer outscores the rest: the ticket is mostly fc3
    ticket = Ticket.from_scores(scores, 0.005)  # 1331 weights: all of fc3's 1000, and some others
    assert ticket.masks["fc3.weight"].all()
    assert not sanity.invert(ticket, scores).masks["fc3.weight"].any()
    assert counts(sanity.invert_layerwise(ticket, scores)) == counts(ticket)


@pytest.mark.parametrize("density", [0.01, 0.3, 0.7])
def test_layerwise_inversion_keeps_every_layer_count_and_is_disjoint_below_half(model, density):
    scores = random_scores(model)
    ticket = Ticket.from_scores(scores, density)
    inverted = sanity.invert_layerwise(ticket, scores)
    assert counts(inverted) == counts(ticket)
    for name, mask in ticket.masks.items():
        inv = inverted.masks[name]
        if mask.float().mean() < 0.5:
            assert not (mask & inv).any(), name
        else:
            assert (mask | inv).all(), name
        if inv.any() and (~inv).any():
            assert scores[name][inv].max() <= scores[name][~inv].min()  # each layer's lowest scores


def test_inversion_with_tied_scores_stays_disjoint(model):
    scores = {n: torch.zeros_like(s) for n, s in random_scores(model).items()}  # e.g. CTS's alpha_logit at step 0
    ticket = Ticket.from_scores(scores, 0.1)
    for invert in (sanity.invert, sanity.invert_layerwise):
        inverted = invert(ticket, scores)
        assert inverted.num_kept == ticket.num_kept
        assert not any((ticket.masks[n] & inverted.masks[n]).any() for n in ticket.masks)


def test_reinitialize_redraws_kept_weights_from_kaiming_normal(model):
    ticket = Ticket.from_scores(random_scores(model), 0.5)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    sanity.reinitialize(model, ticket, torch.Generator().manual_seed(123))
    params = dict(model.named_parameters())
    for name, mask in ticket.masks.items():
        w = params[name].detach()
        assert torch.count_nonzero(w[~mask]) == 0
        assert not torch.isclose(w[mask], before[name][mask]).any()
        fan_in = w.shape[1]
        assert w[mask].std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.05)
    assert torch.equal(params["fc1.bias"], before["fc1.bias"])


def test_apply_ablation_dispatch(model):
    scores = random_scores(model)
    ticket = Ticket.from_scores(scores, 0.05)
    g = torch.Generator().manual_seed(0)
    assert counts(sanity.apply_ablation("shuffle", ticket, model, g)) == counts(ticket)
    assert sanity.apply_ablation("invert", ticket, model, g, scores=scores) == sanity.invert(ticket, scores)
    assert (sanity.apply_ablation("invert_layerwise", ticket, model, g, scores=scores)
            == sanity.invert_layerwise(ticket, scores))
    w = model.fc1.weight.detach().clone()
    assert sanity.apply_ablation("reinit", ticket, model, g) is ticket
    assert not torch.equal(model.fc1.weight, w)
    with pytest.raises(ValueError, match="needs the scores.*'random'"):
        sanity.apply_ablation("invert", ticket, model, g, scores=None, method="random")
    with pytest.raises(ValueError, match="unknown ablation"):
        sanity.apply_ablation("flip", ticket, model, g)


def test_pipeline_runs_the_inversion_of_a_drawn_ticket():
    base = dict(method="snip", density=0.05, rewind_step=0, epochs=1, milestones=(), train_examples=2000,
                device="cpu")
    plain = execute(RunConfig(**base))
    inverted = execute(RunConfig(**base, ablation="invert"))
    assert inverted.ticket.num_kept == plain.ticket.num_kept
    assert not any((mask & inverted.ticket.masks[name]).any() for name, mask in plain.ticket.masks.items())
    layerwise = execute(RunConfig(**base, ablation="invert_layerwise"))
    assert plain.metrics["layer_density"] == pytest.approx(layerwise.metrics["layer_density"], abs=0)


def test_fixed_eval_batches_and_objective_scores(model, data):
    a = sanity.fixed_eval_batches(data, 2, 64, seed=3)
    b = sanity.fixed_eval_batches(data, 2, 64, seed=3)
    c = sanity.fixed_eval_batches(data, 2, 64, seed=4)
    assert len(a) == 2 and a[0][0].shape == (64, 1, 28, 28)
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))
    assert not torch.equal(a[0][1], c[0][1])
    with pytest.raises(ValueError, match="asked for"):
        sanity.fixed_eval_batches(data, 100, 64)

    dense = sanity.score_ticket_objectives(model, Ticket.dense(model), a)
    assert set(dense) == set(PAPER_OBJECTIVES)
    assert dense["kl"] == pytest.approx(0, abs=1e-6) and dense["feature"] == pytest.approx(0, abs=1e-6)
    sparse = sanity.score_ticket_objectives(model, Ticket.from_scores(random_scores(model), 0.01), a, ["kl", "task"])
    assert set(sparse) == {"kl", "task"} and sparse["kl"] > 0.01
