"""Every ticket-drawing method as one record: its name, its draw, how figures name it, and its traits.

    METHODS["ltr"]            # Method(name='ltr', display='LTR', chain=True, ...)
    label(config)             # 'CTS_KL', 'Quick CTS_L (LAGRANGE) at init', 'SNIP', 'saliency_KL', 'LTR', ...

A draw is `draw(ctx: DrawContext) -> Drawn`. It sees the network at the rewind point (weights theta_k) and
must not change those weights (LTR trains a copy). The pipeline treats every method alike: CTS too goes
through its record, and uses the context's `checkpoint` and `resume` to be resumable within its search.
Adding a method = one score or draw function (ctslib.pruners) + one `register(Method(...))` here.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterable

import torch
from torch import nn

from .. import pruners
from ..cts import ConcreteSearch, SearchResult, all_reduce_mean, run
from ..data import ImageData
from ..objectives import get_objective
from ..tickets import Ticket, prunable_parameters
from ..training import clone_state, steps_at_batch
from . import runtime

# A draw's `config` is a `ctslib.runs.config.RunConfig`. This module does not import it: the config validates its
# method against `METHODS`, so the arrow points from config to methods only.
ConfigLike = Any

QUICK_FRACTION = 1 / 8  # Quick CTS searches for 1/8 of the training epochs (Section V-A)
HALF_FRACTION = 1 / 2   # Half CTS (ResNet-50 / ImageNet): 1/2


@dataclass
class DrawContext:
    """What a draw may use. `batches(augment)` gives one epoch of this process's training batches per
    iteration (its slice of each batch under DDP; streamed for ImageNet), `train_data` the in-memory
    training set (None when streamed). A resumable draw saves its state with `checkpoint(state, step=,
    epoch=)` and finds the last one in `resume`."""

    model: nn.Module                 # at the rewind point; frozen for the method
    train_data: ImageData | None     # on the compute device
    config: ConfigLike
    device: torch.device
    generator: torch.Generator       # data order and noise, on the compute device
    batches: Callable[[bool], Iterable] | None = None
    rewind_state: dict[str, torch.Tensor] = field(default_factory=dict)
    progress: bool = False
    autocast: ContextManager[Any] = field(default_factory=nullcontext)
    resume: dict[str, Any] | None = None
    checkpoint: Callable[..., None] | None = None


@dataclass
class Drawn:
    ticket: Ticket
    epochs: float = 0.0              # training-set passes the method used (Table I's "computation")
    info: dict[str, Any] = field(default_factory=dict)
    tickets: dict[float, Ticket] = field(default_factory=dict)  # every density a method passed through (LTR)
    scores: dict[str, torch.Tensor] | None = None  # per-weight scores the ticket is the top-k of (score inversion)


DrawFn = Callable[[DrawContext], Drawn]


@dataclass(frozen=True)
class Method:
    """One ticket-drawing method and what the rest of ctslib needs to know about it."""

    name: str                        # RunConfig.method
    draw: DrawFn
    display: str                     # its name in figures and tables (CTS and saliency add the objective)
    uses_objective: bool = False     # `RunConfig.objective` matters: one config per objective in a sweep
    chain: bool = False              # passes through many densities (Drawn.tickets), one chain serves them all
    streams: bool = False            # can draw from streamed (ImageNet) data
    at_init: bool = False            # a pruning-at-initialisation method: the figures draw it at rewind_step 0
    baseline_for: tuple[str, ...] = ()  # objectives it is the paper's saliency baseline for (Section V-E)


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    METHODS[method.name] = method
    return method


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def objective_symbol(objective: str) -> str:
    """The objective's subscript as the paper writes it: 'KL', 'L', 'ΔL', '-‖∇L‖', 'feature', 'grad'."""
    return get_objective(objective).symbol.removeprefix("R_")


def is_quick(config: ConfigLike) -> bool:
    return config.method == "cts" and math.isclose(config.search_epochs, config.epochs * QUICK_FRACTION)


