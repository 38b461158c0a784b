"""How the zoo's ViT and its cpu preset were sized: dense runs of a few widths, depths and schedules, one torch thread.

Each variant trains as the cpu preset's dense run does (`presets.base_config("cpu", "vit")`: the same 8,192 training
and 4,000 test images, SGD with momentum, half an epoch of warm-up, lr /10 at epochs 2 and 3), with the fields
given on top, from seed 0; it prints the parameter count, the training seconds and the test top-1. The zoo's ViT
(width 48, 3 blocks, 4 heads) is the first line. The chapter "Self-attention" quotes one run of this script.

    python scripts/vit_sizing.py
"""

from __future__ import annotations

import time

import torch

import ctslib  # noqa: F401  (first: torch's threads wait passively)
from ctslib.models import count_parameters
from ctslib.models.vit import ViT
from ctslib.runs import presets
from ctslib.runs.pipeline import load_data
from ctslib.runs.runtime import seed_everything
from ctslib.training import evaluate, train

# (model sizes, schedule fields on top of the preset's)
VARIANTS = [
    (dict(dim=48, depth=3), {}),
    (dict(dim=64, depth=3), {}),
    (dict(dim=64, depth=2), {}),
    (dict(dim=48, depth=3), dict(lr=0.05)),
    (dict(dim=48, depth=3), dict(batch_size=64)),
    (dict(dim=64, depth=3), dict(train_examples=15_000)),
]


def main() -> None:
    torch.set_num_threads(1)
    print(f"{'model':<18} {'schedule':<22} {'parameters':>10} {'seconds':>8} {'top-1':>7}")
    for sizes, fields in VARIANTS:
        config = presets.base_config("cpu", "vit", method="dense", density=1.0, rewind_step=0, seed=0, **fields)
        train_data, test_data = load_data(config, torch.device("cpu"))
        seed_everything(config.seed)
        model = ViT(in_channels=1, image_size=28, num_classes=10, **sizes)
        start = time.perf_counter()
        train(model, train_data, config.schedule, generator=torch.Generator().manual_seed(config.seed))
        seconds = time.perf_counter() - start
        top1 = evaluate(model, test_data)["top1"]
        name = f"width {sizes['dim']}, {sizes['depth']} blocks"
        label = ", ".join(f"{k} {v}" for k, v in fields.items()) or "the preset's"
        print(f"{name:<18} {label:<22} {count_parameters(model):>10,} {seconds:>8.1f} {100 * top1:>6.1f}%", flush=True)


if __name__ == "__main__":
    main()
