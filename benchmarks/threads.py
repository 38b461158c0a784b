"""Thread count and OpenMP wait policy: whole runs on an idle machine and beside one other CPU-bound process.

    PYTHONPATH=. python3 benchmarks/threads.py            # ~17 min on the 2-core machine
    PYTHONPATH=. python3 benchmarks/threads.py --tiny     # seconds (tests): smoke-scale runs, one repeat

Each contender is a fresh `python -m ctslib run ... --no-store` process (the whole command, import and data
loading included, as a user meets it), its wall time measured from outside:

| contender      | threads        | OMP_WAIT_POLICY |
|----------------|----------------|-----------------|
| `1 thread`     | 1              | PASSIVE (moot)  |
| `all, spin`    | one per core   | ACTIVE: torch's default behaviour, threads spin while they wait |
| `all, passive` | one per core   | PASSIVE: what `import ctslib` asks for (ctslib/threads.py)       |

under two conditions: `idle`, and `loaded` (one other process spinning on a core for the whole measurement:
`python -c "while True: pass"`). Contenders are interleaved, their order rotated every repeat, and each
condition's best contender is the yardstick: the table gives every contender's median and its ratio to that
best one. The jobs: the README's main job (LeNet-300-100, cpu preset) and a short ResNet-20 run (bigger ops).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import common
from ctslib.threads import usable_cores

MAIN_JOB = ["--model", "lenet300", "--dataset", "fashion_mnist", "--method", "cts", "--objective", "kl",
            "--density", "0.01"]
RESNET20_JOB = ["--model", "resnet20", "--dataset", "fashion_mnist", "--method", "cts", "--objective", "kl",
                "--density", "0.01", "--train-examples", "1280", "--test-examples", "1000", "--epochs", "2",
                "--milestones", "1", "--rewind-step", "5", "--search-epochs", "0.5"]
TINY_JOB = ["--preset", "smoke", "--model", "lenet300", "--method", "cts", "--density", "0.05"]


def contenders(cores: int) -> dict[str, dict[str, str]]:
    return {"1 thread": {"CTS_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
            "all, spin": {"CTS_THREADS": str(cores), "OMP_WAIT_POLICY": "ACTIVE"},
            "all, passive": {"CTS_THREADS": str(cores), "OMP_WAIT_POLICY": "PASSIVE"}}


def time_run(job: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one `python -m ctslib run JOB --no-store` in a fresh process with `env` on top."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ctslib", "run", *job, "--no-store"], check=True,
                   env={**os.environ, **env, "PYTHONPATH": str(common.HERE.parent)},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(job: list[str], envs: dict[str, dict[str, str]], repeats: int) -> dict[str, list[float]]:
    names = list(envs)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            samples[name].append(time_run(job, envs[name]))
    return samples


def main() -> None:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--jobs", default="main,resnet20", help="comma-separated: main, resnet20")
    args = p.parse_args()
    device = common.setup(args)
    cores = usable_cores()
    envs = contenders(cores)
    jobs = {"smoke lenet300": TINY_JOB} if args.tiny else \
        {name: {"main": MAIN_JOB, "resnet20": RESNET20_JOB}[name] for name in args.jobs.split(",")}
    conditions = ("idle", "loaded")
    if args.tiny:  # one quick run: the script works, the numbers mean nothing
        envs = {n: envs[n] for n in ("all, passive",)}
        conditions = ("idle",)
    repeats = args.repeats or (1 if args.tiny else 3)
    results, rows = {}, []
    for job_name, job in jobs.items():
        results[job_name] = {}
        for condition in conditions:
            load = None
            if condition == "loaded":
                load = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                samples = measure(job, envs, repeats if job is not RESNET20_JOB else max(1, repeats - 1))
            finally:
                if load is not None:
                    load.kill()
                    load.wait()
            medians = {n: statistics.median(v) for n, v in samples.items()}
            best = min(medians.values())
            results[job_name][condition] = {n: {"seconds": samples[n], "median": medians[n],
                                                "vs_best": medians[n] / best} for n in samples}
        for name in envs:
            idle = results[job_name]["idle"][name]
            loaded = results[job_name].get("loaded", {}).get(name, idle)
            rows.append({"job": job_name, "contender": name, "idle s": f"{idle['median']:.1f}",
                         "idle / best": f"{idle['vs_best']:.2f}", "loaded s": f"{loaded['median']:.1f}",
                         "loaded / best": f"{loaded['vs_best']:.2f}",
                         "worst / best": f"{max(idle['vs_best'], loaded['vs_best']):.2f}"})
        # written after every job, so a long measurement keeps what it has finished
        common.write_json("threads", args, device, {"cores": cores, "repeats": repeats, "contenders": envs,
                                                    "jobs": {n: " ".join(j) for n, j in jobs.items()},
                                                    "results": results, "rows": rows})
    print(common.table(rows, ["job", "contender", "idle s", "idle / best", "loaded s", "loaded / best",
                              "worst / best"]))


if __name__ == "__main__":
    main()
