"""Run records that travel with the repository: computed once, committed, read instead of recomputed.

    archive = Archive("results/cpu")
    archive.find(config)          # the committed record of `config`'s run, or None
    archive.ticket(run_id)        # its ticket
    archive.add(record, ticket)   # commit a finished run (`ctslib results save`)
    archive.stale()               # records whose config no longer hashes to their run id under this ctslib

Some runs cost more than a cold book build can pay on a laptop (ResNet-20's evidence set: 135 runs, ~8
core-hours; the open choices' page). They are computed once (`make reproduce-resnet20`, `make reproduce-results`),
committed under `results/<name>/` and read by every
run store (`RunStore.fetch` copies an archived run into the store instead of computing it): `<run_id>.json` is
the run's record, exactly as the store wrote it, and `<run_id>.npz` its ticket with every mask bit-packed
(`numpy.packbits`; loaded without pickle), ~34 KB for ResNet-20 instead of 270 KB.

A record is found by its run id, which hashes the whole config and `config.RESULTS_VERSION`: after a change
to ctslib that changes results (a new config field, a bumped RESULTS_VERSION) an archived record is no longer
found but listed by `stale()`, and `ctslib results check` (run by the tests) fails naming it and the fix
(recompute it, or remove it). A record is only ever used for the config it was computed for.

Where the stores look: $CTS_RESULTS (archive folders separated by os.pathsep; 'none' or '' for none, which
`make reproduce-*` uses to recompute from scratch), else every folder under the repository's `results/` (when
ctslib runs from a checkout; an installed wheel reads none).

This module holds only the folder and the packed-ticket format; checking a committed run by computing it again
(`redraw`, `verify`) lives above the store and the pipeline, in `ctslib.runs.recheck`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..files import atomic_write
from ..tickets import Ticket
from .config import RunConfig
from .records import record_problem, write_run

# The checkout's results/ folder, when ctslib runs from a checkout (an installed wheel has none: no archive unless
# $CTS_RESULTS names one; nothing is read from a source tree).
_CHECKOUT = Path(__file__).resolve().parents[2]
RESULTS_DIR = _CHECKOUT / "results"
IN_CHECKOUT = (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "ctslib" / "runs" / "archive.py").is_file()
TICKET_FORMAT = "ctslib.packed-ticket/1"


def default_archives() -> list["Archive"]:
    """$CTS_RESULTS's folders ('none' or empty: no archive), else each folder of the repository's results/."""
    env = os.environ.get("CTS_RESULTS")
    if env is not None:
        paths = [] if env.strip().lower() in ("", "none") else [Path(p) for p in env.split(os.pathsep) if p]
    else:
        paths = sorted(p for p in RESULTS_DIR.iterdir() if p.is_dir()) if IN_CHECKOUT and RESULTS_DIR.is_dir() else []
    return [Archive(p) for p in paths]


# --- tickets, bit-packed ---------------------------------------------------------------------------------

def save_packed(ticket: Ticket, path: str | os.PathLike) -> None:
    """Each mask as numpy.packbits of its flattened bools, with its shape; atomically."""
    arrays: dict[str, np.ndarray] = {"format": np.array(TICKET_FORMAT), "names": np.array(list(ticket.masks))}
    for i, (name, mask) in enumerate(ticket.masks.items()):
        m = mask.detach().cpu().numpy().astype(bool)
        arrays[f"bits{i}"] = np.packbits(m.reshape(-1))
        arrays[f"shape{i}"] = np.array(m.shape, dtype=np.int64)
    atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def load_packed(path: str | os.PathLike) -> Ticket:
    with np.load(os.fspath(path), allow_pickle=False) as z:
        if "format" not in z or str(z["format"]) != TICKET_FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a {TICKET_FORMAT} file")
        masks = {}
        for i, name in enumerate(z["names"].tolist()):
            shape = tuple(int(s) for s in z[f"shape{i}"])
            n = int(np.prod(shape)) if shape else 1
            bits = np.unpackbits(z[f"bits{i}"], count=n).astype(bool)
            masks[str(name)] = torch.from_numpy(bits.reshape(shape))
    return Ticket(masks)


# --- an archive folder -----------------------------------------------------------------------------------

class Archive:
    """One folder of committed run records (`<run_id>.json` + `<run_id>.npz`)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Archive({str(self.root)!r})"

    def record_path(self, run_id: str) -> Path:
        return self.root / f"{run_id}.json"

    def ticket_path(self, run_id: str) -> Path:
        return self.root / f"{run_id}.npz"

    def run_ids(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.json")) if self.root.is_dir() else []

    def _load(self, run_id: str) -> dict | None:
        try:
            return json.loads(self.record_path(run_id).read_text())
        except (OSError, ValueError):
            return None

    @staticmethod
    def problem(run_id: str, record: dict | None) -> str | None:
        """Why the record filed as `run_id` cannot stand for that run under this ctslib (None: it can)."""
        return record_problem(record, run_id)

    def find(self, config: RunConfig) -> dict | None:
        """The archived record of `config`'s run (with its ticket), else None."""
        record = self._load(config.run_id)
        if record is None or not self.ticket_path(config.run_id).is_file():
            return None
        if record_problem(record, config.run_id, config) is not None:
            return None
        return record

    def has(self, config: RunConfig) -> bool:
        return self.find(config) is not None

    def ticket(self, run_id: str) -> Ticket:
        return load_packed(self.ticket_path(run_id))

    def add(self, record: dict, ticket: Ticket) -> None:
        """Commit a finished run: its ticket first, its record last (each atomic)."""
        self.root.mkdir(parents=True, exist_ok=True)
        run_id = record["run_id"]
        write_run(record, self.record_path(run_id), lambda path: save_packed(ticket, path), self.ticket_path(run_id))

    def stale(self) -> list[tuple[str, str]]:
        """(run id, why) for every archived record that no longer stands for its run, or lacks its ticket."""
        out = []
        for run_id in self.run_ids():
            problem = self.problem(run_id, self._load(run_id))
            if problem is None and not self.ticket_path(run_id).is_file():
                problem = "its ticket file is missing"
            if problem is not None:
                out.append((run_id, problem))
        return out

    def configs(self) -> Iterator[RunConfig]:
        """The configs of the archived runs that stand for their run under this ctslib."""
        for run_id in self.run_ids():
            record = self._load(run_id)
            if self.problem(run_id, record) is None:
                yield RunConfig.from_dict(record["config"])
