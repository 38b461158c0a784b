"""At most one process computes a run: an exclusive lock file with a heartbeat.

The lock file is created with O_CREAT|O_EXCL and holds the owner's host, pid (and its start time) and a token;
a heartbeat thread touches it. A lock whose process is gone (same host and pid namespace) or whose heartbeat
stopped (`stale_after` seconds, any host) is stale, and is broken safely even when two processes try at once.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from ..files import now_iso


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
