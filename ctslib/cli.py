"""Command line: draw and train tickets, sweep grids of runs, look into the run store.

    ctslib run --preset cpu --method cts --objective kl --density 0.01      # one run (cached in the store)
    ctslib sweep --preset cpu --methods cts ltr random --shard 0/4           # worker 0 of 4 of a grid
    ctslib book --scale cpu                                                  # every run of the book's figures
    ctslib list                                                              # what the store holds
    ctslib show 3fa9c2                                                       # one run's record
    ctslib results check                                                     # committed records still valid?
    torchrun --nproc_per_node=4 -m ctslib run --preset paper --model resnet20 --density 0.01

Runs go through the run store (`--store PATH`, default $CTS_STORE or ~/.cache/ctslib/runs): a finished
run is not computed again, an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Sequence

from .runs import runtime
from .runs.config import RunConfig, field_help
from .runs.pipeline import check_runnable, execute
from .objectives import OBJECTIVES
from .runs.methods import METHODS, run_title
from .runs.presets import PRESETS, base_config, grid, resolve_scale
from .runs.store import RunStore
from .runs.sweep import SweepResult, compute_order, default_workers, parse_shard, parse_workers, select_shard, sweep
from .threads import apply_threads, resolve_threads

# Config fields set by dedicated sweep options rather than the per-field flags.
_SWEEP_FIELDS = ("method", "density", "seed", "objective")


class _Parser(argparse.ArgumentParser):
    """Errors as one line naming the problem and where to look, exit code 2, no usage dump or traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class UsageError(Exception):
    """Bad input found after parsing (unknown preset, bad density, unknown run id, ...): exit code 2."""


def _valid(make, *args, **kwargs):
    """`make(*args, **kwargs)`, its ValueError (a bad value, with the fix) turned into a UsageError."""
    try:
        return make(*args, **kwargs)
    except ValueError as err:
        raise UsageError(str(err)) from None


def _bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _one_of(what: str, choices: Sequence[str]):
    """An argparse type accepting one of `choices`, else saying 'unknown <what> ...; choose one of: ...' (the words
    of ctslib's own errors; argparse's `choices=` would say it differently)."""
    def check(text: str) -> str:
        if text not in choices:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; choose one of: "
                                             f"{', '.join(repr(c) if c == '' else c for c in choices)}")
        return text
    check.__name__ = what  # (argparse names the type in some messages)
    return check


def _add_config_arguments(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """One flag per RunConfig field, with its help, its choices where it has them, and its default: the preset's
    value (--preset, for --model), which `ctslib run --json` shows for a given run."""
    group = parser.add_argument_group("run config (each flag overrides the preset's value; `ctslib run --json` "
                                      "shows a run's whole config)")
    helps = field_help()
    for f in fields(RunConfig):
        if f.name in skip:
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        text, choices = helps[f.name]
        shown = (" ".join(map(str, default)) if isinstance(default, tuple) else f"{default:g}"
                 if isinstance(default, float) else repr(default))
        text += f" (default: the preset's; RunConfig's own {shown})"
        if choices:
            text += ": " + " | ".join(repr(c) if c == "" else c for c in choices)
        if isinstance(default, bool):
            group.add_argument(flag, type=_bool, default=None, metavar="BOOL", help=text)
        elif isinstance(default, tuple):
            group.add_argument(flag, type=int, nargs="+", default=None, metavar="EPOCH", help=text)
        elif choices:
            group.add_argument(flag, type=_one_of(f.name.replace("_", " "), choices), default=None,
                               metavar=f.name.upper(), help=text)
        else:
            group.add_argument(flag, type=type(default), default=None, metavar=type(default).__name__.upper(),
                               help=text)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=argparse.SUPPRESS, metavar="PATH",
                        help="run store folder (default: $CTS_STORE, else ~/.cache/ctslib/runs)")
    parser.add_argument("--rehearse", action="store_true", default=argparse.SUPPRESS,
                        help="rehearse the paper preset: every choice of it but its sizes (seconds-long runs, one "
                             "density, one seed; $CTS_REHEARSE=1; see ctslib/runs/rehearsal.py)")


def _add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", default=None, metavar="N|auto",
                        help="torch threads of this process: a positive integer or 'auto' (default: $CTS_THREADS, "
                             "else auto = one per core when torch's threads wait passively, as ctslib arranges, "
                             "else 1; see ctslib/threads.py)")


def _add_search_like(parser: argparse.ArgumentParser) -> None:
    from .runs.authors_code import BUNDLES
    parser.add_argument("--search-like", nargs="+", default=(), metavar="BUNDLE", type=_one_of("bundle", BUNDLES),
                        help="set every choice of a bundle as the CTS authors' code makes it (after the other flags): "
                             "authors_code (the search side), authors_training (gradient clipping, ResNet-20's 3x3 "
                             "shortcut); ctslib/runs/authors_code.py lists each choice with its file:line")


