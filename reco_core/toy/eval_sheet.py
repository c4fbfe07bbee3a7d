"""The eval stage's picture: each scored clip as a row of source | true target | every prediction, first and last frame.

Numbers say how far an edit is from the answer; only a picture says what kind of wrong it is (noise, blur, a copy,
the wrong object), which is what the next training change has to answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

from ..video_io import read_video


def _first_and_last(video: torch.Tensor) -> torch.Tensor:
    return torch.cat((video[0], video[-1]), dim=1)


def eval_sheet(split: Path, predictions: dict[str, Path]) -> Image.Image:
    """One row per manifest row of `split`; `predictions` maps a label to a folder of `<clip_id>.mp4` edits."""
    rows = []
    for row in json.loads((split / "manifest.json").read_text()):
        videos = [read_video(split / row["src_video"])[0], read_video(split / row["tar_video"])[0]]
        videos += [read_video(folder / f"{row['clip_id']}.mp4")[0] for folder in predictions.values()]
        rows.append(torch.cat([_first_and_last(video) for video in videos], dim=1))
    sheet = torch.cat(rows, dim=0)
    return Image.fromarray((sheet * 255).round().clamp(0, 255).to(torch.uint8).numpy())
