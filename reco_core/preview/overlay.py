"""Paint a region map over video frames so a person can see where an edit happens.

Colormaps are small anchor tables interpolated linearly, which is all a preview needs and keeps matplotlib out of the
dependencies. The anchors approximate the well-known maps; they are not the exact published tables.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["COLORMAPS", "colorize", "render_overlay", "side_by_side"]


def _hex_colors(*codes: str) -> tuple[tuple[float, float, float], ...]:
    return tuple(tuple(int(code[i : i + 2], 16) / 255.0 for i in (1, 3, 5)) for code in codes)


COLORMAPS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "inferno": _hex_colors("#000004", "#420a68", "#932667", "#dd513a", "#fca50a", "#fcffa4"),
    "viridis": _hex_colors("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"),
    "turbo": _hex_colors(
        "#30123b", "#4662d8", "#35abf8", "#1be5b5", "#74fe5d", "#c9ef34", "#fbb938", "#eb5a0f", "#7a0403"
    ),
    # One hue getting brighter: low values read as dark red, the top is pure red.
    "red": _hex_colors("#330000", "#660000", "#990000", "#cc0000", "#ff0000"),
}
"""Anchor colours (RGB in [0, 1]) of each colormap, evenly spaced over values 0..1."""


def colorize(values: torch.Tensor, colormap: str = "inferno") -> torch.Tensor:
    """Map values in [0, 1] (any shape S) to colours (S, 3) by linear interpolation between the anchors.

    The anchors form a 1-pixel-high texture and ``grid_sample`` with ``align_corners=True`` interpolates it: value 0
    lands on the first anchor, 1 on the last. On CPU this is about three times faster than gathering anchor pairs,
    which matters for full-size previews (81 x 480 x 832 values).
    """
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose one of {sorted(COLORMAPS)}")
    anchors = torch.tensor(COLORMAPS[colormap], dtype=torch.float32, device=values.device)
    texture = anchors.T.reshape(1, 3, 1, anchors.shape[0])
    x = values.float().clamp(0.0, 1.0).reshape(1, 1, -1) * 2.0 - 1.0
    grid = torch.stack((x, torch.zeros_like(x)), dim=-1)
    colours = F.grid_sample(texture, grid, mode="bilinear", align_corners=True)
    return colours.reshape(3, -1).T.reshape(*values.shape, 3)


def render_overlay(
    frames: torch.Tensor,
    region: torch.Tensor,
    opacity: float = 0.5,
    colormap: str = "inferno",
    threshold: float = 0.0,
) -> torch.Tensor:
    """Blend a colorized region map (F, H, W) in [0, 1] over frames (F, H, W, 3); return float32 (F, H, W, 3) in [0, 1].

    Each pixel's alpha is ``opacity * value``: the colour fades in with the strength of the region, so weak
    differences stay faint and the frame remains readable. Pixels whose value is below ``threshold`` keep the frame
    exactly. At opacity 1 and value 1 the pixel is the colormap's top colour.
    """
    if not isinstance(frames, torch.Tensor) or frames.dim() != 4 or frames.shape[-1] != 3:
        shape = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f"frames must be RGB video (F, H, W, 3), got {shape}")
    if not isinstance(region, torch.Tensor) or tuple(region.shape) != tuple(frames.shape[:3]):
        shape = tuple(region.shape) if isinstance(region, torch.Tensor) else type(region).__name__
        raise ValueError(
            f"region has shape {shape} but frames are (F, H, W) = {tuple(frames.shape[:3])}; bring the map to the "
            f"frames' size first, e.g. reco_core.region_map.region_map_to_pixels(map, frames=F, height=H, width=W)"
        )
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    base = frames.float()
    values = region.to(device=base.device, dtype=torch.float32).clamp(0.0, 1.0)
    alpha = torch.where(values >= threshold, opacity * values, torch.zeros_like(values)).unsqueeze(-1)
    blended = base * (1.0 - alpha) + colorize(values, colormap) * alpha
    return blended.clamp(0.0, 1.0)


def side_by_side(*videos: torch.Tensor) -> torch.Tensor:
    """Concatenate videos (F, H, W_i, C) along the width, e.g. source | edit | overlay in one preview."""
    if not videos:
        raise ValueError("side_by_side needs at least one video")
    first = videos[0]
    for index, video in enumerate(videos):
        if video.dim() != 4 or video.shape[:2] != first.shape[:2] or video.shape[3] != first.shape[3]:
            raise ValueError(
                f"video {index} has shape {tuple(video.shape)}, but side by side needs (F, H, W, C) with the same "
                f"F, H and C as video 0 {tuple(first.shape)}; resize or trim the videos to match first"
            )
    return torch.cat([video.to(device=first.device, dtype=first.dtype) for video in videos], dim=2)
