"""The six ticket-search objectives R of Section IV-C, evaluated on a network with effective weights.

Every objective is called the same way: `objective(net, masks, x, y, teacher) -> scalar tensor`, where
`net` is a `FunctionalNet` (the model run through `torch.func.functional_call`), `masks` maps each
prunable weight's name to its (soft or binary) mask, so the network runs with s * theta, and `teacher` is
what `objective.teacher(net, x, y)` computed once per batch from the dense network, without autograd
(None when the objective needs no teacher). A smaller value is better for every objective.

| name         | paper symbol          | what it is                                                          |
|--------------|-----------------------|---------------------------------------------------------------------|
| `task`       | R_L                   | cross-entropy of the ticket                                         |
| `delta_loss` | R_{Delta L}           | abs(L / L_dense - 1), the batch losses of ticket and dense network  |
| `grad_norm`  | R_{-||grad L||_2}     | minus the L2 norm of grad_theta L over the prunable weights         |
| `kl`         | R_KL                  | reverse KL: KL(softmax(student) || softmax(teacher)), batch mean    |
| `feature`    | R_feature             | mean over feature modules of MSE(N(F_ticket), N(F_dense))           |
| `grad`       | R_grad                | mean over prunable layers of MSE(N(grad L), N(grad L_dense))        |

Not in the paper, and not among its figures' objectives (`PAPER_OBJECTIVES`):

| `forward_kl` | R_fKL                 | forward KL: KL(softmax(teacher) || softmax(student)), batch mean    |

The authors' code computed the forward KL until 2025-08-21 (their commit history; reverse KL is their default since),
and the CTS_KL result files they published were produced with it (see `ctslib.search_like`).
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager, Iterable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from .tickets import prunable_names

OBJECTIVES: dict[str, "Objective"] = {}


class FunctionalNet:
    """Runs `model` with masked weights m * theta through `torch.func.functional_call`.

    No copies of the model and no hooks on its weights: the frozen weights theta are read in place.
    Buffers (BatchNorm running statistics, if the model tracks them) are private copies, so neither a
    ticket search nor an objective evaluation ever changes the model it is given. The outputs of
    `feature_modules(model, prunable)` are the "features" used by R_feature.
    """

    def __init__(self, model: nn.Module, prunable: list[str] | None = None):
        self.model = model
        self.prunable = list(prunable) if prunable is not None else prunable_names(model)
        self.theta = {n: p.detach() for n, p in model.named_parameters()}
        self.buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
        self._feature_modules: list[tuple[str, nn.Module]] | None = None  # found on first use (R_feature only)

    def params(self, masks: Mapping[str, torch.Tensor] | None,
               theta: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Effective parameters: mask * theta for the prunable weights, theta elsewhere (dense if masks is None)."""
        theta = {**self.theta, **(theta or {})}
        if masks is None:
            return theta
        return {**theta, **{n: theta[n] * masks[n] for n in self.prunable}}

    def __call__(self, masks: Mapping[str, torch.Tensor] | None, x: torch.Tensor,
                 theta: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits of the network with weights mask * theta (the dense network for masks=None)."""
        if masks is None and theta is None and not self.buffers and not torch.is_grad_enabled():
            # the dense network without autograd (a teacher forward): theta are the model's own weights and
            # there are no buffers to keep private, so the model itself runs, without re-parametrising it
            return self.model(x)
        params = self.params(masks, theta)
        return functional_call(self.model, {**params, **self.buffers}, (x,), strict=False, tie_weights=False)

    def with_features(self, masks: Mapping[str, torch.Tensor] | None,
                      x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Logits and the output of every feature module (see `feature_modules`), in the order they ran.

        A module's output that is a tuple (nn.MultiheadAttention's (output, weights)) contributes its first
        element. A feature module whose forward did not run, or whose output is not a tensor, raises an error
        naming it: R_feature would silently match fewer layers than it claims.
        """
        if self._feature_modules is None:
            self._feature_modules = feature_modules(self.model, self.prunable)
        features: list[torch.Tensor] = []
        fired: set[str] = set()

        def hook(name: str):
            def keep(module: nn.Module, inputs: Any, output: Any) -> None:
                fired.add(name)
                features.append(_feature_tensor(name, module, output))
            return keep

        handles = [m.register_forward_hook(hook(name)) for name, m in self._feature_modules]
        try:
            logits = self(masks, x)
        finally:
            for handle in handles:
                handle.remove()
        silent = [name for name, _ in self._feature_modules if name not in fired]
        if silent:
            raise ValueError(f"R_feature: feature module(s) {silent} did not run in the forward pass (their weights "
                             f"are used without calling them, e.g. through F.linear); set `feature_modules` on the "
                             f"model to the names of the modules whose outputs are the features")
        return logits, features


def feature_modules(model: nn.Module, prunable: Iterable[str] | None = None) -> list[tuple[str, nn.Module]]:
    """The modules whose outputs are R_feature's features, as (name, module) in `named_modules()` order.

    A model may name them itself in a `feature_modules` attribute (a list or tuple of module names). Otherwise they are
    the modules that own a prunable weight, each once, leaving out a module inside another one of them: its
    computation is part of the outer module's output, and it may never be called (nn.MultiheadAttention uses
    its `out_proj.weight` directly, so the attention output is the one feature of that block).
    """
    modules = dict(model.named_modules())
    declared = getattr(model, "feature_modules", None)
    if isinstance(declared, (list, tuple)) and all(isinstance(n, str) for n in declared):
        unknown = [n for n in declared if n not in modules]
        if unknown:
            raise ValueError(f"model.feature_modules names {unknown}, which are not modules of the model")
        return [(n, modules[n]) for n in declared]
    owners = {n.rpartition(".")[0] for n in (prunable if prunable is not None else prunable_names(model))}
    nested = {o for o in owners for other in owners if other != o and (other == "" or o.startswith(other + "."))}
    return [(n, m) for n, m in modules.items() if n in owners and n not in nested]


def _feature_tensor(name: str, module: nn.Module, output: Any) -> torch.Tensor:
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"R_feature: module {name!r} ({type(module).__name__}) returned a {type(output).__name__}, "
                        f"not a tensor; set `feature_modules` on the model to modules that return tensors")
    return output


