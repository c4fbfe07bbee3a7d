"""Still images out of an edit: a one-frame source edited as a one-frame clip comes back as an image file.

`python -m reco_core edit in.png out.png` should give a picture, not an H.264 stream under a .png name. The frame is
enlarged back to the source's own size (the edit ran at the working size) and written under a temporary name that
is renamed into place, so a failure leaves no partial file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .canvas import resize_frames

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def is_image_path(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def write_still(path: str | Path, frames: torch.Tensor, size: tuple[int, int]) -> Path:
    """Write the one frame of ``frames`` (1, H, W, 3) in [0, 1] at ``size`` = (width, height); returns the path."""
    path = Path(path)
    if frames.ndim != 4 or frames.shape[0] != 1:
        raise ValueError(f"{path.name} is an image file, which holds one frame, but the edit has {frames.shape[0]}: "
                         "write a video (.mp4), or edit a still.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist; create it first.")
    width, height = size
    frame = resize_frames(frames.float().cpu(), height, width)[0].clamp(0, 1).mul(255).round().to(torch.uint8)
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.partial{path.suffix}")
    try:
        Image.fromarray(np.ascontiguousarray(frame.numpy())).save(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
