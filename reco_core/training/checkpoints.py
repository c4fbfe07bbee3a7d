"""Training checkpoints that a kill at any moment cannot corrupt, and that resume a run exactly.

A checkpoint is a folder ``step-00000500/`` holding everything the next step depends on:

* ``lora.safetensors``  the adapter weights, fp32, in ComfyUI's key form (so any checkpoint is also a usable LoRA);
* ``optimizer.pt``      optimizer and LR-scheduler state (read back weights-only: tensors and plain containers);
* ``rng-rank<R>.pt``    each process's torch (CPU and CUDA) and Python ``random`` generator states;
* ``state.json``        step, samples consumed (the sampler position), loss history, the run's identity.

Atomicity. The folder is filled under a hidden staging name (``.step-00000500.partial``) and then renamed with
``os.replace``, which is atomic within one file system. A run killed (SIGKILL, power cut of the process) while
writing leaves only a staging folder, which :meth:`CheckpointStore.latest` never considers and the next save
removes; a folder under a final name is always complete.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import torch

__all__ = [
    "LORA_FILE",
    "OPTIMIZER_FILE",
    "STATE_FILE",
    "CheckpointStore",
    "load_rng_state",
    "read_state",
    "save_rng_state",
    "step_of",
    "write_state",
]

LORA_FILE = "lora.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "state.json"

_FINAL = re.compile(r"^step-(\d{8})$")
_STAGING = re.compile(r"^\.step-\d{8}\.partial$")


class CheckpointStore:
    """The checkpoint folders of one run: naming, latest complete one, atomic commit, pruning old ones."""

    def __init__(self, folder: Path, keep: int):
        if keep < 1:
            raise ValueError(f"keep_checkpoints must be at least 1, got {keep}")
        self.folder = Path(folder)
        self.keep = keep

    def path(self, step: int) -> Path:
        return self.folder / f"step-{step:08d}"

    def staging(self, step: int) -> Path:
        return self.folder / f".step-{step:08d}.partial"

    def complete(self) -> list[Path]:
        """Complete checkpoints, oldest first; staging folders and unrelated names are ignored."""
        if not self.folder.is_dir():
            return []
        found = [p for p in self.folder.iterdir() if p.is_dir() and _FINAL.match(p.name)]
        return sorted(found, key=step_of)

    def latest(self) -> Path | None:
        """The complete checkpoint with the highest step, or None."""
        found = self.complete()
        return found[-1] if found else None

    def begin(self, step: int) -> Path:
        """Create an empty staging folder for ``step``, removing any left by an interrupted save. Main process only."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.iterdir():
            if stale.is_dir() and _STAGING.match(stale.name):
                shutil.rmtree(stale)
        staging = self.staging(step)
        staging.mkdir()
        return staging

    def commit(self, step: int) -> Path:
        """Publish the staging folder of ``step`` under its final name in one rename, then drop old checkpoints.

        A checkpoint of the same step from an earlier run (a resumed run saving again) is moved aside first, so the
        final name always holds one complete folder.
        """
        final = self.path(step)
        if final.exists():
            retired = self.folder / f".{final.name}.retired"
            shutil.rmtree(retired, ignore_errors=True)
            final.replace(retired)
            self.staging(step).replace(final)
            shutil.rmtree(retired)
        else:
            self.staging(step).replace(final)
        for old in self.complete()[: -self.keep]:
            shutil.rmtree(old)
        return final


def step_of(checkpoint: Path) -> int:
    """The step number in a checkpoint folder's name."""
    match = _FINAL.match(checkpoint.name)
    if match is None:
        raise ValueError(f"{checkpoint} is not a checkpoint folder (expected a name like step-00000500)")
    return int(match.group(1))


def write_state(folder: Path, state: dict) -> None:
    (folder / STATE_FILE).write_text(json.dumps(state, indent=1), encoding="utf-8")


def read_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))


def _rng_file(folder: Path, rank: int) -> Path:
    return folder / f"rng-rank{rank}.pt"


def save_rng_state(folder: Path, rank: int) -> None:
    """This process's generator states: torch CPU, every CUDA device (when present), Python ``random``."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(state, _rng_file(folder, rank))


def load_rng_state(checkpoint: Path, rank: int) -> bool:
    """Restore this process's generator states; False when the checkpoint has none for this rank."""
    file = _rng_file(checkpoint, rank)
    if not file.is_file():
        return False
    state = torch.load(file, weights_only=True)
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    return True
