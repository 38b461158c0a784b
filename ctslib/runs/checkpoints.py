"""The checkpoints of one run in its folder: each phase's result and the progress within a phase.

`progress.pt` holds what resumes a phase part-way (model, optimizer or the search's state, the phase's
generator, the global RNG, the step); `rewind.pt` and `draw.pt` the results of those phases. Every file is
written atomically and tagged with the run id, so a file from another run or a damaged file is ignored (with a
warning), never used; `status.json` says where the run is, for `ctslib list`.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from ..files import atomic_write, now_iso

CHECKPOINT_FORMAT = "ctslib.checkpoint/1"


class Checkpoints:
    """Phase results and mid-phase progress of one run, in a folder (`folder=None`: keep nothing).

    Only the writing process (rank 0) saves; every file is written atomically and tagged with the
    run id, so a file from another run or a damaged file is ignored (with a warning), never used.
    """

    NAMES = ("rewind", "draw", "progress")

    def __init__(self, folder: str | os.PathLike | None, run_id: str, *, write: bool = True):
        self.folder = Path(folder) if folder is not None else None
        self.run_id = run_id
        self.write = write and self.folder is not None

    def path(self, name: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{name}.pt"

    def load(self, name: str) -> dict[str, Any] | None:
        if self.folder is None or not self.path(name).is_file():
            return None
        path = self.path(name)
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # any damage: recompute the phase rather than trust it
            warnings.warn(f"ignoring unreadable checkpoint {path} ({type(err).__name__}: {err}); "
                          f"that part of the run is recomputed", stacklevel=2)
            return None
        if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT or blob.get("run_id") != self.run_id:
            warnings.warn(f"ignoring checkpoint {path}: it is not a checkpoint of run {self.run_id}", stacklevel=2)
            return None
        return blob

    def load_all(self) -> dict[str, dict[str, Any] | None]:
        return {name: self.load(name) for name in self.NAMES}

    def save(self, name: str, blob: dict[str, Any]) -> None:
        if not self.write:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        blob = {**blob, "format": CHECKPOINT_FORMAT, "run_id": self.run_id}
        atomic_write(self.path(name), lambda f: torch.save(blob, f))
        status = {"phase": blob.get("phase", name), "epoch": blob.get("epoch"), "step": blob.get("step"),
                  "updated": now_iso()}
        atomic_write(self.folder / "status.json", lambda f: json.dump(status, f), mode="w")

    def clear(self) -> None:
        """Remove every checkpoint (after the run's record is written)."""
        if not self.write:
            return
        for name in self.NAMES:
            self.path(name).unlink(missing_ok=True)
        (self.folder / "status.json").unlink(missing_ok=True)
