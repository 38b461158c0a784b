"""Inference: what a trained sparse ticket buys at inference — dense kernels over zeros vs torch.sparse storage.

    PYTHONPATH=. python3 benchmarks/inference.py [--tiny] [--threads N] [--epochs 2] [--densities 0.1,0.01,0.001]

LeNet-300-100 tickets, trained with ctslib on Fashion-MNIST: `--epochs` of dense training
(`ctslib.training.train`, the Fashion-MNIST schedule compressed), then per density a global magnitude ticket
of the trained weights (`Ticket.from_scores` on |w|) and `--epochs` of masked training from there
(`train(..., ticket=)`: the pruned weights stay exactly zero). Test top-1 of every ticket is recorded.

Contenders, per density and batch size (1 and 256, real test images), all interleaved in one process
(see common.py), each a no-grad forward of the whole network:
- `dense`: the trained masked model as it is (zeros stored densely, `nn.Linear`);
- `csr`, `csr_int32`, `coo`: the same model with each `nn.Linear` replaced by `SparseLinear`, its weight in
  torch.sparse storage (`to_sparse_csr()`: int64 indices; the same CSR with int32 indices; `to_sparse()`),
  the forward `torch.addmm(b, W, x^T)^T` (sparse x dense: MKL's kernel on CPU; the fastest correct form
  found — see benchmarks/README.md).
Every sparse model's logits are checked against the dense model's (max |difference| <= 1e-5 x max |logit|,
asserted) and its test top-1 is evaluated too. Memory: bytes of the weight tensors as stored (dense: all
entries; sparse: values + indices) and of the whole `state_dict` saved with `torch.save`.

ResNet-20 (untrained, seed 0; only speed is measured): `dense` (all weights non-zero) vs `masked` (a 1%
magnitude ticket applied: 99% of every conv weight exactly zero, still dense tensors): torch has no sparse
convolution on CPU, so the question is only whether dense conv kernels skip zeros. fp32 only.
"""

from __future__ import annotations

import copy
import io
import warnings

import torch
from torch import nn

import common
from ctslib.data import Batches, ImageData, load_dataset
from ctslib.models import build_model
from ctslib.tickets import Ticket, prunable_parameters
from ctslib.training import FASHION_MNIST_SCHEDULE, evaluate, train

DENSITIES = (0.1, 0.01, 0.001)
BATCHES = (1, 256)
TINY_BATCHES = (1, 8)
LAYOUTS = ("csr", "csr_int32", "coo")
RESNET_DENSITY = 0.01
TOLERANCE = 1e-5  # max |sparse - dense| / max |dense| of the logits
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")  # said once per process; noise


class SparseLinear(nn.Module):
    """An `nn.Linear` whose weight is stored in torch.sparse (CSR or COO). y = x W^T + b is computed as
    (W x^T + b)^T with the sparse matrix on the left — `torch.addmm(b, W, x^T)`, MKL's sparse x dense product on
    CPU — and returned as a transposed view, so that the next SparseLinear's x^T is contiguous for free; only
    the first layer pays for the transposed copy of its input."""

    def __init__(self, linear: nn.Linear, layout: str):
        super().__init__()
        weight = linear.weight.detach()
        sparse = to_sparse(weight, layout)
        self.layout, self.in_features, self.out_features = layout, linear.in_features, linear.out_features
        self.register_buffer("weight", sparse)
        bias = linear.bias.detach() if linear.bias is not None else weight.new_zeros(weight.shape[0])
        self.register_buffer("bias", bias.reshape(-1, 1).clone())  # (out, 1): broadcast over the batch columns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2:
            raise ValueError(f"SparseLinear expects (batch, features) inputs, got {tuple(x.shape)}")
        xt = x.t()
        if not xt.is_contiguous():
            xt = xt.contiguous()
        return torch.addmm(self.bias, self.weight, xt).t()


