"""Where and how a run executes: its device, its seeds, and DistributedDataParallel under torchrun.

Device and seeds: `resolve_device('auto')` is CUDA when present, else the CPU; each phase of a run has its own
generator, seeded from (run seed, phase name) by `phase_seed`, so no phase depends on how many random numbers
another drew.

One run on several GPUs (or CPU processes): `torchrun` + DistributedDataParallel, CTS included.

    torchrun --nproc_per_node=4 -m ctslib run --preset paper --model resnet20 --density 0.01

Every process runs the same command. `ctslib.cli` sees torchrun's environment (`WORLD_SIZE` > 1) and
calls `init()`; `ctslib.runs.pipeline.execute` then splits the work:

- **Data**: every rank holds the same generator (same seed), so it draws the same permutation and the
  same augmentation of every *global* batch of `config.batch_size`, and keeps its own contiguous slice
  of it (`ShardedBatches`). A run on N ranks therefore sees exactly the batches of a run on one process,
  and its results agree up to float rounding. Keep the batch size divisible by the number of ranks: an
  uneven slice (a short last batch) weighs its examples slightly differently from one process.
- **Training** (rewind point and ticket training) wraps the model in `DistributedDataParallel`, which
  averages the gradients of the slices = the gradient of the global batch (the loss is a mean).
  BatchNorm normalises each rank's slice with its own statistics (as multi-GPU training without
  SyncBatchNorm does); models without BatchNorm (LeNet-300-100) match one process exactly.
- **CTS**: each rank evaluates the objective on its slice; `cts.all_reduce_mean` averages the gradient
  of `alpha_logit` before GRADBALANCE takes its norm, so lambda and the Adam step are those of the
  global batch. The Concrete noise comes from the shared generator, so all ranks sample the same mask.
- **Other methods** (SNIP, GraSP, SynFlow, LTR) run unchanged on every rank with the whole data: the
  same result on every rank, no speed-up.
- **Files**: only rank 0 reads and writes the run store, checkpoints and the record; what it reads is
  sent to the other ranks with `broadcast`.

On GPUs the backend is NCCL and each rank uses `cuda:LOCAL_RANK`; on CPU it is gloo (how the tests run
two processes on one machine). bf16 autocast is `--precision bf16` (on a CPU without native bf16 arithmetic,
AVX2 only, it makes a ResNet-20 step 8x slower: benchmarks/number_formats.py); channels-last memory format is on
by default for conv nets on every device (`pipeline.execute(channels_last=...)`; 0.81x the step time on CPU).
"""

from __future__ import annotations

import hashlib
import os
import random
from datetime import timedelta
from typing import Any, Iterable, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..tickets import Ticket

DDP_PREFIX = "module."


# --- device and seeds ------------------------------------------------------------------------------------

def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU; anything else is passed to torch.device, and a CUDA device this
    machine does not have is a ValueError that says so (not a stack trace from deep inside torch later)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N' ({err})") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__}, " + ("a CPU-only build" if torch.version.cuda is None else
                                                       f"built for CUDA {torch.version.cuda} but no GPU is visible")
            raise ValueError(f"device {device!r}: this machine has no usable CUDA GPU ({build}); use --device cpu "
                             f"(or auto), or run on a machine with a GPU and a CUDA build of torch")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return resolved


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def phase_seed(seed: int, phase: str) -> int:
    """A seed for one phase of a run, derived from the run's seed (stable across versions and machines)."""
    digest = hashlib.sha256(f"ctslib/{seed}/{phase}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def phase_generator(seed: int, phase: str, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(phase_seed(seed, phase))


# --- DistributedDataParallel -----------------------------------------------------------------------------


def launched() -> bool:
    """True in a process started by torchrun (or any launcher that sets WORLD_SIZE > 1)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def init(backend: str | None = None, *, rank: int | None = None, world_size: int | None = None,
         init_method: str | None = None, timeout_seconds: float = 1800.0) -> None:
    """Join the process group: from torchrun's environment, or from explicit `rank`/`world_size`/`init_method`.

    `backend` defaults to NCCL when CUDA is present, else gloo. A no-op if already initialised.
    """
    if active() or (dist.is_available() and dist.is_initialized()):
        return
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this build of torch")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    kwargs: dict[str, Any] = {"backend": backend, "timeout": timedelta(seconds=timeout_seconds)}
    if rank is not None:
        kwargs["rank"] = rank
    if world_size is not None:
        kwargs["world_size"] = world_size
    kwargs["init_method"] = init_method or "env://"
    dist.init_process_group(**kwargs)


def shutdown() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    """True when this process is one of several in an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Rank 0 (or the only process): the one that prints, reads and writes files."""
    return rank() == 0


def device(requested: str = "auto") -> torch.device:
    """The compute device of this rank: `cuda:LOCAL_RANK` under DDP with CUDA, else as `requested`."""
    resolved = resolve_device(requested)
    if active() and resolved.type == "cuda":
        return torch.device("cuda", local_rank())
    return resolved


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's `obj` on every rank (pickled; tensors should be on the CPU). Identity in one process."""
    if not active():
        return obj
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class ShardedBatches:
    """This rank's contiguous slice of every global batch of `batches` (same `len`, same number of steps)."""

    def __init__(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], rank_: int | None = None,
                 world: int | None = None):
        self.batches = batches
        self.rank = rank() if rank_ is None else rank_
        self.world = world_size() if world is None else world

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in self.batches:
            yield x.tensor_split(self.world)[self.rank], y.tensor_split(self.world)[self.rank]


def shard(batches: Iterable[tuple[torch.Tensor, torch.Tensor]]):
    """`batches` sliced for this rank under DDP; unchanged in one process."""
    return ShardedBatches(batches) if active() else batches


def wrap(model: nn.Module) -> nn.Module:
    """`model` in DistributedDataParallel under DDP (parameters broadcast from rank 0); unchanged otherwise."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel
    params_device = next(model.parameters()).device
    if params_device.type == "cuda":
        return DistributedDataParallel(model, device_ids=[params_device.index])
    return DistributedDataParallel(model)


def ticket_for(model: nn.Module, ticket: Ticket | None) -> Ticket | None:
    """`ticket` renamed for `model`: DistributedDataParallel prefixes parameter names with 'module.'."""
    if ticket is None or not isinstance(model, nn.parallel.DistributedDataParallel):
        return ticket
    return Ticket({DDP_PREFIX + name: mask for name, mask in ticket.masks.items()})
