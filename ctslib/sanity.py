"""Sanity checks of Frankle et al. (2021) (paper, Section V-D), and scoring tickets on the objectives (Figs. 1, 7, 8).

A pruning method that finds real lottery tickets should be *hurt* by each ablation, which keeps the
ticket's density exactly and destroys something else:

| ablation           | what it keeps                  | what it destroys                                          |
|--------------------|--------------------------------|-----------------------------------------------------------|
| `shuffle`          | each layer's number of weights | which weights: a random permutation within each layer     |
| `reinit`           | the ticket                     | the weights: kept weights re-drawn from the initialiser   |
| `invert`           | the number of weights          | the ranking: keep the network's lowest-scored weights     |
| `invert_layerwise` | each layer's number of weights | the ranking within layers: each layer's lowest-scored     |

`invert` is the paper's score inversion ("the least-probable weights rather than the most probable",
Section V-D) and Synaptic-Flow's: global, so the layer-wise densities change too. `invert_layerwise` keeps the
ticket's layer-wise densities and inverts only the order within each layer (an extra ablation: it separates
what the ranking within a layer carries from what the layer-wise densities carry).

Score inversion needs scores whose global top-k is the ticket (`Drawn.scores`; alpha_logit for CTS, so
the inverted CTS ticket keeps the *least probable* weights, cf. eq. 5; for the iterative methods, LTR and
SynFlow, the round a weight was pruned in, then its score in that round). The paper's CTS_L "at
initialisation" (the ticket searched on the random initial weights, which makes `reinit` meaningful)
is simply `RunConfig(method="cts", objective="task", rewind_step=0)`: nothing extra is needed here.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import torch
from torch import nn

from .data import Batches, ImageData
from .objectives import evaluate_objectives
from .tickets import Ticket, prunable_parameters, ranking_values



def layerwise_shuffle(ticket: Ticket, generator: torch.Generator | None = None) -> Ticket:
    """Randomly permute the kept positions within each layer: every layer's count is kept exactly."""
    masks = {}
    for name, mask in ticket.masks.items():
        device = generator.device if generator is not None else mask.device
        perm = torch.randperm(mask.numel(), generator=generator, device=device).to(mask.device)
        masks[name] = mask.reshape(-1)[perm].reshape(mask.shape)
    return Ticket(masks)


def _lowest(kept: torch.Tensor, score: torch.Tensor, k: int) -> torch.Tensor:
    """A flat mask of the `k` lowest of `score`, ties broken in favour of the positions `kept` is False at."""
    # Lexicographic order (score, kept): sort by the tie-breaker first, then stably by score.
    by_kept = torch.argsort(kept.to(torch.uint8), stable=True)
    order = by_kept[torch.argsort(score[by_kept], stable=True)]
    lowest = torch.zeros_like(kept)
    lowest[order[:k]] = True
    return lowest


