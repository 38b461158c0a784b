"""Command line: `python -m ctslib run ...` draws and trains one ticket and prints its accuracy."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from .config import RunConfig


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    for f in fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if isinstance(default, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=None,
                                metavar="BOOL")
        elif isinstance(default, tuple):
            parser.add_argument(flag, type=int, nargs="+", default=None)
        else:
            parser.add_argument(flag, type=type(default), default=None)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    changes = {f.name: getattr(args, f.name) for f in fields(RunConfig) if getattr(args, f.name) is not None}
    return RunConfig(**changes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ctslib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="draw one ticket, train it, print its test accuracy and the time taken")
    _add_config_arguments(run)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as err:
        parser.error(str(err))
    from .pipeline import execute
    result = execute(config, progress=sys.stderr.isatty())
    m, t = result.metrics, result.timings
    print(f"{config.label} {config.model} on {config.dataset}, density {m['density']:.4%} "
          f"({m['num_kept']}/{m['num_total']} weights)")
    print(f"test accuracy: top-1 {m['top1']:.2%}, top-5 {m['top5']:.2%}")
    print(f"time: {t['total']:.1f} s (rewind {t['rewind']:.1f} s, draw {t['draw']:.1f} s, train {t['train']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
