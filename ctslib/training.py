"""The paper's training schedules (Section V-A), masked training, rewind checkpoints and evaluation.

Iterations are counted the paper's way: a rewind step k is given in iterations *at batch size 128*
(k = 3000 for ResNet-20 is epoch 7.5 of CIFAR-10 whatever the batch size actually used), and converted
to steps of the actual batch size by `steps_at_batch`.
"""

from __future__ import annotations

import contextlib

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .data import Batches, ImageData
from .tickets import Ticket

REFERENCE_BATCH = 128  # rewinding iterations are normalised to this batch size (paper, V-A)


@dataclass(frozen=True)
class Schedule:
    """SGD with momentum, step learning-rate drops and optional linear warm-up."""

    epochs: int = 160
    batch_size: int = 512
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-3
    milestones: tuple[int, ...] = (80, 120)  # epochs at which the learning rate drops by `gamma`
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    augment: bool = True
    clip_grad_norm: float = 0.0  # > 0: the gradient's global L2 norm is clipped to this before each step (the paper:
    #                              none; the CTS authors' code: 2.0, training/hparams.py:97, training/base.py:358)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got epochs={self.epochs}, batch_size={self.batch_size}")
        if not self.clip_grad_norm >= 0:
            raise ValueError(f"clip_grad_norm must be >= 0 (0: no clipping), got {self.clip_grad_norm}")

    def lr_at(self, step: int, steps_per_epoch: int, base_lr: float | None = None) -> float:
        """Learning rate for iteration `step` (0-based, at this schedule's batch size), starting from
        `base_lr` (default: the schedule's `lr`) and dropped and warmed up as the schedule says."""
        epoch = step / steps_per_epoch
        lr = (self.lr if base_lr is None else base_lr) * self.gamma ** sum(epoch >= m for m in self.milestones)
        if self.warmup_epochs > 0 and epoch < self.warmup_epochs:
            lr *= (step + 1) / (self.warmup_epochs * steps_per_epoch)
        return lr

    def scaled(self, epochs: int) -> "Schedule":
        """The same schedule compressed to `epochs`, milestones and warm-up scaled proportionally."""
        factor = epochs / self.epochs
        return replace(self, epochs=epochs, milestones=tuple(max(1, round(m * factor)) for m in self.milestones),
                       warmup_epochs=self.warmup_epochs * factor)


# Section V-A. CIFAR-10: 160 epochs, SGD 0.9, wd 1e-3, lr 0.1 /10 at 80 and 120, batch 512.
CIFAR10_SCHEDULE = Schedule()
# ImageNet (open_lth's ResNet-50): 90 epochs, lr 0.4 with 5 warm-up epochs, /10 at 30, 60, 80, wd 1e-4, batch 1024.
IMAGENET_SCHEDULE = Schedule(epochs=90, batch_size=1024, lr=0.4, weight_decay=1e-4, milestones=(30, 60, 80),
                             warmup_epochs=5)
# Fashion-MNIST (not in the paper): the CIFAR-10 recipe compressed; no flips/shifts for this data.
FASHION_MNIST_SCHEDULE = Schedule(epochs=20, batch_size=128, lr=0.1, weight_decay=1e-3, milestones=(10, 15),
                                  augment=False)
SCHEDULES = {"cifar10": CIFAR10_SCHEDULE, "imagenet": IMAGENET_SCHEDULE, "fashion_mnist": FASHION_MNIST_SCHEDULE}


def steps_at_batch(reference_steps: int, batch_size: int) -> int:
    """Convert iterations counted at batch 128 to iterations at `batch_size` (same number of examples)."""
    return int(round(reference_steps * REFERENCE_BATCH / batch_size))


@dataclass
class TrainResult:
    steps: int
    epochs: float
    seconds: float
    losses: list[float] = field(default_factory=list)  # mean training loss of each epoch run


def make_optimizer(model: nn.Module, schedule: Schedule) -> torch.optim.SGD:
    """SGD with the schedule's momentum and weight decay; torch's fused kernel where the device has one
    (one pass over the weights instead of ~4, and no temporary: benchmarks/README.md)."""
    params = list(model.parameters())
    kwargs = dict(lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay)
    try:
        optimizer = torch.optim.SGD(params, fused=True, **kwargs)
    except RuntimeError:  # no fused SGD for this device or dtype
        optimizer = torch.optim.SGD(params, **kwargs)
    for group in optimizer.param_groups:
        group["initial_lr"] = schedule.lr  # the base `train` scales by the schedule's drops
    return optimizer


class MaskedWeights:
    """Keeps pruned weights at exactly zero: zeroes them once, then after every optimizer step."""

    def __init__(self, model: nn.Module, ticket: Ticket | None):
        self.params: list[torch.Tensor] = []
        self.masks: list[torch.Tensor] = []
        if ticket is not None:
            ticket.check_matches(model)
            named = dict(model.named_parameters())
            for name, mask in ticket.masks.items():
                param = named[name]
                self.params.append(param)
                self.masks.append(mask.to(device=param.device, dtype=param.dtype))
            self.apply()

    @torch.no_grad()
    def apply(self) -> None:
        if self.params:
            torch._foreach_mul_(self.params, self.masks)