def to_sparse(matrix: torch.Tensor, layout: str) -> torch.Tensor:
    """A 2-D tensor in torch.sparse storage: `csr` (int64 indices), `csr_int32`, `coo` (coalesced).

    `to_sparse_csr()` of a strided tensor returns col_indices as a view into a (2, nnz) buffer (it goes through
    COO), so it holds twice the indices it needs; the CSR here is rebuilt from copies that hold only its own."""
    if layout == "coo":
        return matrix.to_sparse().coalesce()
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    csr = matrix.to_sparse_csr()
    dtype = torch.int32 if layout == "csr_int32" else torch.int64
    return torch.sparse_csr_tensor(csr.crow_indices().to(dtype, copy=True), csr.col_indices().to(dtype, copy=True),
                                   csr.values().clone(), csr.shape, check_invariants=True)


def sparsify(model: nn.Module, layout: str) -> nn.Module:
    """A copy of `model` with every `nn.Linear` replaced by a `SparseLinear` of `layout`."""
    model = copy.deepcopy(model)
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, SparseLinear(module, layout))
    return model


def tensor_bytes(t: torch.Tensor) -> int:
    """Bytes of memory a tensor holds: its storage if strided; the storages of its values and indices if sparse
    (COO, CSR), each counted once and whole (a view into a bigger buffer holds all of that buffer)."""
    if t.layout == torch.sparse_coo:
        parts = [t._values(), t._indices()]
    elif t.layout == torch.sparse_csr:
        parts = [t.values(), t.crow_indices(), t.col_indices()]
    else:
        parts = [t]
    storages = {p.untyped_storage().data_ptr(): p.untyped_storage().nbytes() for p in parts}
    return sum(storages.values())


def weight_bytes(model: nn.Module) -> int:
    """Bytes of the linear / conv weights as stored (dense parameters or SparseLinear's sparse buffers)."""
    total = 0
    for module in model.modules():
        if isinstance(module, (SparseLinear, nn.Linear, nn.modules.conv._ConvNd)):
            total += tensor_bytes(module.weight)
    return total


