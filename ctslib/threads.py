"""How many threads torch uses, chosen so that a run stays fast when something else shares the cores.

A small model (LeNet-300-100, a CPU-scale ResNet-20) runs many tiny ops, and torch's OpenMP threads meet at
a barrier after each one. By default libgomp's threads *spin* while they wait: when another process takes a
core, a spinning thread burns the time slice its descheduled partner needs, and every op waits for the
scheduler. With `OMP_WAIT_POLICY=PASSIVE` a waiting thread sleeps instead and gives its core back.

Measured on the 2-core development machine (`python benchmarks/threads.py`, results/threads.json): wall seconds
of the whole command, median of 3 (ResNet-20: of 2), idle and beside one other CPU-bound process, and each
contender's ratio to the best one in the same condition:

    job                    threads                       idle            loaded          worst / best
    main job (LeNet, cpu)  1                             27.6 s  1.28x   28.8 s  1.00x   1.28x
                           2, spinning (torch default)   22.7 s  1.05x   56.1 s  1.95x   1.95x
                           2, passive (ctslib)           21.5 s  1.00x   30.8 s  1.07x   1.07x
    short ResNet-20 run    1                             36.8 s  1.54x   36.6 s  1.00x   1.54x
                           2, spinning                   23.9 s  1.00x   51.9 s  1.42x   1.42x
                           2, passive                    27.5 s  1.15x   36.9 s  1.01x   1.15x

So `import ctslib` sets `OMP_WAIT_POLICY=PASSIVE` when torch has not been imported yet and the variable is
not set (the OpenMP runtime reads it once, when torch loads it), and `auto` threads are then one per usable
core. Where ctslib cannot choose the wait policy (torch imported first, or the variable set to something
else), `auto` is one thread: the only count that never waits for a descheduled partner.

`--threads N|auto` on the command line, else `$CTS_THREADS`, else `auto` (which keeps a count the user gave torch
in `$OMP_NUM_THREADS`); every run's record keeps the count and the wait policy (`environment.threads`, `environment.omp_wait_policy`).
"""

from __future__ import annotations

import os
import sys

THREADS_VARIABLE = "CTS_THREADS"
WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
AUTO = "auto"


def prefer_passive_waiting() -> None:
    """Ask the OpenMP runtime for passive waiting, if torch is not loaded yet and the user chose nothing
    (called by `import ctslib`, before anything imports torch)."""
    if "torch" not in sys.modules:
        os.environ.setdefault(WAIT_POLICY_VARIABLE, "PASSIVE")


def waits_passively() -> bool:
    """True if torch's OpenMP threads sleep while they wait (OMP_WAIT_POLICY=PASSIVE when torch was loaded)."""
    return os.environ.get(WAIT_POLICY_VARIABLE, "").strip().upper() == "PASSIVE"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_threads(value: str | int | None) -> int | str:
    """A thread request: a positive integer or 'auto' (None and '' mean 'auto'); anything else is a ValueError."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", AUTO)):
        return AUTO
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise ValueError(f"threads must be a positive integer or 'auto', got {value!r} "
                         f"(from --threads or ${THREADS_VARIABLE})")
    return count


def resolve_threads(requested: str | int | None = None) -> int:
    """The thread count for `requested` (None: $CTS_THREADS, else 'auto'). 'auto' is $OMP_NUM_THREADS if the user
    set it, else one per usable core (shared out among torchrun's processes on this machine) when the OpenMP
    runtime waits passively, else 1 (see the module docstring)."""
    if requested is None:
        requested = os.environ.get(THREADS_VARIABLE)
    choice = parse_threads(requested)
    if choice != AUTO:
        return int(choice)
    if os.environ.get("OMP_NUM_THREADS", "").strip().isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])  # the user's own count for torch (torchrun sets 1)
    if not waits_passively():
        return 1
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)  # torchrun: the cores are shared out
    return max(1, usable_cores() // max(1, local_processes))


def apply_threads(requested: str | int | None = None) -> int:
    """Set torch's intra-op thread count to `resolve_threads(requested)`; returns it."""
    import torch
    count = resolve_threads(requested)
    torch.set_num_threads(count)
    return count
