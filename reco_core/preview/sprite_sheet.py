"""Sprite sheets for the region previewer: every frame of a clip shrunk and tiled into one image.

A browser plays a preview far more easily from one image per panel than from one file per frame: one /view request,
one decode, and frame i is a copy of one cell. Frames are only ever shrunk (to at most 256 px wide by default, so an
81-frame sheet stays near 2 MP) and the grid is chosen close to square in pixels, so neither side of the sheet runs
into browsers' image size limits; a clip so long that a side would pass ``max_side`` gets smaller cells instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["SheetLayout", "plan_sheet", "shrink_frames", "tile_frames"]

MAX_FRAME_WIDTH = 256
# Far below Chromium's and Firefox's limits on decoded image sides (32767), and a sheet stays a few MB as PNG.
MAX_SIDE = 8192


@dataclass(frozen=True)
class SheetLayout:
    """``frames`` cells of ``frame_width`` x ``frame_height`` px, row-major in ``columns`` columns."""

    frames: int
    frame_width: int
    frame_height: int
    columns: int

    @property
    def rows(self) -> int:
        return -(-self.frames // self.columns)

    @property
    def width(self) -> int:
        return self.columns * self.frame_width

    @property
    def height(self) -> int:
        return self.rows * self.frame_height

    def origin(self, index: int) -> tuple[int, int]:
        """(x, y) of frame ``index``'s top-left pixel in the sheet."""
        if not 0 <= index < self.frames:
            raise IndexError(f"frame {index} is outside the sheet's {self.frames} frames")
        return (index % self.columns) * self.frame_width, (index // self.columns) * self.frame_height


def plan_sheet(
    frames: int, height: int, width: int, max_frame_width: int = MAX_FRAME_WIDTH, max_side: int = MAX_SIDE
) -> SheetLayout:
    """The layout for ``frames`` frames of ``height`` x ``width`` px.

    Columns ~ sqrt(frames * height / width) make columns * width ~ rows * height. The cell keeps the frame's aspect
    ratio (to the nearest pixel) and is never larger than the frame.
    """
    for name, value in (("frames", frames), ("height", height), ("width", width),
                        ("max_frame_width", max_frame_width), ("max_side", max_side)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    columns = min(frames, max(1, round(math.sqrt(frames * height / width))))
    rows = -(-frames // columns)
    cell_width = min(width, max_frame_width, max_side // columns)
    cell_height = max(1, round(height * cell_width / width))
    if cell_height > max_side // rows:
        cell_height = max_side // rows
        cell_width = min(cell_width, max(1, round(width * cell_height / height)))
    if cell_width < 1 or cell_height < 1:
        raise ValueError(
            f"{frames} frames of {width} x {height} do not fit a {max_side} px sheet even at 1 px per frame; "
            "preview a shorter clip"
        )
    return SheetLayout(frames, cell_width, cell_height, columns)


def shrink_frames(video: torch.Tensor, layout: SheetLayout) -> torch.Tensor:
    """Float video (F, H, W, C) -> (F, frame_height, frame_width, C) float32, antialiased; unchanged if it fits."""
    if video.dim() != 4 or video.shape[0] != layout.frames:
        raise ValueError(f"video must be ({layout.frames}, H, W, C) for this layout, got {tuple(video.shape)}")
    cells = video.float()
    if tuple(cells.shape[1:3]) == (layout.frame_height, layout.frame_width):
        return cells
    channels_first = cells.movedim(-1, 1)
    resized = F.interpolate(channels_first, size=(layout.frame_height, layout.frame_width), mode="bilinear",
                            align_corners=False, antialias=True)
    return resized.movedim(1, -1)


def tile_frames(cells: torch.Tensor, layout: SheetLayout) -> torch.Tensor:
    """Cells (F, frame_height, frame_width, C) in [0, 1] -> the uint8 sheet (height, width, C); unused cells black."""
    expected = (layout.frames, layout.frame_height, layout.frame_width)
    if cells.dim() != 4 or tuple(cells.shape[:3]) != expected:
        raise ValueError(f"cells must be {expected} + (C,) for this layout (see shrink_frames), "
                         f"got {tuple(cells.shape)}")
    channels = cells.shape[-1]
    quantized = (cells.float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    padded = torch.zeros((layout.rows * layout.columns, *expected[1:], channels), dtype=torch.uint8)
    padded[: layout.frames] = quantized.cpu()
    grid = padded.reshape(layout.rows, layout.columns, layout.frame_height, layout.frame_width, channels)
    return grid.permute(0, 2, 1, 3, 4).reshape(layout.height, layout.width, channels)
