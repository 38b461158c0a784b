"""CIFAR VGG-16 (open_lth's ``cifar_vgg_16``): conv layers with bias + BN, single linear head."""

from __future__ import annotations

import torch
from torch import nn

from .base import ZooModel, init_weights

VGG16_PLAN = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]


class VGG(ZooModel):
    def __init__(self, *, plan, name: str, in_channels: int, image_size: int, num_classes: int,
                 track_running_stats: bool = False) -> None:
        super().__init__()
        n_pools = sum(1 for p in plan if p == "M")
        if image_size < 2 ** n_pools:
            raise ValueError(f"{name} needs image_size >= {2 ** n_pools} "
                             f"({n_pools} max-pools), got image_size={image_size}")
        self.model_name = name
        self.input_shape = (in_channels, image_size, image_size)
        layers: list[nn.Module] = []
        f_in = in_channels
        for spec in plan:
            if spec == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(f_in, spec, 3, padding=1, bias=True),
                           nn.BatchNorm2d(spec, track_running_stats=track_running_stats),
                           nn.ReLU(inplace=True)]
                f_in = spec
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(f_in, num_classes)
        # The paper keeps VGG-16's final layer dense.
        self.dense_parameters = ("fc.weight",)
        # R_feature: every conv layer's activation after its ReLU
        self.feature_modules = tuple(f"features.{i}" for i, m in enumerate(layers) if isinstance(m, nn.ReLU))
        init_weights(self)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.fc(x)


def vgg16(*, in_channels: int, image_size: int, num_classes: int,
          track_running_stats: bool = False) -> VGG:
    return VGG(plan=VGG16_PLAN, name="vgg16", in_channels=in_channels, image_size=image_size,
               num_classes=num_classes, track_running_stats=track_running_stats)
