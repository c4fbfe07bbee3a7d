"""Bring a region map to the frames it is shown over, whatever produced it.

A previewer is fed maps of several shapes: ReCoSplit's map matches the edited frames, ReCoSampler's covers one canvas
half (its frames are the whole decoded canvas, twice as wide), and any other MASK node may give one frame for the whole
clip or a different resolution. Each case has one obvious reading, applied here so that the overlay IMAGE and the
in-node preview show the same thing.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = ["AlignedMap", "align_region_map"]


class AlignedMap(NamedTuple):
    values: torch.Tensor
    """float32 (F, H, W): the map at the frames' size."""
    right_half: bool
    """True when the frames are a [source | edit] canvas and the map covered its right half only."""


def align_region_map(region_map: torch.Tensor, frames: int, height: int, width: int) -> AlignedMap:
    """A map (Fm, Hm, Wm) or (Hm, Wm) -> (frames, height, width).

    Time: one map frame is used for every frame; otherwise Fm must equal ``frames``. Space: the frames' size is used
    as is; a map as tall as the frames and half as wide is a canvas half map and fills the right half (the left half,
    the source, gets 0); any other size is resized bilinearly.
    """
    if not isinstance(region_map, torch.Tensor) or region_map.dim() not in (2, 3) or min(region_map.shape) == 0:
        shape = tuple(region_map.shape) if isinstance(region_map, torch.Tensor) else type(region_map).__name__
        raise ValueError(f"region_map must be a MASK (frames, height, width), got {shape}")
    values = region_map.float() if region_map.dim() == 3 else region_map.float().unsqueeze(0)
    map_frames, map_height, map_width = values.shape
    if map_frames not in (1, frames):
        raise ValueError(
            f"region_map has {map_frames} frames but frames has {frames}: connect the map that belongs to these frames "
            "(ReCoSplit's region_map with its edited frames, ReCoSampler's region_map with the decoded canvas), or a "
            "single-frame mask to show on every frame"
        )
    right_half = width % 2 == 0 and (map_height, map_width) == (height, width // 2)
    if right_half:
        values = torch.cat((torch.zeros_like(values), values), dim=2)
    elif (map_height, map_width) != (height, width):
        values = F.interpolate(values.unsqueeze(1), size=(height, width), mode="bilinear",
                               align_corners=False).squeeze(1)
    return AlignedMap(values.expand(frames, height, width).contiguous(), right_half)
