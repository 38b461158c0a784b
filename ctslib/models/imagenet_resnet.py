"""ImageNet ResNet-50 (bottleneck v1.5: stride on the 3x3 conv), torchvision-compatible layout."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from .base import ZooModel, init_weights


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, f_in: int, width: int, stride: int, track_running_stats: bool) -> None:
        super().__init__()
        f_out = width * self.expansion
        bn = lambda c: nn.BatchNorm2d(c, track_running_stats=track_running_stats)  # noqa: E731
        self.conv1 = nn.Conv2d(f_in, width, 1, bias=False)
        self.bn1 = bn(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = bn(width)
        self.conv3 = nn.Conv2d(width, f_out, 1, bias=False)
        self.bn3 = bn(f_out)
        if stride != 1 or f_in != f_out:
            self.downsample = nn.Sequential(nn.Conv2d(f_in, f_out, 1, stride=stride, bias=False),
                                            bn(f_out))
        else:
            self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ImageNetResNet(ZooModel):
    def __init__(self, *, layers, name: str, in_channels: int, image_size: int, num_classes: int,
                 track_running_stats: bool = False) -> None:
        super().__init__()
        self.model_name = name
        self.input_shape = (in_channels, image_size, image_size)
        self.dense_parameters = ()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, track_running_stats=track_running_stats)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        features = ["relu"]  # R_feature: the stem's activation and every bottleneck block's output
        f_in = 64
        for i, (n, width) in enumerate(zip(layers, (64, 128, 256, 512))):
            blocks = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(Bottleneck(f_in, width, stride, track_running_stats))
                f_in = width * Bottleneck.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            features += [f"layer{i + 1}.{j}" for j in range(n)]
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(f_in, num_classes)
        self.feature_modules = tuple(features)
        init_weights(self)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet50(*, in_channels: int, image_size: int, num_classes: int,
             track_running_stats: bool = False) -> ImageNetResNet:
    return ImageNetResNet(layers=(3, 4, 6, 3), name="resnet50", in_channels=in_channels,
                          image_size=image_size, num_classes=num_classes,
                          track_running_stats=track_running_stats)
