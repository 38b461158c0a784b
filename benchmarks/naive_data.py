"""`ctslib.data.Batches` iteration and `augment_batch` as they were before the performance work (kept to
measure the speed-up side by side): images picked by advanced indexing, the flip as a whole flipped copy
of the batch selected by torch.where, the crop as advanced indexing with per-pixel row/column indices.
The batches are identical to the current ones (same random draws, same bytes)."""

from __future__ import annotations

from typing import Iterator

import torch

from ctslib.data import Batches, _rand_device


def naive_augment_batch(x: torch.Tensor, generator: torch.Generator | None = None, max_shift: int = 4) -> torch.Tensor:
    B, C, H, W = x.shape
    rdev = _rand_device(generator, x.device)
    flip = (torch.rand(B, generator=generator, device=rdev) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if max_shift <= 0:
        return x
    s = max_shift
    off = torch.randint(0, 2 * s + 1, (2, B), generator=generator, device=rdev).to(x.device)
    padded = torch.nn.functional.pad(x, (s, s, s, s))
    rows = off[0][:, None] + torch.arange(H, device=x.device)
    cols = off[1][:, None] + torch.arange(W, device=x.device)
    b = torch.arange(B, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def naive_iter(batches: Batches) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of `batches` the old way."""
    n = len(batches.data)
    if batches.shuffle:
        rdev = _rand_device(batches.generator, batches.device)
        order = torch.randperm(n, generator=batches.generator, device=rdev).to(batches.device)
    else:
        order = torch.arange(n, device=batches.device)
    for i in range(len(batches)):
        idx = order[i * batches.batch_size: (i + 1) * batches.batch_size]
        x = batches.data.images[idx]
        if batches.augment:
            x = naive_augment_batch(x, batches.generator)
        yield torch.addcmul(batches._shift, x.float(), batches._scale), batches.data.labels[idx]
