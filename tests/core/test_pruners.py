"""Tests for ctslib.pruners: exact counts, layer collapse, SynFlow, SNIP, GraSP, saliency and LTR with rewinding."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ctslib import pruners
from ctslib.runs.config import RunConfig
from ctslib.data import load_dataset
from ctslib.runs.methods import METHODS, DrawContext, get_method
from ctslib.models import build_model
from ctslib.tickets import Ticket, num_to_keep, prunable_names, prunable_parameters
from ctslib.training import Schedule, clone_state, evaluate, train

MNIST = dict(in_channels=1, image_size=28, num_classes=10)
BASELINES = ("snip", "grasp", "synflow", "saliency", "ltr")


class TinyConv(nn.Module):
    """Conv + BatchNorm + max-pool net whose final linear layer is kept dense, like VGG-16's."""

    dense_parameters = ("fc.weight",)

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU(),
            nn.MaxPool2d(4),
            nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8, track_running_stats=False), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return load_dataset("fashion_mnist", "train").subset(2000)


@pytest.fixture(scope="module")
def test_data():
    return load_dataset("fashion_mnist", "test")


def context(net, data, seed=0, **config):
    cfg = RunConfig(**{"rewind_step": 0, "epochs": 1, "milestones": (), "synflow_rounds": 10, **config})
    return DrawContext(model=net, train_data=data, config=cfg, device=torch.device("cpu"),
                       generator=torch.Generator().manual_seed(seed), rewind_state=clone_state(net))


def test_every_baseline_is_registered():
    assert set(BASELINES) <= set(METHODS)


@pytest.mark.parametrize("method", BASELINES + ("random", "magnitude"))
def test_exact_count_and_dense_layer_excluded(method, data):
    torch.manual_seed(0)
    model = TinyConv()
    before = clone_state(model)
    density = 0.1
    drawn = get_method(method).draw(context(model, data, density=density, ltr_rate=0.5))
    d = sum(p.numel() for p in prunable_parameters(model).values())
    assert d == 4 * 9 + 8 * 4 * 9  # fc.weight is not prunable
    assert "fc.weight" not in drawn.ticket.masks
    assert drawn.ticket.num_kept == num_to_keep(density, d) == round(density * d)
    assert drawn.scores is not None and Ticket.from_scores(drawn.scores, density) == drawn.ticket
    if method in BASELINES:
        assert drawn.info["collapsed_layers"] == drawn.ticket.collapsed_layers() == []
    for name, value in model.state_dict().items():  # the method never changes the model it is given
        assert torch.equal(value, before[name]), name


def test_vgg16_exact_count(data):
    torch.manual_seed(0)
    model = build_model("vgg16", **MNIST)
    drawn = get_method("snip").draw(context(model, data, model="vgg16", density=0.01))
    d = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight") and p.ndim > 1) - 512 * 10
    assert drawn.ticket.num_total == d and "fc.weight" not in drawn.ticket.masks
    assert drawn.ticket.num_kept == round(0.01 * d)


# --- layer collapse ---------------------------------------------------------------------------------

def test_collapsed_layer_is_reported_trains_and_scores_chance(data, test_data):
    torch.manual_seed(0)
    model = build_model("lenet300", **MNIST)
    with torch.no_grad():
        model.fc1.weight.mul_(1e-6)  # fc1's SNIP scores vanish: a 1% ticket empties it
    drawn = get_method("snip").draw(context(model, data, density=0.01))
    assert drawn.info["collapsed_layers"] == ["fc1.weight"]
    assert drawn.ticket.num_kept == round(0.01 * drawn.ticket.num_total)

    schedule = Schedule(epochs=1, batch_size=128, lr=0.1, milestones=(), augment=False)
    result = train(model, data, schedule, ticket=drawn.ticket, stop_step=5, generator=torch.Generator().manual_seed(0))
    assert result.steps == 5 and all(math.isfinite(x) for x in result.losses)
    assert torch.count_nonzero(model.fc1.weight) == 0
    # The output no longer depends on the input: one class for every image, 1000 of 10000 test images.
    assert evaluate(model, test_data)["top1"] == pytest.approx(0.1, abs=1e-9)


# --- SynFlow ----------------------------------------------------------------------------------------

