"""Scale presets: the paper's Section V-A exactly, densities on LTR's chain, clear errors."""

import pytest

from ctslib.runs import presets
from ctslib.models import build_model
from ctslib.runs.presets import PRESETS, base_config, default_densities, default_seeds, grid
from ctslib.pruners import ltr_schedule
from ctslib.tickets import num_to_keep, prunable_parameters
from ctslib.training import steps_at_batch


def test_preset_names_and_unknown_preset():
    assert PRESETS == ("smoke", "cpu", "paper")
    for call in (lambda: base_config("huge"), lambda: default_densities("huge"), lambda: default_seeds("huge")):
        with pytest.raises(ValueError, match=r"unknown preset 'huge'; choose one of: smoke, cpu, paper"):
            call()


@pytest.mark.parametrize("model, rewind", [("resnet20", 3000), ("vgg16", 6000)])
def test_paper_cifar10_is_section_v_a(model, rewind):
    c = base_config("paper", model)
    assert c.dataset == "cifar10" and c.model == model
    assert (c.epochs, c.batch_size, c.lr, c.momentum, c.weight_decay, c.milestones) == (160, 512, 0.1, 0.9, 1e-3, (80, 120))
    assert c.augment and not c.track_running_stats and c.warmup_epochs == 0
    assert c.rewind_step == rewind and steps_at_batch(c.rewind_step, c.batch_size) == rewind // 4  # counted at batch 128
    assert c.search_epochs == 160 and c.ltr_rate == 0.2 and c.train_examples == 0 and c.test_examples == 0
    assert base_config("paper", model, quick=True).search_epochs == 20  # Quick CTS
    assert default_seeds("paper") == (0, 1, 2)


def test_paper_imagenet_is_section_v_a():
    c = base_config("paper", "resnet50")
    assert c.dataset == "imagenet"
    assert (c.epochs, c.batch_size, c.lr, c.weight_decay, c.milestones, c.warmup_epochs) == (90, 1024, 0.4, 1e-4, (30, 60, 80), 5)
    assert c.search_epochs == 45 and c.ltr_rate == 0.5358  # Half CTS; LTR prunes 90% every 3 rounds
    steps_per_epoch = 1_281_167 / 1024
    assert steps_at_batch(c.rewind_step, c.batch_size) / steps_per_epoch == pytest.approx(18, abs=0.01)
    assert [1 / d for d in default_densities("paper", "resnet50")] == pytest.approx([10, 100, 1000], rel=1e-3)  # V-B


@pytest.mark.parametrize("scale, model", [("cpu", "lenet300"), ("cpu", "resnet20"), ("cpu", "vgg16"),
                                          ("paper", "resnet20"), ("paper", "vgg16"), ("paper", "resnet50")])
def test_every_scale_above_smoke_keeps_the_papers_proportions(scale, model):
    """Section V-A's proportions, whatever the budget: CTS searches as long as the network trains (ResNet-50: Half
    CTS), Quick CTS 1/8 of that, the rewind point at the paper's fraction of training (ResNet-20 3000 of 62,500
    iterations at batch 128, VGG-16 6000, ResNet-50 18 of 90 epochs; LeNet as ResNet-20), 3 seeds."""
    c = base_config(scale, model)
    assert c.search_epochs == c.epochs * (0.5 if model == "resnet50" else 1.0)
    assert base_config(scale, model, quick=True).search_epochs == c.epochs / 8
    examples = c.train_examples or presets.DATASETS[c.dataset].train_size
    fraction = c.rewind_step / (c.epochs * examples / 128)  # rewind_step counts iterations at batch 128
    paper = {"lenet300": 0.048, "resnet20": 0.048, "vgg16": 0.096, "resnet50": 0.2}[model]
    assert fraction == pytest.approx(paper, abs=0.5 / (c.epochs * examples / 128) + 1e-12)  # up to rounding to a step
    assert c.ltr_rate == (0.5358 if model == "resnet50" else 0.2)
    assert default_seeds(scale) == (0, 1, 2)


