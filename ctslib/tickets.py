"""The Ticket: one boolean mask per prunable parameter, the currency between pruners, checks and training."""

from __future__ import annotations

import itertools
import math
import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from .files import atomic_write


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
    """Names of the parameters a ticket may prune, in `model.named_modules()` order:

    - the `weight` of every linear and convolution layer (`nn.Linear`, `nn.Conv1d/2d/3d` and their transposed
      forms, and subclasses such as attention's `out_proj`);
    - the projection weights of every `nn.MultiheadAttention`: `in_proj_weight` (Q, K and V stacked), or
      `q_proj_weight`, `k_proj_weight`, `v_proj_weight` when keys and values have their own sizes (its
      `out_proj.weight` is a linear layer's, above).

    Never pruned: biases, normalisation parameters (BatchNorm, LayerNorm, ...), embedding tables
    (`nn.Embedding`) and any parameter of another kind of module. A model keeps some of the above dense by
    listing their names in a `dense_parameters` attribute (VGG-16's final linear layer, as in the paper).
    Works for any `nn.Module`, not only the ctslib zoo; to choose the weights yourself, pass `prunable` to the
    search (`ctslib.cts.search`).
    """
    keep_dense = set(getattr(model, "dense_parameters", ()))
    names = []
    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            own = ["weight"]
        elif isinstance(module, nn.MultiheadAttention):
            own = [n for n in ATTENTION_PROJECTIONS if getattr(module, n, None) is not None]
        else:
            continue
        names += [prefix + n for n in own if prefix + n not in keep_dense]
    return names


