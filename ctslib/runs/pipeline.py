"""One run, end to end (Algorithm 3 for any method): rewind point -> draw ticket -> (ablation) -> train -> test.

A run goes through four phases. Each has its own random generator, seeded from `(config.seed, phase)`,
so no phase's outcome depends on how many random numbers an earlier one drew:

| phase    | what it does                                        | checkpoints (in `workdir`)                    |
|----------|-----------------------------------------------------|-----------------------------------------------|
| `rewind` | dense training for k iterations -> theta_k          | `progress.pt` every epoch; `rewind.pt` at end |
| `draw`   | the method draws the ticket (then the ablation)     | CTS: `progress.pt` every search epoch; `draw.pt` at end |
| `train`  | the ticket is trained from theta_k to the end of T  | `progress.pt` every epoch                     |
| `test`   | top-1/3/5 accuracy and loss on the test set          | -                                             |

`progress.pt` holds the model, the optimizer (or CTS's alpha_logit, lambda and Adam), the phase's
generator, the global RNG and the step; `execute` with the same `workdir` picks up from the last one
and gives the same ticket and accuracy as a run never stopped (on CPU; on GPU up to the
non-determinism of some CUDA kernels). Other methods (LTR's rounds) resume at phase granularity.

A `RunCache` (the run store implements one) shares work between runs: the rewind point depends on
neither method nor density (`rewind_key`), so one serves every method and density of a seed; and a
method that passes through many densities (LTR; `Drawn.tickets`) feeds every run whose density is on
its chain (`chain_key`, matched by kept-weight count) without redoing its rounds. Seconds and epochs
recorded for a shared part are those it cost when computed, so every record reports the full cost of
its run (for LTR, a served ticket costs the rounds that led to it).
"""

from __future__ import annotations

import functools
import logging
import math
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..data import Batches, ImageData, ImageNetBatches, dataset_info, imagenet_batches, load_dataset
from ..models import build_model
from ..sanity import NEEDS_SCORES, apply_ablation
from ..threads import WAIT_POLICY_VARIABLE
from ..tickets import Ticket, prunable_parameters
from ..training import _autocast, evaluate, make_optimizer, steps_at_batch, train
from . import runtime
from .checkpoints import Checkpoints
from .config import RunConfig
from .methods import METHODS, DrawContext, Drawn, get_method
from .records import RECORD_FORMAT
from .runtime import phase_generator, phase_seed, resolve_device, seed_everything

if TYPE_CHECKING:
    from ..cts import SearchResult

log = logging.getLogger("ctslib")
PHASES = ("rewind", "draw", "train", "test")


def check_rewind(config: RunConfig, steps_per_epoch: int) -> None:
    """The rewind point must come before the end of training."""
    k = steps_at_batch(config.rewind_step, config.batch_size)
    total = config.epochs * steps_per_epoch
    if k >= total:
        raise ValueError(f"rewind_step {config.rewind_step} (= {k} steps at batch {config.batch_size}) is not before "
                         f"the end of training ({total} steps: {config.epochs} epochs of {steps_per_epoch}); "
                         f"use a smaller rewind_step or more epochs")


def check_runnable(config: RunConfig) -> None:
    """Fail now, with the fix, if `config` cannot run (method not registered, method needs in-memory data,
    rewind point after the end of training), before any data is loaded."""
    method = get_method(config.method)
    resolve_device(config.device)  # a device this machine lacks: one clear line now, not a stack trace later
    if config.dataset == "imagenet" and not method.streams:
        streaming = [m.name for m in METHODS.values() if m.streams]
        raise ValueError(f"method {config.method!r} needs the training set in memory, but ImageNet is streamed "
                         f"from disk; on ImageNet use one of: {', '.join(streaming)}")
    size = dataset_info(config.dataset).train_size
    if size:
        n = min(config.train_examples or size, size)
        per_epoch = n // config.batch_size if config.dataset == "imagenet" else math.ceil(n / config.batch_size)
        check_rewind(config, max(1, per_epoch))


