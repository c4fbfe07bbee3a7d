"""A tiny ReCo training set on disk: real mp4 pairs (a red square turned blue), a mask video, saved prompt
embeddings, and one bad row, in a manifest with ReCo-Data's field names."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from reco_core.video_io import write_video

FRAMES, SIZE = 9, 32


def square_clip(color: tuple[float, float, float], frames: int = FRAMES) -> torch.Tensor:
    pixels = torch.linspace(0.2, 0.6, SIZE).expand(frames, SIZE, SIZE).unsqueeze(-1).repeat(1, 1, 1, 3)
    pixels[:, 8:24, 8:24] = torch.tensor(color)
    return pixels


def write_tiny_dataset(folder: Path, prompt_embeds: Path) -> Path:
    """Two good rows (a masked replace and a style edit) and a row whose target is missing."""
    folder.mkdir(parents=True, exist_ok=True)
    write_video(folder / "src.mp4", square_clip((0.9, 0.1, 0.1)), 16)
    write_video(folder / "tar.mp4", square_clip((0.1, 0.1, 0.9)), 16)
    mask = torch.zeros(FRAMES, SIZE, SIZE, 3)
    mask[:, 8:24, 8:24] = 1.0
    write_video(folder / "mask.mp4", mask, 16)
    (folder / "embeds.safetensors").write_bytes(prompt_embeds.read_bytes())
    rows = [
        {"src_video": "src.mp4", "tar_video": "tar.mp4", "mask_video": "mask.mp4", "task": "replace",
         "instruction_final_refine": "Make the red square blue.", "prompt_embeds": "embeds.safetensors"},
        {"src_video": "src.mp4", "tar_video": "tar.mp4", "task": "style", "instruction": "Make it blue.",
         "prompt_embeds": "embeds.safetensors"},
        {"src_video": "src.mp4", "tar_video": "missing.mp4", "instruction": "x"},
    ]
    (folder / "manifest.json").write_text(json.dumps(rows))
    return folder
