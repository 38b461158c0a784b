"""The Ticket: one boolean mask per prunable parameter, the currency between pruners, checks and training."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn


def check_density(density: float) -> float:
    """Return `density` as a float if it lies in (0, 1], else raise a ValueError that says so."""
    try:
        value = float(density)
    except (TypeError, ValueError):
        raise ValueError(f"density must be a number in (0, 1], got {density!r}") from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"density must be in (0, 1] (the kept fraction of prunable weights), got {density!r}")
    return value


def prunable_names(model: nn.Module) -> list[str]:
    """Names of the parameters a ticket may prune: every conv and linear weight.

    A model may keep some of them dense by listing their names in a `dense_parameters` attribute
    (VGG-16's final linear layer, as in the paper). Biases and BatchNorm parameters are never pruned.
    Works for any `nn.Module`, not only the ctslib zoo.
    """
    keep_dense = set(getattr(model, "dense_parameters", ()))
    names = []
    for module_name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            name = f"{module_name}.weight" if module_name else "weight"
            if name not in keep_dense:
                names.append(name)
    return names


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The prunable parameters of `model` by name (see `prunable_names`)."""
    params = dict(model.named_parameters())
    return {name: params[name] for name in prunable_names(model)}


def num_to_keep(density: float, total: int) -> int:
    """round(density * total): the exact number of weights a ticket of this density keeps."""
    return int(round(check_density(density) * total))


@dataclass
class Ticket:
    """A sparse subnetwork: `masks[name]` is a bool tensor shaped like parameter `name`; True = kept."""

    masks: dict[str, torch.Tensor]

    def __post_init__(self) -> None:
        for name, mask in self.masks.items():
            if mask.dtype != torch.bool:
                raise TypeError(f"mask for {name!r} must be a bool tensor, got {mask.dtype}")

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def dense(cls, model: nn.Module) -> "Ticket":
        """The all-kept ticket over `model`'s prunable parameters."""
        return cls({n: torch.ones_like(p, dtype=torch.bool) for n, p in prunable_parameters(model).items()})

    @classmethod
    def from_scores(cls, scores: Mapping[str, torch.Tensor], density: float) -> "Ticket":
        """Global top-k (eq. 5): keep exactly round(density * d) weights with the largest scores.

        Ties are broken by position (torch.topk), so the count is always exact.
        """
        names = list(scores)
        flat = torch.cat([scores[n].detach().reshape(-1).float() for n in names])
        k = num_to_keep(density, flat.numel())
        keep = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
        if k > 0:
            keep[torch.topk(flat, k, sorted=False).indices] = True
        masks, start = {}, 0
        for n in names:
            size = scores[n].numel()
            masks[n] = keep[start:start + size].reshape(scores[n].shape)
            start += size
        return cls(masks)

    # --- measures -------------------------------------------------------------------------------
    @property
    def num_kept(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks.values()))

    @property
    def num_total(self) -> int:
        return int(sum(m.numel() for m in self.masks.values()))

    @property
    def density(self) -> float:
        """Kept fraction of all prunable weights."""
        return self.num_kept / self.num_total

    def layer_densities(self) -> dict[str, float]:
        """Kept fraction of each prunable parameter."""
        return {n: float(m.float().mean()) for n, m in self.masks.items()}

    def layer_sizes(self) -> dict[str, int]:
        return {n: m.numel() for n, m in self.masks.items()}

    def collapsed_layers(self) -> list[str]:
        """Layers with no kept weight at all (layer collapse: the network's output no longer depends on its input)."""
        return [n for n, m in self.masks.items() if not bool(m.any())]

    # --- use ------------------------------------------------------------------------------------
    def to(self, device: torch.device | str) -> "Ticket":
        return Ticket({n: m.to(device) for n, m in self.masks.items()})

    def check_matches(self, model: nn.Module) -> None:
        """Raise a ValueError unless every mask names a parameter of `model` with the same shape."""
        params = dict(model.named_parameters())
        for name, mask in self.masks.items():
            if name not in params:
                raise ValueError(f"ticket masks parameter {name!r}, which the model does not have")
            if params[name].shape != mask.shape:
                raise ValueError(f"ticket mask for {name!r} has shape {tuple(mask.shape)}, "
                                 f"the model's parameter has {tuple(params[name].shape)}")

    @torch.no_grad()
    def apply_(self, model: nn.Module) -> nn.Module:
        """Zero every pruned weight of `model` in place; returns the model."""
        self.check_matches(model)
        params = dict(model.named_parameters())
        for name, mask in self.masks.items():
            params[name].mul_(mask.to(params[name].device, params[name].dtype))
        return model

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ticket) or self.masks.keys() != other.masks.keys():
            return False
        return all(torch.equal(self.masks[n].cpu(), other.masks[n].cpu()) for n in self.masks)

    def __repr__(self) -> str:
        return f"Ticket(density={self.density:.4%}, kept={self.num_kept}/{self.num_total}, layers={len(self.masks)})"

    # --- persistence ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {n: m.cpu() for n, m in self.masks.items()}

    def save(self, path: str | os.PathLike) -> None:
        """Save atomically (write to a temporary file, then rename), so a crash never leaves half a ticket."""
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        torch.save({"format": "ctslib.Ticket/1", "masks": self.state_dict()}, tmp)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Ticket":
        blob = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != "ctslib.Ticket/1":
            raise ValueError(f"{os.fspath(path)!r} is not a ctslib ticket file")
        return cls(dict(blob["masks"]))
