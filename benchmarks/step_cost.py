"""Step cost: one CTS search step per objective vs one SGD training step, same model, batch and device.

    PYTHONPATH=. python3 benchmarks/step_cost.py [--tiny] [--threads N] [--device cuda --precision bf16 --channels-last]

Contenders, all interleaved in one process (see common.py):
- `train`: the body of `ctslib.training.train`'s loop — learning rate, forward, cross-entropy, backward,
  SGD (`make_optimizer`: momentum 0.9, weight decay 1e-3), re-masking (`MaskedWeights`, a 20%-density ticket);
  `train_before`: the same with torch's default (unfused) SGD, as `make_optimizer` was before;
- `cts_<objective>`: `ConcreteSearch.step` (GRADBALANCE, density 1%) for each of the six objectives;
- `cts_kl_before`, `cts_task_before`, `cts_feature_before`: the step as it was before the performance work
  (`naive_cts.py`);
- floor components: `fwd_nograd` (a teacher forward), `fwd_bwd` (forward + cross-entropy + backward to the
  weights: the network part of a training step), `rng` (d uniform numbers: the Concrete noise), `pass`
  (one in-place elementwise op over the d mask entries).

The floor of a CTS_KL step is `fwd_nograd + fwd_bwd` (one no-grad teacher forward + one masked forward /
backward), of a CTS_task step `fwd_bwd`; both are reported as ratios to `train`, per repeat.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

import common
from ctslib.cts import ConcreteSearch
from ctslib.objectives import PAPER_OBJECTIVES as OBJECTIVES
from ctslib.tickets import Ticket, prunable_parameters
from ctslib.training import MaskedWeights, Schedule, make_optimizer, masked_step
from naive_cts import NaiveConcreteSearch

CONFIGS = [("lenet300", 128), ("lenet300", 512), ("resnet20", 128)]
TINY_CONFIGS = [("lenet300", 16), ("resnet20", 2)]
TARGETS = {"cts_kl": 1.4, "cts_task": 1.15}
BEFORE = ("kl", "task", "feature")  # objectives also timed with the step as it was (naive_cts.py)


def contenders(model_name: str, batch: int, device: torch.device, args, total_steps: int,
               objectives: list[str]) -> tuple[dict, int]:
    model, x, y = common.model_and_batch(model_name, batch, device, args.channels_last)
    autocast = lambda: common.autocast(device, args.precision)  # noqa: E731
    d = sum(p.numel() for p in prunable_parameters(model).values())

    # the training step: a copy of the model, trained masked by a random 20% ticket
    schedule = Schedule(epochs=1, batch_size=batch, augment=False)
    ticket = Ticket.from_scores({n: torch.rand(p.shape, device=device) for n, p in prunable_parameters(model).items()},
                                0.2)

    def make_train_step(before: bool):
        net = copy.deepcopy(model)
        if before:  # the optimizer as it was: torch's default (per-tensor, unfused) SGD
            optimizer = torch.optim.SGD(net.parameters(), lr=schedule.lr, momentum=schedule.momentum,
                                        weight_decay=schedule.weight_decay)
        else:
            optimizer = make_optimizer(net, schedule)
        masked = MaskedWeights(net, ticket)
        state = {"step": 0}

        def train_step():  # the loop body of ctslib.training.train: its lr update, then its one masked step
            lr = schedule.lr_at(state["step"], 1000)
            for group in optimizer.param_groups:
                group["lr"] = lr
            state["step"] += 1
            return masked_step(net, optimizer, masked, x, y, autocast())
        return train_step

    fns = {"train": make_train_step(before=False), "train_before": make_train_step(before=True)}

    def cts_step(search):
        def step():
            with autocast():
                return search.step(x, y)
        return step

    for objective in objectives:
        fns[f"cts_{objective}"] = cts_step(ConcreteSearch(model, 0.01, objective, total_steps))
    for objective in [o for o in BEFORE if o in objectives]:
        fns[f"cts_{objective}_before"] = cts_step(NaiveConcreteSearch(model, 0.01, objective, total_steps))

    # floor components
    dense = copy.deepcopy(model)

    def fwd_nograd():
        with torch.no_grad(), autocast():
            return dense(x)

    def fwd_bwd():
        with autocast():
            loss = F.cross_entropy(dense(x), y)
        loss.backward()
        for p in dense.parameters():
            p.grad = None

    buf = torch.empty(d, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    fns.update(fwd_nograd=fwd_nograd, fwd_bwd=fwd_bwd,
               rng=lambda: buf.uniform_(generator=gen), elementwise_pass=lambda: buf.sigmoid_())
    return fns, d


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--configs", default="", help="e.g. lenet300:128,resnet20:128 (default: all)")
    p.add_argument("--objectives", default=",".join(OBJECTIVES), help="CTS objectives to time (default: all six)")
    args = p.parse_args()
    device = common.setup(args)
    configs = TINY_CONFIGS if args.tiny else CONFIGS
    if args.configs:
        configs = [(c.split(":")[0], int(c.split(":")[1])) for c in args.configs.split(",")]

    results, rows = [], []
    for model_name, batch in configs:
        small = model_name == "lenet300"
        repeats = args.repeats or (2 if args.tiny else (15 if small else 5))
        inner = 1 if args.tiny else (20 if small else 2)
        warmup = 1 if args.tiny else (5 if small else 1)
        objectives = args.objectives.split(",")
        fns, d = contenders(model_name, batch, device, args, warmup + repeats * inner + 1, objectives)
        samples = common.interleaved(fns, repeats=repeats, inner=inner, warmup=warmup, device=device)
        train = samples["train"]
        floors = {"floor_kl": [a + b for a, b in zip(samples["fwd_nograd"], samples["fwd_bwd"])],
                  "floor_task": samples["fwd_bwd"]}
        floors["floor_kl+rng"] = [a + b for a, b in zip(floors["floor_kl"], samples["rng"])]
        floors["floor_task+rng"] = [a + b for a, b in zip(floors["floor_task"], samples["rng"])]
        entry = {"model": model_name, "batch": batch, "d": d, "repeats": repeats, "inner": inner, "rows": {}}
        for name, values in {**samples, **floors}.items():
            ratio = common.paired_ratios(values, train)
            entry["rows"][name] = {"seconds": common.quantiles(values), "ratio_to_train": ratio}
            rows.append({"model": model_name, "batch": batch, "contender": name,
                         "ms/step median [IQR]": common.fmt_q(common.quantiles(values), 1e3),
                         "x train median [IQR]": common.fmt_q(ratio),
                         "target": f"<= {TARGETS[name]}" if name in TARGETS else ""})
        for objective in [o for o in BEFORE if o in objectives]:
            speedup = common.paired_ratios(samples[f"cts_{objective}_before"], samples[f"cts_{objective}"])
            entry[f"speedup_{objective}"] = speedup
            # the headline ratio as it was: the old CTS step over the old training step
            entry[f"before_ratio_{objective}"] = common.paired_ratios(samples[f"cts_{objective}_before"],
                                                                      samples["train_before"])
            rows.append({"model": model_name, "batch": batch, "contender": f"speed-up cts_{objective} (before/after)",
                         "x train median [IQR]": common.fmt_q(speedup)})
            rows.append({"model": model_name, "batch": batch,
                         "contender": f"before: cts_{objective}_before / train_before",
                         "x train median [IQR]": common.fmt_q(entry[f"before_ratio_{objective}"])})
        results.append(entry)
        print(f"done {model_name} b{batch}", flush=True)

    print(common.table(rows, ["model", "batch", "contender", "ms/step median [IQR]", "x train median [IQR]", "target"]))
    common.write_json("step_cost", args, device, {"precision": args.precision, "channels_last": args.channels_last,
                                                  "targets": TARGETS, "configs": results})


if __name__ == "__main__":
    main()
