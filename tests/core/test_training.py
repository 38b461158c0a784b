import pytest
import torch

from helpers import needs_fashion_mnist
from ctslib.data import load_dataset
from ctslib.models import build_model
from ctslib.tickets import Ticket, prunable_parameters
from ctslib.training import CIFAR10_SCHEDULE, IMAGENET_SCHEDULE, Schedule, evaluate, steps_at_batch, train


def test_paper_schedules():
    s = CIFAR10_SCHEDULE
    assert (s.epochs, s.batch_size, s.lr, s.momentum, s.weight_decay, s.milestones) == (160, 512, 0.1, 0.9, 1e-3, (80, 120))
    spe = 98  # 50000 / 512
    assert s.lr_at(0, spe) == pytest.approx(0.1)
    assert s.lr_at(80 * spe - 1, spe) == pytest.approx(0.1)
    assert s.lr_at(80 * spe, spe) == pytest.approx(0.01)
    assert s.lr_at(120 * spe, spe) == pytest.approx(0.001)
    i = IMAGENET_SCHEDULE
    assert (i.epochs, i.batch_size, i.lr, i.weight_decay, i.milestones, i.warmup_epochs) == (90, 1024, 0.4, 1e-4, (30, 60, 80), 5)
    spe = 1251
    assert i.lr_at(0, spe) == pytest.approx(0.4 / (5 * spe))  # linear warm-up
    assert i.lr_at(5 * spe, spe) == pytest.approx(0.4)
    assert i.lr_at(85 * spe, spe) == pytest.approx(0.4e-3)


def test_rewind_iterations_are_counted_at_batch_128():
    assert steps_at_batch(3000, 512) == 750  # ResNet-20's k = 3000 at the paper's batch 512
    assert steps_at_batch(6000, 512) == 1500
    assert steps_at_batch(3000, 128) == 3000


@needs_fashion_mnist
def test_masked_training_keeps_pruned_weights_exactly_zero():
    data = load_dataset("fashion_mnist", "train").subset(4096)
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    scores = {n: torch.rand_like(p) for n, p in prunable_parameters(model).items()}
    ticket = Ticket.from_scores(scores, 0.05)
    before = {n: p.detach().clone() for n, p in prunable_parameters(model).items()}
    result = train(model, data, Schedule(epochs=4, batch_size=64, milestones=(3,), augment=False),
                   generator=torch.Generator().manual_seed(0), ticket=ticket)
    assert result.steps == 4 * 64  # 4096 / 64 per epoch, 4 epochs: many steps
    for name, p in prunable_parameters(model).items():
        assert torch.count_nonzero(p[~ticket.masks[name]]) == 0, name
        kept = ticket.masks[name]
        assert not torch.equal(p[kept], before[name][kept])  # the kept weights did train
    assert result.losses[-1] < result.losses[0]


@needs_fashion_mnist
def test_evaluate_reports_topk_and_trains_above_chance():
    train_data = load_dataset("fashion_mnist", "train").subset(4096)
    test_data = load_dataset("fashion_mnist", "test").subset(2000)
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    chance = evaluate(model, test_data, topk=(1, 5))
    train(model, train_data, Schedule(epochs=2, batch_size=128, milestones=(2,), augment=False),
          generator=torch.Generator().manual_seed(0))
    acc = evaluate(model, test_data, topk=(1, 5))
    assert set(acc) == {"top1", "top5", "loss"}
    assert acc["top1"] > 0.7 > chance["top1"]
    assert acc["top5"] >= acc["top1"]


def test_start_and_stop_steps_continue_the_schedule():
    from ctslib.data import DATASETS, ImageData
    images = torch.randint(0, 255, (256, 1, 28, 28), dtype=torch.uint8)
    data = ImageData(images, torch.randint(0, 10, (256,)), DATASETS["fashion_mnist"])
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    sched = Schedule(epochs=3, batch_size=64, milestones=(2,), augment=False)
    first = train(model, data, sched, stop_step=5, generator=torch.Generator().manual_seed(0))
    rest = train(model, data, sched, start_step=5, generator=torch.Generator().manual_seed(0))
    assert (first.steps, rest.steps) == (5, 12 - 5)


def test_a_users_optimizer_keeps_its_own_settings_and_follows_the_schedules_drops():
    from ctslib.data import DATASETS, ImageData
    images = torch.randint(0, 255, (256, 1, 28, 28), dtype=torch.uint8)
    data = ImageData(images, torch.randint(0, 10, (256,)), DATASETS["fashion_mnist"])
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.8, 0.95), weight_decay=0.0)
    seen = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: seen.append(opt.param_groups[0]["lr"]))
    schedule = Schedule(epochs=2, batch_size=64, lr=0.1, weight_decay=1e-3, milestones=(1,), gamma=0.5,
                        augment=False)
    train(model, data, schedule, optimizer=optimizer, generator=torch.Generator().manual_seed(0))
    assert seen == pytest.approx([1e-3] * 4 + [5e-4] * 4)  # its own lr, dropped by the schedule's gamma at epoch 1
    group = optimizer.param_groups[0]
    assert (group["betas"], group["weight_decay"], group["initial_lr"]) == ((0.8, 0.95), 0.0, 1e-3)
    # the default optimizer is the schedule's SGD: lr from the schedule
    default_seen = []
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10)
    from ctslib.training import make_optimizer
    sgd = make_optimizer(model, schedule)
    sgd.register_step_pre_hook(lambda opt, args, kwargs: default_seen.append(opt.param_groups[0]["lr"]))
    train(model, data, schedule, optimizer=sgd, generator=torch.Generator().manual_seed(0))
    assert default_seen == pytest.approx([0.1] * 4 + [0.05] * 4)
    assert (sgd.param_groups[0]["momentum"], sgd.param_groups[0]["weight_decay"]) == (0.9, 1e-3)


def test_masked_step_keeps_the_pruned_weights_at_zero():
    """`masked_step`, the loop body of `train` and the benchmarks' "training step": one SGD step of the ticket,
    after which every pruned weight is zero again (momentum and weight decay would move them otherwise)."""
    from ctslib.tickets import Ticket
    from ctslib.training import MaskedWeights, Schedule, make_optimizer, masked_step
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    masks = {name: torch.rand_like(p) < 0.3 for name, p in model.named_parameters() if name.endswith("weight")}
    ticket = Ticket(masks)
    masked = MaskedWeights(model, ticket)
    masked.apply()
    optimizer = make_optimizer(model, Schedule(lr=0.1, momentum=0.9, weight_decay=1e-3))
    x, y = torch.randn(16, 12), torch.randint(0, 3, (16,))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(3):
        loss = masked_step(model, optimizer, masked, x, y, clip_grad_norm=1.0)
    assert not loss.requires_grad and loss.ndim == 0
    for name, p in model.named_parameters():
        if name in masks:
            assert (p[~masks[name]] == 0).all() and not torch.equal(p[masks[name]], before[name][masks[name]])
