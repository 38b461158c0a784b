"""Model zoo: LeNet-300-100, CIFAR ResNet-20, CIFAR VGG-16, ImageNet ResNet-50 and a small ViT, by name; and your
own models.

Every zoo model has ``input_shape`` (C, H, W), checked at the start of ``forward``, and
``dense_parameters``: names of conv/linear weights that must never be pruned.

Your own network gets the whole experiment engine (run store, resume, sweeps, presets, the command line) once
it has a name:

    from ctslib.models import register_model
    register_model("mynet", make_mynet, like="resnet20")   # RunConfig(model="mynet"), presets of ResNet-20

or, with no registration at all, by import path: ``RunConfig(model="mypackage.nets:make_mynet")`` /
``ctslib run --model mypackage.nets:make_mynet``. A factory is called with whichever of ``in_channels``,
``image_size``, ``num_classes`` and ``track_running_stats`` it accepts and returns an ``nn.Module`` (its conv and
linear weights are prunable, `ctslib.tickets.prunable_names`; list weights to keep dense in a
``dense_parameters`` attribute). ``like`` names the zoo model whose presets (schedule, rewind fraction, density
grid) it borrows; an import-path factory gives it as a ``preset_like`` attribute (default: lenet300). Worker
processes (``--workers``, sweeps) find import-path models by importing them, and models registered at the top
level of an importable module when they import it; a model registered only inside a function or a notebook
is known to that process alone.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable

from torch import nn

from .cifar_resnet import SHORTCUT_KERNELS, resnet20
from .imagenet_resnet import resnet50
from .lenet import LeNet300
from .vgg import vgg16
from .vit import vit

MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet300": LeNet300,
    "resnet20": resnet20,
    "vgg16": vgg16,
    "resnet50": resnet50,
    "vit": vit,
}


ZOO = tuple(MODELS)
# the models whose projection shortcut's kernel is a setting (`build_model(..., shortcut_kernel=3)`)
SHORTCUT_MODELS = ("resnet20",)
# registered model -> the zoo model whose presets it borrows
LIKE: dict[str, str] = {}
FACTORY_ARGS = ("in_channels", "image_size", "num_classes", "track_running_stats")


def register_model(name: str, factory: Callable[..., nn.Module], *, like: str = "lenet300",
                   replace: bool = False) -> str:
    """Make `factory` buildable as model `name` (see the module docstring); returns `name`."""
    if not isinstance(name, str) or not name or name.strip() != name:
        raise ValueError(f"a model name must be a non-empty string without surrounding spaces, got {name!r}")
    if not callable(factory):
        raise ValueError(f"the factory of model {name!r} must be callable, got {factory!r}")
    if like not in ZOO:
        raise ValueError(f"like={like!r} must name a zoo model whose presets {name!r} borrows; choose one of: "
                         f"{', '.join(ZOO)}")
    if name in ZOO or (name in MODELS and not replace and MODELS[name] is not factory):
        raise ValueError(f"model {name!r} is registered already" + (" (a zoo model)" if name in ZOO else
                                                                     "; pass replace=True to replace it"))
    MODELS[name] = factory
    LIKE[name] = like
    return name


def resolve_model(name: str) -> str:
    """`name` if it names a model (the zoo, a registered one, or 'module:factory', imported and registered on
    first use); else a ValueError naming it and the fix."""
    if isinstance(name, str) and name in MODELS:
        return name
    if isinstance(name, str) and name.count(":") == 1 and all(name.split(":")):
        module_name, attr = name.split(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(f"model {name!r}: cannot import {attr!r} from module {module_name!r} "
                             f"({type(err).__name__}: {err}); is the module on PYTHONPATH?") from None
        return register_model(name, factory, like=getattr(factory, "preset_like", "lenet300"))
    raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}, "
                     f"or give your own as 'module:factory' (or register_model it)")


def takes_shortcut_kernel(name: str) -> bool:
    """Whether model `name` has a projection shortcut whose kernel `build_model(shortcut_kernel=)` sets."""
    return resolve_model(name) in SHORTCUT_MODELS


def preset_model(name: str) -> str:
    """The zoo model whose presets `name` uses: itself, or the one it was registered like."""
    return LIKE.get(resolve_model(name), name)


def _check_size(label: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{label} must be a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{label} must be positive, got {label}={value}")


def build_model(name: str, *, in_channels: int, image_size: int, num_classes: int,
                track_running_stats: bool = False, shortcut_kernel: int = 1) -> nn.Module:
    """Build a freshly initialised model (initialisation follows torch's global seed). `shortcut_kernel`: the
    projection shortcut of the CIFAR ResNets (SHORTCUT_MODELS), 1 or 3."""
    name = resolve_model(name)
    if shortcut_kernel != 1 and name not in SHORTCUT_MODELS:
        raise ValueError(f"shortcut_kernel={shortcut_kernel} is a setting of {', '.join(SHORTCUT_MODELS)}; model "
                         f"{name!r} has no projection shortcut to change")
    _check_size("in_channels", in_channels)
    _check_size("image_size", image_size)
    _check_size("num_classes", num_classes)
    kwargs = dict(in_channels=in_channels, image_size=image_size, num_classes=num_classes,
                  track_running_stats=bool(track_running_stats))
    factory = MODELS[name]
    if name not in ZOO:  # your own: the arguments it takes
        params = inspect.signature(factory).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            kwargs = {k: v for k, v in kwargs.items() if k in params}
    if name in SHORTCUT_MODELS:
        kwargs["shortcut_kernel"] = shortcut_kernel
    model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model {name!r}: its factory returned {type(model).__name__}, not an nn.Module")
    return model


def count_parameters(model: nn.Module) -> int:
    """Total number of elements over all parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


__all__ = ["MODELS", "SHORTCUT_KERNELS", "SHORTCUT_MODELS", "ZOO", "build_model", "count_parameters", "preset_model",
           "register_model", "resolve_model", "takes_shortcut_kernel"]