def _with_bundles(configs, names: Sequence[str]):
    from .runs.authors_code import search_like
    return [search_like(c, *names) for c in configs] if names else list(configs)


def _add_executor(parser: argparse.ArgumentParser) -> None:
    from .runs.executors import EXECUTORS
    group = parser.add_argument_group("where the runs are computed (ctslib/runs/executors.py; the store must be on a "
                                      "file system every node sees)")
    group.add_argument("--executor", default="local", type=_one_of("executor", EXECUTORS), metavar="NAME",
                       help="local (--workers processes of this machine, the default) | ray (a Ray cluster: pip "
                            "install 'ctslib[ray]') | slurm (one SLURM job array through submitit: pip install "
                            "'ctslib[slurm]')")
    group.add_argument("--address", default=None, metavar="ADDR",
                       help="--executor ray: the cluster's address ('auto': the cluster this machine is part of; "
                            "default: a local cluster)")
    group.add_argument("--slurm-partition", default=None, metavar="NAME", help="--executor slurm: the partition")
    group.add_argument("--slurm-time", type=int, default=24 * 60, metavar="MINUTES",
                       help="--executor slurm: each array task's time limit (default 1440)")
    group.add_argument("--slurm-gpus", type=int, default=0, metavar="N", help="--executor slurm: GPUs per task")
    group.add_argument("--slurm-cpus", type=int, default=1, metavar="N", help="--executor slurm: CPUs per task")
    group.add_argument("--slurm-tasks", type=int, default=None, metavar="N",
                       help="--executor slurm: array tasks, each a shard of the runs as --shard i/N (default: one "
                            "per work group)")
    group.add_argument("--slurm-folder", default="slurm-logs", metavar="PATH",
                       help="--executor slurm: submitit's folder for the tasks' logs (default slurm-logs)")
    group.add_argument("--slurm-local", action="store_true",
                       help="--executor slurm: run the job array as processes of this machine (submitit's local "
                            "executor) instead of submitting it")


def _executor(args: argparse.Namespace):
    """The executor the options ask for (None: the local pool of --workers)."""
    from .runs.executors import make_executor
    if getattr(args, "executor", "local") == "local":
        return None
    slurm = dict(folder=args.slurm_folder, partition=args.slurm_partition, timeout_min=args.slurm_time,
                 gpus=args.slurm_gpus, cpus=args.slurm_cpus, tasks=args.slurm_tasks,
                 cluster="local" if args.slurm_local else None)
    threads = resolve_threads(args.threads) if args.threads not in (None, "auto") else None
    return make_executor(args.executor, address=args.address, threads=threads, slurm=slurm)


def _add_preset(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default=None, metavar="SCALE", type=_one_of("preset", PRESETS),
                        help="scale preset: smoke | cpu | paper (default: $CTS_SCALE, else cpu)")
    parser.add_argument("--quick", action="store_true", help="Quick CTS: search for 1/8 of the training epochs")


