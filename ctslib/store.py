"""The run store: every run computed once, kept on disk, found again by its config.

    store = RunStore()                      # $CTS_STORE, else ~/.cache/ctslib/runs
    record = store.get(config)              # load if finished, else compute (resuming if interrupted) and save
    df = collect(configs)                   # one tidy row per run, for plots

Layout: `<root>/<run_id>/` holds `record.json` (config, metrics, seconds and epochs per phase, per-layer
density, the CTS objective trace, versions, timestamps), `ticket.pt`, and while the run is computed,
its checkpoints (`rewind.pt`, `draw.pt`, `progress.pt`, see `ctslib.pipeline`), `status.json` and `lock`.
`<root>/_shared/` holds work shared between runs: rewind points (`rewind/<rewind_key>.pt`, one per
seed and training recipe, used by every method and density) and chains of tickets
(`chains/<chain_key>.pt`: every ticket an LTR run passed through, which serves any LTR config whose
density is on the chain, matched by kept-weight count, without redoing the rounds).

Guarantees:
- A run is finished iff `record.json` exists and is valid. It is written last, atomically (temporary
  file + `os.replace`) after the ticket, so a killed process never leaves a record that reads as finished.
- A corrupted record (bad JSON, missing keys, another config) is reported with a warning naming its
  path, moved aside (`record.corrupt-<time>.json`) and the run recomputed; it is never used.
- At most one process computes a run: a lock file created with O_CREAT|O_EXCL holds the owner's
  host, pid and a token, and is touched by a heartbeat thread. A lock whose process is gone (same host)
  or whose heartbeat stopped (`stale_after` seconds, any host) is stale and broken with a warning. A
  process that finds a run locked waits for its record (or, with `wait=False`, raises `RunLocked`).
- A record is keyed by the config alone: after a change to ctslib that changes results, use a fresh
  store (`CTS_STORE`) or `remove` the affected runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Sequence

import torch

from . import distributed as dist
from .config import RunConfig
from .methods import Drawn
from .pipeline import (RECORD_FORMAT, Checkpoints, RunCache, atomic_write, chain_key, execute, now_iso,
                       rewind_key)
from .tickets import Ticket, num_to_keep

REQUIRED_KEYS = ("format", "run_id", "config", "metrics", "seconds", "epochs", "finished")
SHARED = "_shared"
# Methods whose runs pass through many densities (Drawn.tickets): their sweeps are ordered sparsest first
# and sharded by chain, so one run of the chain serves the others.
CHAIN_METHODS = {"ltr"}


class Fetched(NamedTuple):
    """A run's record and where it came from: 'store', 'computed' (by this process) or 'other process'."""
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


# --- locks ---------------------------------------------------------------------------------------------

def _machine() -> str:
    """This host and pid namespace: pids of lock owners with the same value can be checked with kill(0)."""
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return f"{socket.gethostname()}/{ns}"


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]  # field 22: start time, in clock ticks since boot
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return start is None or _process_start(pid) in (None, start)


