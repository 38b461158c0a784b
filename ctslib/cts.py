"""Concrete Ticket Search (Section IV): the Concrete relaxation, LAGRANGE and GRADBALANCE steps, Algorithm 3.

Read beside the paper:
- `alpha_logit` holds logit(alpha) for every prunable weight, as one flat vector of length d (views per
  layer), so the mask path is a handful of vector ops whatever the depth of the network.
- `concrete_mask` is eq. (8): s = sigmoid((alpha_logit + eps) / tau), eps ~ logistic(0, 1) (or, as a named
  setting, the authors' code's sigmoid(alpha_logit + eps / tau): `SearchSettings.concrete_form`).
- `sparsity_loss` is eq. (10) with E||m||_0 = sum(alpha) (eq. 3). Its gradient is analytic:
  d L_sparsity / d alpha_logit = sigmoid'(alpha_logit) / (kappa d), so each step needs one backward.
- The paper writes R + lambda L_sparsity unscaled; the authors' code multiplies R (x100 for R_KL) and L_sparsity
  (x100) by constants (`SearchSettings.objective_scale`, `sparsity_scale`). Under GRADBALANCE that scales the
  whole gradient Adam sees, which changes Adam's step only through its eps (1e-8): with R unscaled, most of
  dR_KL/d alpha_logit is below eps at the first steps.
- `gradbalance_step` is Algorithm 2, `lagrange_step` Algorithm 1, `search` the loop of Algorithm 3
  (steps 2-8); training before and after the search lives in `ctslib.training`.

The dense weights theta stay frozen and untouched: the network runs through `torch.func.functional_call`
with effective weights s * theta, and the teacher (dense) forward runs without autograd.

Cost of a step (benchmarks/README.md has the numbers): besides the network's own teacher forward and
student forward/backward, everything is a few passes over d numbers, done in place in buffers allocated
once — the Concrete sample (one `uniform_` + four in-place ops), R_b differentiated with respect to s
(one autograd leaf per layer, a view of the flat sample) and ds/d alpha_logit = s (1 - s) / tau applied
analytically, the sparsity gradient in one pass, and Adam's fused kernel.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Iterable, Literal

import torch
from torch import nn

from .objectives import FunctionalNet, Objective, get_objective, scoring_mode
from .tickets import Ticket, check_density, prunable_names

Step = Literal["gradbalance", "lagrange"]
STEPS = ("gradbalance", "lagrange")
# The Concrete sample: the paper's eq. (8), s = sigmoid((alpha_logit + eps) / tau), or the authors' public code's
# s = sigmoid(alpha_logit + eps / tau) (there a weight with alpha_logit = logit(kappa) is kept with probability
# sigmoid(tau logit kappa), not kappa: the code's sample is less sparse than alpha says).
CONCRETE_FORMS = ("paper", "authors_code")
# Where GRADBALANCE's smoothed lambda starts: 0 (ctslib), or the first lambda_target (the authors' code).
LAMBDA_STARTS = ("zero", "first_target")
# How LAGRANGE's multiplier ascends: Adam (ctslib, its rate swept by scripts/lagrange_lr.py) or plain SGD (the
# authors' code: at 1e-2 x the mask's learning rate, 1e-3, on their x100 sparsity error: lagrange_lr=1e-3 with
# sparsity_scale=100, or 0.1 on the unscaled error); either is dropped 10x with the mask's rate.
LAGRANGE_OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class SearchSettings:
    """Hyperparameters of the ticket search (Section V-A); the defaults are the paper's."""

    step: Step = "gradbalance"     # GRADBALANCE (Alg. 2) or LAGRANGE (Alg. 1)
    tau: float = 2 / 3             # Concrete temperature, not annealed
    lr: float = 0.1                # Adam, no weight decay
    lr_drop_at: float = 0.9        # 10x drop of the learning rate at this fraction of the search steps
    kappa_eff_factor: float = 1.1  # GRADBALANCE enforces kappa_eff = 1.1 kappa
    eta: float = 0.7               # EMA smoothing of lambda; not given in the paper, chosen by scripts/gradbalance_eta.py
    lagrange_lr: float = 1.0       # LAGRANGE: learning rate of the multiplier's Adam ascent; the best of a sweep
    #                                (scripts/lagrange_lr.py; not given in the paper); dropped 10x with `lr`
    concrete_form: str = "paper"   # the Concrete sample: eq. (8), or the authors' code's (CONCRETE_FORMS)
    lam_start: str = "zero"        # GRADBALANCE's lambda before its first step (LAMBDA_STARTS)
    lagrange_optimizer: str = "adam"  # LAGRANGE: the multiplier's ascent (LAGRANGE_OPTIMIZERS)
    objective_scale: float = 1.0   # R enters the search as objective_scale x R (the paper: 1; the authors' code 100)
    sparsity_scale: float = 1.0    # L_sparsity enters as sparsity_scale x L_sparsity (the paper: 1; their code 100)

    def __post_init__(self) -> None:
        if self.step not in STEPS:
            raise ValueError(f"unknown search step {self.step!r}; choose one of: {', '.join(STEPS)}")
        if not self.tau > 0:
            raise ValueError(f"tau must be > 0, got {self.tau}")
        if not 0 <= self.eta < 1:
            raise ValueError(f"eta must be in [0, 1), got {self.eta}")
        if self.concrete_form not in CONCRETE_FORMS:
            raise ValueError(f"unknown concrete_form {self.concrete_form!r}; choose one of: {', '.join(CONCRETE_FORMS)}")
        if self.lagrange_optimizer not in LAGRANGE_OPTIMIZERS:
            raise ValueError(f"unknown lagrange_optimizer {self.lagrange_optimizer!r}; choose one of: "
                             f"{', '.join(LAGRANGE_OPTIMIZERS)}")
        if self.lam_start not in LAMBDA_STARTS:
            raise ValueError(f"unknown lam_start {self.lam_start!r}; choose one of: {', '.join(LAMBDA_STARTS)}")
        if not self.kappa_eff_factor >= 1:
            raise ValueError(f"kappa_eff_factor must be >= 1 (kappa_eff = factor x kappa), got {self.kappa_eff_factor}")
        for name in ("objective_scale", "sparsity_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 (R or L_sparsity is multiplied by it), got {getattr(self, name)}")
        if not 0 < self.lr_drop_at <= 1:
            raise ValueError(f"lr_drop_at must be in (0, 1], a fraction of the search steps, got {self.lr_drop_at}")


