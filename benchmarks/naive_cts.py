"""The CTS step as it was before the performance work (kept to measure the speed-up side by side).

Same algorithm and results as `ctslib.cts.ConcreteSearch` (up to float rounding); written the direct way:
autograd through the mask path (d-sized temporaries for every op), logistic noise as log(u) - log1p(-u),
`torch.optim.Adam` with its per-tensor (unfused) update, the teacher through `functional_call`, and
R_feature as `mse_loss(normalize(F), N(F_dense))` through autograd.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from ctslib.cts import ConcreteSearch, all_reduce_mean
from ctslib.objectives import FunctionalNet


def naive_concrete_mask(alpha_logit: torch.Tensor, tau: float, generator: torch.Generator | None = None) -> torch.Tensor:
    u = torch.rand(alpha_logit.shape, device=alpha_logit.device, generator=generator).clamp_(1e-6, 1 - 1e-6)
    eps = torch.log(u) - torch.log1p(-u)
    return torch.sigmoid((alpha_logit + eps) / tau)


def naive_sparsity_loss(alpha_logit: torch.Tensor, kappa: float) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = torch.sigmoid(alpha_logit)
    scale = 1.0 / (kappa * alpha_logit.numel())
    return alpha.sum() * scale - 1, alpha * (1 - alpha) * scale


def naive_normalize(t: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return (t - t.mean()) / torch.sqrt(t.var(unbiased=False) + eps)


class NaiveFeatureMatching:
    """R_feature as it was (duck-typed like a ctslib Objective, and deliberately not registered)."""

    name, symbol, uses_gradients = "feature", "R_feature", False

    @torch.no_grad()
    def teacher(self, net, x, y):
        return [naive_normalize(f.float()) for f in net.with_features(None, x)[1]]

    def __call__(self, net, masks, x, y, teacher):
        features = net.with_features(masks, x)[1]
        return sum(F.mse_loss(naive_normalize(f.float()), t) for f, t in zip(features, teacher)) / len(teacher)


class NaiveFunctionalNet(FunctionalNet):
    def __call__(self, masks, x, theta=None):
        params = self.params(masks, theta)
        return functional_call(self.model, {**params, **self.buffers}, (x,), strict=False, tie_weights=False)


class NaiveConcreteSearch(ConcreteSearch):
    def __init__(self, model, density, objective, total_steps, settings=None, prunable=None, generator=None):
        kwargs = {} if settings is None else {"settings": settings}
        super().__init__(model, density, objective, total_steps, prunable=prunable, generator=generator, **kwargs)
        self.net = NaiveFunctionalNet(model, self.net.prunable)
        self.optimizer = torch.optim.Adam([self.alpha_logit], lr=self.settings.lr, foreach=False)
        if self.objective.name == "feature":
            self.objective = NaiveFeatureMatching()

    def objective_gradient(self, x, y):
        teacher = self.objective.teacher(self.net, x, y)
        s = naive_concrete_mask(self.alpha_logit, self.settings.tau, self.generator)
        r_b = self.objective(self.net, self.masks(s), x, y, teacher)
        (g_objective,) = torch.autograd.grad(r_b, self.alpha_logit)
        return r_b.detach(), all_reduce_mean(g_objective)

    def step(self, x, y):
        self.drop_learning_rates_when_due()
        r_b, g_objective = self.objective_gradient(x, y)
        l_sparsity, g_sparsity = naive_sparsity_loss(self.alpha_logit.detach(), self.kappa_constraint)
        if self.settings.step == "gradbalance":
            ratio = torch.linalg.vector_norm(g_objective) / torch.linalg.vector_norm(g_sparsity).clamp_min(1e-30)
            lam_target = torch.where(l_sparsity > 0, ratio, torch.zeros_like(ratio))
            eta = self.settings.eta
            self.lam = eta * self.lam + (1 - eta) * lam_target
            g_alpha = g_objective + self.lam * g_sparsity
        else:
            g_alpha = self.lagrange(g_objective, l_sparsity, g_sparsity)
        self.alpha_logit.grad = g_alpha
        self.optimizer.step()
        expected_density = (l_sparsity + 1) * self.kappa_constraint
        self.trace[self.steps_done % self.total_steps] = torch.stack([r_b.float(), expected_density, self.lam])
        self.steps_done += 1
        return r_b
