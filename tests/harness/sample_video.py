"""A deterministic synthetic clip with something to edit: a bright square moving across a color gradient."""

from __future__ import annotations

from pathlib import Path

import torch

from reco_core.video_io import write_video

FRAMES, WIDTH, HEIGHT, FPS = 7, 56, 40, 24.0


def sample_frames(frames: int = FRAMES, width: int = WIDTH, height: int = HEIGHT) -> torch.Tensor:
    rows = torch.linspace(0, 1, height).view(1, height, 1).expand(frames, height, width)
    columns = torch.linspace(0, 1, width).view(1, 1, width).expand(frames, height, width)
    video = torch.stack([columns, rows, 1 - columns], dim=-1).clone()
    for index in range(frames):
        left = 4 + 4 * index
        video[index, 12:24, left:left + 12] = torch.tensor([1.0, 0.9, 0.1])
    return video


def write_sample_video(path: Path) -> Path:
    return write_video(path, sample_frames(), FPS)
