"""Executors: the same smoke sweep on the local pool, on a local two-node Ray cluster and as a submitit job array.

    PYTHONPATH=. python3 benchmarks/executors.py [--runs 8] [--repeats 2] [--tiny]

The sweep: `--runs` LeNet-300-100 runs of Fig. 2 at smoke scale that are not LTR (each its own work group), of one
seed. Each contender computes all of them into its own empty temporary store through `ctslib.runs.sweep.sweep`:
- `local`: `LocalPool(2)`, two single-thread processes of this machine (the default of `ctslib book` here);
- `ray`: `RayExecutor` on a `ray.cluster_utils.Cluster` of two nodes of one CPU each, started once beforehand
  (its start is reported apart: `ray_start_seconds`);
- `slurm_local`: `SlurmExecutor(cluster="local", tasks=2)`, submitit's local executor running the job array as
  processes of this machine (a real SLURM adds its queueing on top).
Each contender first computes the sweep once untimed (`first_seconds`: for Ray, its worker processes start and import
torch then; for the others, each sweep starts its processes afresh), then the timed repeats, the order alternating.
Reported: seconds per contender (median over repeats), each executor's overhead per run against the local pool ((its
seconds - the pool's) / runs), and the mean top-1 (all must agree).
"""

from __future__ import annotations

import statistics
import tempfile
import time

import common
from ctslib.report.figures import FIGURES
from ctslib.runs.executors import LocalPool, RayExecutor, SlurmExecutor
from ctslib.runs.methods import METHODS
from ctslib.runs.store import RunStore
from ctslib.runs.sweep import sweep


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=8, help="how many of Fig. 2's smoke runs (default: 8; --tiny: 2)")
    args = p.parse_args()
    device = common.setup(args)
    runs = 2 if args.tiny else args.runs
    repeats = args.repeats or (1 if args.tiny else 3)
    configs = [c for c in FIGURES["fig2"].configs(scale="smoke") if not METHODS[c.method].chain][:runs]

    import ray
    from ray.cluster_utils import Cluster
    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                                "_system_config": {"worker_niceness": 0}})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    cluster.wait_for_nodes()
    ray_start = time.perf_counter() - start
    print(f"ray: a two-node cluster up in {ray_start:.1f} s", flush=True)

    names = ("local", "ray", "slurm_local")
    seconds: dict[str, list[float]] = {n: [] for n in names}
    top1: dict[str, list[float]] = {n: [] for n in names}
    first: dict[str, float] = {}
    try:
        for r in range(-1, repeats):  # r = -1: the untimed first sweep of each
            order = names if r % 2 == 0 else tuple(reversed(names))
            for name in order:
                with tempfile.TemporaryDirectory(prefix="ctslib-bench-") as root:
                    executor = {"local": LocalPool(2, threads=1), "ray": RayExecutor(),
                                "slurm_local": SlurmExecutor(folder=f"{root}/slurm", cluster="local", tasks=2,
                                                             poll_seconds=0.2)}[name]
                    t = time.perf_counter()
                    result = sweep(configs, RunStore(f"{root}/store"), executor=executor, say=lambda *a, **k: None)
                    took = time.perf_counter() - t
                if result.failed or result.computed != len(configs):
                    raise SystemExit(f"{name}: {len(result.failed)} runs failed: {[d.error for d in result.failed]}")
                if r < 0:
                    first[name] = took
                else:
                    seconds[name].append(took)
                    top1[name].append(statistics.mean(d.record["metrics"]["top1"] for d in result.done))
                print(f"{'first' if r < 0 else f'repeat {r}'}: {name:<11} {len(configs)} runs in {took:.1f} s",
                      flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()

    median = {n: statistics.median(v) for n, v in seconds.items()}
    rows = [{"executor": n, "first_seconds": first[n], "seconds": common.quantiles(seconds[n]), "runs": len(configs),
             "overhead_per_run_vs_local_s": (median[n] - median["local"]) / len(configs),
             "mean_top1": statistics.mean(top1[n])} for n in names]
    print(common.table([{"executor": r["executor"], "first s": f"{r['first_seconds']:.1f}",
                         "median s": f"{median[r['executor']]:.1f}",
                         "overhead / run (s)": f"{r['overhead_per_run_vs_local_s']:+.2f}",
                         "mean top-1": f"{r['mean_top1']:.4f}"} for r in rows],
                       ["executor", "first s", "median s", "overhead / run (s)", "mean top-1"]))
    common.write_json("executors", args, device, {"executors": rows, "ray_start_seconds": ray_start,
                                                  "workers_per_executor": 2})


if __name__ == "__main__":
    main()
