"""Memory: peak memory of a CTS_KL search step vs a training step (ResNet-20, batch 128).

    PYTHONPATH=. python3 benchmarks/memory.py [--tiny] [--device cuda] [--batch 128] [--models resnet20,lenet300]

Each measurement runs in a new process — forked from this one, which has only imported modules and done no
tensor work (`--spawn`: fresh interpreters) — so nothing one contender allocated (or the allocator kept) is
seen by another. The child builds the model and one random batch, then records its baseline; then
builds the contender's own state and runs `--steps` steps. Reported: the peak above the baseline —
- CPU: peak resident set size (VmHWM, reset through /proc/self/clear_refs just before) minus VmRSS at the
  baseline; it includes optimizer state, masks, work buffers and every activation kept for backward;
- CUDA: torch.cuda.max_memory_allocated() minus memory_allocated() at the baseline.
Contenders: `train` (forward, cross-entropy, backward, SGD with momentum, re-masking by a 20% ticket),
`cts_kl` (ConcreteSearch.step, objective kl), `cts_kl_before` (the step before the performance work).
Subprocesses alternate between contenders, `--repeats` times each; the median is reported.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import common

TARGET = 1.6


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(contender: str, model_name: str, batch: int, steps: int, device_name: str, precision: str,
          channels_last: bool) -> dict:
    import gc

    import torch
    import torch.nn.functional as F

    from ctslib.cts import ConcreteSearch
    from ctslib.tickets import Ticket, prunable_parameters
    from ctslib.training import MaskedWeights, Schedule, make_optimizer, masked_step
    from naive_cts import NaiveConcreteSearch

    device = torch.device(device_name)
    model, x, y = common.model_and_batch(model_name, batch, device, channels_last)
    scores = {n: torch.rand(p.shape, device=device) for n, p in prunable_parameters(model).items()}
    ticket = Ticket.from_scores(scores, 0.2)
    del scores
    cuda = device.type == "cuda"
    # warm-up on 2 examples: loads the kernels' code and initialises the libraries (oneDNN, autograd engine)
    # for both contenders alike, so that the measured peak is about memory the step itself needs
    F.cross_entropy(model(x[:2]), y[:2]).backward()
    for param in model.parameters():
        param.grad = None
    dummy = torch.zeros(4, device=device, requires_grad=True)  # first optimizer steps import torch._dynamo & co.
    dummy.grad = torch.ones_like(dummy)
    for opt in (torch.optim.SGD([dummy], lr=0.1, momentum=0.9), torch.optim.Adam([dummy], lr=0.1, fused=True)):
        opt.step()
    del dummy, opt
    gc.collect()
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _status_kib("VmRSS") * 1024
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (peak RSS) to the current RSS

    if contender == "train":
        optimizer = make_optimizer(model, Schedule(batch_size=batch))
        masked = MaskedWeights(model, ticket)

        def step():
            masked_step(model, optimizer, masked, x, y, common.autocast(device, precision))
    else:
        cls = NaiveConcreteSearch if contender == "cts_kl_before" else ConcreteSearch
        search = cls(model, 0.01, "kl", steps)

        def step():
            with common.autocast(device, precision):
                search.step(x, y)
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = _status_kib("VmHWM") * 1024
    return {"contender": contender, "base_bytes": base, "peak_bytes": peak, "delta_bytes": peak - base,
            "measure": "cuda.max_memory_allocated" if cuda else "VmHWM - VmRSS"}


def run_child(args, contender: str, model_name: str, device: str) -> dict:
    """Measure one contender in a new process: forked from this one where the OS can (this process has only
    imported modules, no tensor work, so the child starts with an empty heap), else a fresh interpreter."""
    call = (contender, model_name, args.batch, args.steps, device, args.precision, args.channels_last)
    if "fork" in multiprocessing.get_all_start_methods() and not args.spawn:
        with multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1) as pool:
            return pool.apply(_child_with_threads, (args.threads, *call))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", contender, "--models", model_name,
           "--batch", str(args.batch), "--steps", str(args.steps), "--device", device, "--precision", args.precision]
    if args.channels_last:
        cmd.append("--channels-last")
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(common.HERE.parent), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def _child_with_threads(threads: int, *call) -> dict:
    if threads:
        import torch
        torch.set_num_threads(threads)
    return child(*call)


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--child", default="", help=argparse.SUPPRESS)  # internal: measure one contender, print JSON
    p.add_argument("--models", default="resnet20")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--spawn", action="store_true", help="fresh interpreters for the measurements, even where fork exists")
    args = p.parse_args()
    device = common.setup(args)
    if args.child:
        print(json.dumps(child(args.child, args.models, args.batch, args.steps, str(device), args.precision,
                               args.channels_last)))
        return
    if device.type == "cuda":
        args.spawn = True  # CUDA and fork do not mix: fresh interpreters
    if args.tiny:
        args.models, args.batch, args.steps = "lenet300", 8, 2
    import ctslib.cts, ctslib.models, ctslib.training, naive_cts  # noqa: F401,E401  (imported once, before forking)
    repeats = args.repeats or (1 if args.tiny else 3)
    contenders = ["train", "cts_kl", "cts_kl_before"]
    rows, results = [], []
    for model_name in args.models.split(","):
        samples: dict[str, list[dict]] = {c: [] for c in contenders}
        for r in range(repeats):
            for c in contenders[r % 3:] + contenders[:r % 3]:
                samples[c].append(run_child(args, c, model_name, str(device)))
        delta = {c: common.quantiles([s["delta_bytes"] for s in v]) for c, v in samples.items()}
        entry = {"model": model_name, "batch": args.batch, "steps": args.steps, "repeats": repeats,
                 "measure": samples["train"][0]["measure"], "delta_bytes": delta,
                 "ratio_to_train": {c: delta[c]["median"] / delta["train"]["median"] for c in contenders},
                 "samples": samples}
        results.append(entry)
        for c in contenders:
            rows.append({"model": model_name, "batch": args.batch, "contender": c,
                         "peak above baseline, MiB (median [min-max])":
                             f"{delta[c]['median'] / 2**20:.1f} [{delta[c]['min'] / 2**20:.1f}-{delta[c]['max'] / 2**20:.1f}]",
                         "x train": f"{entry['ratio_to_train'][c]:.2f}",
                         "target": f"<= {TARGET}" if c == "cts_kl" else ""})
    print(common.table(rows, ["model", "batch", "contender", "peak above baseline, MiB (median [min-max])",
                              "x train", "target"]))
    common.write_json("memory", args, device, {"target": TARGET, "precision": args.precision,
                                               "channels_last": args.channels_last, "models": results})


if __name__ == "__main__":
    main()
