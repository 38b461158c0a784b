"""One run, end to end (Algorithm 3 for any method): rewind point -> draw ticket -> (ablation) -> train -> test."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .config import RunConfig
from .data import ImageData, dataset_info, load_dataset
from .methods import DrawContext, Drawn, get_method
from .models import build_model
from .tickets import Ticket
from .training import clone_state, evaluate, steps_at_batch, train


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU; anything else is passed to torch.device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N' ({err})") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def load_data(config: RunConfig, device: torch.device) -> tuple[ImageData, ImageData]:
    """Train and test sets on `device`; `train_examples` > 0 takes a fixed (seed-independent) subset."""
    train_data = load_dataset(config.dataset, "train")
    if config.train_examples:
        train_data = train_data.subset(config.train_examples, seed=0)
    return train_data.to(device), load_dataset(config.dataset, "test").to(device)


def make_model(config: RunConfig, device: torch.device) -> nn.Module:
    info = dataset_info(config.dataset)
    seed_everything(config.seed)
    model = build_model(config.model, in_channels=info.in_channels, image_size=info.image_size,
                        num_classes=info.num_classes, track_running_stats=config.track_running_stats)
    return model.to(device)


@dataclass
class RunResult:
    config: RunConfig
    ticket: Ticket
    metrics: dict[str, Any]
    timings: dict[str, float]
    epochs: dict[str, float]
    info: dict[str, Any] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """JSON-ready summary (the ticket itself is stored separately)."""
        return {"run_id": self.config.run_id, "config": self.config.to_dict(), "metrics": self.metrics,
                "seconds": self.timings, "epochs": self.epochs, "info": self.info}


def rewind_point(model: nn.Module, train_data: ImageData, config: RunConfig,
                 generator: torch.Generator, progress: bool = False) -> tuple[dict[str, torch.Tensor], float, float]:
    """Train the dense network for k steps (Alg. 3, step 1); returns theta_k, epochs and seconds used."""
    k = steps_at_batch(config.rewind_step, config.batch_size)
    if k == 0:
        return clone_state(model), 0.0, 0.0
    result = train(model, train_data, config.schedule, stop_step=k, generator=generator,
                   precision=config.precision, progress=progress)
    return clone_state(model), result.epochs, result.seconds


def execute(config: RunConfig, *, progress: bool = False) -> RunResult:
    """Run `config` from scratch: rewind point, ticket, optional sanity-check ablation, training, test."""
    from .sanity import apply_ablation  # late import: sanity builds on methods

    device = resolve_device(config.device)
    train_data, test_data = load_data(config, device)
    model = make_model(config, device)
    generator = torch.Generator(device=device).manual_seed(config.seed)

    t0 = time.perf_counter()
    rewind_state, rewind_epochs, rewind_seconds = rewind_point(model, train_data, config, generator, progress)

    t1 = time.perf_counter()
    ctx = DrawContext(model=model, train_data=train_data, config=config, device=device, generator=generator,
                      rewind_state=rewind_state, progress=progress)
    drawn: Drawn = get_method(config.method)(ctx)
    model.load_state_dict(rewind_state)  # whatever the method did, training starts from theta_k
    draw_seconds = time.perf_counter() - t1

    ticket = drawn.ticket
    if config.ablation:
        ticket = apply_ablation(config.ablation, ticket, model, config, generator, scores=drawn.scores)

    t2 = time.perf_counter()
    k = steps_at_batch(config.rewind_step, config.batch_size)
    trained = train(model, train_data, config.schedule, ticket=ticket, start_step=k, generator=generator,
                    precision=config.precision, progress=progress)
    train_seconds = time.perf_counter() - t2

    metrics = evaluate(model, test_data, topk=(1, 3, 5))
    metrics.update(density=ticket.density, num_kept=ticket.num_kept, num_total=ticket.num_total,
                   layer_density=ticket.layer_densities(), layer_size=ticket.layer_sizes(),
                   collapsed_layers=ticket.collapsed_layers())
    timings = {"rewind": rewind_seconds, "draw": draw_seconds, "train": train_seconds,
               "total": time.perf_counter() - t0}
    epochs = {"rewind": rewind_epochs, "draw": drawn.epochs, "train": trained.epochs,
              "total": rewind_epochs + drawn.epochs + trained.epochs}
    return RunResult(config, ticket.to("cpu"), metrics, timings, epochs, info=drawn.info)