@dataclass
class SearchResult:
    """The drawn ticket and the search trace (one row per step: R_b, expected density, lambda)."""

    ticket: Ticket
    alpha_logit: torch.Tensor        # flat, in the order of `prunable`
    shapes: dict[str, torch.Size] = field(default_factory=dict)
    objective: list[float] = field(default_factory=list)
    expected_density: list[float] = field(default_factory=list)
    lam: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0

    def ticket_scores(self) -> dict[str, torch.Tensor]:
        """alpha_logit per layer, shaped like the weights (the scores the ticket is the top-k of)."""
        sizes = [s.numel() for s in self.shapes.values()]
        return {n: part.view(shape) for (n, shape), part in zip(self.shapes.items(), self.alpha_logit.split(sizes))}


# --- the relaxation (eqs. 3, 8, 10) -------------------------------------------------------------

def init_alpha_logit(d: int, kappa: float, device: torch.device | str | None = None) -> torch.Tensor:
    """alpha = kappa * 1_d, so L_sparsity starts at zero and every weight is equally likely (Alg. 3, step 2)."""
    return torch.full((d,), math.log(kappa / (1 - kappa)) if kappa < 1 else 20.0, device=device)


NOISE_CLAMP = 1e-6  # u ~ U(0, 1) is clamped to [1e-6, 1 - 1e-6] before logit(u): |eps| <= 13.8