def test_the_proportions_follow_an_overridden_schedule_unless_given():
    c = base_config("cpu", "lenet300", epochs=8, train_examples=20_000)
    assert c.search_epochs == 8 and c.rewind_step == round(0.048 * 8 * 20_000 / 128)
    assert base_config("cpu", "lenet300", epochs=8, quick=True).search_epochs == 1
    explicit = base_config("cpu", "lenet300", epochs=8, search_epochs=2.0, rewind_step=0)
    assert (explicit.search_epochs, explicit.rewind_step) == (2.0, 0)


def test_models_without_a_setting_at_a_scale_say_which_scale_has_one():
    with pytest.raises(ValueError, match=r"preset 'paper' has no setting for model 'lenet300'.*'smoke' or 'cpu'"):
        base_config("paper", "lenet300")
    with pytest.raises(ValueError, match=r"resnet50.*'paper'"):
        base_config("cpu", "resnet50")
    with pytest.raises(ValueError, match=r"unknown model 'resnet99'"):
        base_config("cpu", "resnet99")


def test_defaults_overrides_and_environment(monkeypatch):
    monkeypatch.delenv("CTS_SCALE", raising=False)
    c = base_config()
    assert (c.model, c.dataset, c.train_examples) == ("lenet300", "fashion_mnist", 15_000)  # cpu: a quarter of the data
    # every model on Fashion-MNIST at smoke and cpu scale (the data this machine has), the paper's data at paper scale
    assert base_config("cpu", "resnet20").dataset == "fashion_mnist" == base_config("smoke", "vgg16").dataset
    assert base_config("paper", "resnet20").dataset == "cifar10" and base_config("paper", "resnet50").dataset == "imagenet"
    assert base_config("cpu", "resnet20", "cifar10").dataset == "cifar10"
    s = base_config("smoke", method="random", density=0.3, seed=4, epochs=3)
    assert (s.method, s.density, s.seed, s.epochs, s.train_examples) == ("random", 0.3, 4, 3, 2000)
    assert default_seeds("smoke") == (0,) and default_seeds("cpu") == (0, 1, 2)
    monkeypatch.setenv("CTS_SCALE", "smoke")
    assert base_config() == base_config("smoke") and default_seeds() == (0,)
    monkeypatch.setenv("CTS_SCALE", "tiny")
    with pytest.raises(ValueError, match="unknown preset 'tiny'"):
        base_config()
    with pytest.raises(ValueError, match=r"unknown config field\(s\) \['epoch'\]"):
        base_config("smoke", epoch=3)


@pytest.mark.parametrize("scale, model", [(s, m) for (s, m) in presets._DENSITY_ROUNDS if m != "resnet50"])
def test_default_densities_are_on_the_ltr_chain(scale, model):
    """One LTR run to the sparsest density passes through every other one (matched by kept count)."""
    densities = default_densities(scale, model)
    config = base_config(scale, model)
    info = {"fashion_mnist": (1, 28), "cifar10": (3, 32)}[config.dataset]
    net = build_model(model, in_channels=info[0], image_size=info[1], num_classes=10)
    total = sum(p.numel() for p in prunable_parameters(net).values())
    chain = ltr_schedule(total, min(densities), config.ltr_rate)
    assert all(num_to_keep(d, total) in chain for d in densities)
    assert list(densities) == sorted(densities, reverse=True) and all(0 < d < 1 for d in densities)


def test_resnet50_densities_are_on_its_chain():
    total = 25_502_912  # ResNet-50's conv and linear weights
    densities = default_densities("paper", "resnet50")
    chain = ltr_schedule(total, min(densities), 0.5358)
    assert all(num_to_keep(d, total) in chain for d in densities) and len(chain) == 9


def test_grid():
    configs = grid("smoke", methods=("cts", "random", "dense"), objectives=("kl", "task"), densities=(0.5, 0.1),
                   seeds=(0, 1))
    assert len(configs) == 2 * 2 * 2 + 2 * 2 + 2  # cts: objectives x densities x seeds; random; dense once a seed
    assert len({c.run_id for c in configs}) == len(configs)
    assert {c.density for c in configs if c.method == "dense"} == {1.0}
    assert len(grid("smoke", methods=("ltr",))) == len(default_densities("smoke")) * len(default_seeds("smoke"))
    assert all(c.search_epochs == c.epochs / 8 for c in grid("smoke", quick=True))