def train(model: nn.Module, data: ImageData | None, schedule: Schedule, *, ticket: Ticket | None = None,
          start_step: int = 0, stop_step: int | None = None, device: torch.device | str | None = None,
          generator: torch.Generator | None = None, optimizer: torch.optim.Optimizer | None = None,
          on_epoch_end: Callable[[int, nn.Module, torch.optim.Optimizer], None] | None = None,
          precision: str = "fp32", progress: bool = False,
          batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None) -> TrainResult:
    """Train `model` (masked by `ticket`, if given) from iteration `start_step` to `stop_step`.

    `stop_step` defaults to the end of the schedule; iterations are at `schedule.batch_size`. Starting
    at `start_step` > 0 continues the learning-rate schedule from there (as after rewinding; a fresh
    optimizer unless one is passed). Pruned weights are exactly zero after every step. `on_epoch_end`
    is called with the number of completed epochs (for checkpoints): restoring the model, the optimizer
    and `generator` saved there and calling again with `start_step` = epochs * steps per epoch continues
    exactly as if never stopped. `precision='bf16'` uses autocast.

    `optimizer`: by default SGD with the schedule's lr, momentum and weight decay (`make_optimizer`). An
    optimizer you pass keeps all its own settings (its momentum, weight decay, betas, ...) and its learning
    rate: each parameter group's lr when first seen here (kept in the group as `initial_lr`, as torch's LR
    schedulers do) is the base that the schedule's drops (`milestones`, `gamma`) and warm-up scale. For a
    constant learning rate, pass a schedule with `milestones=()`.

    `batches` (optional) replaces the shuffled `Batches` over `data`: any re-iterable with `len()` that
    yields one epoch of (x, y) per iteration (a DistributedDataParallel rank's slices, streamed ImageNet).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if batches is None:
        batches = Batches(data, schedule.batch_size, shuffle=True, augment=schedule.augment, drop_last=False,
                          device=device, generator=generator)
    steps_per_epoch = len(batches)
    total = schedule.epochs * steps_per_epoch
    stop_step = total if stop_step is None else min(stop_step, total)
    if optimizer is None:
        optimizer = make_optimizer(model, schedule)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
    masked = MaskedWeights(model, ticket)
    model.train()
    autocast = _autocast(device, precision)
    from tqdm.auto import tqdm
    bar = tqdm(total=stop_step - start_step, desc="train", disable=not progress, leave=False)
    start_time = time.perf_counter()
    step, losses = start_step, []
    while step < stop_step:
        epoch_loss = torch.zeros((), device=device)
        n_batches = 0
        # a run resumed mid-epoch (after rewinding) only does the rest of that epoch
        skip = step % steps_per_epoch
        for i, (x, y) in enumerate(batches):
            if i < skip:
                continue
            if step >= stop_step:
                break
            for group in optimizer.param_groups:
                group["lr"] = schedule.lr_at(step, steps_per_epoch, group["initial_lr"])
            loss = masked_step(model, optimizer, masked, x, y, autocast, schedule.clip_grad_norm)
            epoch_loss += loss
            n_batches += 1
            step += 1
            bar.update(1)
        losses.append(float(epoch_loss) / max(n_batches, 1))
        if step % steps_per_epoch == 0 and on_epoch_end is not None:
            on_epoch_end(step // steps_per_epoch, model, optimizer)
    bar.close()
    return TrainResult(steps=step - start_step, epochs=(step - start_step) / steps_per_epoch,
                       seconds=time.perf_counter() - start_time, losses=losses)


def masked_step(model: nn.Module, optimizer: torch.optim.Optimizer, masked: "MaskedWeights", x: torch.Tensor,
                y: torch.Tensor, autocast=None, clip_grad_norm: float = 0.0) -> torch.Tensor:
    """One SGD step of a ticket: cross-entropy forward (under `autocast`), backward, gradient clipping where asked,
    the optimizer's step, then the pruned weights back to zero (`masked.apply`). The loop body of `train`, and what
    the benchmarks time as "a training step". Returns the (detached) loss."""
    with (autocast if autocast is not None else contextlib.nullcontext()):
        loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad_norm > 0:
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()
    masked.apply()
    return loss.detach()


def _autocast(device: torch.device, precision: str):
    if precision not in ("fp32", "bf16"):
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=(precision == "bf16"))


@torch.no_grad()
def evaluate(model: nn.Module, data: ImageData | None, *, batch_size: int = 1000, topk: Iterable[int] = (1, 5),
             device: torch.device | str | None = None,
             batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None,
             num_classes: int | None = None) -> dict[str, float]:
    """Top-k accuracies (as fractions, keys 'top1', 'top5', ...) and mean cross-entropy 'loss' on `data`.

    BatchNorm layers that do not track running statistics normalise each evaluation batch with its
    own statistics, as in the paper. `batches` (with `num_classes`) replaces the batches over `data`
    (e.g. streamed ImageNet validation images).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    if num_classes is None:
        num_classes = data.info.num_classes
    ks = sorted(set(k for k in topk if k <= num_classes))
    was_training = model.training
    model.eval()
    correct = torch.zeros(len(ks), device=device)
    loss_sum = torch.zeros((), device=device)
    n = 0
    if batches is None:
        batches = Batches(data, batch_size, shuffle=False, augment=False, device=device)
    for x, y in batches:
        logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        top = logits.topk(max(ks), dim=1).indices
        hits = top == y[:, None]
        correct += torch.stack([hits[:, :k].any(dim=1).sum() for k in ks]).float()
        n += len(y)
    model.train(was_training)
    result = {f"top{k}": float(c) / n for k, c in zip(ks, correct)}
    result["loss"] = float(loss_sum) / n
    return result


def clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's weights and buffers (a rewind point)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def schedule_dict(schedule: Schedule) -> dict:
    return asdict(schedule)

