"""The run store: every run computed once, kept on disk, found again by its config.

    store = RunStore()                      # $CTS_STORE, else ~/.cache/ctslib/runs
    record = store.get(config)              # load if finished, else compute (resuming if interrupted) and save
    record, source = store.fetch(config)    # and where it came from: 'store', 'archive', 'computed', 'other process'

Layout: `<root>/<run_id>/` holds `record.json` (config, metrics, seconds and epochs per phase, per-layer
density, the CTS objective trace, versions, timestamps), `ticket.pt`, and while the run is computed,
its checkpoints (`rewind.pt`, `draw.pt`, `progress.pt`, see `ctslib.runs.checkpoints`), `status.json` and `lock`.
`<root>/_shared/` holds work shared between runs: rewind points (`rewind/<rewind_key>.pt`, one per
seed and training recipe, used by every method and density) and chains of tickets
(`chains/<chain_key>.pt`: every ticket an LTR run passed through, which serves any LTR config whose
density is on the chain, matched by kept-weight count, without redoing the rounds) and costly draws
(`draws/<draw_key>.pt`: a CTS search of ResNet-20 is kept, with its scores, for the sanity-check runs that
shuffle, invert or reinitialise the same ticket).

Guarantees:
- A run is finished iff `record.json` exists and is valid. It is written last, atomically (temporary
  file + `os.replace`) after the ticket, so a killed process never leaves a record that reads as finished.
- A corrupted record (bad JSON, missing keys, another config) is reported with a warning naming its
  path, moved aside (`record.corrupt-<time>.json`) and the run recomputed; it is never used.
- At most one process computes a run (`ctslib.runs.lock`); a stale lock is broken with a warning. A
  process that finds a run locked waits for its record (or, with `wait=False`, raises `RunLocked`).
- A record is keyed by the config alone: after a change to ctslib that changes results, use a fresh
  store (`CTS_STORE`) or `remove` the affected runs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import torch

from ..files import atomic_write, now_iso
from ..sanity import NEEDS_SCORES
from ..tickets import Ticket, num_to_keep
from . import runtime
from .archive import Archive, default_archives
from .checkpoints import Checkpoints
from .records import record_problem, write_run
from .config import RunConfig, chain_key, draw_key, rewind_key
from .lock import RunLock
from .methods import Drawn, get_method
from .pipeline import RunCache, execute, jsonable

SHARED = "_shared"
SHARE_DRAW_SECONDS = 30.0  # a non-chain draw at least this long is kept for the runs that ablate its ticket


class Fetched(NamedTuple):
    """A run's record and where it came from: 'store', 'archive' (copied from committed records, `archive`),
    'computed' (by this process) or 'other process'."""
    record: dict
    source: str


class RunNotFound(LookupError):
    """The run is not in the store and `compute=False` was asked."""


class RunLocked(RuntimeError):
    """Another live process is computing the run (raised by `get(..., wait=False)`)."""


class CorruptRecordWarning(UserWarning):
    pass


def default_root() -> Path:
    """$CTS_STORE, else ~/.cache/ctslib/runs (under $XDG_CACHE_HOME if set)."""
    if os.environ.get("CTS_STORE"):
        return Path(os.environ["CTS_STORE"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ctslib" / "runs"


def _is_run_id(name: str) -> bool:
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)


def _run_id(config_or_id: RunConfig | str) -> str:
    return config_or_id.run_id if isinstance(config_or_id, RunConfig) else str(config_or_id)


# --- the store -----------------------------------------------------------------------------------------

class RunStore(RunCache):
    """Runs on disk, one folder per run id (see the module docstring).

    `stale_after`: seconds without heartbeat after which another host's lock counts as abandoned;
    `poll_seconds`: how often a process waiting for a locked run looks again; `archives`: committed records
    (`ctslib.runs.archive`; default: $CTS_RESULTS, else the repository's results/) that a missing run is copied
    from instead of being computed.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, stale_after: float = 600.0,
                 poll_seconds: float = 2.0, archives: Sequence[Archive] | None = None):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.stale_after, self.poll_seconds = stale_after, poll_seconds
        self.archives = list(archives) if archives is not None else default_archives()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # --- paths ---
    def folder(self, config_or_id: RunConfig | str) -> Path:
        return self.root / _run_id(config_or_id)

    def record_path(self, config_or_id: RunConfig | str) -> Path:
        return self.folder(config_or_id) / "record.json"

    def ticket_path(self, config_or_id: RunConfig | str) -> Path:
        return self.folder(config_or_id) / "ticket.pt"

    # --- reading ---
    def _problem(self, record: Any, run_id: str, config: RunConfig | None) -> str | None:
        problem = record_problem(record, run_id, config)
        if problem is None and not self.ticket_path(run_id).is_file():
            return "its ticket.pt is missing"
        return problem

    def _read(self, config_or_id: RunConfig | str, *, quarantine: bool = False, warn: bool = True) -> dict | None:
        """The valid record, or None. An invalid one is reported (`warn`) and moved aside (`quarantine`)."""
        run_id = _run_id(config_or_id)
        path = self.record_path(run_id)
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
        except ValueError as err:
            problem = f"bad JSON ({err})"
        else:
            problem = self._problem(record, run_id, config_or_id if isinstance(config_or_id, RunConfig) else None)
            if problem is None:
                return record
        if quarantine:
            aside = path.with_name(f"record.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.json")
            try:
                os.replace(path, aside)
            except FileNotFoundError:
                return None
            warnings.warn(f"corrupted run record {path}: {problem}; moved to {aside.name}, the run is recomputed",
                          CorruptRecordWarning, stacklevel=3)
        elif warn:
            warnings.warn(f"corrupted run record {path}: {problem}; the run counts as not finished",
                          CorruptRecordWarning, stacklevel=3)
        return None

    def has(self, config: RunConfig) -> bool:
        """True iff `config`'s run is finished and its record valid, here or in an archive (a question only: a
        corrupted record is reported once, by the `get` that moves it aside and recomputes the run)."""
        return self._read(config, warn=False) is not None or any(a.has(config) for a in self.archives)

    def _from_archive(self, config: RunConfig) -> dict | None:
        """Copy `config`'s run from the first archive that has it into the store; its record, else None."""
        for archive in self.archives:
            record = archive.find(config)
            if record is not None:
                folder = self.folder(config)
                folder.mkdir(parents=True, exist_ok=True)
                self._save(folder, archive.ticket(config.run_id), record)
                return self._read(config)
        return None

    def __contains__(self, config: RunConfig) -> bool:
        return self.has(config)

    def get(self, config: RunConfig, *, compute: bool = True, progress: bool = False, wait: bool = True) -> dict:
        """The record of `config`'s run: loaded if finished, else computed (resuming from its checkpoints) and saved.

        `compute=False`: raise `RunNotFound` instead of computing. `wait=False`: raise `RunLocked` if
        another process is computing it (default: wait for its record). Under torchrun every rank calls
        this and takes part in the computation; rank 0 alone touches the files.
        """
        return self.fetch(config, compute=compute, progress=progress, wait=wait).record

    def fetch(self, config: RunConfig, *, compute: bool = True, progress: bool = False,
              wait: bool = True) -> "Fetched":
        """As `get`, and where the record came from: `Fetched.source` is 'store' (finished before the call),
        'archive' (copied from the committed records of `self.archives`), 'computed' (by this call) or 'other
        process' (computed by the process that held its lock while this one waited)."""
        if runtime.active():
            return self._get_distributed(config, compute=compute, progress=progress)
        record = self._read(config, quarantine=compute)
        if record is not None:
            self._tidy(config)
            return Fetched(record, "store")
        record = self._from_archive(config)
        if record is not None:
            return Fetched(record, "archive")
        if not compute:
            raise RunNotFound(f"run {config.run_id} ({config.label}, density {config.density:g}, seed {config.seed}) "
                              f"is not in the store {self.root}; get it with compute=True")
        lock_or_record = self._acquire(config, wait=wait)
        if isinstance(lock_or_record, dict):
            return Fetched(lock_or_record, "other process")
        try:
            return Fetched(self._compute(config, progress), "computed")
        finally:
            lock_or_record.release()

    def _tidy(self, config: RunConfig) -> None:
        """Remove what a process killed after writing the record but before cleaning up left behind: its lock
        and its checkpoints with status.json. Nothing is touched while the lock's owner is alive (it is
        cleaning up right now)."""
        folder = self.folder(config)
        lock_path = folder / "lock"
        if lock_path.exists():
            lock = RunLock(lock_path, self.stale_after)
            reason = lock.stale_reason()
            if reason is None:
                return
            lock.break_stale(reason, warn=False)
        if (folder / "status.json").exists():  # written with every checkpoint, removed after all of them
            Checkpoints(folder, config.run_id).clear()

    def _acquire(self, config: RunConfig, *, wait: bool) -> RunLock | dict:
        """The run's lock, or its record if another process finished it while we waited."""
        folder = self.folder(config)
        folder.mkdir(parents=True, exist_ok=True)
        lock = RunLock(folder / "lock", self.stale_after)
        while True:
            if lock.try_acquire():
                record = self._read(config, quarantine=True)  # finished just before we locked?
                if record is not None:
                    lock.release()
                    return record
                return lock
            record = self._read(config, warn=False)
            if record is not None:
                return record
            reason = lock.stale_reason()
            if reason is not None:
                lock.break_stale(reason)
                continue
            if not wait:
                owner = lock.owner()
                raise RunLocked(f"run {config.run_id} is being computed by pid {owner.get('pid')} on "
                                f"{owner.get('machine')} (lock {lock.path})")
            time.sleep(self.poll_seconds)

    def _compute(self, config: RunConfig, progress: bool) -> dict:
        folder = self.folder(config)
        started = now_iso()
        result = execute(config, progress=progress, workdir=folder, cache=self)
        record = result.record()
        record.update(started=started, finished=now_iso())
        self._save(folder, result.ticket, record)
        Checkpoints(folder, config.run_id).clear()
        return record

    def _save(self, folder: Path, ticket: Ticket, record: dict) -> None:
        """Ticket first, record last (both atomic): a record on disk always has its ticket."""
        write_run(record, folder / "record.json", ticket.save, folder / "ticket.pt")

    def _get_distributed(self, config: RunConfig, *, compute: bool, progress: bool) -> "Fetched":
        lock = record = None
        source = "store"
        if runtime.is_main():
            record = self._read(config, quarantine=compute) or self._from_archive(config)
            if record is None and compute:
                got = self._acquire(config, wait=True)
                record, lock = (got, None) if isinstance(got, dict) else (None, got)
                source = "other process"
        record, source = runtime.broadcast((record, source))
        if record is not None:
            return Fetched(record, source)
        if not compute:
            raise RunNotFound(f"run {config.run_id} ({config.label}) is not in the store {self.root}")
        try:
            if runtime.is_main():
                record = self._compute(config, progress)
            else:
                execute(config, progress=False, workdir=self.folder(config), cache=self)
        finally:
            if lock is not None:
                lock.release()
        return Fetched(runtime.broadcast(record), "computed")

    def ticket(self, config: RunConfig, *, compute: bool = True) -> Ticket:
        """The ticket of `config`'s run (computing the run first if needed and `compute`)."""
        self.get(config, compute=compute)
        return Ticket.load(self.ticket_path(config))

    def records(self) -> list[dict]:
        """Every finished run's record (corrupted ones are reported and left out), oldest first."""
        out = []
        if not self.root.is_dir():
            return out
        for folder in sorted(self.root.iterdir()):
            if _is_run_id(folder.name) and (folder / "record.json").exists():
                record = self._read(folder.name)
                if record is not None:
                    out.append(record)
        return sorted(out, key=lambda r: r.get("finished", ""))

    def runs(self) -> list[dict]:
        """Status of every run folder: finished | running | stopped (checkpoints, no live lock) | corrupt | empty."""
        out = []
        if not self.root.is_dir():
            return out
        for folder in sorted(self.root.iterdir()):
            if not _is_run_id(folder.name):
                continue
            entry: dict[str, Any] = {"run_id": folder.name, "record": None}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                record = self._read(folder.name)
            if record is not None:
                entry.update(status="finished", record=record)
            else:
                lock = RunLock(folder / "lock", self.stale_after)
                live = (folder / "lock").exists() and lock.stale_reason() is None
                try:
                    entry["progress"] = json.loads((folder / "status.json").read_text())
                except (OSError, ValueError):
                    entry["progress"] = None
                if (folder / "record.json").exists():
                    entry["status"] = "corrupt"
                elif live:
                    entry["status"] = "running"
                elif any(folder.glob("*.pt")):
                    entry["status"] = "stopped"
                else:
                    entry["status"] = "empty"
            out.append(entry)
        return out

    def find(self, prefix: str) -> str:
        """The run id starting with `prefix` (ValueError if none or several)."""
        prefix = prefix.strip().lower()
        matches = [f.name for f in self.root.iterdir() if _is_run_id(f.name) and f.name.startswith(prefix)] \
            if self.root.is_dir() and prefix else []
        if not matches:
            raise ValueError(f"no run {prefix!r} in the store {self.root}; see `ctslib list`")
        if len(matches) > 1:
            raise ValueError(f"run id {prefix!r} is ambiguous in {self.root}: {', '.join(sorted(matches))}; "
                             f"give more digits")
        return matches[0]

    def record(self, run_id: str) -> dict:
        """The record of the finished run `run_id` (a prefix is enough)."""
        run_id = self.find(run_id)
        record = self._read(run_id)
        if record is None:
            raise ValueError(f"run {run_id} in {self.root} is not finished (see `ctslib list`)")
        return record

    def remove(self, config_or_id: RunConfig | str) -> bool:
        """Delete a run's folder (record, ticket, checkpoints); True if there was one."""
        folder = self.folder(config_or_id)
        if not folder.exists():
            return False
        shutil.rmtree(folder)
        return True

    # --- RunCache: work shared between runs ---
    def _shared(self, kind: str, key: str) -> Path:
        return self.root / SHARED / kind / f"{key}.pt"

    def _load_shared(self, path: Path, fmt: str) -> dict | None:
        if not path.is_file():
            return None
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            warnings.warn(f"ignoring unreadable shared file {path} ({type(err).__name__}: {err})", stacklevel=3)
            return None
        if not isinstance(blob, dict) or blob.get("format") != fmt:
            warnings.warn(f"ignoring shared file {path}: not a {fmt} file", stacklevel=3)
            return None
        return blob

    def _save_shared(self, path: Path, blob: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: torch.save(blob, f))

    def load_rewind(self, config: RunConfig) -> dict | None:
        blob = self._load_shared(self._shared("rewind", rewind_key(config)), "ctslib.rewind/1")
        if blob is None or blob.get("key") != rewind_key(config):
            return None
        return {"state": blob["state"], "epochs": blob["epochs"], "seconds": blob["seconds"]}

    def save_rewind(self, config: RunConfig, rewind: dict) -> None:
        self._save_shared(self._shared("rewind", rewind_key(config)),
                          {"format": "ctslib.rewind/1", "key": rewind_key(config), "source": config.run_id, **rewind})

    def find_ticket(self, config: RunConfig, num_total: int) -> dict | None:
        if not get_method(config.method).chain:
            return self._find_draw(config, num_total)
        key = chain_key(config)
        chain = self._load_shared(self._shared("chains", key), "ctslib.chain/1")
        if chain is None or chain.get("num_total") != num_total:
            return None
        entry = chain["entries"].get(num_to_keep(config.density, num_total))
        if entry is None:
            return None
        scores = chain.get("scores") if entry.get("scores_ok") else None
        if config.ablation in NEEDS_SCORES and scores is None:
            return None
        return {"masks": entry["masks"], "epochs": entry["epochs"], "seconds": entry["seconds"], "scores": scores,
                "info": {**(chain.get("info") or {}), "shared_chain": key, "chain_source": chain.get("source"),
                         "draw_cost": "share of the chain's rounds up to this density"}}

    def _find_draw(self, config: RunConfig, num_total: int) -> dict | None:
        blob = self._load_shared(self._shared("draws", draw_key(config)), "ctslib.draw/1")
        if blob is None or blob.get("key") != draw_key(config) or blob.get("num_total") != num_total:
            return None
        if config.ablation in NEEDS_SCORES and blob.get("scores") is None:
            return None
        return {"masks": blob["masks"], "epochs": blob["epochs"], "seconds": blob["seconds"], "scores": blob["scores"],
                "info": {**(blob.get("info") or {}), "shared_draw": blob["source"]}}

    def save_tickets(self, config: RunConfig, drawn: Drawn, seconds: float) -> None:
        """Add every ticket of `drawn.tickets` to `config`'s chain (with its share of the draw's cost); keep a
        draw of another method that took at least SHARE_DRAW_SECONDS, with its scores, for the runs that ablate
        the same ticket (cheaper draws are recomputed: their file would cost more than they do)."""
        if not get_method(config.method).chain:
            if seconds >= SHARE_DRAW_SECONDS:
                # (scores in their own precision: SynFlow's float64 ranks differently in float32)
                scores = None if drawn.scores is None else {n: s.detach().cpu() for n, s in drawn.scores.items()}
                self._save_shared(self._shared("draws", draw_key(config)), {
                    "format": "ctslib.draw/1", "key": draw_key(config), "source": config.run_id,
                    "num_total": drawn.ticket.num_total, "masks": drawn.ticket.state_dict(),
                    "epochs": float(drawn.epochs), "seconds": seconds, "scores": scores,
                    "info": jsonable({k: v for k, v in drawn.info.items() if k != "trace"})})
            return
        final = drawn.ticket
        total = final.num_total
        by_kept = {t.num_kept: t for t in drawn.tickets.values() if t.num_total == total}
        by_kept[final.num_kept] = final
        order = sorted((k for k in by_kept if k < total), reverse=True)  # densest first: the order of the rounds
        if final.num_kept not in order:
            return
        rounds_to_final = order.index(final.num_kept) + 1
        path = self._shared("chains", chain_key(config))
        chain = self._load_shared(path, "ctslib.chain/1") or {"format": "ctslib.chain/1", "key": chain_key(config),
                                                                "num_total": total, "entries": {}, "scores": None}
        if chain.get("num_total") != total:
            return
        for i, kept in enumerate(order):
            if kept not in chain["entries"]:
                share = (i + 1) / rounds_to_final
                chain["entries"][kept] = {"masks": by_kept[kept].state_dict(), "epochs": drawn.epochs * share,
                                          "seconds": seconds * share, "scores_ok": False}
        sparsest = min(chain["entries"])
        if drawn.scores is not None and final.num_kept <= sparsest:  # these scores reach the whole chain
            scores = {n: s.detach().float().cpu() for n, s in drawn.scores.items()}
            chain["scores"] = scores
            for kept, entry in chain["entries"].items():
                entry["scores_ok"] = Ticket.from_scores(scores, kept / total) == Ticket(dict(entry["masks"]))
            chain["source"] = config.run_id
            chain["info"] = jsonable({k: v for k, v in drawn.info.items() if k != "trace"})
        self._save_shared(path, chain)