def label(config: ConfigLike) -> str:
    """A run's method as the paper and the figures write it: CTS_KL, Quick CTS_L (LAGRANGE) at init, SNIP,
    saliency_KL, LTR, ... (the one name of a run's method everywhere: CLI, records, figures, explorer)."""
    method = get_method(config.method)
    if config.method == "cts":
        name = f"{'Quick ' if is_quick(config) else ''}CTS_{objective_symbol(config.objective)}"
        if config.step == "lagrange":
            name += " (LAGRANGE)"
        if config.rewind_step == 0:
            name += " at init"
        return name
    if method.uses_objective:
        return f"{method.display}_{objective_symbol(config.objective)}"
    return method.display


def run_title(config: ConfigLike) -> str:
    """One line naming a run (progress lines, errors): label, ablation, model, density, seed."""
    return (f"{label(config)}{' + ' + config.ablation if config.ablation else ''} {config.model} "
            f"d={config.density:.4g} seed={config.seed}")


# --- CTS ----------------------------------------------------------------------------------------------------

def search_steps(config: ConfigLike, steps_per_epoch: int) -> int:
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


def _sync_trace(search: ConcreteSearch) -> None:
    """Under DDP each rank traced R_b of its slice: replace it by the mean over the (equal) slices, i.e. the
    global batch's R_b. Idempotent (averaging values equal on every rank changes nothing)."""
    if runtime.active():
        search.trace[:, 0] = all_reduce_mean(search.trace[:, 0].contiguous())


def draw_cts(ctx: DrawContext) -> Drawn:
    """CTS_R (Algorithm 3, steps 2-8) on un-augmented batches of the training set, checkpointed after every
    pass over the data and resumable from `ctx.resume` (the same ticket as a search never stopped)."""
    cfg = ctx.config
    batches = ctx.batches(False)
    steps_per_epoch = len(batches)
    cts = ConcreteSearch(ctx.model, cfg.density, cfg.objective, search_steps(cfg, steps_per_epoch),
                         cfg.search_settings, generator=ctx.generator)
    passes = 0
    if ctx.resume is not None:
        cts.load_state_dict(ctx.resume["search"])
        passes = int(ctx.resume["passes"])
    if hasattr(batches, "epoch"):  # streamed data: reshuffle as the pass we resume in
        batches.epoch = passes

    def on_pass_end(search: ConcreteSearch) -> None:
        nonlocal passes
        passes += 1
        if ctx.checkpoint is not None:
            _sync_trace(search)
            ctx.checkpoint({"search": search.state_dict(), "passes": passes}, step=search.steps_done, epoch=passes)

    run(cts, batches, progress=ctx.progress, on_pass_end=on_pass_end, autocast=ctx.autocast)
    _sync_trace(cts)
    return drawn_from_search(cts.result(), steps_per_epoch)


# --- the baselines (score functions in ctslib.pruners) ------------------------------------------------------

def _drawn(ticket: Ticket, scores: dict[str, torch.Tensor], epochs: float = 0.0, **info: Any) -> Drawn:
    info["collapsed_layers"] = ticket.collapsed_layers()
    return Drawn(ticket, epochs=epochs, info=info, scores={n: s.detach() for n, s in scores.items()})


def _scoring_batches(ctx: DrawContext) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return pruners.scoring_batches(ctx.train_data.to(ctx.device), ctx.config.batch_size, pruners.EXAMPLES_PER_CLASS,
                                   ctx.generator)


def _one_shot(ctx: DrawContext, scores: dict[str, torch.Tensor], batches: list, passes: int = 1, **info: Any) -> Drawn:
    examples = sum(len(y) for _, y in batches)
    return _drawn(Ticket.from_scores(scores, ctx.config.density), scores,
                  epochs=passes * examples / len(ctx.train_data), examples=examples, **info)


def draw_snip(ctx: DrawContext) -> Drawn:
    """SNIP on 10 un-augmented training images per class."""
    batches = _scoring_batches(ctx)
    return _one_shot(ctx, pruners.snip_scores(ctx.model, batches), batches)


def draw_grasp(ctx: DrawContext) -> Drawn:
    """GraSP on 10 un-augmented training images per class (two passes: g, then Hg)."""
    batches = _scoring_batches(ctx)
    return _one_shot(ctx, pruners.grasp_scores(ctx.model, batches), batches, passes=2,
                     temperature=pruners.GRASP_TEMPERATURE)