def _overrides(args: argparse.Namespace, skip: Sequence[str] = ()) -> dict[str, Any]:
    return {f.name: getattr(args, f.name) for f in fields(RunConfig)
            if f.name not in skip and getattr(args, f.name, None) is not None}


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The config of `ctslib run`: the preset's for the model, with every given flag on top."""
    overrides = _overrides(args)
    model = overrides.pop("model", "lenet300")
    dataset = overrides.pop("dataset", None)
    config = base_config(args.preset, model, dataset, quick=args.quick, **overrides)
    return _with_bundles([config], getattr(args, "search_like", ()))[0]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ctslib", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_common(parser)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    run = sub.add_parser("run", help="draw one ticket, train it, print its test accuracy and the time taken",
                         description="Draw one ticket, train it and print its test accuracy and the time "
                                     "taken. The config is the preset's for --model, with every flag on top.")
    _add_common(run)
    _add_preset(run)
    run.add_argument("--no-store", action="store_true", help="compute without reading or writing the store")
    run.add_argument("--recompute", action="store_true", help="remove the stored run first and compute it again")
    run.add_argument("--json", action="store_true", help="print the run's record as JSON instead of the summary")
    _add_threads(run)
    _add_search_like(run)
    _add_config_arguments(run)

    sweep = sub.add_parser("sweep", help="compute a grid of runs (methods x objectives x densities x seeds)",
                           description="Compute every run of a grid that the store does not hold yet. With "
                                       "--shard I/N, only worker I's part (disjoint, deterministic by run id; "
                                       "an LTR chain stays on one worker), so N processes share a sweep.")
    _add_common(sweep)
    _add_preset(sweep)
    sweep.add_argument("--methods", nargs="+", default=["cts"], metavar="METHOD", type=_one_of("method", METHODS),
                       help=f"how tickets are drawn (default: cts): {' | '.join(METHODS)}")
    sweep.add_argument("--objectives", nargs="+", default=["kl"], metavar="OBJECTIVE",
                       type=_one_of("objective", OBJECTIVES),
                       help=f"objectives of cts and saliency (default: kl): {' | '.join(OBJECTIVES)}")
    sweep.add_argument("--densities", nargs="+", type=float, default=None, metavar="DENSITY",
                       help="fractions of prunable weights kept, each in (0, 1] (default: the preset's densities "
                            "for the model)")
    sweep.add_argument("--seeds", nargs="+", type=int, default=None, metavar="SEED",
                       help="default: the preset's seeds")
    sweep.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                       help="compute only worker I's part of N (0-based)")
    sweep.add_argument("--workers", type=parse_workers, default=1, metavar="N",
                       help="local processes computing runs side by side, one torch thread each; 'auto' = one per "
                            "core on a CPU-only machine, 1 with a GPU (default: 1, this process)")
    sweep.add_argument("--dry-run", action="store_true", help="list the runs of this worker, compute nothing")
    _add_threads(sweep)
    _add_executor(sweep)
    _add_search_like(sweep)
    _add_config_arguments(sweep, skip=_SWEEP_FIELDS)

    book = sub.add_parser("book", help="compute every run of the reproduction book's figures (with progress bars)",
                          description="Compute (or read) every run the book's figures need at one scale, then the "
                                      "objective values of Figs. 1, 7 and 8; `jupyter-book build book` then only "
                                      "reads the store. scripts/build_book.sh runs this first.")
    _add_common(book)
    book.add_argument("--scale", default=None, metavar="SCALE",
                      help="smoke | cpu | paper (default: $CTS_SCALE, else cpu)")
    book.add_argument("--figures", default=None, type=lambda t: [x.strip() for x in t.split(",") if x.strip()],
                      metavar="LIST", help="comma-separated figures, e.g. fig2,table2 (default: all)")
    book.add_argument("--model", default=None, help="run every chosen figure on this model (default: each figure's)")
    book.add_argument("--dataset", default=None, help="with --model: its dataset")
    book.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                      help="compute only worker I's part of N (0-based); N workers share one store")
    book.add_argument("--workers", type=parse_workers, default=None, metavar="N",
                      help="local processes computing runs side by side, one torch thread each (default: auto = one "
                           "per core on a CPU-only machine, 1 with a GPU or under torchrun)")
    book.add_argument("--dry-run", action="store_true", help="list the runs per figure, compute nothing")
    book.add_argument("--plan", action="store_true",
                      help="per figure: its runs, how many the store holds, and the estimated compute of the rest "
                           "(at paper scale in GPU-hours on the paper's 4 GPUs, calibrated on its Table II); "
                           "compute nothing")
    _add_threads(book)
    _add_executor(book)

    lst = sub.add_parser("list", help="the runs in the store, as a table",
                         description="The runs in the store: finished ones with their accuracy, and runs "
                                     "being computed or stopped part-way.")
    _add_common(lst)
    lst.add_argument("--all", action="store_true", help="also list unfinished run folders")

    show = sub.add_parser("show", help="one run's record", description="One run's record (run id or a prefix).")
    _add_common(show)
    show.add_argument("run_id", metavar="RUN_ID")
    show.add_argument("--json", action="store_true", help="the whole record as JSON (default: a readable summary)")
    results = sub.add_parser("results", help="the committed run records (results/): save, check, verify",
                             description="Run records committed with the repository (ctslib/runs/archive.py), which "
                                         "every run store reads instead of computing those runs. `save` copies a "
                                         "figure's finished runs that no other figure needs from the store into an "
                                         "archive folder; `check` "
                                         "lists archived records that no longer match this ctslib's run ids; "
                                         "`verify` recomputes a random sample from scratch and compares.")
    export = sub.add_parser("export", help="a stored run's ticket as a safetensors file, or its network as a "
                                           "state dict (torch.nn.utils.prune masks, or plain zeros)",
                            description="Write a stored run's ticket (--format safetensors: bit-packed masks and "
                                        "metadata, no pickle) or its network with the ticket applied, at the rewind "
                                        "point or --trained (retrained as the run did: the store keeps no trained "
                                        "weights): --format prune (weight_orig / weight_mask, as torch.nn.utils."
                                        "prune keeps them) or state-dict (plain parameters, pruned weights zero).")
    _add_common(export)
    export.add_argument("run_id", metavar="RUN_ID", help="a run id or a prefix (`ctslib list`)")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="safetensors",
                        help="safetensors (the ticket) | prune | state-dict (the network) (default: safetensors)")
    export.add_argument("--trained", action="store_true", help="prune / state-dict: the trained network, not the "
                                                                "one at the rewind point")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write")

    _add_common(results)
    results.add_argument("action", choices=("save", "check", "verify"))
    results.add_argument("--archive", default=None, metavar="DIR",
                         help="archive folder (save: default the figures' folder, e.g. results/resnet20-fmnist "
                              "for resnet20 and fig5, else results/<scale>; check, verify: default every folder "
                              "the stores read, $CTS_RESULTS or results/*)")
    results.add_argument("--scale", default=None, metavar="SCALE", help="save: the figures' scale (default: cpu)")
    results.add_argument("--figures", default=None, type=lambda t: [x.strip() for x in t.split(",") if x.strip()],
                         metavar="LIST", help="save: comma-separated figures whose runs to archive, e.g. fig5")
    results.add_argument("--model", default=None, help="save: the figures' model (default: each figure's)")
    results.add_argument("--sample", type=int, default=1, metavar="N",
                         help="verify: how many archived runs to recompute (default: 1)")
    results.add_argument("--seed", type=int, default=None, help="verify: the sample's seed (default: random)")

    rehearse = sub.add_parser("rehearse", help="rehearse the paper scale on this machine: every paper-preset path "
                                               "in seconds-long runs on fake data (~3 min on CPU)",
                              description="Write CIFAR-10 and ImageNet in their real formats (random pixels), then "
                                          "compute, at the paper preset's rehearsal sizes, every run of Table II "
                                          "and Figs. 2 and 4 for ResNet-20 and VGG-16 and CTS_KL and LTR for "
                                          "ResNet-50 under torchrun, and check each record (ctslib/runs/"
                                          "rehearsal.py says what this guarantees and what not).")
    _add_common(rehearse)
    rehearse.add_argument("--data", default=None, metavar="DIR",
                          help="where to write the fake CIFAR-10 and ImageNet (default: a new temporary folder)")
    rehearse.add_argument("--ddp", type=int, default=2, metavar="N",
                          help="ResNet-50's processes under torchrun (gloo on CPU; 0: skip ResNet-50)")
    rehearse.add_argument("--workers", type=parse_workers, default=None, metavar="N",
                          help="local processes for the CIFAR-10 runs (default: auto)")
    _add_threads(rehearse)
    return parser


