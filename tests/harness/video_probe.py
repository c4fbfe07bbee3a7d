"""What a video file really holds, asked of ffmpeg itself (through imageio-ffmpeg's binary)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg


@dataclass(frozen=True)
class VideoFacts:
    frames: int
    width: int
    height: int
    fps: float


def probe_video(path: Path) -> VideoFacts:
    """Decodes every frame (so a truncated or corrupt file fails here) and reports count, size and rate."""
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = sum(1 for _ in reader)
    width, height = meta["size"]
    return VideoFacts(frames=frames, width=width, height=height, fps=float(meta["fps"]))
