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

`redraw` draws a committed ticket of a cheap method (SNIP, GraSP, SynFlow, random, magnitude) again from scratch
and compares (the tests do it for one record chosen at random on every build); `verify` recomputes whole runs.
"""

from __future__ import annotations

import json
import os
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from ..files import atomic_write
from ..tickets import Ticket
from .config import RunConfig

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
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            return "not a run record"
        try:
            config = RunConfig.from_dict(record["config"])
        except (TypeError, ValueError) as err:
            return f"its config is not valid under this ctslib ({err})"
        if record.get("run_id") != run_id:
            return f"it is the record of run {record.get('run_id')!r}"
        if config.run_id != run_id:
            return (f"its config hashes to run id {config.run_id} under this ctslib (a change to results since: "
                    f"a new config field or RESULTS_VERSION)")
        return None

    def find(self, config: RunConfig) -> dict | None:
        """The archived record of `config`'s run (with its ticket), else None."""
        record = self._load(config.run_id)
        if record is None or not self.ticket_path(config.run_id).is_file():
            return None
        if self.problem(config.run_id, record) is not None or RunConfig.from_dict(record["config"]) != config:
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
        save_packed(ticket, self.ticket_path(run_id))
        atomic_write(self.record_path(run_id), lambda f: json.dump(record, f, indent=1), mode="w")

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


def sample(archives: Sequence[Archive], n: int, seed: int | None = None) -> list[tuple[Archive, RunConfig]]:
    """`n` archived runs drawn at random (`seed`: reproducibly) from the valid records of `archives`."""
    pool = [(a, c) for a in archives for c in a.configs()]
    rng = random.Random(seed)
    return rng.sample(pool, min(n, len(pool)))


# --- recomputing archived runs ---------------------------------------------------------------------------

TOP1_TOLERANCE = 0.005  # on another machine (other BLAS, other CPU) a run's accuracy may move a little


@contextmanager
def threads_of(record: dict) -> Iterator[int]:
    """Compute with the torch thread count `record` was computed with (its `environment.threads`; a sweep's workers
    run one thread each): a convolution sums in another order on another count, which changes a search's ticket
    and, at high sparsity, a training's accuracy by points. Restores the count on exit."""
    previous = torch.get_num_threads()
    threads = int((record.get("environment") or {}).get("threads") or previous)
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)


def verify(archive: Archive, config: RunConfig, workdir: str | os.PathLike) -> dict:
    """Recompute `config`'s archived run from scratch in a fresh store under `workdir` (no archive), with the
    record's thread count (`threads_of`), and compare. On the machine that computed it the ticket and the accuracy
    come out identical; elsewhere (another CPU, BLAS or GPU) the search may round differently, so `ok` asks top-1
    within TOP1_TOLERANCE and `same_ticket` says whether the ticket is bit-identical."""
    from .store import RunStore  # (the store imports this module)
    archived = archive.find(config)
    if archived is None:
        raise ValueError(f"run {config.run_id} is not in {archive.root}")
    store = RunStore(Path(workdir) / config.run_id, archives=[])
    with threads_of(archived) as threads:
        record = store.get(config)
    same = store.ticket(config, compute=False) == archive.ticket(config.run_id)
    a, b = archived["metrics"]["top1"], record["metrics"]["top1"]
    return {"run_id": config.run_id, "label": config.label, "density": config.density, "seed": config.seed,
            "same_ticket": same, "top1_archived": a, "top1_recomputed": b, "seconds": record["seconds"]["total"],
            "threads": threads, "ok": bool(abs(a - b) <= TOP1_TOLERANCE)}


# --- redrawing archived tickets (cheap: the tests do it on every build) -----------------------------------

TICKET_AGREEMENT = 0.99  # on another CPU a saliency score may round differently at the threshold


def cheap_to_redraw(config: RunConfig) -> bool:
    """Whether a run's ticket is drawn in seconds: neither a search (CTS) nor a chain of trainings (LTR)."""
    from .methods import get_method
    return config.method not in ("cts", "dense") and not get_method(config.method).chain


def redraw(archive: Archive, config: RunConfig) -> dict:
    """Draw `config`'s archived ticket again from scratch (its rewind point, draw and ablation; no training) and
    compare. On a CPU with the vector kernels the record was computed with (`environment.cpu_capability`, and the
    same torch) the ticket must come out identical (`ok`); elsewhere `ok` asks that TICKET_AGREEMENT of its kept
    weights are kept again."""
    from .pipeline import draw_ticket
    archived = archive.find(config)
    if archived is None:
        raise ValueError(f"run {config.run_id} is not in {archive.root}")
    if not cheap_to_redraw(config):
        raise ValueError(f"run {config.run_id} ({config.label}) is no cheap draw; `verify` recomputes it")
    with threads_of(archived):
        old, new = archive.ticket(config.run_id), draw_ticket(config)
    kept = sum(int((old.masks[n] & new.masks[n]).sum()) for n in old.masks) if old.masks.keys() == new.masks.keys() \
        else 0
    env = archived.get("environment") or {}
    same_machine = (env.get("cpu_capability") == torch.backends.cpu.get_cpu_capability()
                    and env.get("torch_version") == torch.__version__)
    agreement = kept / max(old.num_kept, 1)
    same = old == new
    return {"run_id": config.run_id, "label": config.label, "density": config.density, "seed": config.seed,
            "same_ticket": same, "agreement": agreement, "same_machine": same_machine,
            "ok": same if same_machine else agreement >= TICKET_AGREEMENT}
