"""The baselines the paper compares CTS against, Synaptic-Flow style: a `*_scores()` per method and the
shared global top-k `Ticket.from_scores` (eq. 5: exactly round(kappa d) weights kept).

| method     | score kept by top-k                              | data                    | reference              |
|------------|--------------------------------------------------|-------------------------|------------------------|
| `snip`     | abs(g * theta), g = grad_theta L                 | 10 examples per class   | Lee et al. 2019        |
| `grasp`    | theta * (H g)  (= minus GraSP's score)           | 10 examples per class   | Wang et al. 2020       |
| `synflow`  | abs(dR/dtheta * theta), R = 1' f_abs(theta)(1)   | none (all-ones input)   | Tanaka et al. 2020     |
| `saliency` | abs(dR/ds) at s = 1 + N(0, sigma^2), any R       | 10 examples per class   | the paper, Section V-E |
| `ltr`      | magnitude after training, iterated and rewound   | the whole schedule      | Frankle et al. 2020    |

Every method scores the weights the model has when it is called: the initialisation when
`rewind_step == 0`, theta_k otherwise. None of them changes the model (LTR trains a deep copy). These are
pure functions of a model and data; the experiment engine's method records (`ctslib.runs.methods`) wrap
each one into a draw that also reports the scores, the training-set passes used and the collapsed layers.
"""

from __future__ import annotations

import copy
import math
from typing import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .data import Batches, ImageData
from .objectives import FunctionalNet, Objective, double_backward_attention, get_objective, scoring_mode
from .tickets import Ticket, check_density, num_to_keep, prunable_names
from .training import Schedule, train

Batch = tuple[torch.Tensor, torch.Tensor]
Scores = dict[str, torch.Tensor]

EXAMPLES_PER_CLASS = 10   # SNIP, GraSP, saliency: as GraSP's and Synaptic-Flow's defaults (100 images for 10 classes)
GRASP_TEMPERATURE = 200.0  # GraSP divides the logits by T = 200 (Wang et al.'s code)
SALIENCY_SIGMA = 6e-2      # Section V-E: s = 1 + N(0, sigma^2)


# --- data for the pruners that look at data ------------------------------------------------------

