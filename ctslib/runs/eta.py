"""How long runs take, roughly: the weights behind a sweep's progress display and its estimate of the time left.

    clock = Clock(configs_to_compute, workers=2)
    clock.finished(config)     # after each run
    clock.left()               # seconds left: the runs' estimated costs, scaled by the pace measured so far

A run's cost is counted in SGD steps of its model at batch 128 (`STEP_SECONDS`, measured on the 2-core
development machine, one torch thread): its rewind steps, its search steps times the objective's cost per step
(`SEARCH_FACTOR`, from benchmarks/step_cost.py), its training steps, LTR's rounds (a chain's sparsest run trains
every round of it; the denser runs of the chain only their own ticket), SynFlow's scoring rounds, and the test
pass. Before any run has finished, the estimate is that cost at the development machine's speed; after, the
pace measured on this machine replaces it (so the absolute step costs only matter until the first run ends).
"""

from __future__ import annotations

import math
import time
from typing import Sequence

from ..data import DATASETS
from ..models import preset_model
from .config import RunConfig, chain_key, draw_key, rewind_key
from ..training import steps_at_batch
from .methods import get_method

# seconds of one SGD step at batch 128, one thread (2-core AMD EPYC VM, AVX2): LeNet, ResNet-20 and the ViT measured on
# Fashion-MNIST-sized input (ctslib run ... train time / steps; ResNet-20 in channels_last, as runs are); VGG-16
# and ResNet-50 scaled from ResNet-20 by their multiply-adds per image at their data's size
STEP_SECONDS = {"lenet300": 0.008, "resnet20": 0.87, "vgg16": 6.5, "resnet50": 87.0, "vit": 0.06}
# a CTS search step per objective, relative to a training step (benchmarks/results/step_cost.json, ResNet-20)
SEARCH_FACTOR = {"task": 1.2, "kl": 1.4, "delta_loss": 1.45, "feature": 1.75, "grad_norm": 4.3, "grad": 5.3}
OVERHEAD_SECONDS = 2.0  # data, model, rewind point loading, record writing

# The paper's hardware (4 GPUs, DDP), calibrated on its Table II (ResNet-20 / CIFAR-10, batch 512, 98 steps an
# epoch): LTR's tickets at 98.2 / 99.3 / 99.7% sparsity took 78.7 / 95.2 / 108.3 min, 18 / 22 / 26 rounds of 152.3
# training epochs each (160 epochs from k = 3000 iterations at batch 128) = 1.72 / 1.71 / 1.64 s an epoch, and
# CTS_KL's search of 160 epochs took 7.9 min at each = 2.96 s an epoch, 1.74x a training epoch. Per SGD step at
# batch 128 (the unit of STEP_SECONDS): 1.70 s / 98 steps of 512 = 4.3 ms. VGG-16 and ResNet-50 scale from ResNet-20
# by the same multiply-add ratios as on CPU.
PAPER_GPUS = 4
GPU_STEP_SECONDS = {m: 1.70 / 98 / 4 * STEP_SECONDS[m] / STEP_SECONDS["resnet20"] for m in STEP_SECONDS}
GPU_SEARCH_FACTOR = {o: f * (2.96 / 1.70) / SEARCH_FACTOR["kl"] for o, f in SEARCH_FACTOR.items()}


def _steps_per_epoch(config: RunConfig) -> float:
    examples = config.train_examples or DATASETS[config.dataset].train_size
    return math.ceil(examples / config.batch_size)


def _step(config: RunConfig, table: dict[str, float] | None = None) -> float:
    return (table or STEP_SECONDS).get(preset_model(config.model), 1.0) * config.batch_size / 128


def ltr_rounds(config: RunConfig) -> int:
    """LTR's rounds to reach the config's density at its pruning rate."""
    return max(1, round(math.log(config.density) / math.log(1 - config.ltr_rate))) if config.density < 1 else 0


