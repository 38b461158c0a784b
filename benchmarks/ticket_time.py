"""Ticket time vs density: wall-clock to draw a ticket with CTS_KL, Quick CTS_KL and LTR (Section V-F).

    PYTHONPATH=. python3 benchmarks/ticket_time.py [--tiny] [--threads N] [--examples N] [--epochs T]
                                                  [--model resnet20 --device cuda]

LeNet-300-100 on Fashion-MNIST (real data when installed, else random uint8 images of its shape); or
ResNet-20 on CIFAR-10 (random CIFAR-shaped data when CIFAR-10 is absent; a GPU run).
All three start from the same rewind point theta_k (k = `--rewind-epochs` of dense training, not counted).
- LTR: `ctslib.pruners.ltr` (the function behind the registered method "ltr"), 20% of the remaining weights
  pruned per round, each round training from k to T. One run to the lowest density passes through every
  higher one; the time to draw the ticket of round r is the time from the start of LTR to the end of
  round r's pruning (what a run stopping at that density costs).
- CTS: `ctslib.cts.search` (the function behind the registered method "cts") on un-augmented batches, with
  as many search steps as one LTR round has training steps (T - k epochs); Quick CTS: 1/8 of them.
The CTS runs are interleaved with the LTR rounds (one CTS run before each round, cycling through densities
and variants), so background load hits both alike. A CTS run's time includes building its batches and the
final top-k, as in `methods.draw_cts`.
"""

from __future__ import annotations

import statistics
import time

import torch

import common
import ctslib.pruners as pruners
from ctslib.cts import search
from ctslib.data import Batches, ImageData, dataset_info, load_dataset
from ctslib.models import build_model
from ctslib.training import Schedule, clone_state, train

RATE = 0.2
PAPER_ROUNDS = (7, 13, 19, 24)  # 0.8^r = 20.97%, 5.50%, 1.44%, 0.47%: the paper's LTR densities
TARGETS = {"ltr_over_cts": 17.0, "ltr_over_quick_cts": 130.0}  # at 0.47%


def round_density(r: int) -> float:
    """The density after r LTR rounds at RATE: (1 - RATE)^r."""
    return (1 - RATE) ** r


def training_data(dataset: str, examples: int) -> tuple[ImageData, str]:
    """The training split of `dataset` (Fashion-MNIST or CIFAR-10) if it is on this machine, else random
    uint8 images of its shape (timings do not depend on the pixels); `examples` > 0 takes a subset."""
    info = dataset_info(dataset)
    try:
        data, source = load_dataset(dataset, "train", download=False), dataset
    except FileNotFoundError:
        n = examples or (60000 if dataset == "fashion_mnist" else 50000)
        g = torch.Generator().manual_seed(0)
        shape = (n, info.in_channels, info.image_size, info.image_size)
        data = ImageData(torch.randint(0, 256, shape, dtype=torch.uint8, generator=g),
                         torch.randint(0, info.num_classes, (n,), generator=g), info)
        source = f"random uint8 {dataset}-shaped ({dataset} not installed)"
    return (data.subset(examples) if examples else data), source