def _scores_of(ticket: Ticket, scores: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each layer's scores as a flat vector to rank (float64 scores stay float64), checked against the ticket."""
    out = {}
    for name, mask in ticket.masks.items():
        if name not in scores:
            raise ValueError(f"no scores for layer {name!r}; scores must cover every layer of the ticket")
        score = ranking_values({name: scores[name]}).to(mask.device)
        if score.numel() != mask.numel():
            raise ValueError(f"scores for {name!r} have {score.numel()} entries, the mask {mask.numel()}")
        out[name] = score
    return out


def invert(ticket: Ticket, scores: Mapping[str, torch.Tensor]) -> Ticket:
    """Score inversion, global (the paper's and Synaptic-Flow's): keep as many weights as `ticket` does, the ones
    with the *lowest* scores in the whole network.

    Ties in score are broken in favour of weights the ticket pruned, so whenever the ticket keeps at most
    half the weights and is the global top-k of `scores`, the inverted ticket is disjoint from it.
    """
    flat_scores = _scores_of(ticket, scores)
    dtype = torch.float64 if any(s.dtype == torch.float64 for s in flat_scores.values()) else torch.float32
    kept = torch.cat([m.reshape(-1) for m in ticket.masks.values()])
    score = torch.cat([s.to(kept.device, dtype) for s in flat_scores.values()])
    lowest = _lowest(kept, score, int(kept.sum()))
    masks, start = {}, 0
    for name, mask in ticket.masks.items():
        masks[name] = lowest[start:start + mask.numel()].reshape(mask.shape).to(mask.device)
        start += mask.numel()
    return Ticket(masks)


def invert_layerwise(ticket: Ticket, scores: Mapping[str, torch.Tensor]) -> Ticket:
    """Score inversion within each layer: in each layer keep as many weights as `ticket` does, the ones with the
    lowest scores there (the layer-wise densities are kept; ties as in `invert`)."""
    flat_scores = _scores_of(ticket, scores)
    return Ticket({name: _lowest(mask.reshape(-1), flat_scores[name], int(mask.sum())).reshape(mask.shape)
                   for name, mask in ticket.masks.items()})


def invert_scores(scores: Mapping[str, torch.Tensor], ticket_or_density: Ticket | float) -> Ticket:
    """The inverted ticket of `scores`: the network's lowest-scored weights, as many as the ticket keeps.

    Given a density instead of a ticket, the ticket is first the global top-k of `scores` at that density.
    """
    if isinstance(ticket_or_density, Ticket):
        ticket = ticket_or_density
    else:
        ticket = Ticket.from_scores(scores, ticket_or_density)
    return invert(ticket, scores)


@torch.no_grad()
def reinitialize(model: nn.Module, ticket: Ticket, generator: torch.Generator | None = None) -> nn.Module:
    """Re-draw every prunable weight of `model` in place from the zoo's initialiser, kaiming_normal_
    (fan-in, gain sqrt(2): N(0, 2 / fan_in)), with `generator` (a fresh draw, not the original seed).

    The ticket is unchanged; its kept weights get new values and its pruned ones are zeroed. Biases and
    BatchNorm parameters keep their current values (Frankle et al. 2021 re-draw the weights).
    """
    ticket.check_matches(model)
    for name, param in prunable_parameters(model).items():
        if name not in ticket.masks:
            continue
        fan_in = nn.init._calculate_correct_fan(param, "fan_in")
        std = math.sqrt(2.0 / fan_in)
        device = generator.device if generator is not None else param.device
        fresh = torch.randn(param.shape, generator=generator, device=device).to(param.device, param.dtype)
        param.copy_(fresh * std * ticket.masks[name].to(param.device, param.dtype))
    return model


ABLATIONS = ("shuffle", "reinit", "invert", "invert_layerwise")
NEEDS_SCORES = ("invert", "invert_layerwise")  # the ablations that need the scores the ticket was drawn from


def apply_ablation(name: str, ticket: Ticket, model: nn.Module, generator: torch.Generator | None,
                   scores: Mapping[str, torch.Tensor] | None = None, method: str = "this method") -> Ticket:
    """Apply sanity check `name` to a drawn ticket (the run pipeline does, for `RunConfig.ablation`).

    `shuffle` and the inversions return a new ticket; `reinit` re-draws the model's weights in place and
    returns the ticket unchanged. The inversions need `scores` (the scores the ticket is the top-k of;
    `method` names where they should have come from, for the error).
    """
    if name == "shuffle":
        return layerwise_shuffle(ticket, generator)
    if name == "reinit":
        reinitialize(model, ticket, generator)
        return ticket
    if name in NEEDS_SCORES:
        if scores is None:
            raise ValueError(f"ablation {name!r} needs the scores the ticket was drawn from, but {method!r} "
                             f"returned none (Drawn.scores is None); use a method that returns its scores")
        return (invert if name == "invert" else invert_layerwise)(ticket, scores)
    raise ValueError(f"unknown ablation {name!r}; choose one of: {', '.join(ABLATIONS)}")


# --- objective evaluation (Figs. 1, 7, 8) --------------------------------------------------------

def fixed_eval_batches(data: ImageData, n_batches: int, batch_size: int,
                       seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`n_batches` batches of `batch_size` examples, un-augmented, chosen by `seed` only (the same on any
    device and for any caller), so tickets from different methods are scored on identical data."""
    if n_batches < 1:
        raise ValueError(f"n_batches must be >= 1, got {n_batches}")
    generator = torch.Generator().manual_seed(seed)  # CPU: the choice does not depend on the device
    batches = Batches(data, batch_size, shuffle=True, augment=False, drop_last=True, generator=generator)
    if len(batches) < n_batches:
        raise ValueError(f"{len(data)} examples give only {len(batches)} batches of {batch_size}, "
                         f"asked for {n_batches}; use fewer or smaller batches")
    out = []
    for i, batch in enumerate(batches):
        if i == n_batches:
            break
        out.append(batch)
    return out


def score_ticket_objectives(model: nn.Module, ticket: Ticket, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                            objectives: Iterable[str] | None = None) -> dict[str, float]:
    """Mean value of each objective (default: all six) for `ticket` on the model's current weights."""
    return evaluate_objectives(model, ticket.to(next(model.parameters()).device).masks, batches, objectives)