def _store(args: argparse.Namespace) -> RunStore:
    return RunStore(getattr(args, "store", None))


def _progress() -> bool:
    return sys.stderr.isatty()


def summary_lines(record: dict) -> list[str]:
    """The three lines `ctslib run` prints: what, accuracy, time."""
    config = RunConfig.from_dict(record["config"])
    m, t = record["metrics"], record["seconds"]
    return [f"{config.label} {config.model} on {config.dataset}, density {m['density']:.4%} "
            f"({m['num_kept']}/{m['num_total']} weights)",
            f"test accuracy: top-1 {m['top1']:.2%}, top-5 {m['top5']:.2%}",
            f"time: {t['total']:.1f} s (rewind {t['rewind']:.1f} s, draw {t['draw']:.1f} s, train {t['train']:.1f} s)"]


def cmd_run(args: argparse.Namespace) -> int:
    config = _valid(config_from_args, args)
    _valid(check_runnable, config)
    _valid(apply_threads, args.threads)
    if runtime.launched():
        runtime.init()
    main = runtime.is_main()  # (after shutdown every process would look like the main one)
    try:
        if args.no_store:
            record, where = execute(config, progress=_progress()).record(), "not stored"
        else:
            store = RunStore(getattr(args, "store", None), archives=[]) if args.recompute else _store(args)
            if args.recompute and runtime.is_main():
                store.remove(config)
            runtime.barrier()
            record, source = store.fetch(config, progress=_progress())
            where = {"store": "from", "archive": "copied from the committed results into", "computed": "saved in",
                     "other process": "computed by another process, read from"}[source] + f" {store.folder(config)}"
    finally:
        if runtime.launched():
            runtime.shutdown()
    if main:
        if args.json:
            print(json.dumps(record, indent=1))
        else:
            print("\n".join(summary_lines(record)))
            print(f"run {config.run_id} ({where})")
    return 0


def sweep_configs(args: argparse.Namespace) -> list[RunConfig]:
    overrides = _overrides(args, skip=_SWEEP_FIELDS)
    model = overrides.pop("model", "lenet300")
    dataset = overrides.pop("dataset", None)
    configs = grid(args.preset, model, methods=args.methods, objectives=args.objectives, densities=args.densities,
                   seeds=args.seeds, dataset=dataset, quick=args.quick, **overrides)
    return _with_bundles(configs, args.search_like)


def _sharded(configs: list[RunConfig], shard: tuple[int, int] | None) -> list[RunConfig]:
    return compute_order(select_shard(configs, *shard) if shard is not None else configs)