def test_synflow_is_data_independent(data):
    torch.manual_seed(0)
    model = TinyConv()
    other = load_dataset("fashion_mnist", "train").subset(500, seed=7)
    a = get_method("synflow").draw(context(model, data, seed=0, density=0.05))
    b = get_method("synflow").draw(context(model, other, seed=1, density=0.05))
    assert a.ticket == b.ticket and a.epochs == 0.0
    assert a.ticket.num_kept == round(0.05 * a.ticket.num_total)
    assert not a.ticket.collapsed_layers()  # SynFlow's point: no layer collapse


def test_synflow_single_round_matches_hand_computation():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4, bias=False), nn.ReLU(), nn.Linear(4, 2, bias=False))
    w1, w2 = net[0].weight.detach().abs().double(), net[2].weight.detach().abs().double()
    assert (net[0].weight < 0).any()  # the linearisation must take absolute values
    scores = pruners.synflow_scores(net, (3,))
    assert all(s.dtype == torch.float64 for s in scores.values())  # float64 all the way to the ranking
    # R = 1' |W2| |W1| 1; dR/d|W1|_ij = (1'|W2|)_i, dR/d|W2|_ki = (|W1| 1)_i
    expected1 = w2.sum(0)[:, None] * w1
    expected2 = w2 * w1.sum(1)[None, :]
    torch.testing.assert_close(scores["0.weight"], expected1)
    torch.testing.assert_close(scores["2.weight"], expected2)
    r = w2.sum(0) @ w1.sum(1)
    torch.testing.assert_close(scores["0.weight"].sum(), r)  # synaptic-flow conservation:
    torch.testing.assert_close(scores["2.weight"].sum(), r)  # every layer's scores sum to R


def test_synflow_iterative_prunes_to_target_and_is_nested():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 30, bias=False), nn.ReLU(), nn.Linear(30, 5, bias=False))
    ticket, scores = pruners.synflow(net, (20,), 0.1, rounds=5)
    assert ticket.num_kept == round(0.1 * 750)
    # the scores rank the whole network as the rounds pruned it: a weight pruned in round r scores in [r - 1, r),
    # a survivor >= 5; so every round's ticket is their top-k, and their lowest are the weights pruned first
    flat = torch.cat([s.reshape(-1) for s in scores.values()])
    assert flat.dtype == torch.float64 and len(flat.unique()) == 750  # no ties, unlike the last round's raw flow
    assert Ticket.from_scores(scores, 0.1) == ticket
    survivors = torch.cat([scores[n][ticket.masks[n]] for n in scores])
    assert float(survivors.min()) >= 5
    for r in range(1, 5):
        assert int((flat >= r).sum()) == num_to_keep(0.1 ** (r / 5), 750)  # round r's ticket: exactly these
    one_shot = Ticket.from_scores(pruners.synflow_scores(net, (20,)), 0.1)
    assert ticket != one_shot  # the rounds re-score the pruned network


@pytest.mark.parametrize("name, input_shape, classes", [("resnet50", (3, 224, 224), 1000), ("vgg16", (3, 32, 32), 10)])
def test_synflow_ranks_deep_networks_exactly(name, input_shape, classes):
    """On deep networks the flow exceeds float32's range: cast to float32, all but 4 of ResNet-50's 25.5M scores
    were inf, the top-k kept weights by position and 42 of 54 layers collapsed, silently. Kept in float64 the
    ranking is exact: the kept count is exact, the kept weights outscore the pruned ones, and every layer the
    ticket empties is reported. (One round, so the ticket is the top-k of the returned scores.)"""
    from ctslib.data import DATASETS, ImageData
    torch.manual_seed(0)
    model = build_model(name, in_channels=3, image_size=input_shape[1], num_classes=classes)
    info = DATASETS["imagenet" if name == "resnet50" else "cifar10"]
    image = ImageData(torch.zeros((1, *input_shape), dtype=torch.uint8), torch.zeros(1, dtype=torch.long), info)
    raw = pruners.synflow_scores(model, input_shape)  # one round's flow
    flat = torch.cat([s.reshape(-1) for s in raw.values()])
    assert flat.dtype == torch.float64 and torch.isfinite(flat).all()
    if name == "resnet50":
        assert float(flat.max()) > torch.finfo(torch.float32).max  # the regime that broke the float32 ranking
    ticket = Ticket.from_scores(raw, 0.001)
    assert ticket.num_kept == num_to_keep(0.001, ticket.num_total)
    if name == "vgg16":  # the method's draw (one round: the same ranking) reports the layers it empties
        drawn = get_method("synflow").draw(context(model, image, density=0.001, synflow_rounds=1))
        assert drawn.ticket == ticket
        assert drawn.info["collapsed_layers"] == ticket.collapsed_layers()
    kept = torch.cat([raw[n][ticket.masks[n]] for n in raw])
    pruned = torch.cat([raw[n][~ticket.masks[n]] for n in raw])
    assert float(kept.min()) >= float(pruned.max())


