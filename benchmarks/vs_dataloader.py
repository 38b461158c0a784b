"""Against the usual way: ctslib's training loop vs an idiomatic PyTorch loop with a DataLoader.

    PYTHONPATH=. python3 benchmarks/vs_dataloader.py [--tiny] [--threads N] [--workers 0,2]

- `ctslib`: `ctslib.training.train` itself (Batches: the uint8 dataset in memory, batched augmentation and
  normalisation on the device; SGD from `make_optimizer`), run for a fixed number of steps per repeat.
- `dataloader_wN`: the way open_lth / Synaptic-Flow train: a `Dataset` whose `__getitem__` transforms one
  image at a time (ToTensor-style uint8 -> float / 255, random horizontal flip, pad 4 + random 32x32 crop,
  per-channel Normalize), a `DataLoader(batch_size, shuffle=True, num_workers=N)` that collates, then
  `zero_grad / forward / cross-entropy / backward / step`. The transforms are written in torch, per sample,
  as torchvision's would run (torchvision itself does not import next to this CPU torch). Same model, same
  data, same optimizer settings.
Score: ctslib throughput / DataLoader throughput, per interleaved repeat (>= 1: ours is not slower); the
same for the input alone (`*_input_only`: one epoch of batches, no training), which is all that differs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

import common
from ctslib.data import Batches
from ctslib.models import build_model
from ctslib.training import Schedule, make_optimizer, train
from input_pipeline import make_data


class PerSampleDataset(Dataset):
    """uint8 images, transformed one at a time as torchvision's ToTensor/RandomCrop/RandomHorizontalFlip/Normalize."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean, std, augment: bool, pad: int = 4):
        self.images, self.labels, self.augment, self.pad = images, labels, augment, pad
        self.mean = torch.tensor(mean).view(-1, 1, 1)
        self.std = torch.tensor(std).view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        img = self.images[i].float().div(255)  # ToTensor
        if self.augment:
            if torch.rand(()) < 0.5:  # RandomHorizontalFlip
                img = img.flip(-1)
            _, h, w = img.shape  # RandomCrop(size, padding=pad)
            padded = F.pad(img, (self.pad,) * 4)
            top, left = torch.randint(0, 2 * self.pad + 1, (2,)).tolist()
            img = padded[:, top:top + h, left:left + w]
        return (img - self.mean) / self.std, int(self.labels[i])  # Normalize


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--workers", default="0,2", help="DataLoader num_workers values to compare against")
    args = p.parse_args()
    device = common.setup(args)
    workers = [int(w) for w in args.workers.split(",")]
    # (model, dataset, augment, batch, steps per repeat)
    workloads = [("resnet20", "cifar10", True, 128, 3), ("lenet300", "fashion_mnist", False, 128, 60)]
    if args.tiny:
        workloads, workers = [("lenet300", "fashion_mnist", False, 32, 4), ("resnet20", "cifar10", True, 4, 2)], [0]
    rows, results = [], []
    for model_name, dataset, augment, batch, steps in workloads:
        data, source = make_data(dataset, batch * steps)
        info = data.info
        build = lambda: build_model(model_name, in_channels=info.in_channels, image_size=info.image_size,  # noqa: E731
                                    num_classes=info.num_classes).to(device)
        schedule = Schedule(epochs=1, batch_size=batch, augment=augment, milestones=(1,))
        torch.manual_seed(0)
        ours_model = build()
        ours_opt = make_optimizer(ours_model, schedule)
        gen = torch.Generator(device=device).manual_seed(0)
        data_dev = data.to(device)

        def ours():
            train(ours_model, data_dev, schedule, stop_step=steps, generator=gen, optimizer=ours_opt,
                  precision=args.precision, device=device)

        fns = {"ctslib": ours}
        input_only = {"ctslib": lambda: list(Batches(data_dev, batch, shuffle=True, augment=augment, device=device,
                                                     generator=gen))}
        dataset_obj = PerSampleDataset(data.images, data.labels, info.mean, info.std, augment)
        for w in workers:
            torch.manual_seed(0)
            model = build()
            opt = make_optimizer(model, schedule)
            loader = DataLoader(dataset_obj, batch_size=batch, shuffle=True, num_workers=w, drop_last=False,
                                pin_memory=device.type == "cuda", persistent_workers=w > 0)

            def theirs(model=model, opt=opt, loader=loader):
                for x, y in loader:
                    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                    opt.zero_grad()
                    with common.autocast(device, args.precision):
                        loss = F.cross_entropy(model(x), y)
                    loss.backward()
                    opt.step()
            fns[f"dataloader_w{w}"] = theirs
            input_only[f"dataloader_w{w}"] = lambda loader=loader: [(x.to(device), y.to(device)) for x, y in loader]

        repeats = args.repeats or (2 if args.tiny else 9)
        fns.update({f"{k}_input_only": v for k, v in input_only.items()})
        samples = common.interleaved(fns, repeats=repeats, inner=1, warmup=1, device=device)
        n = len(data)
        entry = {"model": model_name, "data": source, "augment": augment, "batch": batch, "steps": steps,
                 "repeats": repeats,
                 "examples_per_second": {k: common.quantiles([n / s for s in v]) for k, v in samples.items()},
                 "ours_over_theirs": {k: common.paired_ratios(v, samples["ctslib"])
                                      for k, v in samples.items() if k.startswith("dataloader") and "input" not in k},
                 "input_only_ms_per_batch": {k: common.quantiles([1e3 * s / steps for s in samples[f"{k}_input_only"]])
                                             for k in input_only},
                 "input_only_ours_over_theirs": {k: common.paired_ratios(samples[f"{k}_input_only"],
                                                                         samples["ctslib_input_only"])
                                                 for k in input_only if k != "ctslib"}}
        results.append(entry)
        for k in input_only:
            rows.append({"model": model_name, "augment": augment, "batch": batch, "loop": k,
                         "training examples/s": f"{entry['examples_per_second'][k]['median']:.0f}",
                         "ctslib speed / this [IQR]":
                             "" if k == "ctslib" else common.fmt_q(entry["ours_over_theirs"][k]),
                         "input only, ms/batch": common.fmt_q(entry["input_only_ms_per_batch"][k], digits=3),
                         "input: ctslib speed / this [IQR]":
                             "" if k == "ctslib" else common.fmt_q(entry["input_only_ours_over_theirs"][k])})
        print(f"done {model_name}", flush=True)
    print(common.table(rows, ["model", "augment", "batch", "loop", "training examples/s", "ctslib speed / this [IQR]",
                              "input only, ms/batch", "input: ctslib speed / this [IQR]"]))
    common.write_json("vs_dataloader", args, device, {"workloads": results, "workers": workers,
                                                      "target": "ctslib speed / DataLoader speed >= 1"})


if __name__ == "__main__":
    main()