def _run_sweep(configs: list[RunConfig], args: argparse.Namespace, store: RunStore, desc: str) -> SweepResult:
    """The one sweep loop (`runs.sweep.sweep`) under torchrun or not, with the summary at the end."""
    if runtime.launched():  # under torchrun: every run on all ranks, one after the other
        runtime.init()
    say = print if runtime.is_main() else (lambda *a, **k: None)
    workers = 1 if runtime.launched() else (args.workers if args.workers is not None else default_workers())
    executor = _valid(_executor, args)
    if executor is not None:
        say(f"executor: {executor.name}")
    try:
        result = sweep(configs, store, workers=workers, threads=args.threads, progress=_progress(), desc=desc,
                       say=say, executor=executor)
    finally:
        if runtime.launched():
            runtime.shutdown()
    say(f"done: {len(result.done)} runs ({result.computed} computed, {len(result.done) - result.computed} from the "
        f"store) in {result.seconds:.0f} s{f' on {workers} workers' if workers > 1 else ''}, "
        f"{len(result.failed)} failed")
    for done in result.failed:
        say(f"FAILED {done.config.run_id} {done.config.label} density {done.config.density:.6g} seed "
            f"{done.config.seed}: {done.error}", file=sys.stderr)
    return result


def cmd_sweep(args: argparse.Namespace) -> int:
    configs = _valid(sweep_configs, args)
    for config in configs:
        _valid(check_runnable, config)
    _valid(resolve_threads, args.threads)  # a bad value fails now
    total = len(configs)
    configs = _sharded(configs, args.shard)
    part = f"shard {args.shard[0]}/{args.shard[1]}: " if args.shard else ""
    store = _store(args)
    if args.dry_run:
        print(f"{part}{len(configs)} of {total} runs")
        for c in configs:
            print(f"{c.run_id}  {c.label:<16} {c.model:<9} density {c.density:<10.6g} seed {c.seed}")
        return 0
    print(f"{part}{len(configs)} of {total} runs, store {store.root}", flush=True)
    result = _run_sweep(configs, args, store, desc="sweep")
    return 1 if result.failed else 0


def cmd_book(args: argparse.Namespace) -> int:
    """Every run of the book's figures at one scale, then the objective values of Figs. 1, 7 and 8."""
    # The report layer (pandas, matplotlib) is imported only by this command: `ctslib run` stays light.
    from .report import figures as book
    scale = _valid(resolve_scale, args.scale)
    names = args.figures or [n for n, f in book.FIGURES.items() if scale in f.scales]
    unknown = [n for n in names if n not in book.FIGURES]
    if unknown:
        raise UsageError(f"unknown figure(s) {', '.join(unknown)}; choose from: {', '.join(book.FIGURES)}")
    _valid(resolve_threads, args.threads)
    overrides = {k: v for k, v in (("model", args.model), ("dataset", args.dataset)) if v}
    settings = {n: _valid(book.FIGURES[n].setting, scale=scale, **overrides) for n in names}
    per_figure = {n: book.FIGURES[n].configs(s) for n, s in settings.items()}
    store = _store(args)
    if not args.figures:  # committed-only figures (hours of compute) are read, not computed, unless named
        committed = [n for n, s in settings.items() if book.FIGURES[n].committed_only(s)]
        needed = {c.run_id for n, cs in per_figure.items() if n not in committed for c in cs}
        absent = {c.run_id: c for n in committed for c in per_figure[n] if c.run_id not in needed and not store.has(c)}
        if absent:
            folders = sorted({book.FIGURES[n].committed[scale] for n in committed})
            print(f"note: {len(absent)} runs of {', '.join(committed)} are not committed yet (results/"
                  f"{', results/'.join(folders)}); a book build does not compute them (hours): `ctslib book --figures "
                  f"{','.join(committed)}` or {' / '.join(f'`{book.REPRODUCE[f]}`' for f in folders)} does. Their "
                  f"pages show the runs committed.", file=sys.stderr)
            per_figure = {n: [c for c in cs if c.run_id not in absent] for n, cs in per_figure.items()}
    everything = compute_order([c for cs in per_figure.values() for c in cs])
    configs = _sharded(everything, args.shard)
    for archive in store.archives:  # committed records a change to ctslib has made stale are recomputed: say so
        stale = archive.stale()
        if stale:
            print(f"note: {len(stale)} committed records in {archive.root} no longer match this ctslib's run ids "
                  f"(`ctslib results check` names them); those runs are computed", file=sys.stderr)
    if args.plan:
        print(plan(per_figure, store, scale, book.FIGURES))
        return 0
    if args.dry_run:
        for n, cs in per_figure.items():
            new = sum(1 for c in cs if not store.has(c))
            print(f"{n:<7} {len(cs):>4} runs ({new} not in the store)  {book.FIGURES[n].title}")
        print(f"{len(configs)} of {len(everything)} runs for this worker; store {store.root}")
        return 0
    print(f"ctslib book: {len(configs)} runs at scale {scale!r} for {', '.join(names)}"
          f"{f' (shard {args.shard[0]}/{args.shard[1]} of {len(everything)})' if args.shard else ''}; "
          f"store {store.root}", flush=True)
    result = _run_sweep(configs, args, store, desc=f"runs ({scale})")
    if result.failed:
        return 1
    if result.main:  # the objective values of Figs. 1, 7, 8 (cached beside the store), by rank 0 alone
        mine = {c.run_id for c in configs}
        for n, setting in settings.items():
            fig = book.FIGURES[n]
            if fig.frame == "objectives" and all(c.run_id in mine for c in per_figure[n]):
                fig.data(setting, store, progress=_progress())
    return 0


