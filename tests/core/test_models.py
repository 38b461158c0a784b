"""Tests for ctslib.models: registry, exact sizes, shapes, BN stats, seeding and input checks."""

import pytest
import torch
from torch import nn

from ctslib.models import MODELS, build_model, count_parameters

MNIST = dict(in_channels=1, image_size=28, num_classes=10)
CIFAR = dict(in_channels=3, image_size=32, num_classes=10)


def _conv_linear_weight_count(model):
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_registry_names():
    assert list(MODELS) == ["lenet300", "resnet20", "vgg16", "resnet50", "vit"]


@pytest.mark.parametrize("name,kwargs,expected", [
    ("lenet300", MNIST, 266_610),
    ("resnet20", CIFAR, 272_474),
    ("vgg16", CIFAR, 14_728_266),
    ("resnet50", dict(in_channels=3, image_size=224, num_classes=1000), 25_557_032),
    ("vit", MNIST, 60_634),
])
def test_parameter_counts(name, kwargs, expected):
    assert count_parameters(build_model(name, **kwargs)) == expected


def test_resnet20_conv_linear_weight_count():
    assert _conv_linear_weight_count(build_model("resnet20", **CIFAR)) == 270_896


@pytest.mark.parametrize("name,kwargs", [
    ("lenet300", MNIST),
    ("resnet20", CIFAR), ("resnet20", MNIST),
    ("vgg16", CIFAR), ("vgg16", MNIST),
    ("resnet50", dict(in_channels=3, image_size=64, num_classes=1000)),
    ("resnet50", dict(in_channels=3, image_size=64, num_classes=10)),
    ("vit", MNIST), ("vit", dict(in_channels=3, image_size=35, num_classes=7)),
])
def test_forward_shapes(name, kwargs):
    torch.manual_seed(0)
    model = build_model(name, **kwargs)
    c, s = kwargs["in_channels"], kwargs["image_size"]
    assert model.input_shape == (c, s, s)
    with torch.no_grad():
        out = model(torch.randn(2, c, s, s))
    assert out.shape == (2, kwargs["num_classes"])
    assert torch.isfinite(out).all()


def _bns(model):
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


@pytest.mark.parametrize("name", ["resnet20", "vgg16", "resnet50"])
def test_batchnorm_running_stats(name):
    kwargs = CIFAR
    default = build_model(name, **kwargs)
    assert _bns(default)
    for bn in _bns(default):
        assert bn.running_mean is None and bn.running_var is None
        # open_lth's batchnorm_init='uniform' (and the CTS authors' code): gamma ~ U(0, 1), beta = 0
        assert bool(((bn.weight >= 0) & (bn.weight < 1)).all()) and torch.all(bn.bias == 0)
    gammas = torch.cat([bn.weight.detach() for bn in _bns(default)])
    assert gammas.std() > 0.2 and 0.4 < gammas.mean() < 0.6  # spread over [0, 1), not a constant
    tracked = build_model(name, **kwargs, track_running_stats=True)
    for bn in _bns(tracked):
        assert bn.running_mean is not None and bn.running_var is not None


def test_no_running_stats_eval_uses_batch_stats():
    # With track_running_stats=False, eval mode still normalises with batch statistics.
    torch.manual_seed(0)
    model = build_model("resnet20", **CIFAR).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize("name,kwargs", [("lenet300", MNIST), ("resnet20", CIFAR), ("vgg16", CIFAR), ("vit", MNIST)])
def test_same_seed_same_weights(name, kwargs):
    torch.manual_seed(123)
    a = build_model(name, **kwargs)
    torch.manual_seed(123)
    b = build_model(name, **kwargs)
    torch.manual_seed(124)
    c = build_model(name, **kwargs)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_dense_parameters():
    vgg = build_model("vgg16", **CIFAR)
    assert len(vgg.dense_parameters) == 1
    params = dict(vgg.named_parameters())
    name = vgg.dense_parameters[0]
    assert name in params
    modules = dict(vgg.named_modules())
    layer = modules[name.rsplit(".", 1)[0]]
    assert isinstance(layer, nn.Linear) and layer.out_features == 10
    assert params[name] is layer.weight
    for other, kwargs in [("lenet300", MNIST), ("resnet20", CIFAR), ("resnet50", CIFAR), ("vit", MNIST)]:
        assert build_model(other, **kwargs).dense_parameters == ()


def test_unknown_model_name():
    with pytest.raises(ValueError) as err:
        build_model("foo", **CIFAR)
    assert str(err.value) == ("unknown model 'foo'; choose one of: lenet300, resnet20, vgg16, resnet50, vit, or give your own "
                              "as 'module:factory' (or register_model it)")


@pytest.mark.parametrize("field,value", [("in_channels", 0), ("image_size", -3), ("num_classes", 0)])
def test_non_positive_sizes(field, value):
    kwargs = dict(CIFAR)
    kwargs[field] = value
    with pytest.raises(ValueError, match=f"{field}.*{value}"):
        build_model("resnet20", **kwargs)


def test_wrong_input_shape_message():
    model = build_model("lenet300", **MNIST)
    with pytest.raises(ValueError) as err:
        model(torch.randn(2, 3, 32, 32))
    assert str(err.value) == (
        "lenet300 expects inputs of shape (N, 1, 28, 28), got (N, 3, 32, 32); "
        "build the model for this dataset with build_model(..., in_channels=3, image_size=32)")


@pytest.mark.parametrize("name,kwargs,bad", [
    ("resnet20", CIFAR, (2, 1, 28, 28)),
    ("vgg16", MNIST, (2, 3, 32, 32)),
    ("resnet50", CIFAR, (2, 3, 64, 64)),
    ("resnet20", CIFAR, (2, 3, 32, 16)),
    ("lenet300", MNIST, (2, 784)),
    ("vit", MNIST, (2, 1, 32, 32)),
])
def test_wrong_input_shape_all_models(name, kwargs, bad):
    model = build_model(name, **kwargs)
    with pytest.raises(ValueError, match=name) as err:
        model(torch.randn(*bad))
    assert ", ".join(str(s) for s in bad[1:]) in str(err.value)


@pytest.mark.parametrize("name", ["lenet300", "resnet20", "vgg16", "resnet50"])
def test_feature_layers_are_post_relu_hidden_activations(name):
    """R_feature's layers (Section IV-C): each hidden layer after its nonlinearity (ResNets: stem and block
    outputs), never the logits."""
    from ctslib.objectives import FunctionalNet, feature_modules

    kwargs = dict(in_channels=1, image_size=28, num_classes=10) if name in ("lenet300", "resnet20") else CIFAR
    model = build_model(name, **kwargs)
    names = [n for n, _ in feature_modules(model)]
    expected = {"lenet300": 2, "resnet20": 1 + 9, "vgg16": 13, "resnet50": 1 + 16}[name]
    assert len(names) == expected
    logits, features = FunctionalNet(model).with_features(None, torch.randn(2, *model.input_shape))
    assert len(features) == expected
    assert all(bool((f >= 0).all()) for f in features)  # after a ReLU
    assert all(f.shape != logits.shape for f in features)
