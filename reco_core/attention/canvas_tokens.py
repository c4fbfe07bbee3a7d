"""Map a per-half region mask onto the token order of ReCo's side-by-side canvas.

ReCo denoises the source and the edited video on one canvas twice as wide. After patchify the tokens run
(frame, row, column) row-major over an F x H x 2W grid: columns 0..W-1 are the source half, W..2W-1 the target half.
Edit masks, however, are drawn once per half (F, H, W), aligned with the source, and mean the same place in both halves.
Every region constraint needs the same four token sets derived from that mask, so they are computed here once, as
length-N vectors, and never as anything token-pair sized.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import torch


class CanvasRegion(IntEnum):
    """Integer label of a canvas token: which half it sits in and whether the edit mask covers it."""

    SOURCE_REST = 0
    SOURCE_EDIT = 1
    TARGET_REST = 2
    TARGET_EDIT = 3


@dataclass(frozen=True)
class CanvasParts:
    """The four token sets of the canvas, either as bool vectors of length N or as sorted int64 index vectors."""

    source_edit: torch.Tensor
    source_rest: torch.Tensor
    target_edit: torch.Tensor
    target_rest: torch.Tensor


def check_region(region: torch.Tensor, name: str = "region") -> tuple[int, int, int]:
    """Return (F, H, W) of a per-half region mask, or raise a ValueError naming the argument.

    The mask must be bool so that nobody passes a soft latent mask and silently gets it thresholded at 0.
    """
    if not isinstance(region, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(region).__name__}")
    if region.dim() != 3:
        raise ValueError(f"{name} must have shape (F, H, W) on the per-half token grid, got {tuple(region.shape)}")
    if region.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool tensor, got dtype {region.dtype}")
    frames, height, width = region.shape
    if frames == 0 or height == 0 or width == 0:
        raise ValueError(f"{name} must have no empty dimension, got {tuple(region.shape)}")
    return frames, height, width


def canvas_token_count(region: torch.Tensor, name: str = "region") -> int:
    """Number of tokens N = F * H * 2W of the canvas that the per-half mask describes."""
    frames, height, width = check_region(region, name)
    return frames * height * 2 * width


def check_canvas_length(length: int, region: torch.Tensor, what: str, region_name: str = "region") -> None:
    """Raise a ValueError when a token sequence (named ``what``) does not have the canvas length of ``region``."""
    expected = canvas_token_count(region, region_name)
    if length != expected:
        frames, height, width = region.shape
        raise ValueError(
            f"{what} has {length} tokens but {region_name} of shape {(frames, height, width)} "
            f"describes a canvas of {frames}*{height}*{2 * width} = {expected} tokens"
        )


def join_halves(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Flatten two per-half grids (F, H, W) into one canvas vector of length F*H*2W in token order.

    Concatenating along the width before flattening is what puts each row's source columns directly before the same
    row's target columns, matching the patchified canvas.
    """
    if source.dim() != 3 or source.shape != target.shape:
        raise ValueError(
            f"source and target must both have shape (F, H, W), got {tuple(source.shape)} and {tuple(target.shape)}"
        )
    return torch.cat((source, target), dim=2).reshape(-1)


def canvas_masks(region: torch.Tensor, device: torch.device | str | None = None) -> CanvasParts:
    """Bool vectors of length N selecting source-edit, source-rest, target-edit and target-rest tokens."""
    check_region(region)
    region = region.to(device) if device is not None else region
    outside = ~region
    nothing = torch.zeros_like(region)
    return CanvasParts(
        source_edit=join_halves(region, nothing),
        source_rest=join_halves(outside, nothing),
        target_edit=join_halves(nothing, region),
        target_rest=join_halves(nothing, outside),
    )


def canvas_indices(region: torch.Tensor, device: torch.device | str | None = None) -> CanvasParts:
    """Sorted int64 token indices of the four canvas sets, for gathering queries or keys with ``index_select``."""
    masks = canvas_masks(region, device)
    return CanvasParts(
        source_edit=torch.nonzero(masks.source_edit).squeeze(1),
        source_rest=torch.nonzero(masks.source_rest).squeeze(1),
        target_edit=torch.nonzero(masks.target_edit).squeeze(1),
        target_rest=torch.nonzero(masks.target_rest).squeeze(1),
    )


def canvas_labels(region: torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """Int64 vector of length N holding the :class:`CanvasRegion` label of every canvas token.

    This is the form that label-pair attention modulation consumes (one label per query and per key).
    """
    check_region(region)
    region = region.to(device) if device is not None else region
    source = torch.where(region, int(CanvasRegion.SOURCE_EDIT), int(CanvasRegion.SOURCE_REST))
    target = torch.where(region, int(CanvasRegion.TARGET_EDIT), int(CanvasRegion.TARGET_REST))
    return join_halves(source, target)
