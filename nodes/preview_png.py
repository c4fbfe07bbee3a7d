"""PNG encoding for the previews the nodes send to the front end (temp files and live websocket images)."""

from __future__ import annotations

import io

import torch
from PIL import Image

# zlib level 1: previews are written once and read once, so speed beats a few percent of size (as PreviewImage does).
COMPRESS_LEVEL = 1


def png_bytes(sheet: torch.Tensor) -> bytes:
    """A uint8 (H, W, 1) or (H, W, 3) image -> PNG bytes (grayscale or RGB)."""
    if sheet.dtype != torch.uint8 or sheet.dim() != 3 or sheet.shape[-1] not in (1, 3):
        raise ValueError(f"expected a uint8 (H, W, 1 or 3) image, got {sheet.dtype} {tuple(sheet.shape)}")
    array = sheet.cpu().numpy()
    image = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=COMPRESS_LEVEL)
    return buffer.getvalue()
