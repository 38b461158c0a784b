"""A run record: its format, what makes one valid, and how a finished run is written (ticket first, record last).

The run store (`store.RunStore`) and the committed archive (`archive.Archive`) hold the same records in two
layouts; both validate them with `record_problem` and write them with `write_run`, so a record means the same, and
is trusted on the same grounds, wherever it lies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from ..files import atomic_write
from .config import RunConfig

RECORD_FORMAT = "ctslib.record/1"
REQUIRED_KEYS = ("format", "run_id", "config", "metrics", "seconds", "epochs", "finished")


def record_problem(record: Any, run_id: str, config: RunConfig | None = None) -> str | None:
    """Why `record`, filed as `run_id`, cannot stand for that run under this ctslib (and for `config`, if given);
    None: it can."""
    if not isinstance(record, dict):
        return "not a JSON object"
    if record.get("format") != RECORD_FORMAT:
        return f"format is {record.get('format')!r}, expected {RECORD_FORMAT!r}"
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        return f"missing key(s) {missing}"
    if record["run_id"] != run_id:
        return f"it is the record of run {record['run_id']!r}"
    try:
        stored = RunConfig.from_dict(record["config"])
    except (TypeError, ValueError) as err:
        return f"its config is not valid under this ctslib ({err})"
    if stored.run_id != run_id:
        return (f"its config hashes to run id {stored.run_id} under this ctslib (a change to results since: a new "
                f"config field or RESULTS_VERSION)")
    if config is not None and stored != config:
        return "its config does not match the run"
    if not isinstance(record["metrics"], dict) or "top1" not in record["metrics"]:
        return "no test accuracy in its metrics"
    return None


def write_run(record: dict, record_path: str | os.PathLike, save_ticket: Callable[[Path], None],
              ticket_path: str | os.PathLike) -> None:
    """Write a finished run: its ticket first (`save_ticket`, atomic), its record last (atomic), so a record on disk
    always has its ticket and a run half written by a process that died has no record."""
    save_ticket(Path(ticket_path))
    atomic_write(Path(record_path), lambda f: json.dump(record, f, indent=1), mode="w")