class RunLock:
    """An exclusive lock file (O_CREAT|O_EXCL) with a heartbeat; see the module docstring."""

    def __init__(self, path: Path, stale_after: float):
        self.path, self.stale_after = path, stale_after
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def try_acquire(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        owner = {"pid": os.getpid(), "pid_start": _process_start(os.getpid()), "machine": _machine(),
                 "token": self.token, "since": now_iso()}
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(owner))
        self._thread = threading.Thread(target=self._beat, name=f"ctslib-lock-{self.path.parent.name}", daemon=True)
        self._thread.start()
        return True

    def _beat(self) -> None:
        interval = max(0.5, min(60.0, self.stale_after / 5))
        while not self._stop.wait(interval):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.owner().get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def owner(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def stale_reason(self) -> str | None:
        """Why the current lock file is stale, or None if it is live (or gone)."""
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        owner = self.owner()
        if not owner:
            return f"unreadable lock file, {age:.0f} s old" if age > 30 else None
        if owner.get("machine") == _machine() and not _alive(int(owner["pid"]), owner.get("pid_start")):
            return f"its process {owner['pid']} is gone"
        if age > self.stale_after:
            return f"no heartbeat for {age:.0f} s (owner pid {owner.get('pid')} on {owner.get('machine')})"
        return None

    def break_stale(self, reason: str, *, warn: bool = True) -> None:
        """Remove a stale lock; safe against another process doing the same at the same moment."""
        seen = self.owner()
        aside = self.path.with_name(f"lock.stale-{self.token}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        try:
            moved = json.loads(aside.read_text())
        except (OSError, ValueError):
            moved = {}
        if moved.get("token") != seen.get("token"):  # we took a fresh lock someone just made: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        elif warn:
            warnings.warn(f"breaking stale lock {self.path}: {reason}", stacklevel=3)
        aside.unlink(missing_ok=True)


# --- the store -----------------------------------------------------------------------------------------

class RunStore(RunCache):
    """Runs on disk, one folder per run id (see the module docstring).

    `stale_after`: seconds without heartbeat after which another host's lock counts as abandoned;
    `poll_seconds`: how often a process waiting for a locked run looks again.
    """

    def __init__(self, root: str | os.PathLike | None = None, *, stale_after: float = 600.0,
                 poll_seconds: float = 2.0):
        self.root = Path(root).expanduser() if root is not None else default_root()
        self.stale_after, self.poll_seconds = stale_after, poll_seconds

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
            return f"invalid config ({err})"
        if stored.run_id != run_id or (config is not None and stored != config):
            return "its config does not match the run"
        if not isinstance(record["metrics"], dict) or "top1" not in record["metrics"]:
            return "no test accuracy in its metrics"
        if not (self.folder(run_id) / "ticket.pt").is_file():
            return "its ticket.pt is missing"
        return None

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
        """True iff `config`'s run is finished and its record valid (a question only: a corrupted record is
        reported once, by the `get` that moves it aside and recomputes the run)."""
        return self._read(config, warn=False) is not None

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
        'computed' (by this call) or 'other process' (computed by the process that held its lock while this
        one waited)."""
        if dist.active():
            return self._get_distributed(config, compute=compute, progress=progress)
        record = self._read(config, quarantine=compute)
        if record is not None:
            self._tidy(config)
            return Fetched(record, "store")
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
        ticket.save(folder / "ticket.pt")
        atomic_write(folder / "record.json", lambda f: json.dump(record, f, indent=1), mode="w")

    def _get_distributed(self, config: RunConfig, *, compute: bool, progress: bool) -> "Fetched":
        lock = record = None
        source = "store"
        if dist.is_main():
            record = self._read(config, quarantine=compute)
            if record is None and compute:
                got = self._acquire(config, wait=True)
                record, lock = (got, None) if isinstance(got, dict) else (None, got)
                source = "other process"
        record, source = dist.broadcast((record, source))
        if record is not None:
            return Fetched(record, source)
        if not compute:
            raise RunNotFound(f"run {config.run_id} ({config.label}) is not in the store {self.root}")
        try:
            if dist.is_main():
                record = self._compute(config, progress)
            else:
                execute(config, progress=False, workdir=self.folder(config), cache=self)
        finally:
            if lock is not None:
                lock.release()
        return Fetched(dist.broadcast(record), "computed")

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
        if config.method not in CHAIN_METHODS:
            return None
        key = chain_key(config)
        chain = self._load_shared(self._shared("chains", key), "ctslib.chain/1")
        if chain is None or chain.get("num_total") != num_total:
            return None
        entry = chain["entries"].get(num_to_keep(config.density, num_total))
        if entry is None:
            return None
        scores = chain.get("scores") if entry.get("scores_ok") else None
        if config.ablation == "invert" and scores is None:
            return None
        return {"masks": entry["masks"], "epochs": entry["epochs"], "seconds": entry["seconds"], "scores": scores,
                "info": {**(chain.get("info") or {}), "shared_chain": key, "chain_source": chain.get("source"),
                         "draw_cost": "share of the chain's rounds up to this density"}}

    def save_tickets(self, config: RunConfig, drawn: Drawn, seconds: float) -> None:
        """Add every ticket of `drawn.tickets` to `config`'s chain (with its share of the draw's cost)."""
        if config.method not in CHAIN_METHODS:
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
            from .pipeline import jsonable
            chain["info"] = jsonable({k: v for k, v in drawn.info.items() if k != "trace"})
        self._save_shared(path, chain)


# --- sweeps --------------------------------------------------------------------------------------------

def work_key(config: RunConfig) -> str:
    """What a sweep shards and orders by: the chain for chain methods (LTR), else the run."""
    return chain_key(config) if config.method in CHAIN_METHODS else config.run_id


def shard_index(config: RunConfig, count: int) -> int:
    """The shard (0..count-1) that computes `config`: a deterministic function of its work key."""
    return int(work_key(config), 16) % count


def select_shard(configs: Iterable[RunConfig], index: int, count: int) -> list[RunConfig]:
    """Worker `index` of `count`'s part of `configs` (disjoint parts that together cover all of them)."""
    if not (isinstance(index, int) and isinstance(count, int) and count >= 1 and 0 <= index < count):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {index}/{count}")
    return [c for c in configs if shard_index(c, count) == index]


def compute_order(configs: Sequence[RunConfig]) -> list[RunConfig]:
    """`configs` without duplicates, in the order to compute them: chain methods grouped by chain, sparsest
    first (the sparsest run passes through every denser ticket of its chain), after the others."""
    unique = list({c.run_id: c for c in configs}.values())
    return sorted(unique, key=lambda c: (1, chain_key(c), c.density) if c.method in CHAIN_METHODS else (0, "", 0.0))


COLUMNS_AFTER_CONFIG = ("run_id", "label", "top1", "top3", "top5", "loss", "ticket_density", "num_kept", "num_total",
                        "seconds_rewind", "seconds_draw", "seconds_train", "seconds_test", "seconds_total",
                        "epochs_rewind", "epochs_draw", "epochs_train", "epochs_total", "finished")


def record_row(record: dict) -> dict[str, Any]:
    """One tidy row: every config field, then the run's metrics, seconds and epochs.

    `density` is the requested density (the config's); `ticket_density` the kept fraction actually drawn.
    """
    config = RunConfig.from_dict(record["config"])
    row: dict[str, Any] = {k: v for k, v in config.to_dict().items()}
    row["milestones"] = tuple(config.milestones)
    m = record["metrics"]
    row.update(run_id=record["run_id"], label=config.label, top1=m.get("top1"), top3=m.get("top3"), top5=m.get("top5"),
               loss=m.get("loss"), ticket_density=m.get("density"), num_kept=m.get("num_kept"),
               num_total=m.get("num_total"), finished=record.get("finished"))
    for phase in ("rewind", "draw", "train", "test", "total"):
        row[f"seconds_{phase}"] = record["seconds"].get(phase)
    for phase in ("rewind", "draw", "train", "total"):
        row[f"epochs_{phase}"] = record["epochs"].get(phase)
    return row


def collect(configs: Iterable[RunConfig], store: RunStore | None = None, compute: bool = True,
            progress: bool | None = None):
    """A pandas DataFrame with one row per config (in the given order): its config fields and results.

    Missing runs are computed (`compute=True`, LTR sparsest first so its chain serves the rest) or
    left out with a warning (`compute=False`). `progress` (default: on a terminal) shows a bar over runs.
    """
    import sys

    import pandas as pd
    from tqdm.auto import tqdm

    from .config import RunConfig as _RC
    store = store or RunStore()
    configs = list(configs)
    if progress is None:
        progress = sys.stderr.isatty()
    records: dict[str, dict] = {}
    missing = 0
    for config in tqdm(compute_order(configs), desc="runs", disable=not progress):
        try:
            records[config.run_id] = store.get(config, compute=compute, progress=progress)
        except RunNotFound:
            missing += 1
    if missing:
        warnings.warn(f"{missing} of {len(set(c.run_id for c in configs))} runs are not in the store {store.root} "
                      f"and were left out (collect(..., compute=True) computes them)", stacklevel=2)
    columns = [f.name for f in _RC.__dataclass_fields__.values()] + list(COLUMNS_AFTER_CONFIG)
    rows = [record_row(records[c.run_id]) for c in configs if c.run_id in records]
    return pd.DataFrame(rows, columns=columns)