def concrete_mask(alpha_logit: torch.Tensor, tau: float, generator: torch.Generator | None = None, *,
                  out: torch.Tensor | None = None, form: str = "paper") -> torch.Tensor:
    """Eq. (8): a soft mask s = sigmoid((alpha_logit + eps) / tau) with eps = logit(u) ~ logistic(0, 1); with
    form='authors_code', s = sigmoid(alpha_logit + eps / tau) (CONCRETE_FORMS).

    With `out` (a tensor shaped like alpha_logit) the mask is written there in place, outside autograd: the
    search's hot path, which applies ds/d alpha_logit = s (1 - s) * `mask_gain` itself. Both forms draw the same u.
    """
    if form not in CONCRETE_FORMS:
        raise ValueError(f"unknown concrete form {form!r}; choose one of: {', '.join(CONCRETE_FORMS)}")
    if out is None:
        eps = torch.rand(alpha_logit.shape, device=alpha_logit.device, generator=generator).logit_(NOISE_CLAMP)
        return torch.sigmoid((alpha_logit + eps) / tau if form == "paper" else alpha_logit + eps / tau)
    with torch.no_grad():
        out.uniform_(generator=generator).logit_(NOISE_CLAMP)
        if form == "paper":
            return out.add_(alpha_logit).div_(tau).sigmoid_()
        return out.div_(tau).add_(alpha_logit).sigmoid_()


def mask_gain(tau: float, form: str = "paper") -> float:
    """ds/d alpha_logit = s (1 - s) * gain: 1 / tau for eq. (8), 1 for the authors' code's form."""
    return 1 / tau if form == "paper" else 1.0