def plan(per_figure: dict[str, list[RunConfig]], store: RunStore, scale: str, figures) -> str:
    """The bill before computing: per figure, its runs, how many the store holds, and the estimated compute of the
    rest (`eta`: at paper scale on the paper's 4 GPUs, calibrated on its Table II; else on one core of the
    development machine); shared work (an LTR chain, a rewind point) is charged once, to the first figure that
    needs it."""
    from .runs.eta import PAPER_GPUS, duration, estimates
    gpu = scale == "paper"
    lines = [f"{'figure':<17} {'runs':>5} {'stored':>7} {'to compute':>11} {'estimate':>16}"]
    seen: set[str] = set()
    total = 0.0
    for name, configs in per_figure.items():
        todo = [c for c in configs if not store.has(c) and c.run_id not in seen]
        seen.update(c.run_id for c in configs)
        seconds = sum(estimates(todo, gpu=gpu).values())
        total += seconds
        cost = f"{seconds * PAPER_GPUS / 3600:.1f} GPU-h" if gpu else duration(seconds) + " cpu"
        lines.append(f"{name:<17} {len(configs):>5} {len(configs) - sum(not store.has(c) for c in configs):>7} "
                     f"{len(todo):>11} {cost:>16}")
    if gpu:
        lines.append(f"in all: {total * PAPER_GPUS / 3600:.1f} GPU-hours, {duration(total)} on {PAPER_GPUS} GPUs under "
                     f"DDP (the paper's hardware; a step costs what its Table II times imply: ResNet-20 1.7 s an "
                     f"epoch, CTS_KL's search 1.74x that; VGG-16 and ResNet-50 scaled by their multiply-adds)")
    else:
        lines.append(f"in all: {duration(total)} on one core of the 2-core development machine "
                     f"(`ctslib.runs.eta`; a cluster divides it by its workers)")
    return "\n".join(lines)


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd  # the table printer (pandas is a requirement; imported here only to keep start-up fast)
    store = _store(args)
    runs = store.runs()
    rows = []
    for run in runs:
        if run["status"] != "finished" and not args.all:
            continue
        row = {"run_id": run["run_id"], "status": run["status"]}
        record = run.get("record")
        if record is not None:
            c, m = record["config"], record["metrics"]
            row.update(label=record.get("label"), model=c["model"], dataset=c["dataset"], density=f"{c['density']:.4g}",
                       seed=str(c["seed"]), top1=f"{m['top1']:.2%}", seconds=f"{record['seconds']['total']:.1f}",
                       finished=record.get("finished", ""))
        elif run.get("progress"):
            p = run["progress"]
            row.update(label=f"{p.get('phase')} epoch {p.get('epoch')}", finished=p.get("updated", ""))
        rows.append(row)
    unfinished = sum(1 for r in runs if r["status"] != "finished")
    if not rows:
        print(f"no finished runs in {store.root}" + (f" ({unfinished} unfinished: --all)" if unfinished else ""))
        return 0
    print(pd.DataFrame(rows).fillna("").to_string(index=False))
    note = f", {unfinished} unfinished (--all)" if unfinished and not args.all else ""
    print(f"{sum(1 for r in runs if r['status'] == 'finished')} finished runs in {store.root}{note}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    store = _store(args)
    record = _valid(store.record, args.run_id)
    if args.json:
        print(json.dumps(record, indent=1))
        return 0
    print("\n".join(summary_lines(record)))
    print(f"run {record['run_id']}  finished {record.get('finished')}  ({store.folder(record['run_id'])})")
    print("config:")
    for key, value in record["config"].items():
        print(f"  {key:<20} {value}")
    print("metrics: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                  for k, v in record["metrics"].items()))
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in record["seconds"].items()))
    print("epochs:  " + ", ".join(f"{k} {v:.3g}" for k, v in record["epochs"].items()))
    if record.get("layers"):
        print("layers (density, size):")
        for name, layer in record["layers"].items():
            print(f"  {name:<28} {layer['density']:8.4%} {layer['size']:>10}")
    if record.get("trace"):
        trace = record["trace"]
        print(f"objective trace: {len(trace.get('step', []))} points (--json for all), "
              f"last objective {trace['objective'][-1]:.4g}" if trace.get("objective") else "")
    extra = {k: v for k, v in record.get("info", {}).items()}
    if extra:
        print("info: " + json.dumps(extra)[:500])
    return 0