def run_seconds(config: RunConfig, *, chain_rounds: int = 0, draws: bool = True, gpu: bool = False) -> float:
    """The estimated seconds of one run; `chain_rounds`: LTR rounds this run has to train itself (the sparsest
    run of a chain: all of them; the others 0, their ticket is on the chain); `draws=False`: the ticket comes
    from another run (an ablation of a run in the same set: the store shares the drawn ticket); `gpu`: on the
    paper's 4 GPUs (`GPU_STEP_SECONDS`, from its Table II) instead of one core of the development machine."""
    step = _step(config, GPU_STEP_SECONDS if gpu else None)
    search_factor = GPU_SEARCH_FACTOR if gpu else SEARCH_FACTOR
    per_epoch = _steps_per_epoch(config)
    k = steps_at_batch(config.rewind_step, config.batch_size)  # (rewind_step counts iterations at batch 128)
    train = config.epochs * per_epoch - (k if config.method in ("cts", "ltr") else 0)
    seconds = OVERHEAD_SECONDS + step * (k + max(train, 0))
    method = get_method(config.method)
    if not draws:
        pass
    elif config.method == "cts":
        seconds += step * config.search_epochs * per_epoch * search_factor.get(config.objective, 1.5)
    elif method.chain:
        seconds += step * chain_rounds * max(train, 0)
    elif config.method == "synflow":
        seconds += step * config.synflow_rounds
    elif config.method in ("snip", "grasp", "saliency"):
        seconds += step * 5
    examples = config.test_examples or DATASETS[config.dataset].test_size
    return seconds + step * examples / config.batch_size / 3  # the test pass: forward only


def estimates(configs: Sequence[RunConfig], *, gpu: bool = False) -> dict[str, float]:
    """run id -> estimated seconds, each chain's rounds charged once, to the first of its runs computed (the
    sparsest: `sweep.compute_order`), and each ticket's draw once: an ablation whose unablated run is in the set
    trains the ticket that run draws (`sweep.work_groups` computes them one after the other)."""
    unique = {c.run_id: c for c in configs}
    out: dict[str, float] = {}
    charged: set[str] = set()
    for config in sorted(unique.values(), key=lambda c: c.density):
        rounds = 0
        if get_method(config.method).chain and chain_key(config) not in charged:
            charged.add(chain_key(config))
            rounds = ltr_rounds(config)
        draws = not (config.ablation and config.unablated().run_id in unique)
        out[config.run_id] = run_seconds(config, chain_rounds=rounds, draws=draws, gpu=gpu)
    return out


def spent_seconds(records: Sequence[dict]) -> float:
    """The compute a set of finished run records cost, each piece of shared work counted once: a rewind point once
    per `rewind_key` and a drawn ticket once per `draw_key` (a run and its sanity-check ablations) or per
    `chain_key` (an LTR chain: its records hold the rounds up to their density, so the sparsest holds them all);
    training and testing once per record. A record's own `seconds["total"]` counts the shared work it used."""
    rewinds: dict[str, float] = {}
    draws: dict[str, float] = {}
    own = 0.0
    for record in records:
        config, seconds = RunConfig.from_dict(record["config"]), record["seconds"]
        key = rewind_key(config)
        rewinds[key] = max(rewinds.get(key, 0.0), seconds["rewind"])
        key = chain_key(config) if get_method(config.method).chain else draw_key(config)
        draws[key] = max(draws.get(key, 0.0), seconds["draw"])
        own += seconds["total"] - seconds["rewind"] - seconds["draw"]
    return own + sum(rewinds.values()) + sum(draws.values())


def duration(seconds: float) -> str:
    """'45 s', '12 min', '2 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


class Clock:
    """The time left of a set of runs computed on `workers` processes: their estimated costs scaled by the pace
    measured so far (estimated seconds done per second elapsed)."""

    def __init__(self, configs: Sequence[RunConfig], workers: int = 1):
        self.cost = estimates(configs)
        self.total = sum(self.cost.values())
        self.workers = max(1, workers)
        self.done = 0.0
        self.runs_done = 0
        self.start = time.perf_counter()

    def of(self, config: RunConfig) -> float:
        return self.cost.get(config.run_id, 0.0)

    def finished(self, config: RunConfig) -> None:
        if config.run_id in self.cost:
            self.done += self.cost[config.run_id]
            self.runs_done += 1

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        remaining = max(self.total - self.done, 0.0)
        if self.done <= 0:
            return remaining / self.workers  # the development machine's speed, until a run has finished here
        return remaining * self.elapsed() / self.done

    def text(self) -> str:
        """'3/42 runs, 6 min elapsed, about 40 min left'."""
        return (f"{self.runs_done}/{len(self.cost)} runs, {duration(self.elapsed())} elapsed, about "
                f"{duration(self.left())} left")
