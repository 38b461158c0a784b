"""Registry of ticket-drawing methods, each `draw(ctx) -> Drawn`, so the pipeline treats them alike.

A method sees the network at the rewind point (weights theta_k) and must not change those weights;
methods that train (LTR) work on a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from .config import RunConfig
from .cts import SearchResult, SearchSettings, search
from .data import Batches, ImageData
from .tickets import Ticket, prunable_parameters


@dataclass
class DrawContext:
    model: nn.Module                 # at the rewind point; frozen for the method
    train_data: ImageData            # on the compute device
    config: RunConfig
    device: torch.device
    generator: torch.Generator       # data order and noise, on the compute device
    rewind_state: dict[str, torch.Tensor] = field(default_factory=dict)
    progress: bool = False


@dataclass
class Drawn:
    ticket: Ticket
    epochs: float = 0.0              # training-set passes the method used (Table I's "computation")
    info: dict[str, Any] = field(default_factory=dict)
    tickets: dict[float, Ticket] = field(default_factory=dict)  # every density a method passed through (LTR)
    scores: dict[str, torch.Tensor] | None = None  # per-weight scores the ticket is the top-k of (score inversion)


DrawFn = Callable[[DrawContext], Drawn]
METHODS: dict[str, DrawFn] = {}


def register(name: str) -> Callable[[DrawFn], DrawFn]:
    def wrap(fn: DrawFn) -> DrawFn:
        METHODS[name] = fn
        return fn
    return wrap


def get_method(name: str) -> DrawFn:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name]


@register("cts")
def draw_cts(ctx: DrawContext) -> Drawn:
    """CTS_R (Algorithm 3, steps 2-8) on un-augmented batches of the training set."""
    cfg = ctx.config
    batches = Batches(ctx.train_data, cfg.batch_size, shuffle=True, augment=False, device=ctx.device,
                      generator=ctx.generator)
    steps = search_steps(cfg, len(batches))
    result = search(ctx.model, batches, cfg.density, cfg.objective, steps=steps,
                    settings=SearchSettings(step=cfg.step), generator=ctx.generator, progress=ctx.progress)
    return drawn_from_search(result, steps_per_epoch=len(batches))


def search_steps(config: RunConfig, steps_per_epoch: int) -> int:
    """CTS search steps for `config.search_epochs` passes over batches of the training set."""
    return max(1, round(config.search_epochs * steps_per_epoch))


def drawn_from_search(result: SearchResult, steps_per_epoch: int) -> Drawn:
    """The Drawn of a CTS search: its ticket, alpha_logit as scores and ~200 points of its trace."""
    steps = result.steps
    trace_every = max(1, steps // 200)
    info = {"search_steps": steps,
            "final_expected_density": result.expected_density[-1],
            "final_lambda": result.lam[-1],
            "trace": {"step": list(range(0, steps, trace_every)),
                      "objective": result.objective[::trace_every],
                      "expected_density": result.expected_density[::trace_every],
                      "lam": result.lam[::trace_every]}}
    return Drawn(result.ticket, epochs=steps / steps_per_epoch, info=info,
                 scores={n: a.clone() for n, a in result.ticket_scores().items()})


@register("random")
def draw_random(ctx: DrawContext) -> Drawn:
    """Uniformly random ticket over all prunable weights (exactly round(kappa d) kept)."""
    scores = {n: torch.rand(p.shape, device=ctx.device, generator=ctx.generator)
              for n, p in prunable_parameters(ctx.model).items()}
    return Drawn(Ticket.from_scores(scores, ctx.config.density), scores=scores)


@register("magnitude")
def draw_magnitude(ctx: DrawContext) -> Drawn:
    """One-shot global magnitude pruning of the current weights."""
    scores = {n: p.detach().abs().clone() for n, p in prunable_parameters(ctx.model).items()}
    return Drawn(Ticket.from_scores(scores, ctx.config.density), scores=scores)


@register("dense")
def draw_dense(ctx: DrawContext) -> Drawn:
    """The unpruned network (density must be 1)."""
    if ctx.config.density != 1.0:
        raise ValueError(f"method 'dense' needs density=1, got {ctx.config.density}")
    return Drawn(Ticket.dense(ctx.model))
from . import pruners  # noqa: E402,F401  (registers the baselines)