def sparsity_loss(alpha_logit: torch.Tensor, kappa: float, *,
                  out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (10): L_sparsity = sum(sigmoid(alpha_logit)) / (kappa d) - 1, and its analytic gradient
    alpha (1 - alpha) / (kappa d) (written into `out` if given)."""
    scale = 1.0 / (kappa * alpha_logit.numel())
    if out is None:
        alpha = torch.sigmoid(alpha_logit)
        loss = alpha.sum() * scale - 1
        alpha = alpha.detach()
        out = torch.empty_like(alpha)
    else:
        alpha = torch.sigmoid(alpha_logit.detach(), out=out)
        loss = alpha.sum() * scale - 1
    # sigmoid_backward(g, alpha) = g * alpha * (1 - alpha): the gradient in one pass (in place over `out`)
    scale_t = torch.full((), scale, dtype=alpha.dtype, device=alpha.device)  # a fill, not a host->device copy
    grad = torch.ops.aten.sigmoid_backward.grad_input(scale_t, alpha, grad_input=out)
    return loss, grad


def all_reduce_mean(grad: torch.Tensor) -> torch.Tensor:
    """Average a gradient over DistributedDataParallel workers (no-op in a single process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(grad)
        grad /= torch.distributed.get_world_size()
    return grad


# --- one step of the search ---------------------------------------------------------------------

class ConcreteSearch:
    """The state of a ticket search over `model`'s prunable weights: alpha_logit, lambda and Adam.

    `step(x, y)` performs one iteration of Algorithm 3's loop (steps 4-6) with the GRADBALANCE or
    LAGRANGE gradient step. Any `nn.Module` works; pass `prunable` to choose the weights yourself.
    """

    def __init__(self, model: nn.Module, density: float, objective: str | Objective, total_steps: int,
                 settings: SearchSettings = SearchSettings(), prunable: list[str] | None = None,
                 generator: torch.Generator | None = None):
        self.kappa = check_density(density)
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        self.settings = settings
        self.objective = get_objective(objective)
        self.net = FunctionalNet(model, prunable if prunable is not None else prunable_names(model))
        if not self.net.prunable:
            raise ValueError("the model has no prunable (conv or linear) weights to search over")
        self.shapes = {n: self.net.theta[n].shape for n in self.net.prunable}
        self.sizes = [self.net.theta[n].numel() for n in self.net.prunable]
        self.d = sum(self.sizes)
        device = self.net.theta[self.net.prunable[0]].device
        self.alpha_logit = init_alpha_logit(self.d, self.kappa, device).requires_grad_()
        self.lam = torch.zeros((), device=device)  # lambda: gradient balancer, or Lagrange multiplier
        # GRADBALANCE enforces a slightly larger density (kappa_eff), LAGRANGE the target itself.
        self.kappa_constraint = (self.kappa * settings.kappa_eff_factor if settings.step == "gradbalance"
                                 else self.kappa)
        self.optimizer = _adam([self.alpha_logit], settings.lr)
        # (+1e-9: a fraction n / E of E x steps-per-epoch steps lands on step n x steps-per-epoch, not one before it)
        self.lr_drop_step = int(settings.lr_drop_at * total_steps + 1e-9)
        self.total_steps = total_steps
        self.generator = generator
        self.steps_done = 0
        self.trace = torch.zeros(total_steps, 3, device=device)  # R_b, E[density], lambda; no host sync per step
        if settings.step == "lagrange":
            self.lam_param = torch.zeros((), device=device, requires_grad=True)
            self.lam_optimizer = (torch.optim.Adam([self.lam_param], lr=settings.lagrange_lr)
                                  if settings.lagrange_optimizer == "adam" else
                                  torch.optim.SGD([self.lam_param], lr=settings.lagrange_lr))
        # Work buffers of length d, allocated once: every step overwrites them in place. (On CPU a fresh
        # d-sized tensor per op costs more in page faults than the op itself; see benchmarks/README.md.)
        self._s = torch.empty_like(self.alpha_logit, requires_grad=False)  # s; after the backward, g_sparsity
        self._g = torch.empty_like(self._s)                                # g_objective, then g_alpha
        # One autograd leaf per layer, each a view of `_s`: R_b is differentiated w.r.t. s, not alpha_logit,
        # and ds/d alpha_logit = s (1 - s) / tau is applied analytically (no graph through the mask path).
        self._s_parts = [part.view(self.shapes[n]) for n, part in zip(self.net.prunable, self._s.split(self.sizes))]
        self._s_leaves = [part.detach().requires_grad_() for part in self._s_parts]
        self._s_masks = dict(zip(self.net.prunable, self._s_leaves))
        self._g_parts = [part.view(self.shapes[n]) for n, part in zip(self.net.prunable, self._g.split(self.sizes))]

    def masks(self, s: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat mask vector into per-layer views shaped like the weights."""
        return {n: part.view(self.shapes[n]) for n, part in zip(self.net.prunable, s.split(self.sizes))}

    def objective_gradient(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Steps 1-5 and 7 of Algorithm 1: R_b on a Concrete sample and grad(objective_scale x R_b, alpha_logit).

        The gradient is a work buffer of the search, overwritten by the next step (clone it to keep it).
        """
        teacher = self.objective.teacher(self.net, x, y)
        tau, form = self.settings.tau, self.settings.concrete_form
        concrete_mask(self.alpha_logit.detach(), tau, self.generator, out=self._s, form=form)
        r_b = self.objective(self.net, self._s_masks, x, y, teacher)
        # dR/d alpha_logit = dR/ds * s (1 - s) * gain (1/tau); the gain (and the objective's scale) enters as the
        # seed of the backward pass
        seed = mask_gain(tau, form) * self.settings.objective_scale
        grads = torch.autograd.grad(r_b, self._s_leaves, grad_outputs=torch.full_like(r_b, seed),
                                    allow_unused=True, materialize_grads=True)
        for g_s, s_part, g_part in zip(grads, self._s_parts, self._g_parts):  # g = dR/ds * s (1 - s), into _g
            torch.ops.aten.sigmoid_backward.grad_input(g_s, s_part, grad_input=g_part)
        return r_b.detach(), all_reduce_mean(self._g)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One search iteration; returns R_b (a detached tensor, no host sync)."""
        if self.steps_done >= self.total_steps:
            raise RuntimeError(f"the search was set up for {self.total_steps} steps and has done them all")
        self.drop_learning_rates_when_due()
        r_b, g_objective = self.objective_gradient(x, y)
        # s is not needed any more once g_objective is computed: its buffer takes g_sparsity
        l_sparsity, g_sparsity = sparsity_loss(self.alpha_logit.detach(), self.kappa_constraint, out=self._s)
        expected_density = (l_sparsity + 1) * self.kappa_constraint
        if self.settings.sparsity_scale != 1:
            l_sparsity = l_sparsity * self.settings.sparsity_scale
            g_sparsity.mul_(self.settings.sparsity_scale)
        if self.settings.step == "gradbalance":
            g_alpha = self.gradbalance(g_objective, l_sparsity, g_sparsity, out=g_objective)
        else:
            g_alpha = self.lagrange(g_objective, l_sparsity, g_sparsity, out=g_objective)
        self.alpha_logit.grad = g_alpha
        self.optimizer.step()
        torch.stack([r_b.float(), expected_density, self.lam], out=self.trace[self.steps_done])
        self.steps_done += 1
        return r_b

    def gradbalance(self, g_objective: torch.Tensor, l_sparsity: torch.Tensor, g_sparsity: torch.Tensor,
                    out: torch.Tensor | None = None) -> torch.Tensor:
        """Algorithm 2, steps 4-10 (branch-free, so no device-host sync); `out` may be g_objective itself."""
        ratio = torch.linalg.vector_norm(g_objective) / torch.linalg.vector_norm(g_sparsity).clamp_min(1e-30)
        lam_target = torch.where(l_sparsity > 0, ratio, 0.0)
        if self.steps_done == 0 and self.settings.lam_start == "first_target":
            self.lam = lam_target  # the authors' code: smoothing starts from the first target, not from 0
        else:
            self.lam = torch.lerp(lam_target, self.lam, self.settings.eta)  # eta * lam + (1 - eta) * lam_target
        return torch.addcmul(g_objective, g_sparsity, self.lam, out=out)

    def drop_learning_rates_when_due(self) -> None:
        """The 10x drop of the learning rate at `lr_drop_at` of the search: the mask's, and the multiplier's ascent
        (LAGRANGE) with it."""
        if self.steps_done != self.lr_drop_step:
            return
        for group in self.optimizer.param_groups:
            group["lr"] = self.settings.lr / 10
        if self.settings.step == "lagrange":
            for group in self.lam_optimizer.param_groups:
                group["lr"] = self.settings.lagrange_lr / 10

    def lagrange(self, g_objective: torch.Tensor, l_sparsity: torch.Tensor, g_sparsity: torch.Tensor,
                 out: torch.Tensor | None = None) -> torch.Tensor:
        """Algorithm 1, steps 6-8: g_alpha = grad(R_b + lambda L_sparsity); lambda ascends (g_lambda = -L_sparsity)."""
        g_alpha = torch.addcmul(g_objective, g_sparsity, self.lam_param.detach(), out=out)
        self.lam_param.grad = -l_sparsity.detach().reshape(())
        self.lam_optimizer.step()
        self.lam = self.lam_param.detach().clone()
        return g_alpha

    def expected_density(self) -> float:
        """E||m||_0 / d = mean(alpha) (eq. 3)."""
        return float(torch.sigmoid(self.alpha_logit.detach()).mean())

    def ticket(self) -> Ticket:
        """Step 8 of Algorithm 3: m = top-k(alpha, kappa), exactly round(kappa d) weights (eq. 5)."""
        return Ticket.from_scores(self.masks(self.alpha_logit.detach()), self.kappa)

    def ticket_scores(self) -> dict[str, torch.Tensor]:
        return self.masks(self.alpha_logit.detach())

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed search needs (on the CPU): alpha_logit, lambda, optimizers, steps, trace."""
        state = {"alpha_logit": self.alpha_logit.detach().cpu().clone(), "adam": self.optimizer.state_dict(),
                 "lam": self.lam.detach().cpu().clone(), "steps_done": self.steps_done,
                 "trace": self.trace.detach().cpu().clone()}
        if self.settings.step == "lagrange":
            state["lam_param"] = self.lam_param.detach().cpu().clone()
            state["lam_adam"] = self.lam_optimizer.state_dict()
        return state

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.alpha_logit.copy_(state["alpha_logit"])
        self.optimizer.load_state_dict(state["adam"])
        self.lam = state["lam"].to(self.lam.device)
        self.steps_done = int(state["steps_done"])
        self.trace.copy_(state["trace"])
        if self.settings.step == "lagrange":
            self.lam_param.copy_(state["lam_param"])
            self.lam_optimizer.load_state_dict(state["lam_adam"])

    def result(self, seconds: float = 0.0) -> SearchResult:
        trace = self.trace[: self.steps_done].cpu()
        return SearchResult(ticket=self.ticket(), alpha_logit=self.alpha_logit.detach().clone(), shapes=self.shapes,
                            objective=trace[:, 0].tolist(), expected_density=trace[:, 1].tolist(),
                            lam=trace[:, 2].tolist(), steps=self.steps_done, seconds=seconds)


def _adam(params: list[torch.Tensor], lr: float) -> torch.optim.Adam:
    """Adam with its fused kernel where torch has one for the device (one pass over alpha_logit instead of ~7)."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except RuntimeError:  # no fused Adam for this device/dtype: the multi-tensor (foreach) one
        return torch.optim.Adam(params, lr=lr, foreach=True)


def run(cts: "ConcreteSearch", batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, progress: bool = False,
        on_pass_end: Callable[["ConcreteSearch"], None] | None = None,
        autocast: ContextManager[Any] | None = None) -> None:
    """Algorithm 3's loop (steps 3-7): re-iterate `batches` until `cts.total_steps` steps are done.

    Starts from `cts.steps_done`, so a search restored with `load_state_dict` resumes where it stopped.
    `on_pass_end(cts)` runs after every full pass over `batches` that leaves steps to do (checkpoints).
    The model runs in `objectives.scoring_mode`: BatchNorm with batch statistics, dropout off; its modes
    are restored afterwards.
    """
    autocast = autocast or contextlib.nullcontext()
    bar = _progress(cts.total_steps, progress, f"CTS_{cts.objective.name} search")
    bar.update(cts.steps_done)
    try:
        with scoring_mode(cts.net.model):
            while cts.steps_done < cts.total_steps:
                n_before = cts.steps_done
                for x, y in batches:
                    with autocast:
                        cts.step(x, y)
                    bar.update(1)
                    if cts.steps_done == cts.total_steps:
                        break
                if cts.steps_done == n_before:
                    raise ValueError("the batches given to the search yielded no batch")
                if on_pass_end is not None and cts.steps_done < cts.total_steps:
                    on_pass_end(cts)
    finally:
        bar.close()


def search(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], density: float,
           objective: str | Objective = "kl", *, steps: int, settings: SearchSettings = SearchSettings(),
           prunable: list[str] | None = None, generator: torch.Generator | None = None,
           progress: bool = False) -> SearchResult:
    """Draw a ticket of `density` for `model` with CTS (Algorithm 3, steps 2-8).

    `batches` is re-iterated (epoch after epoch) until `steps` search steps are done: pass e.g. a
    `ctslib.data.Batches` without augmentation (the paper searches on un-augmented data). The model's
    weights are frozen during the search and returned untouched.
    """
    cts = ConcreteSearch(model, density, objective, steps, settings, prunable, generator)
    start = time.perf_counter()
    run(cts, batches, progress=progress)
    return cts.result(time.perf_counter() - start)


def _progress(total: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)
