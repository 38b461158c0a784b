"""LeNet-300-100 (fully connected)."""

from __future__ import annotations

import torch
from torch import nn

from .base import ZooModel, init_weights


class LeNet300(ZooModel):
    model_name = "lenet300"

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int,
                 track_running_stats: bool = False) -> None:
        super().__init__()
        del track_running_stats  # no BatchNorm layers
        self.input_shape = (in_channels, image_size, image_size)
        self.dense_parameters = ()
        self.fc1 = nn.Linear(in_channels * image_size * image_size, 300)
        self.fc2 = nn.Linear(300, 100)
        self.fc3 = nn.Linear(100, num_classes)
        self.relu1, self.relu2 = nn.ReLU(), nn.ReLU()
        self.feature_modules = ("relu1", "relu2")  # R_feature: both hidden layers after their ReLU
        init_weights(self)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(x, 1)
        x = self.relu1(self.fc1(x))
        x = self.relu2(self.fc2(x))
        return self.fc3(x)