def _archives(args: argparse.Namespace) -> list:
    from .runs.archive import Archive, default_archives
    return [Archive(args.archive)] if args.archive else default_archives()


def cmd_results(args: argparse.Namespace) -> int:
    from .runs.archive import IN_CHECKOUT, RESULTS_DIR, Archive
    from .runs.recheck import sample, verify
    if args.action == "save":
        from .report import figures as book
        if not args.figures:
            raise UsageError("results save needs --figures, e.g. --figures fig5")
        scale = _valid(resolve_scale, args.scale)
        unknown = [n for n in args.figures if n not in book.FIGURES]
        if unknown:
            raise UsageError(f"unknown figure(s) {', '.join(unknown)}; choose from: {', '.join(book.FIGURES)}")
        folders = {book.FIGURES[n].committed.get(scale, scale) for n in args.figures}
        if not args.archive and len(folders) > 1:
            raise UsageError(f"figures {', '.join(args.figures)} are committed in different folders "
                             f"({', '.join(sorted(folders))}); save them one folder at a time, or give --archive")
        if not args.archive and not IN_CHECKOUT:
            raise UsageError("results save writes into a checkout's results/ folder; this ctslib is installed, not "
                             "run from a checkout: give --archive DIR")
        archive = Archive(args.archive or RESULTS_DIR / folders.pop())
        store = RunStore(getattr(args, "store", None), archives=[])
        model = {"model": args.model} if args.model else {}
        configs = compute_order([c for n in args.figures for c in book.FIGURES[n].configs(scale=scale, **model)])
        # a run another figure of a book build needs too stays with the runs that build computes (each figure at
        # its default setting; committed-only figures are not computed by a build)
        others = {c.run_id for n, f in book.FIGURES.items() if n not in args.figures and scale in f.scales
                  and not f.committed_only(f.setting(scale=scale)) for c in f.configs(scale=scale)}
        configs = [c for c in configs if c.run_id not in others]
        saved = missing = 0
        for config in configs:
            if store.has(config):
                archive.add(store.get(config, compute=False), store.ticket(config, compute=False))
                saved += 1
            else:
                missing += 1
        print(f"archived {saved} runs in {archive.root}" +
              (f"; {missing} not finished in the store {store.root} (compute them first: ctslib book --figures "
               f"{','.join(args.figures)} --scale {scale})" if missing else ""))
        return 1 if missing else 0
    archives = _archives(args)
    if args.action == "check":
        bad = [(a, run_id, why) for a in archives for run_id, why in a.stale()]
        total = sum(len(a.run_ids()) for a in archives)
        for a, run_id, why in bad:
            print(f"{a.root / run_id}.json: {why}", file=sys.stderr)
        if bad:
            print(f"{len(bad)} of {total} archived records no longer stand for their run under this ctslib; "
                  f"recompute them (e.g. make reproduce-results) or remove them", file=sys.stderr)
            return 1
        print(f"{total} archived records in {', '.join(str(a.root) for a in archives) or 'no archive'}: all match "
              f"this ctslib's run ids")
        return 0
    import tempfile
    if args.sample < 1:
        raise UsageError(f"--sample must be a positive number of runs, got {args.sample}")
    picks = sample(archives, args.sample, args.seed)
    if not picks:
        raise UsageError("no archived runs to verify (see `ctslib results check`)")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ctslib-verify-") as work:
        for archive, config in picks:
            print(f"recomputing {config.run_id} {run_title(config)} from {archive.root} ...", flush=True)
            r = verify(archive, config, work)
            failed += not r["ok"]
            print(f"  {'OK' if r['ok'] else 'MISMATCH'}: top-1 archived {r['top1_archived']:.2%}, recomputed "
                  f"{r['top1_recomputed']:.2%}; ticket {'identical' if r['same_ticket'] else 'differs'} "
                  f"({r['seconds']:.0f} s on {r['threads']} thread{'s' if r['threads'] > 1 else ''})", flush=True)
    print(f"{len(picks) - failed} of {len(picks)} archived runs reproduced")
    return 1 if failed else 0


EXPORT_FORMATS = ("safetensors", "prune", "state-dict")


