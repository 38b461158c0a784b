"""Number formats on CPU: what bf16 autocast and channels_last buy a ResNet-20 step on Fashion-MNIST's shape.

    PYTHONPATH=. python3 benchmarks/number_formats.py --threads 1      # ~4 min on this machine

The ResNet-20 evidence set (`ctslib.runs.evidence`) is sized from the cost of a step, so the formats are measured
first: a training step (`ctslib.training`'s loop body: forward, cross-entropy, backward, SGD, re-masking) and a
CTS_KL search step (`ConcreteSearch.step`, GRADBALANCE, density 1%), batch 128 of 1x28x28 images, each in four
formats: fp32 (contiguous), bf16 autocast, channels_last, and both. All eight contenders interleaved in one
process (common.py's rule), ratios per repeat to the fp32 training step. bf16 pays off only on a CPU with native
bf16 arithmetic (AVX-512 BF16 or AMX); on an AVX2-only CPU autocast converts to and from bf16 around every
convolution in software.
"""

from __future__ import annotations

import copy

import torch

import common
from ctslib.cts import ConcreteSearch
from ctslib.models import build_model
from ctslib.tickets import Ticket, prunable_parameters
from ctslib.training import MaskedWeights, Schedule, make_optimizer, masked_step

FORMATS = {"fp32": (False, "fp32"), "bf16": (False, "bf16"), "channels_last": (True, "fp32"),
           "bf16+channels_last": (True, "bf16")}


def contenders(batch: int, size: int, device: torch.device, total_steps: int) -> dict:
    torch.manual_seed(0)
    base = build_model("resnet20", in_channels=1, image_size=size, num_classes=10).to(device)
    x0 = torch.randn(batch, 1, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    ticket = Ticket.from_scores({n: torch.rand(p.shape, device=device) for n, p in prunable_parameters(base).items()},
                                0.2)
    schedule = Schedule(epochs=1, batch_size=batch, augment=False)
    fns = {}
    for name, (channels_last, precision) in FORMATS.items():
        model, x = common.to_memory_format(copy.deepcopy(base), x0.clone(), channels_last)
        autocast = lambda p=precision: common.autocast(device, p)  # noqa: E731
        net = copy.deepcopy(model)
        optimizer = make_optimizer(net, schedule)
        masked = MaskedWeights(net, ticket)

        def train_step(net=net, optimizer=optimizer, masked=masked, x=x, autocast=autocast):
            return masked_step(net, optimizer, masked, x, y, autocast())

        search = ConcreteSearch(model, 0.01, "kl", total_steps)

        def cts_step(search=search, x=x, autocast=autocast):
            with autocast():
                return search.step(x, y)

        fns[f"train {name}"] = train_step
        fns[f"cts_kl {name}"] = cts_step
    return fns


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    device = common.setup(args)
    batch, size = (4, 28) if args.tiny else (args.batch, 28)
    repeats = args.repeats or (1 if args.tiny else 5)
    inner = 1 if args.tiny else 2
    fns = contenders(batch, size, device, 1 + repeats * inner + 1)
    samples = common.interleaved(fns, repeats=repeats, inner=inner, warmup=1, device=device)
    rows, entries = [], {}
    for name, values in samples.items():
        ratio = common.paired_ratios(values, samples["train fp32"])
        entries[name] = {"seconds": common.quantiles(values), "ratio_to_train_fp32": ratio}
        rows.append({"contender": name, "ms/step median [IQR]": common.fmt_q(common.quantiles(values), 1e3),
                     "x train fp32 median [IQR]": common.fmt_q(ratio)})
    print(common.table(rows, ["contender", "ms/step median [IQR]", "x train fp32 median [IQR]"]))
    common.write_json("number_formats", args, device, {"model": "resnet20", "batch": batch, "image": [1, size, size],
                                                       "repeats": repeats, "inner": inner, "rows": entries})


if __name__ == "__main__":
    main()