class RunCache:
    """Work shared between runs. `execute` asks before computing a part and offers what it computed.

    This default shares nothing; `ctslib.runs.store.RunStore` keeps rewind points, chains of tickets and costly
    draws (a sanity-check ablation trains the ticket its unablated run drew: the draw is deterministic in the seed,
    so sharing it changes no result).
    """

    def load_rewind(self, config: RunConfig) -> dict[str, Any] | None:
        """{'state': theta_k, 'epochs': float, 'seconds': float} for `rewind_key(config)`, or None."""
        return None

    def save_rewind(self, config: RunConfig, rewind: dict[str, Any]) -> None:
        pass

    def find_ticket(self, config: RunConfig, num_total: int) -> dict[str, Any] | None:
        """A drawn ticket for `config`: with round(density * num_total) kept weights on `chain_key(config)`'s
        chain, or the draw of `draw_key(config)` (the same config but for its ablation):
        {'masks', 'epochs', 'seconds', 'info', 'scores' (or None)}, or None."""
        return None

    def save_tickets(self, config: RunConfig, drawn: Drawn, seconds: float) -> None:
        """Offer a draw: every ticket of a chain (`drawn.tickets`), or one draw that took `seconds`."""


# --- data ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=4)
def _load_split(name: str, split: str, where: tuple[str | None, ...]) -> ImageData:
    return load_dataset(name, split)


def _cached_split(name: str, split: str) -> ImageData:
    """`load_dataset(name, split)`, decoded once per process (a sweep runs many configs on the same data)."""
    where = tuple(os.environ.get(k) for k in ("CTS_DATA", "XDG_CACHE_HOME", "HOME"))
    return _load_split(name, split, where)


def load_data(config: RunConfig, device: torch.device) -> tuple[ImageData, ImageData]:
    """Train and test sets on `device`; `train_examples`/`test_examples` > 0 take fixed (seed-independent) subsets."""
    train_data = _cached_split(config.dataset, "train")
    if config.train_examples:
        train_data = train_data.subset(config.train_examples, seed=0)
    test_data = _cached_split(config.dataset, "test")
    if config.test_examples:
        test_data = test_data.subset(config.test_examples, seed=0)
    return train_data.to(device), test_data.to(device)