def cmd_export(args: argparse.Namespace) -> int:
    """A stored run's ticket as a portable file, or its network as a state dict (at the rewind point, or trained)."""
    import torch
    from .runs.pipeline import rewound_model
    from .tickets import save_safetensors
    store = _store(args)
    run_id = _valid(store.find, args.run_id)
    record = _valid(store.record, run_id)
    config = RunConfig.from_dict(record["config"])
    ticket = store.ticket(config, compute=False)
    meta = {"run_id": run_id, "model": config.model, "dataset": config.dataset, "method": config.method,
            "label": config.label, "seed": config.seed, "rewind_step": config.rewind_step,
            "top1": record["metrics"]["top1"]}
    out = args.output
    if args.format == "safetensors":
        if args.trained:
            raise UsageError("--trained exports a network: use --format prune or state-dict")
        save_safetensors(ticket, out, meta)
        print(f"wrote {out}: the ticket of run {run_id} ({config.label}, density {ticket.density:.4%}) as safetensors "
              f"(bit-packed masks, metadata {', '.join(meta)}); load it with ctslib.tickets.Ticket.load")
        return 0
    if args.trained:
        print(f"retraining run {run_id} ({config.label}) from its rewind point, as the run did ...", flush=True)
        result = execute(config, keep_model=True)
        model, what = result.model, f"trained (top-1 {result.metrics['top1']:.2%}; the record: {meta['top1']:.2%})"
    else:
        model = rewound_model(config, "cpu")
        shared = store.load_rewind(config)  # the run's own theta_k, where the store keeps it
        if shared is not None:
            model.load_state_dict(shared["state"])
        what = f"at its rewind point k = {config.rewind_step}"
    if args.format == "prune":
        ticket.apply(model)
        note = "weight_orig / weight_mask as torch.nn.utils.prune keeps them (load into the model after " \
               "prune.custom_from_mask, or Ticket.from_module reads the masks back)"
    else:
        ticket.apply_(model)
        note = "plain parameters, the pruned weights zero"
    torch.save(model.state_dict(), out)
    print(f"wrote {out}: the {config.model} network of run {run_id} ({config.label}, density {ticket.density:.4%}) "
          f"{what}; {note}")
    return 0


def cmd_rehearse(args: argparse.Namespace) -> int:
    """The dress rehearsal of the paper scale (`runs.rehearsal`): fake data in the real formats, every run of Table II
    and Figs. 2 and 4 for ResNet-20 and VGG-16, CTS_KL and LTR for ResNet-50 under DDP, each record checked."""
    import tempfile
    from .runs import rehearsal
    from .runs.presets import REHEARSAL_VARIABLE
    os.environ[REHEARSAL_VARIABLE] = "1"
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="ctslib-rehearsal-data-"))
    rehearsal.write_fake_data(data)
    os.environ["CTS_DATA"] = str(data)
    store = _store(args)
    print(f"rehearsal: fake CIFAR-10 and ImageNet in {data}; store {store.root}", flush=True)
    from .report.figures import rehearsal_configs
    configs = rehearsal_configs()
    result = _run_sweep(configs, args, store, desc="rehearsal")
    if args.ddp:
        print(f"rehearsal: ResNet-50 on ImageNet, {args.ddp} processes under torchrun", flush=True)
        _valid(rehearsal.run_resnet50_ddp, store.root, args.ddp)
        configs += rehearsal.resnet50_configs()
    problems = [f"{c.run_id} {run_title(c)}: {'no record' if not store.has(c) else why}" for c in configs
                if not store.has(c) or (why := rehearsal.check_record(c, store.get(c, compute=False)))]
    if result.failed or problems:
        print("rehearsal failed:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    print(f"rehearsal passed: {len(configs)} runs, each finished with its record and exactly round(kappa d) weights; "
          f"the paper's pages from them: CTS_REHEARSE=1 CTS_DATA={data} CTS_STORE={store.root} CTS_SCALE=paper "
          f"jupyter-book build book (or papermill notebooks/fig2.ipynb out.ipynb -p scale paper)")
    return 0


COMMANDS = {"run": cmd_run, "sweep": cmd_sweep, "book": cmd_book, "list": cmd_list, "show": cmd_show,
            "results": cmd_results, "export": cmd_export, "rehearse": cmd_rehearse}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # a bad flag or value (said on one line, `_Parser.error`), or --help: its exit code
        return int(stop.code or 0)
    if getattr(args, "rehearse", False):
        from .runs.presets import REHEARSAL_VARIABLE
        os.environ[REHEARSAL_VARIABLE] = "1"
    logger = logging.getLogger("ctslib")
    if not logger.handlers:  # resumption notes and the like, on stderr
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("ctslib: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except UsageError as err:  # bad input found after parsing: a config, a preset, a run id
        print(f"ctslib {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `ctslib list | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted (a stored run resumes from its last checkpoint when run again)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
