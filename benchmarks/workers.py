"""Worker pool: the book's runs computed by one process on every core vs one single-thread process per core.

    PYTHONPATH=. python3 benchmarks/workers.py [--tiny] [--figure fig3] [--scale cpu] [--runs 8] [--workers N]

The runs: the first `--runs` runs of `--figure` at `--scale` that are not LTR, of one seed (fig3 at cpu scale:
LeNet-300-100 CTS searches and trainings on Fashion-MNIST). Each contender computes all of them, the shared
rewind point included, into its own empty temporary run store through `ctslib.runs.sweep.compute_runs`:
- `one_process`: this process, torch's intra-op threads = `--threads` (0: torch's default, one per core);
- `pool`: `--workers` processes (0: one per usable core), each with the cores shared out (1 thread each on
  a 2-core machine) — what `python -m ctslib book` and `make run` do by default on a CPU-only machine.
Repeats alternate which contender goes first. Reported: seconds per contender (median over repeats),
one_process/pool per repeat (the pool's speed-up; > 1 means the pool is faster) and the mean top-1 of the
runs (a check that both computed the same runs; measured: identical).
"""

from __future__ import annotations

import statistics
import tempfile
import time

import torch

import common
from ctslib.report.figures import FIGURES
from ctslib.runs.methods import METHODS
from ctslib.runs.sweep import compute_runs
from ctslib.threads import usable_cores


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--figure", default="fig3", choices=FIGURES, help="whose runs to compute (default: fig3)")
    p.add_argument("--scale", default="cpu", help="smoke | cpu (default: cpu; --tiny: smoke)")
    p.add_argument("--runs", type=int, default=8, help="how many of the figure's runs (default: 8; --tiny: 2)")
    p.add_argument("--workers", type=int, default=0, help="pool size (0: one per usable core)")
    args = p.parse_args()
    device = common.setup(args)
    if args.tiny:
        args.scale, args.runs = "smoke", 2
    repeats = args.repeats or (1 if args.tiny else 2)
    workers = args.workers or usable_cores()

    configs = [c for c in FIGURES[args.figure].configs(scale=args.scale) if not METHODS[c.method].chain]
    configs = [c for c in configs if c.seed == configs[0].seed][:args.runs]
    seconds: dict[str, list[float]] = {"one_process": [], "pool": []}
    top1: dict[str, list[float]] = {"one_process": [], "pool": []}
    for r in range(repeats):
        for name in (("one_process", "pool") if r % 2 == 0 else ("pool", "one_process")):
            with tempfile.TemporaryDirectory(prefix="ctslib-bench-") as root:
                start = time.perf_counter()
                done = list(compute_runs(root, configs, workers=1 if name == "one_process" else workers))
                seconds[name].append(time.perf_counter() - start)
            failed = [d.error for d in done if not d.ok]
            if failed or any(d.cached for d in done):
                raise SystemExit(f"{name}: runs failed or came from a store: {failed}")
            top1[name].append(statistics.mean(d.record["metrics"]["top1"] for d in done))
            print(f"repeat {r}: {name:<11} {len(done)} runs in {seconds[name][-1]:.1f} s", flush=True)

    speedup = common.paired_ratios(seconds["one_process"], seconds["pool"])
    rows = [{"contender": name, "processes": 1 if name == "one_process" else workers,
             "threads each": torch.get_num_threads() if name == "one_process" else max(1, usable_cores() // workers),
             "seconds": common.fmt_q(common.quantiles(seconds[name]), digits=1),
             "runs/min": f"{60 * len(configs) / statistics.median(seconds[name]):.1f}",
             "mean top-1": f"{statistics.mean(top1[name]):.2%}"} for name in seconds]
    print(f"\n{len(configs)} runs of {args.figure} at scale {args.scale} ({configs[0].model}, {configs[0].dataset}), "
          f"{repeats} repeat(s)")
    print(common.table(rows, list(rows[0])))
    print(f"pool speed-up (one_process / pool seconds, paired): {common.fmt_q(speedup)}")
    common.write_json("workers", args, device, {
        "figure": args.figure, "scale": args.scale, "runs": len(configs), "workers": workers,
        "threads_one_process": torch.get_num_threads(), "threads_per_worker": max(1, usable_cores() // workers),
        "seconds": {n: common.quantiles(v) for n, v in seconds.items()},
        "mean_top1": {n: statistics.mean(v) for n, v in top1.items()}, "pool_speedup": speedup})


if __name__ == "__main__":
    main()