@contextlib.contextmanager
def scoring_mode(model: nn.Module) -> Iterator[nn.Module]:
    """How a ticket search or a score sees the network: train mode, so BatchNorm normalises each batch with
    its own statistics (as the paper trains and searches), but with dropout off, so the objective is a
    function of the mask alone (the authors' code searches in eval mode, which for BatchNorm without running
    statistics is the same). Every `nn.Dropout*` and `nn.MultiheadAttention` (its attention dropout) is put
    in eval mode. Each module's mode is restored afterwards. (Dropout called as a function with a module's
    own `training` flag, inside a custom module, cannot be seen from here.)
    """
    modes = [(m, m.training) for m in model.modules()]
    model.train()
    for m in model.modules():
        if isinstance(m, (nn.modules.dropout._DropoutNd, nn.MultiheadAttention)):
            m.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def double_backward_attention() -> ContextManager[None]:
    """Scaled dot-product attention through its math kernel, which has a second derivative: the fused CPU
    kernels (flash attention) have none, and R_grad_norm, R_grad and GraSP differentiate a gradient."""
    return sdpa_kernel(SDPBackend.MATH)


def normalize(t: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """N(X) = (X - E[X]) / sqrt(Var[X]) over the whole tensor (per-layer normalisation)."""
    centered = t - t.mean()
    flat = centered.reshape(-1)
    # Var[X] = mean((X - E[X])^2) as a dot product: several times faster than torch.var's Welford loop
    return centered * torch.rsqrt(torch.dot(flat, flat) / t.numel() + eps)


class _NormalizedMSE(torch.autograd.Function):
    """mean((N(x) - t)^2) for a constant t, with the backward written out (see `normalized_mse`)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, t: torch.Tensor, eps: float) -> torch.Tensor:
        n = x.numel()
        centered = x.reshape(-1) - x.mean()
        inv_std = torch.rsqrt(torch.dot(centered, centered) / n + eps)
        residual = torch.addcmul(t.reshape(-1), centered, inv_std, value=-1)  # t - N(x)
        ctx.save_for_backward(centered, residual, inv_std)
        ctx.shape = x.shape
        return torch.dot(residual, residual) / n

    @staticmethod
    @once_differentiable  # first derivatives only (all CTS needs); a second derivative raises, never silently 0
    def backward(ctx, grad: torch.Tensor):
        centered, residual, inv_std = ctx.saved_tensors
        n = centered.numel()
        # with d = N(x) - t and N = (x - m) / s:  dR/dx = 2 / (n s) * (d - mean(d) - N mean(d N))
        k = grad * (2.0 / n) * inv_std
        mean_d = -residual.sum() / n
        mean_dn = -torch.dot(residual, centered) * inv_std / n
        grad_x = torch.mul(residual, -k)
        grad_x.addcmul_(centered, -k * mean_dn * inv_std).sub_(k * mean_d)
        return grad_x.view(ctx.shape), None, None


def normalized_mse(x: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """MSE(N(x), target) for a `target` outside autograd (a teacher's N(F)): R_feature's and R_grad's term.

    The same value as `F.mse_loss(normalize(x), target)`, computed in two passes over x (centre, residual)
    and three dot products, and differentiated in three passes with the closed-form gradient
    2 / (n s) (d - mean(d) - N mean(d N)), d = N(x) - target: the autograd of `normalize` + `mse_loss` makes
    a dozen passes, and that was most of a CTS_feature step on a conv net.
    """
    if target.shape != x.shape:
        raise ValueError(f"target shape {tuple(target.shape)} does not match {tuple(x.shape)}")
    return _NormalizedMSE.apply(x, target.detach().to(x.dtype).contiguous(), eps)


def task_gradients(net: FunctionalNet, masks: Mapping[str, torch.Tensor] | None, x: torch.Tensor,
                   y: torch.Tensor, create_graph: bool) -> list[torch.Tensor]:
    """grad_theta of the task loss of the network m * theta, per prunable weight (in `net.prunable` order).

    The gradient is taken with respect to the weights theta themselves, so for a mask m it is
    m * dL/d(m * theta): the gradient the ticket would train with. With create_graph=True it stays
    differentiable with respect to the mask (double backward), as R_grad_norm and R_grad need.
    """
    theta = {n: net.theta[n].detach().requires_grad_() for n in net.prunable}
    with double_backward_attention() if create_graph else contextlib.nullcontext():
        loss = F.cross_entropy(net(masks, x, theta), y)
    return list(torch.autograd.grad(loss, list(theta.values()), create_graph=create_graph))


class Objective:
    """An objective R. Subclasses set `name` and implement `__call__`, and `teacher` if they use one."""

    name: str = ""
    symbol: str = ""
    uses_gradients: bool = False  # True when R itself is built from grad_theta L (double backward in search)
    in_paper: bool = True         # one of the paper's six objectives (Section IV-C; `PAPER_OBJECTIVES`)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        OBJECTIVES[cls.name] = cls()

    def teacher(self, net: FunctionalNet, x: torch.Tensor, y: torch.Tensor) -> Any:
        """What R needs from the dense network for this batch, computed without autograd."""
        return None

    def __call__(self, net: FunctionalNet, masks: Mapping[str, torch.Tensor], x: torch.Tensor,
                 y: torch.Tensor, teacher: Any) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"Objective({self.name!r})"


class TaskLoss(Objective):
    name, symbol = "task", "R_L"

    def __call__(self, net, masks, x, y, teacher):
        return F.cross_entropy(net(masks, x), y)


class DeltaLoss(Objective):
    name, symbol = "delta_loss", "R_ΔL"

    @torch.no_grad()
    def teacher(self, net, x, y):
        return F.cross_entropy(net(None, x), y)

    def __call__(self, net, masks, x, y, teacher):
        return (F.cross_entropy(net(masks, x), y) / teacher - 1).abs()


class GradNorm(Objective):
    name, symbol, uses_gradients = "grad_norm", "R_-‖∇L‖", True

    def __call__(self, net, masks, x, y, teacher):
        grads = task_gradients(net, masks, x, y, create_graph=torch.is_grad_enabled())
        return -torch.sqrt(sum((g * g).sum() for g in grads))


class ReverseKL(Objective):
    name, symbol = "kl", "R_KL"

    @torch.no_grad()
    def teacher(self, net, x, y):
        return F.log_softmax(net(None, x).float(), dim=1)

    def __call__(self, net, masks, x, y, teacher):
        return reverse_kl(net(masks, x), teacher)


def reverse_kl(student_logits: torch.Tensor, teacher_log_probs: torch.Tensor) -> torch.Tensor:
    """KL(p_student || p_teacher) = sum_c p_s (log p_s - log p_t), averaged over the batch."""
    log_p_s = F.log_softmax(student_logits.float(), dim=1)
    return (log_p_s.exp() * (log_p_s - teacher_log_probs)).sum(dim=1).mean()


class ForwardKL(ReverseKL):
    """The same teacher (the dense net's log-probabilities), the other direction."""

    name, symbol, in_paper = "forward_kl", "R_fKL", False

    def __call__(self, net, masks, x, y, teacher):
        return forward_kl(net(masks, x), teacher)


def forward_kl(student_logits: torch.Tensor, teacher_log_probs: torch.Tensor) -> torch.Tensor:
    """KL(p_teacher || p_student) = sum_c p_t (log p_t - log p_s), averaged over the batch."""
    log_p_s = F.log_softmax(student_logits.float(), dim=1)
    return (teacher_log_probs.exp() * (teacher_log_probs - log_p_s)).sum(dim=1).mean()


class FeatureMatching(Objective):
    name, symbol = "feature", "R_feature"

    @torch.no_grad()
    def teacher(self, net, x, y):
        return [normalize(f.float()) for f in net.with_features(None, x)[1]]

    def __call__(self, net, masks, x, y, teacher):
        features = net.with_features(masks, x)[1]
        return sum(normalized_mse(f.float(), t) for f, t in zip(features, teacher)) / len(teacher)


class GradientMatching(Objective):
    name, symbol, uses_gradients = "grad", "R_grad", True

    def teacher(self, net, x, y):
        with torch.enable_grad():
            return [normalize(g.float()) for g in task_gradients(net, None, x, y, create_graph=False)]

    def __call__(self, net, masks, x, y, teacher):
        grads = task_gradients(net, masks, x, y, create_graph=torch.is_grad_enabled())
        return sum(normalized_mse(g.float(), t) for g, t in zip(grads, teacher)) / len(teacher)


# The paper's six objectives (Section IV-C), in its order: what Figs. 1, 3, 7 and 8 compare.
PAPER_OBJECTIVES: tuple[str, ...] = tuple(name for name, o in OBJECTIVES.items() if o.in_paper)


def get_objective(name: str | Objective) -> Objective:
    """The objective called `name` (one of OBJECTIVES); unknown names raise a ValueError listing the valid ones."""
    if isinstance(name, Objective):
        return name
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def evaluate_objectives(model: nn.Module, masks: Mapping[str, torch.Tensor], batches: Iterable,
                        objectives: Iterable[str] | None = None) -> dict[str, float]:
    """Mean value of each objective for the ticket `masks` (bool or float) over a fixed set of (x, y) batches.

    Used for Figs. 1, 7 and 8: tickets from different methods are scored on identical data. The network
    runs in `scoring_mode` (batch statistics, no dropout), as during the search; the model itself is left
    unchanged.
    """
    names = list(objectives or PAPER_OBJECTIVES)
    net = FunctionalNet(model)
    float_masks = {n: masks[n].to(net.theta[n].dtype) for n in net.prunable}
    totals = dict.fromkeys(names, 0.0)
    count = 0
    with scoring_mode(model):
        for x, y in batches:
            for name in names:
                objective = get_objective(name)
                teacher = objective.teacher(net, x, y)
                with torch.set_grad_enabled(objective.uses_gradients):
                    totals[name] += float(objective(net, float_masks, x, y, teacher).detach())
            count += 1
    if count == 0:
        raise ValueError("evaluate_objectives needs at least one batch")
    return {n: v / count for n, v in totals.items()}