def test_non_finite_scores_are_refused():
    scores = {"a": torch.tensor([1.0, 2.0]), "b": torch.tensor([float("nan"), 0.5])}
    with pytest.raises(ValueError, match="NaN or \\+inf.*'b'"):
        Ticket.from_scores(scores, 0.5)
    scores["b"] = torch.tensor([float("inf"), 0.5])
    with pytest.raises(ValueError, match="'b'"):
        Ticket.from_scores(scores, 0.5)
    scores["b"] = torch.tensor([-float("inf"), 0.5])  # -inf: "never keep", as LTR and SynFlow mark pruned weights
    assert Ticket.from_scores(scores, 0.5).masks["b"].tolist() == [False, False]


# --- SNIP, GraSP, saliency ----------------------------------------------------------------------------

def test_snip_scores_equal_abs_grad_times_weight(data):
    torch.manual_seed(0)
    model = build_model("lenet300", **MNIST)
    batches = pruners.scoring_batches(data, 64, 10, torch.Generator().manual_seed(0))
    assert len(batches) == 2 and sum(len(y) for _, y in batches) == 100
    assert all(torch.bincount(torch.cat([y for _, y in batches]), minlength=10).eq(10))
    scores = pruners.snip_scores(model, batches)
    model.zero_grad()
    for x, y in batches:
        F.cross_entropy(model(x), y).backward()
    for name, p in prunable_parameters(model).items():
        torch.testing.assert_close(scores[name], (p.grad * p).abs())
    assert pruners.snip(model, batches, 0.02) == Ticket.from_scores(scores, 0.02)


def test_grasp_scores_are_theta_times_hessian_gradient_product(data):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.Tanh(), nn.Linear(16, 10))
    net.input_shape = (1, 28, 28)
    batches = pruners.scoring_batches(data, 128, 3, torch.Generator().manual_seed(0))
    names = prunable_names(net)
    params = dict(net.named_parameters())

    def loss(*weights):
        p = {**params, **dict(zip(names, weights))}
        x, y = batches[0]
        return F.cross_entropy(torch.func.functional_call(net, p, (x,)) / pruners.GRASP_TEMPERATURE, y)

    theta = tuple(params[n].detach() for n in names)
    g = torch.func.grad(loss, argnums=tuple(range(len(theta))))(*theta)
    _, hg = torch.autograd.functional.hvp(loss, theta, tuple(g))
    scores = pruners.grasp_scores(net, batches)
    for n, t, h in zip(names, theta, hg):
        torch.testing.assert_close(scores[n], t * h, rtol=1e-4, atol=1e-12)
    # keep the largest theta*Hg = remove GraSP's largest -theta*Hg
    kept = pruners.grasp(net, batches, 0.1)
    flat = torch.cat([(t * h).flatten() for t, h in zip(theta, hg)])
    kept_flat = torch.cat([kept.masks[n].flatten() for n in names])
    assert flat[kept_flat].min() >= flat[~kept_flat].max()


def test_saliency_without_noise_is_snip_and_kl_needs_the_noise(data):
    torch.manual_seed(0)
    model = build_model("lenet300", **MNIST)
    batches = pruners.scoring_batches(data, 128, 10, torch.Generator().manual_seed(0))
    task = pruners.saliency_scores(model, batches, "task", sigma=0.0)
    snip = pruners.snip_scores(model, batches)
    for n in snip:
        torch.testing.assert_close(task[n], snip[n], rtol=1e-4, atol=1e-10)
    flat = lambda s: torch.cat([v.flatten() for v in s.values()])
    assert flat(pruners.saliency_scores(model, batches, "kl", sigma=0.0)).abs().max() < 1e-6
    noisy = pruners.saliency_scores(model, batches, "kl", generator=torch.Generator().manual_seed(0))
    assert flat(noisy).gt(0).float().mean() > 0.5
    drawn = get_method("saliency").draw(context(model, data, density=0.05, objective="grad_norm"))
    assert drawn.ticket.num_kept == round(0.05 * drawn.ticket.num_total)
    assert drawn.info["objective"] == "grad_norm"