def scoring_batches(data: ImageData, batch_size: int, examples_per_class: int = EXAMPLES_PER_CLASS,
                    generator: torch.Generator | None = None) -> list[Batch]:
    """A class-balanced sample of `examples_per_class` training images per class, without augmentation,
    in batches of `batch_size` (for 10 classes and batch 128: a single batch of 100 images).

    As GraSP's `GraSP_fetch_data` and Synaptic-Flow's `prune_dataset_ratio=10`; the choice of images
    follows `generator`.
    """
    if examples_per_class < 1:
        raise ValueError(f"examples_per_class must be >= 1, got {examples_per_class}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    order = torch.randperm(len(data), generator=generator, device=gen_device).to(data.labels.device)
    labels = data.labels[order]
    picked = [order[labels == c][:examples_per_class] for c in range(data.info.num_classes)]
    idx = torch.cat(picked)
    if idx.numel() == 0:
        raise ValueError("the training data given to the pruner is empty")
    sample = ImageData(data.images[idx], data.labels[idx], data.info)
    return list(Batches(sample, batch_size, shuffle=False, augment=False))


def _examples(batches: Iterable[Batch]) -> int:
    return sum(len(y) for _, y in batches)


def _leaf_weights(net: FunctionalNet) -> dict[str, torch.Tensor]:
    """Fresh autograd leaves holding theta for each prunable weight (the model's own tensors are not touched)."""
    return {n: net.theta[n].detach().clone().requires_grad_() for n in net.prunable}


# --- SNIP ------------------------------------------------------------------------------------------

def snip_scores(model: nn.Module, batches: Iterable[Batch]) -> Scores:
    """SNIP's connection sensitivity abs(dL/dc) at c = 1, i.e. abs(g * theta) (Lee et al. 2019).

    g is the gradient of the summed mean-batch cross-entropy over `batches` (Synaptic-Flow accumulates it
    the same way); the network runs with batch statistics.
    """
    net = FunctionalNet(model)
    theta = _leaf_weights(net)
    grads = {n: torch.zeros_like(t) for n, t in theta.items()}
    with scoring_mode(model):
        for x, y in batches:
            loss = F.cross_entropy(net(None, x, theta), y)
            for n, g in zip(theta, torch.autograd.grad(loss, list(theta.values()))):
                grads[n] += g
    return {n: (grads[n] * net.theta[n]).abs() for n in net.prunable}


def snip(model: nn.Module, batches: Iterable[Batch], density: float) -> Ticket:
    """One-shot SNIP ticket: the round(kappa d) weights of largest abs(g * theta)."""
    return Ticket.from_scores(snip_scores(model, batches), density)


# --- GraSP -----------------------------------------------------------------------------------------

def grasp_scores(model: nn.Module, batches: Iterable[Batch], temperature: float = GRASP_TEMPERATURE) -> Scores:
    """theta * (H g): minus GraSP's score S(-theta) = -theta * (H g) (Wang et al. 2020).

    Sign convention. GraSP *removes* the weights with the largest S = -theta * Hg (their removal reduces
    the gradient norm least, or increases it) and keeps the smallest; Wang et al.'s `pruner/GraSP.py`
    keeps `-theta * Hg <= threshold`, and Synaptic-Flow stores `Hg * theta` ("negate to remove top
    percent") and keeps the largest. We return theta * Hg, so the shared top-k keeps the same weights.
    The scores are signed, not absolute.

    As in Wang et al.'s code: the logits are divided by `temperature` (200); g is the gradient summed
    over `batches` with no graph; Hg = grad_theta(g_stop . grad_theta L), by double backward, summed
    over the same batches. (Their code also re-draws linear layers with Xavier init first; we do not:
    every method here scores the model's own weights.)
    """
    net = FunctionalNet(model)
    theta = _leaf_weights(net)
    names = list(theta)
    batches = list(batches)

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(net(None, x, theta) / temperature, y)

    with scoring_mode(model):
        g_stop = [torch.zeros_like(theta[n]) for n in names]
        for x, y in batches:
            for acc, g in zip(g_stop, torch.autograd.grad(loss_of(x, y), list(theta.values()))):
                acc += g
        hg = [torch.zeros_like(theta[n]) for n in names]
        for x, y in batches:
            with double_backward_attention():
                loss = loss_of(x, y)
            grads = torch.autograd.grad(loss, list(theta.values()), create_graph=True)
            z = sum((gs * g).sum() for gs, g in zip(g_stop, grads))
            for acc, h in zip(hg, torch.autograd.grad(z, list(theta.values()), allow_unused=True)):
                if h is not None:  # a weight the loss does not reach through a second path
                    acc += h
    return {n: (net.theta[n] * h).detach() for n, h in zip(names, hg)}


def grasp(model: nn.Module, batches: Iterable[Batch], density: float,
          temperature: float = GRASP_TEMPERATURE) -> Ticket:
    """One-shot GraSP ticket: keeps the round(kappa d) weights of *smallest* -theta * Hg (see `grasp_scores`)."""
    return Ticket.from_scores(grasp_scores(model, batches, temperature), density)


# --- SynFlow ---------------------------------------------------------------------------------------

class _AbsAffine(nn.Module):
    """What a BatchNorm layer becomes in SynFlow's linearised network: x -> |gamma| x + |beta| per channel."""

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm):
        super().__init__()
        self.weight = bn.weight if bn.affine else None
        self.bias = bn.bias if bn.affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None:
            return x
        shape = (1, -1) + (1,) * (x.ndim - 2)
        return x * self.weight.view(shape) + self.bias.view(shape)


class _FrozenScaleNorm(nn.Module):
    """What a LayerNorm becomes in SynFlow's linearised network: x -> |gamma| x / c + |beta|, with c the root mean
    square of x over the normalised features, held constant (not differentiated).

    No mean is subtracted (on the all-ones input every token's features would cancel, as BatchNorm's batch mean
    would), and the scale is a constant as a BatchNorm's running statistics are in eval mode, so the flow stays a
    product of positive weights along every path. Without the division the flow's degree in the weights grows
    threefold per attention block (R ~ 1e99 at 3 blocks) and overflows float64 at 4."""

    def __init__(self, norm: nn.LayerNorm):
        super().__init__()
        self.dims = tuple(range(-len(norm.normalized_shape), 0))
        self.weight = norm.weight if norm.elementwise_affine else None
        self.bias = getattr(norm, "bias", None) if norm.elementwise_affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x / x.detach().pow(2).mean(self.dims, keepdim=True).sqrt().clamp_min(torch.finfo(x.dtype).tiny)
        if self.weight is not None:
            y = y * self.weight
        return y + self.bias if self.bias is not None else y


