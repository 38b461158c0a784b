"""Shared pieces of the model zoo: the input-shape guard, the standard initialisation, and R_feature's layers."""

from __future__ import annotations

import torch
from torch import nn


def _shape_str(shape) -> str:
    return "(N, " + ", ".join(str(int(s)) for s in shape) + ")"


class ZooModel(nn.Module):
    """Base class of every model in the zoo.

    Subclasses set ``model_name``, ``input_shape``, ``dense_parameters`` and ``feature_modules`` and implement
    ``_forward``; ``forward`` first does a cheap shape check (a tuple compare).

    ``feature_modules`` names the modules whose outputs are R_feature's "layer-wise feature activations"
    (Section IV-C): every hidden layer's activation after its nonlinearity, and for a ResNet the stem's and
    each residual block's output (after the block's final ReLU); never the logits (R_KL matches those). Each
    zoo model runs its ReLUs as modules (parameter-free: the state dict is unchanged) so they can be hooked.
    """

    model_name: str = "model"
    input_shape: tuple[int, int, int]
    dense_parameters: tuple[str, ...] = ()
    feature_modules: tuple[str, ...] | None = None  # None: objectives.feature_modules picks the weight owners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != self.input_shape:
            raise ValueError(self._shape_error(tuple(x.shape)))
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _shape_error(self, shape: tuple[int, ...]) -> str:
        msg = (f"{self.model_name} expects inputs of shape {_shape_str(self.input_shape)}, "
               f"got {_shape_str(shape[1:]) if len(shape) >= 1 else shape}")
        if len(shape) == 4 and shape[2] == shape[3]:
            msg += (f"; build the model for this dataset with "
                    f"build_model(..., in_channels={shape[1]}, image_size={shape[2]})")
        elif len(shape) == 4:
            msg += "; only square images are supported"
        else:
            msg += "; inputs must be 4-D image batches (N, C, H, W)"
        return msg


def init_weights(module: nn.Module) -> None:
    """open_lth initialisation: kaiming_normal_ for conv/linear weights; BatchNorm gamma ~ U(0, 1), beta = 0.

    open_lth's CIFAR ResNets and VGGs (its `batchnorm_init='uniform'` default), and the CTS authors' code,
    draw BatchNorm's scale uniformly in [0, 1) rather than setting it to 1. Biases of conv/linear layers
    keep PyTorch's default initialisation (as in open_lth).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.0, 1.0)
            nn.init.zeros_(m.bias)