# --- LTR ----------------------------------------------------------------------------------------------

def test_ltr_schedule_rounding():
    d = 1000
    counts = pruners.ltr_schedule(d, 0.5, 0.2)
    assert counts == [800, 640, 512, 500]  # 0.8^3 = 0.512 > 0.5, so a 4th round stops at the target
    assert pruners.ltr_schedule(d, 0.512, 0.2) == [800, 640, 512]
    assert len(pruners.ltr_schedule(266_200, 0.01, 0.2)) == 21  # 0.8^20 > 1% >= 0.8^21
    assert pruners.ltr_schedule(d, 1.0, 0.2) == []  # nothing to prune, nothing to train


def test_ltr_densities_rewinding_and_magnitude_pruning(data, monkeypatch):
    torch.manual_seed(0)
    model = build_model("lenet300", **MNIST)
    schedule = Schedule(epochs=2, batch_size=128, lr=0.05, milestones=(), augment=False)
    generator = torch.Generator().manual_seed(0)
    k = 6  # rewind step, at batch 128
    train(model, data, schedule, stop_step=k, generator=generator)
    rewind = clone_state(model)

    calls = []
    real_train = pruners.train

    def recording_train(net, *args, ticket, **kwargs):
        start = {n: p.detach().clone() for n, p in net.named_parameters()}
        result = real_train(net, *args, ticket=ticket, **kwargs)
        calls.append((ticket, start, {n: p.detach().clone() for n, p in net.named_parameters()}, kwargs))
        return result

    monkeypatch.setattr(pruners, "train", recording_train)
    final, tickets, epochs, scores = pruners.ltr(model, data, schedule, 0.5, rewind, k, 0.2, generator)

    d = final.num_total
    expected = [round(d * 0.8 ** n) for n in (1, 2, 3)] + [round(0.5 * d)]
    assert [t.num_kept for t in tickets.values()] == expected
    assert list(tickets) == [c / d for c in expected] and final == tickets[0.5]
    assert len(calls) == 4
    steps_per_epoch = math.ceil(len(data) / 128)
    assert epochs == pytest.approx(4 * (2 * steps_per_epoch - k) / steps_per_epoch)
    sequence = [Ticket.dense(model)] + list(tickets.values())
    for r, (ticket, start, trained, kwargs) in enumerate(calls):
        assert ticket == sequence[r] and kwargs["start_step"] == k
        for name, value in start.items():  # every round starts from theta_k: survivors are rewound
            torch.testing.assert_close(value, rewind[name], rtol=0, atol=0)
        # the next ticket: the largest trained magnitudes among this round's survivors
        magnitude = torch.cat([trained[n].abs().flatten() for n in ticket.masks])
        alive = torch.cat([ticket.masks[n].flatten() for n in ticket.masks])
        kept = torch.cat([sequence[r + 1].masks[n].flatten() for n in ticket.masks])
        assert not (kept & ~alive).any()
        assert magnitude[kept].min() >= magnitude[alive & ~kept].max()
    for density, ticket in tickets.items():  # the returned scores rank every ticket of the run
        assert Ticket.from_scores(scores, density) == ticket
    for name, value in model.state_dict().items():  # LTR trained a copy
        torch.testing.assert_close(value, rewind[name], rtol=0, atol=0)


def test_draw_ltr_records_curve_and_epochs(data):
    torch.manual_seed(0)
    model = build_model("lenet300", **MNIST)
    drawn = get_method("ltr").draw(context(model, data, density=0.3, ltr_rate=0.5, epochs=1))
    assert list(drawn.tickets) == pytest.approx([0.5, 0.3], abs=1e-5)
    assert drawn.ticket.num_kept == round(0.3 * drawn.ticket.num_total)
    assert drawn.epochs == pytest.approx(2.0) and drawn.info["rounds"] == 2
