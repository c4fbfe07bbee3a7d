"""Write toy clips as a dataset folder the ReCo trainer reads, and find the clips of such a folder again.

The folder has ReCo-Data's shape: ``manifest.json`` rows with ``src_video``, ``tar_video``, ``mask_video`` (white on
black), ``instruction`` and ``task``, videos in ``src/``, ``tar/`` and ``mask/``. Each row also keeps ``clip_id``,
``split``, ``index``, ``frames`` and ``size``: the metrics regenerate the exact ground truth from those instead of
trusting the lossy mp4s. Videos go through the package's own H.264 writer at its visually lossless quality, 16 fps.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..paths import resolve_inside
from ..video_io import write_video
from .world import ToyClip, make_clip

FPS = 16
MANIFEST_NAME = "manifest.json"
_VIDEO_FOLDERS = {"src_video": "src", "tar_video": "tar", "mask_video": "mask"}


@dataclass(frozen=True)
class ToyRow:
    """What a manifest row says about a toy clip: enough to regenerate it, and where its two videos lie."""

    clip_id: str
    split: str
    index: int
    task: str
    frames: int
    size: int
    source_video: Path
    target_video: Path

    def regenerate(self) -> ToyClip:
        return make_clip(self.split, self.index, self.task, frames=self.frames, size=self.size)


def write_split(
    folder: str | os.PathLike[str], split: str, count: int, frames: int = 9, size: int = 96, *, workers: int = 2
) -> Path:
    """Render clips 0..count-1 of `split` into `folder` (created if needed) and return the folder.

    The manifest is written last, under a temporary name and renamed into place, so an interrupted run never leaves
    a manifest that names missing videos. ffmpeg runs as subprocesses, so `workers` threads encode in parallel.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}.")
    folder = Path(folder)
    for name in _VIDEO_FOLDERS.values():
        (folder / name).mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        rows = list(pool.map(lambda index: _write_clip(folder, make_clip(split, index, frames=frames, size=size)),
                             range(count)))
    manifest = folder / MANIFEST_NAME
    partial = manifest.with_suffix(".json.partial")
    partial.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, manifest)
    return folder


def read_toy_rows(manifest: str | os.PathLike[str]) -> list[ToyRow]:
    """The toy rows of a dataset folder or its manifest.json; a ValueError naming the row when one is not a toy row."""
    path = Path(manifest)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass a toy dataset folder or its {MANIFEST_NAME}.")
    records = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for number, record in enumerate(records):
        missing = [name for name in ("clip_id", "split", "index", "task", "frames", "size", "src_video", "tar_video")
                   if name not in record]
        if missing:
            raise ValueError(
                f"{path} row {number} lacks {', '.join(missing)}: it is not a toy clip row; write the folder with "
                "reco_core.toy.dataset.write_split."
            )
        rows.append(ToyRow(
            clip_id=record["clip_id"], split=record["split"], index=int(record["index"]), task=record["task"],
            frames=int(record["frames"]), size=int(record["size"]),
            source_video=resolve_inside(path.parent, record["src_video"], "src_video", "the dataset folder"),
            target_video=resolve_inside(path.parent, record["tar_video"], "tar_video", "the dataset folder"),
        ))
    return rows


def _write_clip(folder: Path, clip: ToyClip) -> dict[str, object]:
    mask = np.repeat(clip.mask[..., None], 3, axis=-1).astype(np.uint8) * 255
    row: dict[str, object] = {}
    for field, pixels in (("src_video", clip.source), ("tar_video", clip.target), ("mask_video", mask)):
        relative = f"{_VIDEO_FOLDERS[field]}/{clip.clip_id}.mp4"
        write_video(folder / relative, torch.from_numpy(pixels).float() / 255, FPS)
        row[field] = relative
    return {
        **row,
        "instruction": clip.instruction,
        "task": clip.task,
        "clip_id": clip.clip_id,
        "split": clip.split,
        "index": clip.index,
        "frames": int(clip.source.shape[0]),
        "size": int(clip.source.shape[1]),
        "source_caption": clip.source_caption,
        "target_caption": clip.target_caption,
    }
