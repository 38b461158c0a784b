"""Shared pieces of the benchmarks: side-by-side timing, devices, tables and the JSON results.

Timing rule (the machine these numbers come from is shared): every ratio is measured in ONE process
with the contenders interleaved — repeat r runs each contender for `inner` calls, in an order rotated
every repeat — so that background load hits all of them alike. Ratios are taken per repeat (paired)
and summarised by their median and inter-quartile range; absolute times are reported the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing: `python3 benchmarks/x.py`

import torch  # noqa: E402


# --- command line -------------------------------------------------------------------------------

def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--tiny", action="store_true", help="a seconds-long run (tests, smoke checks); numbers are noise")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (auto: CUDA when present)")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="bf16: autocast for the forward")
    p.add_argument("--channels-last", action="store_true", help="conv nets in channels_last memory format (GPU)")
    p.add_argument("--repeats", type=int, default=0, help="interleaved repeats (0: the benchmark's default)")
    p.add_argument("--out", default="", help="JSON path (default: benchmarks/results/<name>[_tiny].json)")
    return p


def setup(args: argparse.Namespace) -> torch.device:
    """Apply --threads and return the device of --device."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(args.device)


def autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


SHAPES = {"lenet300": (1, 28), "resnet20": (3, 32)}  # (channels, image size) of each model's data


def model_and_batch(model_name: str, batch: int, device: torch.device, channels_last: bool = False):
    """The model (seed 0) and one random batch (x, y) shaped like its data (10 classes), channels-last if asked."""
    from ctslib.models import build_model
    channels, size = SHAPES[model_name]
    torch.manual_seed(0)
    model = build_model(model_name, in_channels=channels, image_size=size, num_classes=10).to(device)
    x = torch.randn(batch, channels, size, size, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    model, x = to_memory_format(model, x, channels_last)
    return model, x, y


def to_memory_format(model: torch.nn.Module, x: torch.Tensor, channels_last: bool):
    if channels_last and x.ndim == 4:
        return model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    return model, x


def sync(device: torch.device) -> None:
    """Wait for queued device work, so a wall-clock interval covers it (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- timing -------------------------------------------------------------------------------------

def interleaved(fns: dict[str, Callable[[], object]], *, repeats: int, inner: int, warmup: int,
                device: torch.device) -> dict[str, list[float]]:
    """Seconds per call of each function, one sample per repeat; contenders interleaved, order rotated."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    sync(device)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            fn = fns[name]
            sync(device)
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            sync(device)
            samples[name].append((time.perf_counter() - start) / inner)
    return samples


def quantiles(values: list[float]) -> dict[str, float]:
    """Median, quartiles, min and max of a list of samples."""
    v = sorted(values)
    if len(v) == 1:
        q1 = q3 = v[0]
    else:
        q1, _, q3 = statistics.quantiles(v, n=4, method="inclusive")
    return {"median": statistics.median(v), "q1": q1, "q3": q3, "min": v[0], "max": v[-1], "n": len(v)}


def paired_ratios(a: list[float], b: list[float]) -> dict[str, float]:
    """Per-repeat a/b (the two measured in the same repeat, so the same background load), summarised."""
    return quantiles([x / y for x, y in zip(a, b)])


def fmt_q(q: dict[str, float], scale: float = 1.0, digits: int = 2) -> str:
    """'median [q1-q3]' of quantiles scaled by `scale`."""
    return f"{q['median'] * scale:.{digits}f} [{q['q1'] * scale:.{digits}f}-{q['q3'] * scale:.{digits}f}]"


# --- output -------------------------------------------------------------------------------------

def table(rows: list[dict], columns: list[str]) -> str:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    line = lambda vals: "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), sep] + [line(r) for r in cells])


def environment(device: torch.device) -> dict:
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
           "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
           "cpu_count": os.cpu_count(), "machine": platform.machine(), "argv": sys.argv[1:],
           "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "malloc_env": {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}}
    try:
        env["load_average"] = os.getloadavg()
    except OSError:
        pass
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


def write_json(name: str, args: argparse.Namespace, device: torch.device, payload: dict) -> Path:
    path = Path(args.out) if args.out else RESULTS / f"{name}{'_tiny' if args.tiny else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "tiny": bool(args.tiny), "environment": environment(device), **payload}
    path.write_text(json.dumps(record, indent=2, default=float) + "\n")
    print(f"\nwrote {path}")
    return path
