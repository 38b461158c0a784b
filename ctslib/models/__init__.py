"""Model zoo: LeNet-300-100, CIFAR ResNet-20, CIFAR VGG-16 and ImageNet ResNet-50, by name.

Every built model has ``input_shape`` (C, H, W), checked at the start of ``forward``, and
``dense_parameters``: names of conv/linear weights that must never be pruned.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from .cifar_resnet import resnet20
from .imagenet_resnet import resnet50
from .lenet import LeNet300
from .vgg import vgg16

MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet300": LeNet300,
    "resnet20": resnet20,
    "vgg16": vgg16,
    "resnet50": resnet50,
}


def _check_size(label: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{label} must be positive, got {label}={value}")


def build_model(name: str, *, in_channels: int, image_size: int, num_classes: int,
                track_running_stats: bool = False) -> nn.Module:
    """Build a freshly initialised model (initialisation follows torch's global seed)."""
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    _check_size("in_channels", in_channels)
    _check_size("image_size", image_size)
    _check_size("num_classes", num_classes)
    return MODELS[name](in_channels=in_channels, image_size=image_size, num_classes=num_classes,
                        track_running_stats=bool(track_running_stats))


def count_parameters(model: nn.Module) -> int:
    """Total number of elements over all parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "build_model", "count_parameters"]
