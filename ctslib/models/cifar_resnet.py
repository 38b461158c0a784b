"""CIFAR ResNet-20 (He et al. 2016; open_lth's ``cifar_resnet_20``).

The projection shortcut (where a stage doubles the width) is a 1x1 convolution with BatchNorm, as in open_lth;
``shortcut_kernel=3`` makes it 3x3 (padding 1), as in the CTS authors' code (tanayarora09/TLAB f5ac761,
models/resnet.py:90-95): 20,480 more prunable weights (291,376 in all).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .base import ZooModel, init_weights

SHORTCUT_KERNELS = (1, 3)


class BasicBlock(nn.Module):
    def __init__(self, f_in: int, f_out: int, downsample: bool, track_running_stats: bool,
                 shortcut_kernel: int = 1) -> None:
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(f_in, f_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out, track_running_stats=track_running_stats)
        self.conv2 = nn.Conv2d(f_out, f_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out, track_running_stats=track_running_stats)
        if downsample or f_in != f_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(f_in, f_out, shortcut_kernel, stride=stride, padding=shortcut_kernel // 2, bias=False),
                nn.BatchNorm2d(f_out, track_running_stats=track_running_stats),
            )
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(ZooModel):
    def __init__(self, *, depth: int, width: int, name: str, in_channels: int, image_size: int,
                 num_classes: int, track_running_stats: bool = False, shortcut_kernel: int = 1) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        if shortcut_kernel not in SHORTCUT_KERNELS:
            raise ValueError(f"shortcut_kernel must be one of {SHORTCUT_KERNELS}, got {shortcut_kernel!r}")
        n = (depth - 2) // 6
        self.model_name = name
        self.input_shape = (in_channels, image_size, image_size)
        self.dense_parameters = ()
        self.conv = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width, track_running_stats=track_running_stats)
        self.relu = nn.ReLU()
        blocks = []
        f_in = width
        for stage, f_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                downsample = stage > 0 and i == 0
                blocks.append(BasicBlock(f_in, f_out, downsample, track_running_stats, shortcut_kernel))
                f_in = f_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(f_in, num_classes)
        # R_feature: the stem's activation and every residual block's output
        self.feature_modules = ("relu", *(f"blocks.{i}" for i in range(len(blocks))))
        init_weights(self)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn(self.conv(x)))
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


def resnet20(*, in_channels: int, image_size: int, num_classes: int,
             track_running_stats: bool = False, shortcut_kernel: int = 1) -> CifarResNet:
    return CifarResNet(depth=20, width=16, name="resnet20", in_channels=in_channels,
                       image_size=image_size, num_classes=num_classes,
                       track_running_stats=track_running_stats, shortcut_kernel=shortcut_kernel)