class _ImageNetStream:
    """ImageNet streamed from disk: this rank's part of every epoch (DistributedSampler, reshuffled per epoch
    from `seed`), in batches of batch_size / world_size, normalised on `device`."""

    def __init__(self, dataset, split: str, batch_size: int, *, shuffle: bool, seed: int,
                 device: torch.device, first_epoch: int = 0, sharded: bool = True):
        from torch.utils.data import DataLoader
        from torch.utils.data.distributed import DistributedSampler

        world, rank = (runtime.world_size(), runtime.rank()) if sharded else (1, 0)
        drop_last = split == "train"
        self.sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=seed % 2**31,
                                          drop_last=drop_last)
        workers = min(8, os.cpu_count() or 1)
        loader = DataLoader(dataset, batch_size=max(1, batch_size // world), sampler=self.sampler,
                            drop_last=drop_last, num_workers=workers, pin_memory=device.type == "cuda",
                            persistent_workers=workers > 0)
        self.batches = ImageNetBatches(dataset, loader, device)
        self.epoch = first_epoch

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        self.epoch += 1
        yield from self.batches


class RunData:
    """The data of one run: in memory (Fashion-MNIST, CIFAR-10) or streamed from disk (ImageNet).

    `train_batches` gives one epoch of global batches per iteration — this rank's slice of them under DDP.
    """

    def __init__(self, config: RunConfig, device: torch.device):
        self.config, self.device = config, device
        self.info = dataset_info(config.dataset)
        self.streamed = config.dataset == "imagenet"
        self.train: ImageData | None = None
        self.test: ImageData | None = None
        self._folders: dict[tuple[str, bool], Any] = {}
        if not self.streamed:
            self.train, self.test = load_data(config, device)

    def _image_folder(self, split: str, augment: bool):
        """The image folder of `split` (scanned once per run), with `train_examples`/`test_examples` applied."""
        from torch.utils.data import Subset

        key = (split, augment)
        if key not in self._folders:
            dataset = imagenet_batches(None, split, 1, train=augment, device="cpu", num_workers=0).dataset
            examples = self.config.train_examples if split == "train" else self.config.test_examples
            if examples and examples < len(dataset):
                order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:examples]
                dataset = Subset(dataset, order.tolist())
            self._folders[key] = dataset
        return self._folders[key]

    def steps_per_epoch(self) -> int:
        """Steps per epoch at the config's (global) batch size."""
        if self.streamed:
            return max(1, len(self._image_folder("train", True)) // self.config.batch_size)
        return math.ceil(len(self.train) / self.config.batch_size)

    def train_batches(self, *, augment: bool, generator: torch.Generator) -> Iterable:
        if self.streamed:
            return _ImageNetStream(self._image_folder("train", augment), "train", self.config.batch_size, shuffle=True,
                                   seed=generator.initial_seed(), device=self.device)
        return runtime.shard(Batches(self.train, self.config.batch_size, shuffle=True, augment=augment,
                                  drop_last=False, device=self.device, generator=generator))

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        if self.streamed:
            batches = _ImageNetStream(self._image_folder("val", False), "val", 256, shuffle=False, seed=0,
                                      device=self.device, sharded=False)
            return evaluate(model, None, topk=(1, 3, 5), batches=batches, num_classes=self.info.num_classes)
        return evaluate(model, self.test, topk=(1, 3, 5))


def make_model(config: RunConfig, device: torch.device) -> nn.Module:
    info = dataset_info(config.dataset)
    seed_everything(config.seed)
    model = build_model(config.model, in_channels=info.in_channels, image_size=info.image_size,
                        num_classes=info.num_classes, track_running_stats=config.track_running_stats,
                        shortcut_kernel=config.shortcut_kernel)
    return model.to(device)


# --- results -------------------------------------------------------------------------------------------

def jsonable(obj: Any) -> Any:
    """`obj` with tensors, numpy values and tuples turned into plain JSON types (dict keys into strings)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else (1e308 if obj > 0 else -1e308)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return repr(obj)


METRIC_KEYS = ("top1", "top3", "top5", "loss", "density", "num_kept", "num_total")


@dataclass
class RunResult:
    config: RunConfig
    ticket: Ticket
    metrics: dict[str, Any]
    timings: dict[str, float]
    epochs: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None  # the trained network, with `execute(..., keep_model=True)`

    def record(self) -> dict[str, Any]:
        """JSON-ready record of the run (the ticket itself is stored separately)."""
        info = dict(self.info)
        trace = info.pop("trace", None)
        device = info.pop("device", None)
        m = self.metrics
        layers = {name: {"density": m["layer_density"][name], "size": m["layer_size"][name]}
                  for name in m.get("layer_density", {})}
        return jsonable({
            "format": RECORD_FORMAT, "run_id": self.config.run_id, "label": self.config.label,
            "config": self.config.to_dict(),
            "metrics": {k: m[k] for k in METRIC_KEYS if k in m},
            "layers": layers, "collapsed_layers": m.get("collapsed_layers", []),
            "seconds": self.timings, "epochs": self.epochs, "trace": trace, "info": info,
            "environment": {**environment(), "device": device},
        })


def environment() -> dict[str, Any]:
    return {"ctslib_version": __version__, "torch_version": torch.__version__,
            "python_version": platform.python_version(), "host": socket.gethostname(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the vector kernels torch used (AVX2, ...)
            "world_size": runtime.world_size(), "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get(WAIT_POLICY_VARIABLE)}


# --- the phases ----------------------------------------------------------------------------------------

def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _progress_blob(phase: str, step: int, epoch: int, model: nn.Module | None, optimizer, generator: torch.Generator,
                   seconds: float, **extra: Any) -> dict[str, Any]:
    blob = {"phase": phase, "step": step, "epoch": epoch, "generator": generator.get_state(),
            "rng": torch.get_rng_state(), "seconds": seconds, **extra}
    if model is not None:
        blob["model"] = _state(model)
    if optimizer is not None:
        blob["optimizer"] = optimizer.state_dict()
    return blob


def _restore(saved: dict[str, Any], model: nn.Module | None, optimizer, generator: torch.Generator) -> None:
    if model is not None:
        model.load_state_dict(saved["model"])
    if optimizer is not None:
        optimizer.load_state_dict(saved["optimizer"])
    generator.set_state(saved["generator"])
    torch.set_rng_state(saved["rng"])


def _trained(phase: str, model: nn.Module, data: RunData, config: RunConfig, device: torch.device,
             ckpt: Checkpoints, saved: dict[str, Any] | None, progress: bool, *, start_step: int,
             stop_step: int | None, ticket: Ticket | None) -> tuple[float, float, int]:
    """Masked or dense SGD training for one phase, checkpointed every epoch and resumed from `saved`.

    Returns (seconds, epochs, steps per epoch) of the whole phase, across resumptions.
    """
    schedule = config.schedule
    generator = phase_generator(config.seed, phase, device)
    seed_everything(phase_seed(config.seed, phase))
    net = runtime.wrap(model)
    optimizer = make_optimizer(net, schedule)
    step, seconds_before = start_step, 0.0
    batches = data.train_batches(augment=schedule.augment, generator=generator)
    steps_per_epoch = len(batches)
    if saved is not None and saved.get("phase") == phase:
        _restore(saved, model, optimizer, generator)
        step, seconds_before = int(saved["step"]), float(saved["seconds"])
        for group in optimizer.param_groups:  # (a checkpoint written before groups kept their base lr)
            group.setdefault("initial_lr", schedule.lr)
    if hasattr(batches, "epoch"):  # streamed data: reshuffle as the epoch we resume in
        batches.epoch = step // steps_per_epoch
    start = time.perf_counter()

    def on_epoch_end(epochs_done: int, _net: nn.Module, opt: torch.optim.Optimizer) -> None:
        ckpt.save("progress", _progress_blob(phase, epochs_done * steps_per_epoch, epochs_done, model, opt, generator,
                                             seconds_before + time.perf_counter() - start))

    train(net, data.train, schedule, ticket=runtime.ticket_for(net, ticket), start_step=step, stop_step=stop_step,
          generator=generator, optimizer=optimizer, on_epoch_end=on_epoch_end, precision=config.precision,
          progress=progress, batches=batches)
    total = schedule.epochs * steps_per_epoch
    stop = total if stop_step is None else min(stop_step, total)
    return seconds_before + time.perf_counter() - start, (stop - start_step) / steps_per_epoch, steps_per_epoch


def _rewind_phase(model: nn.Module, data: RunData, config: RunConfig, device: torch.device, ckpt: Checkpoints,
                  saved: dict[str, Any] | None, progress: bool) -> dict[str, Any]:
    """Train the dense network for k steps (Alg. 3, step 1): theta_k, and the epochs and seconds it took."""
    k = steps_at_batch(config.rewind_step, config.batch_size)
    if k == 0:
        return {"state": _state(model), "epochs": 0.0, "seconds": 0.0}
    seconds, epochs, _ = _trained("rewind", model, data, config, device, ckpt, saved, progress,
                                  start_step=0, stop_step=k, ticket=None)
    return {"state": _state(model), "epochs": epochs, "seconds": seconds}


def rewound_model(config: RunConfig, device: torch.device | str | None = None, progress: bool = False) -> nn.Module:
    """`config`'s dense model at theta_k: theta_0 of its seed trained for its rewind step k (theta_0 when k = 0),
    without checkpoints. (The run store keeps theta_k shared by runs: `RunStore.load_rewind`.)"""
    device = torch.device(device) if device is not None else resolve_device(config.device)
    model = make_model(config, device)
    rewind = _rewind_phase(model, RunData(config, device), config, device, Checkpoints(None, config.run_id),
                           None, progress)
    model.load_state_dict({k: v.to(device) for k, v in rewind["state"].items()})
    return model


def _draw_phase(model: nn.Module, data: RunData, config: RunConfig, device: torch.device,
                rewind_state: dict[str, torch.Tensor], ckpt: Checkpoints, saved: dict[str, Any] | None,
                cache: RunCache, progress: bool) -> dict[str, Any]:
    """The method's draw (resumed from `saved` if its progress was checkpointed), then the blob of `draw.pt`."""
    generator = phase_generator(config.seed, "draw", device)
    seed_everything(phase_seed(config.seed, "draw"))
    resume, seconds_before = None, 0.0
    if saved is not None and saved.get("phase") == "draw" and "state" in saved:
        _restore(saved, None, None, generator)
        resume, seconds_before = saved["state"], float(saved["seconds"])
    start = time.perf_counter()

    def checkpoint(state: dict[str, Any], *, step: int, epoch: int) -> None:
        ckpt.save("progress", _progress_blob("draw", step, epoch, None, None, generator,
                                             seconds_before + time.perf_counter() - start, state=state))

    ctx = DrawContext(model=model, train_data=data.train, config=config, device=device, generator=generator,
                      batches=lambda augment: data.train_batches(augment=augment, generator=generator),
                      rewind_state=rewind_state, progress=progress, autocast=_autocast(device, config.precision),
                      resume=resume, checkpoint=checkpoint)
    drawn = get_method(config.method).draw(ctx)
    seconds = seconds_before + time.perf_counter() - start
    if runtime.is_main():
        cache.save_tickets(config, drawn, seconds)
    blob = {"phase": "draw", "masks": drawn.ticket.state_dict(), "epochs": float(drawn.epochs), "seconds": seconds,
            "info": jsonable(drawn.info), "scores": None}
    if config.ablation in NEEDS_SCORES and drawn.scores is not None:
        blob["scores"] = {n: s.detach().cpu() for n, s in drawn.scores.items()}
    return blob


@dataclass
class _Drawing:
    model: nn.Module      # at theta_k
    data: "RunData"
    rewind: dict[str, Any]
    drawn: dict[str, Any]
    ticket: Ticket        # drawn and ablated, on the device
    k: int


def _ticket(config: RunConfig, device: torch.device, main: bool, ckpt: Checkpoints, saved: dict[str, Any],
            cache: RunCache, info: dict[str, Any], progress: bool, channels_last: bool | None) -> _Drawing:
    """Steps 1-2 of a run: the rewind point theta_k (shared or computed), the ticket (shared or drawn), its ablation."""
    progress_saved = saved["progress"]
    data = RunData(config, device)
    model = make_model(config, device)
    if channels_last is None:
        channels_last = any(isinstance(m, nn.Conv2d) for m in model.modules())
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    num_total = sum(p.numel() for p in prunable_parameters(model).values())
    check_rewind(config, data.steps_per_epoch())  # (the data may be smaller than TRAIN_SIZES says)
    k = steps_at_batch(config.rewind_step, config.batch_size)

    # 1. rewind point theta_k
    rewind = saved["rewind"]
    if rewind is None:
        rewind = runtime.broadcast(cache.load_rewind(config) if main else None)
        if rewind is not None:
            info["rewind_shared"] = True
        else:
            rewind = _rewind_phase(model, data, config, device, ckpt, progress_saved, progress)
            if main:
                cache.save_rewind(config, rewind)
        ckpt.save("rewind", {"phase": "rewind", **rewind})
    rewind_state = {name: v.to(device) for name, v in rewind["state"].items()}
    model.load_state_dict(rewind_state)

    # 2. ticket
    drawn = saved["draw"]
    if drawn is None:
        drawn = runtime.broadcast(cache.find_ticket(config, num_total) if main else None)
        if drawn is not None:
            info["ticket_shared"] = True
        else:
            drawn = _draw_phase(model, data, config, device, rewind_state, ckpt, progress_saved, cache, progress)
        ckpt.save("draw", {**drawn, "phase": "draw"})
    info.update(drawn.get("info") or {})
    ticket = Ticket(dict(drawn["masks"])).to(device)
    model.load_state_dict(rewind_state)  # whatever the method did, training starts from theta_k
    if config.ablation:
        seed_everything(phase_seed(config.seed, "ablation"))
        ticket = apply_ablation(config.ablation, ticket, model, phase_generator(config.seed, "ablation", device),
                                scores=drawn.get("scores"), method=config.method)
    return _Drawing(model, data, rewind, drawn, ticket, k)


def _at_rewind(config: RunConfig, device: torch.device) -> tuple[nn.Module, RunData]:
    """`config`'s model at theta_k and its data, as `execute` makes them (channels_last for conv nets), computed."""
    data = RunData(config, device)
    model = make_model(config, device)
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    rewind = _rewind_phase(model, data, config, device, Checkpoints(None, config.run_id), None, False)
    model.load_state_dict({k: v.to(device) for k, v in rewind["state"].items()})
    return model, data


@dataclass
class SearchInputs:
    """What `execute(config)` gives a CTS search: the network at theta_k, its batches and its noise."""

    model: nn.Module        # at theta_k (computed, not read from a store)
    batches: Iterable       # one epoch of un-augmented training batches per iteration, shuffled by `generator`
    generator: torch.Generator  # the draw phase's: the batches' order and the Concrete noise, in the search's order
    steps: int              # the search's steps (`methods.search_steps`)
    steps_per_epoch: int


def search_inputs(config: RunConfig, generator: torch.Generator | None = None) -> SearchInputs:
    """The inputs of `config`'s CTS search exactly as `execute` makes them: the rewind point theta_k, the draw
    phase's generator (seeded from the run's seed) and its batches. `generator`: use this one instead, seeded as the
    draw phase's would be (e.g. torch's default generator, for code that draws its noise from the global RNG)."""
    check_runnable(config)
    if config.method != "cts":
        raise ValueError(f"search_inputs: {config.label} is not a CTS run (method {config.method!r})")
    device = runtime.device(config.device)
    model, data = _at_rewind(config, device)
    if generator is None:
        generator = phase_generator(config.seed, "draw", device)
    else:
        generator.manual_seed(phase_seed(config.seed, "draw"))
    seed_everything(phase_seed(config.seed, "draw"))  # (the global generator too, as the draw phase does)
    batches = data.train_batches(augment=False, generator=generator)
    steps_per_epoch = len(batches)
    from .methods import search_steps
    return SearchInputs(model, batches, generator, search_steps(config, steps_per_epoch), steps_per_epoch)


def cts_search(config: RunConfig) -> "SearchResult":
    """The CTS search `execute(config)` runs (the same ticket), with its whole per-step trace (R_b, expected
    density, lambda), computed from scratch: nothing read from or written to a store."""
    from ..cts import ConcreteSearch, run as run_search
    inputs = search_inputs(config)
    cts = ConcreteSearch(inputs.model, config.density, config.objective, inputs.steps, config.search_settings,
                         generator=inputs.generator)
    start = time.perf_counter()
    run_search(cts, inputs.batches)
    return cts.result(time.perf_counter() - start)


def train_ticket(config: RunConfig, ticket: Ticket) -> dict[str, float]:
    """Train `ticket` (drawn by any code) as `execute(config)` trains its own: from `config`'s theta_k, its training
    schedule, data order and seed; returns the test metrics (top-1/3/5, loss). Nothing is read or stored."""
    check_runnable(config)
    device = runtime.device(config.device)
    model, data = _at_rewind(config, device)
    ticket = Ticket(dict(ticket.masks)).to(device)
    ticket.check_matches(model)
    k = steps_at_batch(config.rewind_step, config.batch_size)
    _trained("train", model, data, config, device, Checkpoints(None, config.run_id), None, False, start_step=k,
             stop_step=None, ticket=ticket)
    return data.evaluate(model)


def draw_ticket(config: RunConfig, channels_last: bool | None = None) -> Ticket:
    """The ticket `execute(config)` trains (drawn and ablated), without training it: nothing read or shared, no
    checkpoints. For a method drawn at initialisation it costs a few forward / backward passes, which is how the
    tests check a committed record's ticket (`ctslib.runs.recheck.redraw`)."""
    check_runnable(config)
    device = runtime.device(config.device)
    saved = {name: None for name in Checkpoints.NAMES}
    d = _ticket(config, device, runtime.is_main(), Checkpoints(None, config.run_id), saved, RunCache(), {}, False,
                channels_last)
    return d.ticket.to("cpu")


def execute(config: RunConfig, *, progress: bool = False, workdir: str | os.PathLike | None = None,
            cache: RunCache | None = None, channels_last: bool | None = None, keep_model: bool = False) -> RunResult:
    """Run `config`: rewind point, ticket, optional sanity-check ablation, training, test.

    `workdir`: folder for checkpoints; a run started again with the same folder resumes from the last
    one. `cache`: work shared with other runs (see `RunCache`). `channels_last`: memory format of conv
    nets (default: on, on every device: a ResNet-20 step on CPU takes 0.81x the time in it,
    benchmarks/number_formats.py). `keep_model`: the result holds the trained network (`RunResult.model`, on
    the CPU, contiguous). Under torchrun (`ctslib.runs.runtime`), every rank calls this; rank 0 alone reads
    and writes files.
    """
    check_runnable(config)
    device = runtime.device(config.device)
    main = runtime.is_main()
    progress = progress and main
    ckpt = Checkpoints(workdir, config.run_id, write=main)
    cache = cache or RunCache()
    saved = runtime.broadcast(ckpt.load_all() if main else None)
    info: dict[str, Any] = {"resumed_from": [n for n in Checkpoints.NAMES if saved[n] is not None],
                            "device": str(device)}
    progress_saved = saved["progress"]
    if main and info["resumed_from"]:
        done = [f"{name} done" for name in ("rewind", "draw") if saved[name] is not None]
        if progress_saved is not None:
            done.append(f"{progress_saved['phase']} at epoch {progress_saved['epoch']} (step {progress_saved['step']})")
        log.info("resuming run %s from %s: %s", config.run_id, workdir, ", ".join(done))

    d = _ticket(config, device, main, ckpt, saved, cache, info, progress, channels_last)
    model, data, rewind, drawn, ticket, k = d.model, d.data, d.rewind, d.drawn, d.ticket, d.k

    # 3. training of the ticket from theta_k
    train_seconds, train_epochs, _ = _trained("train", model, data, config, device, ckpt, progress_saved, progress,
                                              start_step=k, stop_step=None, ticket=ticket)

    # 4. test
    t = time.perf_counter()
    metrics = data.evaluate(model)
    test_seconds = time.perf_counter() - t
    metrics.update(density=ticket.density, num_kept=ticket.num_kept, num_total=ticket.num_total,
                   layer_density=ticket.layer_densities(), layer_size=ticket.layer_sizes(),
                   collapsed_layers=ticket.collapsed_layers())
    timings = {"rewind": float(rewind["seconds"]), "draw": float(drawn["seconds"]), "train": train_seconds,
               "test": test_seconds}
    timings["total"] = sum(timings.values())
    epochs = {"rewind": float(rewind["epochs"]), "draw": float(drawn["epochs"]), "train": train_epochs}
    epochs["total"] = sum(epochs.values())
    kept = model.to("cpu", memory_format=torch.contiguous_format) if keep_model else None
    return RunResult(config, ticket.to("cpu"), metrics, timings, epochs, info=info, model=kept)