class RoundClock:
    """Wraps `ctslib.pruners.train` (one call per LTR round): times every round's training and the pruning
    between rounds, and runs `jobs_per_round` pending CTS jobs before each round, outside LTR's clock."""

    def __init__(self, jobs: list, jobs_per_round: int):
        self.jobs, self.train_seconds, self.gaps, self.last_exit, self.job_index = jobs, [], [], None, 0
        self.jobs_per_round = jobs_per_round
        self.original = pruners.train

    def __call__(self, *args, **kwargs):
        enter = time.perf_counter()
        if self.last_exit is not None:
            self.gaps.append(enter - self.last_exit)  # pruning of the previous round (+ rewinding the copy)
        for _ in range(self.jobs_per_round if self.jobs else 0):
            self.jobs[self.job_index % len(self.jobs)]()
            self.job_index += 1
        start = time.perf_counter()
        result = self.original(*args, **kwargs)
        self.last_exit = time.perf_counter()
        self.train_seconds.append(self.last_exit - start)
        return result


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--model", default="lenet300", choices=("lenet300", "resnet20"),
                   help="lenet300 on Fashion-MNIST, or resnet20 on CIFAR-10 (random CIFAR-shaped data if absent)")
    p.add_argument("--examples", type=int, default=0, help="training examples (0: the whole training set; --tiny: 512)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=2, help="T: training epochs (an LTR round trains T - k of them)")
    p.add_argument("--rewind-epochs", type=int, default=1, help="k, in epochs (Fashion-MNIST preset: 469 steps = 1)")
    p.add_argument("--lowest-round", type=int, default=24, help="LTR rounds to run (24: density 0.8^24 = 0.47%%)")
    p.add_argument("--jobs-per-round", type=int, default=2, help="CTS runs interleaved before each LTR round")
    args = p.parse_args()
    device = common.setup(args)
    if args.tiny:
        args.examples, args.batch_size, args.epochs, args.rewind_epochs, args.lowest_round = 512, 64, 2, 1, 13

    dataset = "fashion_mnist" if args.model == "lenet300" else "cifar10"
    augment = dataset == "cifar10"  # as the schedules: CIFAR-10 trains with flips and shifts, Fashion-MNIST without
    data, source = training_data(dataset, args.examples)
    data = data.to(device)
    schedule = Schedule(epochs=args.epochs, batch_size=args.batch_size, lr=0.1, momentum=0.9, weight_decay=1e-3,
                        milestones=(max(1, round(args.epochs / 2)),), augment=augment)
    steps_per_epoch = len(Batches(data, args.batch_size))
    k = args.rewind_epochs * steps_per_epoch
    round_steps = (args.epochs - args.rewind_epochs) * steps_per_epoch
    if round_steps < 8:
        raise SystemExit("an LTR round must have at least 8 steps (Quick CTS searches 1/8 of them)")

    torch.manual_seed(0)
    info = data.info
    model = build_model(args.model, in_channels=info.in_channels, image_size=info.image_size,
                        num_classes=info.num_classes).to(device)
    rewind_seconds = train(model, data, schedule, stop_step=k,
                           generator=torch.Generator(device=device).manual_seed(0)).seconds
    rewind_state = clone_state(model)

    rounds = [r for r in range(1, args.lowest_round + 1) if r in PAPER_ROUNDS or r % 3 == 1 or r == args.lowest_round]
    cts_times: dict[tuple[str, int], list[float]] = {}

    def cts_job(variant: str, r: int):
        steps = round_steps if variant == "cts" else max(1, round_steps // 8)

        def job():
            model.load_state_dict(rewind_state)
            gen = torch.Generator(device=device).manual_seed(r)
            start = time.perf_counter()
            batches = Batches(data, args.batch_size, shuffle=True, augment=False, device=device, generator=gen)
            with common.autocast(device, args.precision):
                result = search(model, batches, round_density(r), "kl", steps=steps, generator=gen)
            common.sync(device)
            cts_times.setdefault((variant, r), []).append(time.perf_counter() - start)
            assert result.ticket.num_kept > 0
        return job

    jobs = [cts_job(v, r) for r in rounds for v in ("cts", "quick_cts")]
    clock = RoundClock(jobs, args.jobs_per_round)
    pruners.train = clock
    try:
        model.load_state_dict(rewind_state)
        _, tickets, ltr_epochs, _ = pruners.ltr(model, data, schedule, round_density(args.lowest_round), rewind_state, k,
                                                RATE, torch.Generator(device=device).manual_seed(0),
                                                precision=args.precision)
        end = time.perf_counter()
    finally:
        pruners.train = clock.original
    for job in jobs[clock.job_index:]:  # every variant/density measured at least once
        job()
    gaps = clock.gaps + [end - clock.last_exit]
    ltr_round_seconds = [t + g for t, g in zip(clock.train_seconds, gaps)]
    ltr_cumulative = [sum(ltr_round_seconds[:i + 1]) for i in range(len(ltr_round_seconds))]
    densities = list(tickets)

    # CTS does the same work at every density (same steps, same ops), so its time is pooled over densities
    # for the ratios; the per-density medians show that it is flat (their spread is the machine's noise).
    cts_pooled = statistics.median(t for (variant, _), v in cts_times.items() if variant == "cts" for t in v)
    quick_pooled = statistics.median(t for (variant, _), v in cts_times.items() if variant == "quick_cts" for t in v)
    cts_per_density = [statistics.median(v) for (variant, _), v in cts_times.items() if variant == "cts"]
    rows, records = [], []
    for r in range(1, len(ltr_cumulative) + 1):
        rec = {"round": r, "density": densities[r - 1], "ltr_seconds": ltr_cumulative[r - 1],
               "ltr_round_seconds": ltr_round_seconds[r - 1],
               "ltr_over_cts": ltr_cumulative[r - 1] / cts_pooled,
               "ltr_over_quick_cts": ltr_cumulative[r - 1] / quick_pooled}
        if ("cts", r) in cts_times:
            rec["cts_seconds"] = common.quantiles(cts_times[("cts", r)])
            rec["quick_cts_seconds"] = common.quantiles(cts_times[("quick_cts", r)])
            rec["ltr_over_cts_this_density"] = ltr_cumulative[r - 1] / rec["cts_seconds"]["median"]
            rows.append({"round": r, "density %": f"{100 * densities[r - 1]:.2f}",
                         "LTR s": f"{ltr_cumulative[r - 1]:.1f}",
                         "CTS s (n)": f"{rec['cts_seconds']['median']:.2f} ({rec['cts_seconds']['n']})",
                         "Quick CTS s (n)": f"{rec['quick_cts_seconds']['median']:.2f} ({rec['quick_cts_seconds']['n']})",
                         "LTR/CTS": f"{rec['ltr_over_cts']:.1f}", "LTR/Quick": f"{rec['ltr_over_quick_cts']:.0f}"})
        records.append(rec)

    last = records[-1]
    summary = {
        "cts_seconds_pooled": cts_pooled, "quick_cts_seconds_pooled": quick_pooled,
        "cts_seconds_per_density": common.quantiles(cts_per_density),
        "cts_flatness_max_over_min": max(cts_per_density) / min(cts_per_density),
        "ltr_mean_round_seconds": statistics.mean(ltr_round_seconds),
        "ltr_seconds_per_round_first_vs_last": [ltr_round_seconds[0], ltr_round_seconds[-1]],
        "lowest_density": last["density"], "ltr_over_cts_at_lowest": last["ltr_over_cts"],
        "ltr_over_quick_cts_at_lowest": last["ltr_over_quick_cts"],
        # per-step cost behind the ratio: LTR/CTS = rounds * (train step) / (search step) + overheads
        "cts_step_over_train_step": cts_pooled / statistics.median(clock.train_seconds),
    }
    print(f"{args.model}; data: {source}, {len(data)} examples, batch {args.batch_size}, T = {args.epochs} epochs, "
          f"k = {args.rewind_epochs} epoch(s) ({k} steps, {rewind_seconds:.1f} s, not counted); "
          f"one LTR round = CTS search = {round_steps} steps, Quick CTS = {max(1, round_steps // 8)} steps")
    print(common.table(rows, ["round", "density %", "LTR s", "CTS s (n)", "Quick CTS s (n)", "LTR/CTS", "LTR/Quick"]))
    print(f"CTS {cts_pooled:.2f} s and Quick CTS {quick_pooled:.2f} s (medians over all densities; per-density "
          f"medians {common.fmt_q(summary['cts_seconds_per_density'])} s, max/min "
          f"{summary['cts_flatness_max_over_min']:.2f}); one CTS search = "
          f"{summary['cts_step_over_train_step']:.2f} x one LTR round's training")
    common.write_json("ticket_time", args, device, {
        "model": args.model, "data": source, "examples": len(data), "augment_in_training": augment,
        "batch_size": args.batch_size, "epochs": args.epochs, "jobs_per_round": args.jobs_per_round,
        "rewind_epochs": args.rewind_epochs, "rewind_steps": k, "round_steps": round_steps,
        "quick_steps": max(1, round_steps // 8), "ltr_rate": RATE, "ltr_epochs": ltr_epochs,
        "ltr_implementation": "ctslib.pruners.ltr", "targets_at_0.47%": TARGETS,
        "rounds": records, "summary": summary})


if __name__ == "__main__":
    main()