def saved_bytes(model: nn.Module) -> int:
    """Bytes of `torch.save(model.state_dict())` (weights, biases, sparse indices, pickle framing)."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return len(buf.getvalue())


def trained_tickets(args, device: torch.device) -> tuple[list[dict], ImageData]:
    """LeNet-300-100 trained dense, then per density a magnitude ticket of its weights trained masked."""
    train_data = load_dataset("fashion_mnist", "train")
    test_data = load_dataset("fashion_mnist", "test")
    if args.tiny:
        train_data, test_data = train_data.subset(256), test_data.subset(256)
    schedule = FASHION_MNIST_SCHEDULE.scaled(args.epochs)
    stop = 2 if args.tiny else None
    torch.manual_seed(0)
    model = build_model("lenet300", in_channels=1, image_size=28, num_classes=10).to(device)
    gen = lambda: torch.Generator(device=device).manual_seed(0)  # noqa: E731
    dense_run = train(model, train_data, schedule, stop_step=stop, device=device, generator=gen())
    dense_top1 = evaluate(model, test_data, device=device)["top1"]
    print(f"dense: {dense_run.steps} steps in {dense_run.seconds:.1f} s, test top-1 {dense_top1:.4f}", flush=True)
    tickets = [{"density": 1.0, "model": None, "top1": dense_top1, "train_seconds": dense_run.seconds}]
    for density in args.densities:
        net = copy.deepcopy(model)
        ticket = Ticket.from_scores({n: p.detach().abs() for n, p in prunable_parameters(net).items()}, density)
        run = train(net, train_data, schedule, ticket=ticket, stop_step=stop, device=device, generator=gen())
        net.eval()
        top1 = evaluate(net, test_data, device=device)["top1"]
        print(f"ticket {density:.2%}: {run.steps} masked steps in {run.seconds:.1f} s, test top-1 {top1:.4f}",
              flush=True)
        tickets.append({"density": density, "model": net, "ticket": ticket, "top1": top1,
                        "train_seconds": run.seconds})
    return tickets, test_data


def lenet(args, device: torch.device, rows: list[dict]) -> tuple[float, list[dict]]:
    """The dense model's test top-1 and, per ticket density, its record (timings per batch size, bytes, top-1)."""
    tickets, test_data = trained_tickets(args, device)
    batches = TINY_BATCHES if args.tiny else BATCHES
    out = []
    for entry in tickets[1:]:
        model, ticket = entry["model"], entry["ticket"]
        models = {"dense": model, **{layout: sparsify(model, layout).eval() for layout in LAYOUTS}}
        record = {"density": entry["density"], "kept": ticket.num_kept, "total": ticket.num_total,
                  "layer_densities": ticket.layer_densities(), "collapsed_layers": ticket.collapsed_layers(),
                  "top1": {"dense": entry["top1"]}, "train_seconds": entry["train_seconds"],
                  "weight_bytes": {}, "saved_bytes": {}, "batches": []}
        for name, net in models.items():
            record["weight_bytes"][name] = weight_bytes(net)
            record["saved_bytes"][name] = saved_bytes(net)
            if name != "dense":
                with torch.inference_mode():
                    record["top1"][name] = evaluate(net, test_data, device=device)["top1"]
        record["nnz"] = sum(m.weight.values().numel() for m in models["csr"].modules() if isinstance(m, SparseLinear))
        for batch in batches:
            x = next(iter(Batches(test_data, batch, shuffle=False, device=device)))[0]
            with torch.inference_mode():
                reference = model(x)
                scale = float(reference.abs().max())
                max_diff = {}
                for name in LAYOUTS:
                    max_diff[name] = float((models[name](x) - reference).abs().max())
                    assert max_diff[name] <= TOLERANCE * scale, (entry["density"], batch, name, max_diff[name], scale)

            small = batch == 1
            repeats = args.repeats or (2 if args.tiny else 15)
            inner = 1 if args.tiny else (200 if small else 10)
            warmup = 1 if args.tiny else (50 if small else 3)
            samples = common.interleaved({n: no_grad_forward(m, x) for n, m in models.items()}, repeats=repeats,
                                         inner=inner,
                                         warmup=warmup, device=device)
            b = {"batch": batch, "repeats": repeats, "inner": inner, "max_abs_diff": max_diff,
                 "max_abs_logit": scale, "contenders": {}}
            for name, values in samples.items():
                seconds = common.quantiles(values)
                ratio = common.paired_ratios(values, samples["dense"])
                speedup = common.paired_ratios(samples["dense"], values)
                b["contenders"][name] = {"seconds": seconds, "images_per_second": batch / seconds["median"],
                                         "time_ratio_to_dense": ratio, "speedup_vs_dense": speedup}
                rows.append({"model": "lenet300", "density": f"{entry['density']:.1%}", "batch": batch,
                             "contender": name, "ms/batch median [IQR]": common.fmt_q(seconds, 1e3, 3),
                             "images/s": f"{batch / seconds['median']:,.0f}",
                             "x dense time median [IQR]": common.fmt_q(ratio),
                             "weight KiB": f"{record['weight_bytes'][name] / 1024:.1f}",
                             "top-1": f"{record['top1'][name]:.4f}",
                             "max |diff|": "" if name == "dense" else f"{max_diff[name]:.1e}"})
            record["batches"].append(b)
        out.append(record)
        print(f"done lenet300 {entry['density']:.2%}", flush=True)
    return tickets[0]["top1"], out


def no_grad_forward(net: nn.Module, x: torch.Tensor):
    """A contender: one inference-mode forward of `net` on `x`."""
    def fn():
        with torch.inference_mode():
            return net(x)
    return fn