# nn.MultiheadAttention's own projection weights (one stacked Q/K/V matrix, or three when kdim/vdim differ)
ATTENTION_PROJECTIONS = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The prunable parameters of `model` by name (see `prunable_names`)."""
    params = dict(model.named_parameters())
    return {name: params[name] for name in prunable_names(model)}


def num_to_keep(density: float, total: int) -> int:
    """round(density * total): the exact number of weights a ticket of this density keeps."""
    return int(round(check_density(density) * total))


def ranking_values(scores: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The scores of every layer (in `scores`' order) as one flat vector to rank: float64 if any layer's
    scores are float64, else float32.

    Raises a ValueError naming the layer if a score is NaN or +inf (a top-k over them would keep weights by
    position, not by score); -inf is allowed and means "never keep".
    """
    dtype = torch.float64 if any(s.dtype == torch.float64 for s in scores.values()) else torch.float32
    flat = torch.cat([s.detach().reshape(-1).to(dtype) for s in scores.values()])
    bad = torch.isnan(flat) | (flat == math.inf)
    if bool(bad.any()):
        first = int(bad.nonzero()[0])
        ends = itertools.accumulate(s.numel() for s in scores.values())
        layer = next(name for name, end in zip(scores, ends) if first < end)
        raise ValueError(f"{int(bad.sum())} of {flat.numel()} scores are NaN or +inf (the first in {layer!r}): a top-k "
                         f"over them would keep weights by position, not by score; compute the scores in a wider "
                         f"type (float64) or rescale them")
    return flat


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

        Ties are broken by position (torch.topk), so the count is always exact. Scores are ranked in their
        own precision (float64 stays float64: SynFlow's scores of deep networks exceed float32's range);
        a non-finite score other than -inf (the mark of a weight that must not be kept) raises a ValueError.
        """
        names = list(scores)
        flat = ranking_values({n: scores[n] for n in names})
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

    def iou(self, other: "Ticket") -> float:
        """Intersection over union of the two tickets' kept weights over all layers (1 = identical, 0 = disjoint)."""
        if set(other.masks) != set(self.masks):
            raise ValueError(f"the tickets cover different weights: {sorted(set(self.masks) ^ set(other.masks))}")
        inter = sum(int((m & other.masks[n].to(m.device)).sum()) for n, m in self.masks.items())
        union = sum(int((m | other.masks[n].to(m.device)).sum()) for n, m in self.masks.items())
        return inter / union if union else 1.0

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

    # --- torch.nn.utils.prune -------------------------------------------------------------------
    def apply(self, model: nn.Module) -> nn.Module:
        """Install the masks the way `torch.nn.utils.prune` does (`prune.custom_from_mask`): each masked parameter
        `w` becomes the parameter `w_orig` and the buffer `w_mask`, and `w = w_orig * w_mask` is recomputed before
        every forward, so training keeps the pruned weights at zero and a user's pruning code sees the usual
        attributes. `Ticket.from_module(model)` reads the masks back; `Ticket.make_permanent(model)`
        (`prune.remove`) bakes the zeros into plain parameters. Returns the model."""
        from torch.nn.utils import prune
        self.check_matches(model)
        modules = dict(model.named_modules())
        for name, mask in self.masks.items():
            module_name, _, param = name.rpartition(".")
            module = modules[module_name]
            prune.custom_from_mask(module, param, mask.to(getattr(module, param).device))
        return model

    @classmethod
    def from_module(cls, model: nn.Module) -> "Ticket":
        """The ticket of a model pruned with `torch.nn.utils.prune` (by `apply` or by your own code): each
        `<w>_mask` buffer beside a `<w>_orig` parameter, under `w`'s name; prunable weights without a mask
        (`prunable_names`) are kept whole."""
        masks: dict[str, torch.Tensor] = {}
        for module_name, module in model.named_modules():
            prefix = f"{module_name}." if module_name else ""
            params = dict(module.named_parameters(recurse=False))
            for buffer_name, buffer in module.named_buffers(recurse=False):
                base = buffer_name[:-len("_mask")]
                if buffer_name.endswith("_mask") and f"{base}_orig" in params:
                    masks[prefix + base] = buffer.detach().cpu().bool()
        params = dict(model.named_parameters())
        for name in prunable_names(model):
            if name not in masks and name in params:
                masks[name] = torch.ones_like(params[name], dtype=torch.bool, device="cpu")
        if not masks:
            raise ValueError("the model has no prunable weight and no torch.nn.utils.prune mask")
        return cls(masks)

    @staticmethod
    def make_permanent(model: nn.Module) -> nn.Module:
        """`prune.remove` on every pruned parameter: `w = w_orig * w_mask` becomes a plain parameter again (its
        pruned entries zero, free to move if trained further); returns the model."""
        from torch.nn.utils import prune
        for module in model.modules():
            for buffer_name, _ in list(module.named_buffers(recurse=False)):
                base = buffer_name[:-len("_mask")]
                if buffer_name.endswith("_mask") and hasattr(module, f"{base}_orig"):
                    prune.remove(module, base)
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

    def save(self, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> None:
        """Save atomically (`files.atomic_write`), so a crash never leaves half a ticket. A path ending in
        `.safetensors` gets the portable format (`save_safetensors`: no pickle, readable without ctslib, with
        `metadata`); any other the torch format (`torch.save`, read with weights_only)."""
        if os.fspath(path).endswith(".safetensors"):
            return save_safetensors(self, path, metadata)
        blob = {"format": "ctslib.Ticket/1", "masks": self.state_dict()}
        atomic_write(path, lambda f: torch.save(blob, f))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Ticket":
        """A ticket file of either format (safetensors or torch), found by its content."""
        with open(path, "rb") as f:
            head = f.read(8)
        if len(head) == 8 and not head.startswith(b"PK") and _is_safetensors(path):
            return load_safetensors(path)[0]
        blob = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != "ctslib.Ticket/1":
            raise ValueError(f"{os.fspath(path)!r} is not a ctslib ticket file")
        return cls(dict(blob["masks"]))


# --- the portable ticket file: safetensors, bit-packed masks, metadata -------------------------------------------

SAFETENSORS_FORMAT = "ctslib.ticket.safetensors/1"


def _is_safetensors(path: str | os.PathLike) -> bool:
    """A safetensors file starts with its header's length (8 bytes, little endian) and a JSON header."""
    import json
    import struct
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return False
        (n,) = struct.unpack("<Q", head)
        if not 2 <= n <= 100_000_000:
            return False
        try:
            return isinstance(json.loads(f.read(n)), dict)
        except ValueError:
            return False


def save_safetensors(ticket: Ticket, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> None:
    """The ticket as a safetensors file: each mask bit-packed (`<name>`: uint8, numpy.packbits of the flattened
    mask; its shape in the metadata), plus string metadata: the format, the density, the kept and total counts,
    and whatever `metadata` gives (ctslib's export adds model, method, run id, ctslib version). Loadable without
    pickle and without ctslib (`safetensors.numpy.load_file` + `numpy.unpackbits`)."""
    import json

    import numpy as np
    from safetensors.numpy import save

    from . import __version__
    arrays = {name: np.packbits(m.detach().cpu().numpy().astype(bool).reshape(-1)) for name, m in ticket.masks.items()}
    meta = {"format": SAFETENSORS_FORMAT, "ctslib_version": __version__, "density": repr(ticket.density),
            "num_kept": str(ticket.num_kept), "num_total": str(ticket.num_total),
            "shapes": json.dumps({n: list(m.shape) for n, m in ticket.masks.items()}),
            "order": json.dumps(list(ticket.masks))}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    data = save(arrays, metadata=meta)
    atomic_write(path, lambda f: f.write(data))


def load_safetensors(path: str | os.PathLike) -> tuple[Ticket, dict[str, str]]:
    """(the ticket, its metadata) from a file of `save_safetensors`."""
    import json

    import numpy as np
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="numpy") as f:
        meta = dict(f.metadata() or {})
        if meta.get("format") != SAFETENSORS_FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is a safetensors file but not a ctslib ticket "
                             f"(format {meta.get('format')!r}, expected {SAFETENSORS_FORMAT!r})")
        shapes = json.loads(meta["shapes"])
        masks = {}
        for name in json.loads(meta["order"]):
            shape = shapes[name]
            bits = np.unpackbits(f.get_tensor(name), count=int(np.prod(shape, dtype=np.int64)))
            masks[name] = torch.from_numpy(bits.astype(bool).reshape(shape))
    return Ticket(masks), meta