def draw_saliency(ctx: DrawContext) -> Drawn:
    """Saliency abs(dR/ds) for R = `config.objective` (Section V-E) on 10 un-augmented images per class."""
    batches = _scoring_batches(ctx)
    scores = pruners.saliency_scores(ctx.model, batches, ctx.config.objective, pruners.SALIENCY_SIGMA, ctx.generator)
    return _one_shot(ctx, scores, batches, objective=ctx.config.objective, sigma=pruners.SALIENCY_SIGMA)


def draw_synflow(ctx: DrawContext) -> Drawn:
    """Iterative SynFlow with `config.synflow_rounds` rounds; uses no data (only the input shape)."""
    input_shape = tuple(ctx.train_data.images.shape[1:])
    ticket, scores = pruners.synflow(ctx.model, input_shape, ctx.config.density, ctx.config.synflow_rounds)
    return _drawn(ticket, scores, epochs=0.0, rounds=ctx.config.synflow_rounds)


def draw_ltr(ctx: DrawContext) -> Drawn:
    """LTR from the rewind point (config.rewind_step; 0 = IMP), pruning `config.ltr_rate` per round; on streamed
    data (ImageNet) every round trains on the run's stream, in DistributedDataParallel under DDP.

    `Drawn.tickets` holds the ticket of every density passed through, so one run gives a whole curve
    (each of them would still need its own training run for its accuracy).
    """
    cfg = ctx.config
    rewind_state = ctx.rewind_state or clone_state(ctx.model)
    k = steps_at_batch(cfg.rewind_step, cfg.batch_size)
    streamed = ctx.train_data is None  # (ImageNet: the run's stream, this rank's slice of each batch, under DDP)
    ticket, tickets, epochs, scores = pruners.ltr(ctx.model, ctx.train_data, cfg.schedule, cfg.density, rewind_state,
                                                  k, cfg.ltr_rate, ctx.generator, precision=cfg.precision,
                                                  progress=ctx.progress,
                                                  batches=ctx.batches(cfg.schedule.augment) if streamed else None,
                                                  wrap=runtime.wrap if streamed else None)
    drawn = _drawn(ticket, scores, epochs=epochs, rounds=len(tickets), rate=cfg.ltr_rate,
                   round_densities=list(tickets))
    drawn.tickets = tickets
    return drawn


def draw_random(ctx: DrawContext) -> Drawn:
    """Uniformly random ticket over all prunable weights (exactly round(kappa d) kept)."""
    scores = {n: torch.rand(p.shape, device=ctx.device, generator=ctx.generator)
              for n, p in prunable_parameters(ctx.model).items()}
    return Drawn(Ticket.from_scores(scores, ctx.config.density), scores=scores)


def draw_magnitude(ctx: DrawContext) -> Drawn:
    """One-shot global magnitude pruning of the current weights."""
    scores = {n: p.detach().abs().clone() for n, p in prunable_parameters(ctx.model).items()}
    return Drawn(Ticket.from_scores(scores, ctx.config.density), scores=scores)


def draw_dense(ctx: DrawContext) -> Drawn:
    """The unpruned network (density must be 1)."""
    if ctx.config.density != 1.0:
        raise ValueError(f"method 'dense' needs density=1, got {ctx.config.density}")
    return Drawn(Ticket.dense(ctx.model))


register(Method("cts", draw_cts, "CTS", uses_objective=True, streams=True))
register(Method("ltr", draw_ltr, "LTR", chain=True, streams=True))
register(Method("snip", draw_snip, "SNIP", at_init=True, baseline_for=("task", "delta_loss")))
register(Method("grasp", draw_grasp, "GraSP", at_init=True, baseline_for=("grad_norm",)))
register(Method("synflow", draw_synflow, "SynFlow", at_init=True))
register(Method("saliency", draw_saliency, "saliency", uses_objective=True, baseline_for=("kl", "feature", "grad")))
register(Method("magnitude", draw_magnitude, "magnitude", streams=True))
register(Method("random", draw_random, "random", streams=True, at_init=True))
register(Method("dense", draw_dense, "dense", streams=True))
