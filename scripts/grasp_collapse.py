"""Why GraSP tickets of LeNet-300-100 at the densest densities train far below random ones at the cpu scale.

    PYTHONPATH=. python3 scripts/grasp_collapse.py            # ~2 min on one core

For GraSP and for a random ticket at the cpu preset's densities 0.8^3 = 51.2% and 0.8^6 = 26.2% (drawn at
initialisation, seed 0, as the book's Fig. 2 draws them): the kept weights' magnitude relative to their layer, the
share of positive kept weights, the ticket's loss, logit spread and gradient norm on the scoring batch at
initialisation, and then training with the preset's schedule (lr 0.1) and with lr 0.02: the loss of each epoch, how
many hidden units are still active on the scoring batch, and the test accuracy.

What it shows (the numbers in the book's Fig. 2 page come from this script): GraSP keeps the weights with the largest
theta * Hg, and on LeNet-300-100 those are sign-aligned, so the ticket's logits are huge at initialisation (spread
21.0 vs 0.52 for a random ticket; loss 25.8, gradient norm 83 vs 2.2). SGD at lr 0.1 without warm-up then takes
exploding first steps (first-epoch loss 8.3) and the second hidden layer dies (its ReLUs never fire again: 0 of 100
alive at 51.2%): the ticket trains to 10.0%, the class prior, where a random one reaches 85.5% (cpu preset of 15,000
images, seed 0; at lr 0.02 74.7% with 14 units alive; at 26.2% density 71.4% vs 85.2%. On the earlier 20,000-image
preset the collapse stopped at 74.1%, on the 60,000-image one it went to 10% too). GraSP's masks here equal
Synaptic-Flow's on the same weights and batch, so this is GraSP's own behaviour under this schedule, not a defect of
the implementation.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ctslib import pruners  # noqa: E402
from ctslib.runs.pipeline import RunData, make_model  # noqa: E402
from ctslib.runs.presets import base_config  # noqa: E402
from ctslib.runs.runtime import phase_generator  # noqa: E402
from ctslib.tickets import Ticket  # noqa: E402
from ctslib.training import evaluate, train  # noqa: E402


def active_units(model, x: torch.Tensor) -> tuple[int, int]:
    """Hidden units of LeNet-300-100 that fire on at least one image of `x` (fc1's 300, fc2's 100)."""
    with torch.no_grad():
        h1 = F.relu(model.fc1(x.flatten(1)))
        h2 = F.relu(model.fc2(h1))
    return int((h1 > 0).any(0).sum()), int((h2 > 0).any(0).sum())


def main() -> None:
    torch.set_num_threads(1)
    device = torch.device("cpu")
    for density in (0.8 ** 3, 0.8 ** 6):
        for method in ("grasp", "random"):
            config = base_config("cpu", "lenet300", method=method, density=density, seed=0, rewind_step=0)
            data = RunData(config, device)
            model = make_model(config, device)
            batches = pruners.scoring_batches(data.train, config.batch_size, pruners.EXAMPLES_PER_CLASS,
                                              phase_generator(config.seed, "draw", device))
            if method == "grasp":
                scores = pruners.grasp_scores(model, batches)
            else:
                scores = {n: torch.rand(p.shape, generator=torch.Generator().manual_seed(0))
                          for n, p in model.named_parameters() if n.endswith("weight")}
            ticket = Ticket.from_scores(scores, density)
            params = {n: p.detach() for n, p in model.named_parameters()}
            size = {n: round(float(params[n][m].abs().mean() / params[n].abs().mean()), 2)
                    for n, m in ticket.masks.items()}
            positive = {n: round(float((params[n][m] > 0).float().mean()), 2) for n, m in ticket.masks.items()}
            ticket.apply_(model)
            x, y = batches[0]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            grads = torch.autograd.grad(loss, [p for n, p in model.named_parameters() if n in ticket.masks])
            grad_norm = float(torch.sqrt(sum((g * m).pow(2).sum() for g, m in zip(grads, ticket.masks.values()))))
            print(f"{method} at {density:.1%}: kept |w| / layer's mean |w| {size}, share positive {positive}; "
                  f"at init: loss {float(loss.detach()):.2f}, logit std {float(logits.detach().std()):.2f}, grad norm {grad_norm:.2f}")
            for lr in (config.lr, 0.02):
                trained = make_model(config, device)
                result = train(trained, data.train, replace(config.schedule, lr=lr), ticket=ticket,
                               generator=torch.Generator().manual_seed(0))
                fc1, fc2 = active_units(trained, x)
                print(f"    lr {lr:g}: epoch losses {[round(v, 3) for v in result.losses]}, active units fc1 "
                      f"{fc1}/300 fc2 {fc2}/100, test top-1 {evaluate(trained, data.test)['top1']:.1%}", flush=True)


if __name__ == "__main__":
    main()