class _FrozenRowNorm(nn.Module):
    """What a softmax over attention scores becomes in SynFlow's linearised network: S -> S / c, with c the sum of
    each row of S (over the keys), held constant (not differentiated).

    The rows still sum to 1, as softmax's do, so attention's output has the scale of its values and the MLP beside
    it keeps its share of the flow; but the weights of the average are now linear in S (every entry is positive
    in the linearised network), so the flow is a product of positive weights along every path through Q and K too,
    as it is through a ReLU network on a positive input. Kept as a softmax, the identical all-ones tokens would
    give Q and K next to no gradient (scored ~0: pruned first); with S / T instead, attention's output would grow
    cubically in its input and outweigh the MLP's."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / x.detach().sum(self.dim, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)


def _linearised_copy(model: nn.Module) -> nn.Module:
    """A float64 deep copy in which SynFlow's flow is a product of positive weights along every path.

    - BatchNorm: SynFlow must not normalise its all-ones input by batch statistics (the batch is one image, and
      subtracting the mean would cancel the flow). Synaptic-Flow prunes in eval mode, where a fresh BatchNorm with
      running mean 0 and variance 1 is x -> gamma x + beta up to 1/sqrt(1 + eps); we use exactly that map (with
      |gamma|, |beta|: `_AbsAffine`) whatever the running statistics, so the flow is the same for models that track
      running statistics and for those (the paper's) that do not.
    - LayerNorm: |gamma| x / c + |beta| with the scale c held constant (`_FrozenScaleNorm`; subtracting the mean
      would cancel the all-ones tokens, and a LayerNorm has no running statistics to stand in for its own).
    - Softmax modules (the zoo ViT's attention, `models.vit.SelfAttention`): S -> S / c, c each row's sum held
      constant (`_FrozenRowNorm`).
    - GELU, SiLU: the identity, as ReLU is on the positive inputs of the linearised network.
    Attention computed inside `nn.MultiheadAttention` keeps its softmax (it is not a module to replace).
    """
    linear = copy.deepcopy(model).double().eval()  # eval: no dropout in the flow
    for parent in list(linear.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(parent, child_name, _AbsAffine(child))
            elif isinstance(child, nn.LayerNorm):
                setattr(parent, child_name, _FrozenScaleNorm(child))
            elif isinstance(child, nn.Softmax):
                setattr(parent, child_name, _FrozenRowNorm(child.dim if child.dim is not None else -1))
            elif isinstance(child, (nn.GELU, nn.SiLU)):
                setattr(parent, child_name, nn.Identity())
    return linear


def synflow_scores(model: nn.Module, input_shape: tuple[int, ...], ticket: Ticket | None = None) -> Scores:
    """One round of SynFlow (Tanaka et al. 2020): abs(dR/dtheta * theta) on the linearised network.

    Every parameter is replaced by its absolute value (biases too, as in Synaptic-Flow's code; with
    ReLUs and max-pools the network is then linear in each weight), pruned weights (`ticket`) are zero,
    normalisation layers are affine maps and attention bilinear (`_linearised_copy`), and R = sum of the outputs for a single all-ones
    input of shape `input_shape` (C, H, W). Computed and returned in float64 (the ranking `Ticket.from_scores`
    keeps float64; a flow that overflows float64 raises a ValueError); no data is used. Without biases the
    scores obey synaptic-flow conservation: every layer's scores sum to R.
    """
    return _synflow_round(_linearised_copy(model), prunable_names(model), input_shape, ticket)


def _synflow_round(linear: nn.Module, names: list[str], input_shape: tuple[int, ...],
                   ticket: Ticket | None) -> Scores:
    params = {n: p.detach().abs() for n, p in linear.named_parameters()}
    weights = {}
    for n in names:
        w = params[n]
        if ticket is not None:
            w = w * ticket.masks[n].to(w.device, w.dtype)
        weights[n] = w.requires_grad_()
    ones = torch.ones((1, *input_shape), dtype=torch.float64, device=params[names[0]].device)
    r = functional_call(linear, {**params, **weights}, (ones,), strict=False).sum()
    if not torch.isfinite(r):
        raise ValueError(f"SynFlow's flow R = {float(r)} overflows float64 on this network (input {input_shape}): "
                         f"the scores cannot be ranked; prune this model with another method")
    grads = torch.autograd.grad(r, list(weights.values()), allow_unused=True)
    # float64 all the way to the ranking: on deep networks the scores exceed float32's range (ResNet-50 at
    # 224x224: all but 4 of 25.5M scores would be inf, and the top-k would keep weights by position)
    return {n: (g * weights[n]).detach().abs() if g is not None else torch.zeros_like(weights[n])
            for n, g in zip(names, grads)}


def synflow(model: nn.Module, input_shape: tuple[int, ...], density: float, rounds: int = 100) -> tuple[Ticket, Scores]:
    """Iterative SynFlow: `rounds` rounds of scoring and global top-k to the exponential schedule
    density^(r / rounds), r = 1..rounds, the weights pruned so far staying pruned (they score zero, and
    are excluded from later top-k's so the tickets are nested). Data-independent.

    Returns the ticket and scores (float64) that rank the whole network as the rounds did: a weight pruned
    in round r scores r - 1 + q, a survivor rounds + q, where q in [0, 1) is its rank among that round's
    scores divided by the number of weights. Their global top-k is the ticket (and every round's ticket), and
    their lowest are the weights SynFlow pruned first (score inversion; the last round's raw scores would
    tie every weight pruned earlier at zero).
    """
    density = check_density(density)
    if rounds < 1:
        raise ValueError(f"synflow rounds must be >= 1, got {rounds}")
    linear, names = _linearised_copy(model), prunable_names(model)
    ticket = None
    ranking: torch.Tensor | None = None
    for r in range(1, rounds + 1):
        scores = _synflow_round(linear, names, input_shape, ticket)
        ranked = scores if ticket is None else {
            n: s.masked_fill(~ticket.masks[n].to(s.device), -math.inf) for n, s in scores.items()}
        new = Ticket.from_scores(ranked, density ** (r / rounds))
        flat = torch.cat([s.reshape(-1) for s in ranked.values()])
        q = torch.empty_like(flat)
        q[torch.argsort(flat, stable=True)] = torch.arange(flat.numel(), dtype=flat.dtype, device=flat.device)
        q /= flat.numel()
        kept = torch.cat([m.reshape(-1) for m in new.masks.values()]).to(flat.device)
        alive = (torch.ones_like(kept) if ticket is None
                 else torch.cat([m.reshape(-1) for m in ticket.masks.values()]).to(flat.device))
        if ranking is None:
            ranking = torch.zeros_like(flat)
        pruned_now = alive & ~kept
        ranking[pruned_now] = (r - 1) + q[pruned_now]
        if r == rounds:
            ranking[kept] = rounds + q[kept]
        ticket = new
    assert ranking is not None
    out, start = {}, 0
    for n in names:
        numel = ticket.masks[n].numel()
        out[n] = ranking[start:start + numel].reshape(ticket.masks[n].shape)
        start += numel
    return ticket, out


# --- saliency for any objective (Section V-E) ------------------------------------------------------

def saliency_scores(model: nn.Module, batches: Iterable[Batch], objective: str | Objective,
                    sigma: float = SALIENCY_SIGMA, generator: torch.Generator | None = None) -> Scores:
    """abs(dR/ds) at the overlay s = 1 + N(0, sigma^2) (Section V-E), dR/ds_j = theta_j dR/dtheta_eff_j.

    The noise is needed because at s = 1 the student is the dense teacher and the deviation objectives
    (KL, feature, ...) sit at their minimum with zero gradient. One overlay is drawn (from `generator`)
    and R is summed over `batches`; the network runs with batch statistics, as in the search.
    """
    objective = get_objective(objective)
    net = FunctionalNet(model)
    overlay = {}
    for n in net.prunable:
        t = net.theta[n]
        noise = torch.randn(t.shape, generator=generator,
                            device=generator.device if generator is not None else t.device)
        overlay[n] = (1 + sigma * noise.to(t.device, t.dtype)).requires_grad_()
    grads = {n: torch.zeros_like(s) for n, s in overlay.items()}
    with scoring_mode(model):
        for x, y in batches:
            teacher = objective.teacher(net, x, y)
            r = objective(net, overlay, x, y, teacher)
            for n, g in zip(overlay, torch.autograd.grad(r, list(overlay.values()), allow_unused=True)):
                if g is not None:
                    grads[n] += g
    return {n: g.abs() for n, g in grads.items()}


def saliency(model: nn.Module, batches: Iterable[Batch], density: float, objective: str | Objective,
             sigma: float = SALIENCY_SIGMA, generator: torch.Generator | None = None) -> Ticket:
    """One-shot saliency ticket for objective R: the round(kappa d) weights of largest abs(dR/ds)."""
    return Ticket.from_scores(saliency_scores(model, batches, objective, sigma, generator), density)


# --- LTR: iterative magnitude pruning with rewinding ------------------------------------------------

def ltr_schedule(num_total: int, density: float, rate: float) -> list[int]:
    """Weights kept after each round: round(d (1 - rate)^r) for r = 1, 2, ..., until the target; the last
    round prunes to exactly round(kappa d). (Each round prunes `rate` of the remaining weights up to
    rounding, so the densities passed through are exactly the (1 - rate)^r grid.)"""
    if not 0 < rate < 1:
        raise ValueError(f"ltr rate must be in (0, 1), got {rate}")
    target = num_to_keep(density, num_total)
    counts: list[int] = []
    r = 0
    while (counts[-1] if counts else num_total) > target:  # density 1: no round at all
        r += 1
        counts.append(max(target, int(round(num_total * (1 - rate) ** r))))
    return counts


def _renamed(ticket: Ticket, net: nn.Module, wrapper: nn.Module) -> Ticket:
    """`ticket` (named as `net`'s parameters) named as `wrapper`'s, the module that holds `net`'s very tensors
    (DistributedDataParallel calls them 'module.<name>')."""
    own = {id(p): n for n, p in net.named_parameters()}
    return Ticket({name: ticket.masks[own[id(p)]] for name, p in wrapper.named_parameters()
                   if own.get(id(p)) in ticket.masks})


def ltr(model: nn.Module, train_data: ImageData | None, schedule: Schedule, density: float,
        rewind_state: Mapping[str, torch.Tensor], rewind_step: int, rate: float = 0.2,
        generator: torch.Generator | None = None, *, precision: str = "fp32",
        progress: bool = False, batches: Iterable | None = None,
        wrap: Callable[[nn.Module], nn.Module] | None = None) -> tuple[Ticket, dict[float, Ticket], float, Scores]:
    """Lottery Ticket Rewinding (Frankle et al. 2020); `rewind_step = 0` is classic IMP (Frankle & Carbin).

    From the rewind weights theta_k (`rewind_state`, reached after `rewind_step` iterations *at
    `schedule.batch_size`*), repeat: train the masked network to the end of `schedule`, prune the
    lowest-magnitude weights globally to the next count of `ltr_schedule` (`rate` of the remaining),
    rewind the survivors to theta_k. Training happens on a deep copy; `model` is not changed.

    `batches` (one epoch of (x, y) per iteration, e.g. streamed ImageNet) replaces the shuffled batches over
    `train_data`; `wrap` wraps the copy being trained each round (DistributedDataParallel under DDP, where each
    rank sees its slice of every batch, so the ranks' copies stay identical).

    Returns the final ticket, the ticket of every density passed through ({density: Ticket}, the last
    one included), the training epochs spent (rounds x (T - k) epochs), and scores whose top-k gives
    every one of those tickets: round pruned in + |w| / (1 + max |w|) (survivors: rounds + ...).
    """
    density = check_density(density)
    net = copy.deepcopy(model)
    names = prunable_names(net)
    ticket = Ticket.dense(net)
    counts = ltr_schedule(ticket.num_total, density, rate)
    scores = {n: torch.zeros_like(m, dtype=torch.float32) for n, m in ticket.masks.items()}
    tickets: dict[float, Ticket] = {}
    epochs = 0.0
    for r, keep in enumerate(counts, start=1):
        net.load_state_dict(rewind_state)
        trainee = wrap(net) if wrap is not None else net
        own = ticket if trainee is net else _renamed(ticket, net, trainee)
        trained = train(trainee, train_data, schedule, ticket=own, start_step=rewind_step, generator=generator,
                        precision=precision, progress=progress, batches=batches)
        epochs += trained.epochs
        params = dict(net.named_parameters())
        magnitude = {n: params[n].detach().abs().float() for n in names}
        top = max(float(magnitude[n][ticket.masks[n]].max()) if ticket.masks[n].any() else 0.0 for n in names)
        ranked = {n: magnitude[n].masked_fill(~ticket.masks[n], -math.inf) for n in names}
        # the last round prunes to exactly round(kappa d) (from_scores' own count for `density`)
        new = Ticket.from_scores(ranked, density if r == len(counts) else keep / ticket.num_total)
        for n in names:  # weights pruned now rank by round, then by magnitude
            pruned_now = ticket.masks[n] & ~new.masks[n]
            scores[n][pruned_now] = (r - 1) + magnitude[n][pruned_now] / (1 + top)
            scores[n][new.masks[n]] = r + magnitude[n][new.masks[n]] / (1 + top)
        ticket = new
        tickets[ticket.density] = ticket
    return ticket, tickets, epochs, scores