def resnet20(args, device: torch.device, rows: list[dict], density: float) -> list[dict]:
    """Per batch size: dense vs masked (zeros) conv forward timings and the conv weights' bytes."""
    batches = (1, 2) if args.tiny else BATCHES
    out = []
    for batch in batches:
        model, x, _ = common.model_and_batch("resnet20", batch, device, args.channels_last)
        model.eval()
        masked = copy.deepcopy(model)
        ticket = Ticket.from_scores({n: p.detach().abs() for n, p in prunable_parameters(masked).items()}, density)
        ticket.apply_(masked)
        convs = [m.weight for m in masked.modules() if isinstance(m, nn.Conv2d)]
        zero_fraction = sum(int((w == 0).sum()) for w in convs) / sum(w.numel() for w in convs)
        assert zero_fraction > 0.98, zero_fraction
        # what CSR storage of the conv weights (as (out, in*k*k) matrices) would take; no CPU kernel runs on it
        csr_bytes = sum(tensor_bytes(to_sparse(w.detach().reshape(w.shape[0], -1), "csr")) for w in convs)
        dense_bytes = sum(tensor_bytes(w) for w in convs)

        small = batch == 1
        repeats = args.repeats or (2 if args.tiny else (15 if small else 12))
        inner = 1 if args.tiny else (20 if small else 1)
        warmup = 1 if args.tiny else (5 if small else 1)
        samples = common.interleaved({"dense": no_grad_forward(model, x), "masked": no_grad_forward(masked, x)},
                                     repeats=repeats,
                                     inner=inner, warmup=warmup, device=device)
        b = {"batch": batch, "repeats": repeats, "inner": inner, "conv_zero_fraction": zero_fraction,
             "conv_weight_bytes": {"dense": dense_bytes, "csr_if_stored": csr_bytes}, "contenders": {}}
        for name, values in samples.items():
            seconds = common.quantiles(values)
            ratio = common.paired_ratios(values, samples["dense"])
            b["contenders"][name] = {"seconds": seconds, "images_per_second": batch / seconds["median"],
                                     "time_ratio_to_dense": ratio}
            rows.append({"model": "resnet20", "density": "100%" if name == "dense" else f"{density:.0%} (zeros)",
                         "batch": batch, "contender": name, "ms/batch median [IQR]": common.fmt_q(seconds, 1e3, 2),
                         "images/s": f"{batch / seconds['median']:,.1f}",
                         "x dense time median [IQR]": common.fmt_q(ratio),
                         "weight KiB": f"{dense_bytes / 1024:.1f}" + ("" if name == "dense" else
                                                                     f" (CSR: {csr_bytes / 1024:.1f})")})
        out.append(b)
        print(f"done resnet20 b{batch}", flush=True)
    return out


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2, help="dense epochs, then masked epochs per ticket")
    p.add_argument("--densities", default=",".join(str(d) for d in DENSITIES))
    p.add_argument("--skip-resnet", action="store_true", help="LeNet-300-100 only")
    args = p.parse_args()
    if args.precision != "fp32":
        p.error("inference.py measures fp32 only (torch.sparse matmuls on CPU take no bf16 autocast)")
    device = common.setup(args)
    args.densities = [float(d) for d in args.densities.split(",")]
    rows: list[dict] = []
    dense_top1, tickets = lenet(args, device, rows)
    payload = {"tolerance": TOLERANCE, "layouts": list(LAYOUTS), "epochs": args.epochs, "dense_top1": dense_top1,
               "resnet20_density": RESNET_DENSITY}
    resnet = [] if args.skip_resnet else resnet20(args, device, rows, RESNET_DENSITY)
    columns = ["model", "density", "batch", "contender", "ms/batch median [IQR]", "images/s",
               "x dense time median [IQR]", "weight KiB", "top-1", "max |diff|"]
    print(common.table(rows, columns))
    # `table` first: the book's appendix shows every list of records as a table (ctslib.report.benchmarks)
    payload.update(table=[{c: r.get(c, "") for c in columns} for r in rows], lenet300=tickets, resnet20=resnet)
    common.write_json("inference", args, device, payload)


if __name__ == "__main__":
    main()
