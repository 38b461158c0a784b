"""A small Vision Transformer for 28x28 images: the zoo's self-attention model (the book's chapter "Self-attention").

Fashion-MNIST as 7x7 patches (16 tokens) -> linear patch embedding + learned position embedding -> `depth` pre-norm
encoder blocks (x + attn(LN(x)), x + MLP(LN(x)); GELU) -> LayerNorm -> mean over the tokens -> linear head. Mean
pooling rather than a class token (one unpruned parameter fewer; not compared here), and no dropout (the search and
the scores run with dropout off anyway, `objectives.scoring_mode`).

The attention is written out (`SelfAttention`) rather than `nn.MultiheadAttention`, for three reasons:
- Q, K, V and the attention output are four `nn.Linear` layers, so a ticket has one mask per kind (`q.weight`,
  `k.weight`, ...): the layerwise densities split by kind without slicing `in_proj_weight`'s stacked rows.
- SynFlow's linearised network needs the softmax to be a module it can replace (`pruners._linearised_copy`);
  `nn.MultiheadAttention` calls its softmax inside a fused kernel.
- CTS's functional forward (`torch.func.functional_call` on `s * theta`) then sees only linear layers, LayerNorms
  and tensor products; the double backward of GraSP and R_grad goes through the same plain ops.

Prunable (`tickets.prunable_names`): every linear weight: the patch embedding, Q, K, V, the attention output, both
MLP layers of every block, and the head, as every conv and linear weight of the other zoo models (the paper prunes
ResNet-20's first convolution and its classifier too), so where each method puts its budget is measured for every
kind. Never pruned: biases, the LayerNorms' scale and shift, the position embedding.

Initialisation: the original ViT's (Dosovitskiy et al. 2021, its JAX code): Xavier-uniform linear weights, zero
biases, LayerNorm scale 1 and shift 0, position embedding N(0, 0.02^2).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import ZooModel

# the zoo's ViT: 7x7 patches of 28x28 images (16 tokens), width 48, 4 heads, MLP 2x, 3 blocks: 60,634 parameters
# for 10 classes (58,128 prunable). Sized for its chapter's 201 runs at cpu scale (scripts/vit_sizing.py, one thread):
# a dense run (8,192 images, 4 epochs) trains in 14 s to 78.6%; width 64: 105k parameters, 17 s, 77.1%; 2 blocks
# of 64: 12 s, 78.1%
VIT_SIZE = dict(patch=7, dim=48, depth=3, heads=4, mlp_ratio=2)
ATTENTION_KINDS = ("q", "k", "v", "out")   # SelfAttention's projections, as their parameter names end
MLP_KINDS = ("fc1", "fc2")                 # Block.mlp's layers
# every kind of prunable weight (`projection_kind`), in the network's order, with its name in the book
KIND_NAMES = {"embed": "patch embedding", "q": "Q", "k": "K", "v": "V", "out": "attention output", "fc1": "MLP in",
              "fc2": "MLP out", "head": "head"}


class SelfAttention(nn.Module):
    """Multi-head self-attention: softmax(Q K^T / sqrt(d_head)) V, heads concatenated, then `out`.

    The softmax is the module `softmax` (SynFlow's linearised copy replaces it, `pruners._linearised_copy`)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"the width dim={dim} must be a multiple of heads={heads}")
        self.heads = heads
        self.q, self.k, self.v, self.out = (nn.Linear(dim, dim) for _ in ATTENTION_KINDS)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, dim = x.shape
        h = self.heads

        def split(y: torch.Tensor) -> torch.Tensor:  # (n, t, dim) -> (n, h, t, dim / h)
            return y.view(n, t, h, dim // h).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        weights = self.softmax(q @ k.transpose(-2, -1) / math.sqrt(dim // h))
        return self.out((weights @ v).transpose(1, 2).reshape(n, t, dim))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """A pre-norm encoder block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), SelfAttention(dim, heads)
        self.norm2, self.mlp = nn.LayerNorm(dim), MLP(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(ZooModel):
    """A pre-norm Vision Transformer over non-overlapping `patch` x `patch` patches, mean-pooled (module docstring).

    R_feature's layer-wise features (`feature_modules`) are the patch embedding's tokens and every block's output."""

    def __init__(self, *, in_channels: int, image_size: int, num_classes: int, track_running_stats: bool = False,
                 patch: int = VIT_SIZE["patch"], dim: int = VIT_SIZE["dim"], depth: int = VIT_SIZE["depth"],
                 heads: int = VIT_SIZE["heads"], mlp_ratio: int = VIT_SIZE["mlp_ratio"], name: str = "vit") -> None:
        super().__init__()
        del track_running_stats  # no BatchNorm layers
        if image_size % patch:
            raise ValueError(f"{name}: image_size={image_size} is not a multiple of the patch size {patch}; "
                             f"build it with a patch that divides the image (e.g. patch={_divisor(image_size, patch)})")
        self.model_name = name
        self.input_shape = (in_channels, image_size, image_size)
        self.dense_parameters = ()
        self.patch = patch
        self.tokens = (image_size // patch) ** 2
        self.embed = nn.Linear(in_channels * patch * patch, dim)
        self.pos = nn.Parameter(torch.zeros(1, self.tokens, dim))
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_ratio * dim) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.feature_modules = ("embed", *(f"blocks.{i}" for i in range(depth)))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.pos, std=0.02)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, tokens, C * patch * patch), the patches in row-major order."""
        p = self.patch
        n, c = x.shape[:2]
        return x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(n, self.tokens, c * p * p)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(self.patches(x)) + self.pos
        return self.head(self.norm(self.blocks(tokens)).mean(1))


def _divisor(image_size: int, patch: int) -> int:
    return min((d for d in range(1, image_size + 1) if image_size % d == 0), key=lambda d: abs(d - patch))


def vit(*, in_channels: int, image_size: int, num_classes: int, track_running_stats: bool = False) -> ViT:
    """The zoo's ViT (`VIT_SIZE`): 7x7 patches (16 tokens on 28x28 images), width 48, 4 heads, 3 blocks."""
    return ViT(in_channels=in_channels, image_size=image_size, num_classes=num_classes,
               track_running_stats=track_running_stats)


def projection_kind(name: str) -> str:
    """The kind of a ViT weight, by its name: 'embed', 'q', 'k', 'v', 'out', 'fc1', 'fc2' or 'head'."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[-1] == "weight" and parts[-2] in KIND_NAMES:
        return parts[-2]
    raise ValueError(f"{name!r} is not a prunable weight of the zoo's ViT")
