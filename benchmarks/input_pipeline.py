"""Input pipeline: training throughput with ctslib's data path vs the same loop over pre-made device tensors.

    PYTHONPATH=. python3 benchmarks/input_pipeline.py [--tiny] [--threads N] [--device cuda --precision bf16 --channels-last]

Both contenders run the body of `ctslib.training.train`'s loop (forward, cross-entropy, backward, SGD);
they differ only in where (x, y) come from:
- `batches`: `ctslib.data.Batches` over the uint8 dataset — shuffle, gather, (augmentation: random flip +
  pad-and-crop by 4 px, batched on the device) and normalisation, every batch;
- `premade`: a list of already normalised float batches on the device (no input work at all).
Throughput = examples / second; the score is premade time / batches time per interleaved repeat
(the fraction of the no-input-cost throughput the real path keeps). `pipeline_only` times `Batches` alone,
`pipeline_only_before` the same batches made the way they were before the performance work (naive_data.py).

Workloads: ResNet-20 on CIFAR-10-shaped uint8 data generated in memory (CIFAR-10 is not downloadable here),
with augmentation as the CIFAR-10 schedule; LeNet-300-100 on Fashion-MNIST (real data when installed),
without augmentation as its schedule, and with it.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

import common
from ctslib.data import Batches, ImageData, dataset_info, load_dataset
from ctslib.models import build_model
from ctslib.training import Schedule, make_optimizer
from naive_data import naive_iter

TARGET = 0.90


def make_data(dataset: str, examples: int) -> tuple[ImageData, str]:
    info = dataset_info(dataset)
    if dataset == "fashion_mnist":
        try:
            return load_dataset("fashion_mnist", "train", download=False).subset(examples), "fashion_mnist"
        except FileNotFoundError:
            pass
    g = torch.Generator().manual_seed(0)
    shape = (examples, info.in_channels, info.image_size, info.image_size)
    images = torch.randint(0, 256, shape, dtype=torch.uint8, generator=g)
    return ImageData(images, torch.randint(0, 10, (examples,), generator=g), info), f"random uint8 {dataset}-shaped"


def workload(model_name: str, dataset: str, augment: bool, batch: int, steps: int, device, args):
    info = dataset_info(dataset)
    data, source = make_data(dataset, batch * steps)
    data = data.to(device)
    torch.manual_seed(0)
    model = build_model(model_name, in_channels=info.in_channels, image_size=info.image_size,
                        num_classes=info.num_classes).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, Schedule(batch_size=batch))
    generator = torch.Generator(device=device).manual_seed(0)
    batches = Batches(data, batch, shuffle=True, augment=augment, drop_last=True, device=device, generator=generator)
    premade = [(x.clone(), y.clone()) for x, y in itertools.islice(iter(batches), steps)]

    def train_on(source_iter):
        for x, y in source_iter:
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with common.autocast(device, args.precision):
                loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def pipeline_only(make_iter):
        def run():
            for x, y in make_iter():
                pass
            return x
        return run

    fns = {"batches": lambda: train_on(batches), "premade": lambda: train_on(premade),
           "pipeline_only": pipeline_only(lambda: iter(batches)),
           "pipeline_only_before": pipeline_only(lambda: naive_iter(batches))}
    return fns, source, len(data)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    args = p.parse_args()
    device = common.setup(args)
    # (model, dataset, augment, batch, steps per epoch of the generated/sub-sampled data)
    workloads = [("resnet20", "cifar10", True, 128, 4), ("lenet300", "fashion_mnist", False, 128, 64),
                 ("lenet300", "fashion_mnist", True, 128, 64)]
    if args.tiny:
        workloads = [("resnet20", "cifar10", True, 4, 2), ("lenet300", "fashion_mnist", False, 32, 4)]
    rows, results = [], []
    for model_name, dataset, augment, batch, steps in workloads:
        small = model_name == "lenet300"
        repeats = args.repeats or (2 if args.tiny else (11 if small else 5))
        fns, source, n = workload(model_name, dataset, augment, batch, steps, device, args)
        samples = common.interleaved(fns, repeats=repeats, inner=1, warmup=1, device=device)
        kept = common.paired_ratios(samples["premade"], samples["batches"])
        entry = {"model": model_name, "data": source, "augment": augment, "batch": batch, "steps_per_epoch": steps,
                 "repeats": repeats, "throughput_fraction": kept,
                 "examples_per_second": {k: common.quantiles([n / s for s in v]) for k, v in samples.items()
                                         if k in ("batches", "premade")},
                 "pipeline_ms_per_batch": common.quantiles([1e3 * s / steps for s in samples["pipeline_only"]]),
                 "pipeline_ms_per_batch_before": common.quantiles([1e3 * s / steps
                                                                   for s in samples["pipeline_only_before"]]),
                 "pipeline_speedup": common.paired_ratios(samples["pipeline_only_before"], samples["pipeline_only"]),
                 "train_ms_per_step": {k: common.quantiles([1e3 * s / steps for s in samples[k]])
                                       for k in ("batches", "premade")}}
        results.append(entry)
        rows.append({"model": model_name, "data": source, "augment": augment, "batch": batch,
                     "premade ex/s": f"{entry['examples_per_second']['premade']['median']:.0f}",
                     "Batches ex/s": f"{entry['examples_per_second']['batches']['median']:.0f}",
                     "input ms/batch": common.fmt_q(entry["pipeline_ms_per_batch"], digits=3),
                     "before ms/batch": common.fmt_q(entry["pipeline_ms_per_batch_before"], digits=3),
                     "kept median [IQR]": common.fmt_q(kept, digits=3), "target": f">= {TARGET}"})
        print(f"done {model_name} {dataset} augment={augment}", flush=True)
    print(common.table(rows, ["model", "data", "augment", "batch", "premade ex/s", "Batches ex/s", "input ms/batch",
                              "before ms/batch", "kept median [IQR]", "target"]))
    common.write_json("input_pipeline", args, device, {"target": TARGET, "workloads": results,
                                                       "precision": args.precision,
                                                       "channels_last": args.channels_last})


if __name__ == "__main__":
    main()
