"""Where the two halves of ReCo's canvas differ: the latent region signal, as a map and as the training loss.

ReCo's L_latent rewards a denoised estimate x0_hat (B, C, T, h, 2w) whose target half (latent columns [w, 2w)) differs
from its source half (columns [0, w)) inside the edit region and matches it outside. The per-cell difference
a = mean over channels of |right - left| is therefore also a readout of where the model is editing. This module
computes it once and uses it three ways: the loss itself, a normalised map for previews, and an edit-region estimate
from the first sampling steps (used when the user gives no mask).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .wan_latent import latent_frame_of_pixel, pixel_frame_count, pixel_size

__all__ = [
    "estimate_region_mask",
    "half_difference",
    "latent_region_loss",
    "otsu_threshold",
    "region_map",
    "region_map_to_pixels",
]


def half_difference(x0_hat: torch.Tensor) -> torch.Tensor:
    """a = mean over channels of |x0_hat[target half] - x0_hat[source half]|, (B, C, T, h, 2w) -> (B, T, h, w).

    Computed in float32 (bf16 differences of nearly equal halves lose most of their bits) and differentiable.
    """
    if not isinstance(x0_hat, torch.Tensor) or x0_hat.dim() != 5:
        shape = tuple(x0_hat.shape) if isinstance(x0_hat, torch.Tensor) else type(x0_hat).__name__
        raise ValueError(f"x0_hat must be a canvas latent (B, C, T, h, 2w), got {shape}")
    width = x0_hat.shape[-1]
    if width == 0 or width % 2:
        raise ValueError(
            f"x0_hat's width {width} is not even; a canvas latent holds the source and target halves side by side"
        )
    source, target = x0_hat.float().split(width // 2, dim=-1)
    return (target - source).abs().mean(dim=1)


def region_map(x0_hat: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """Half difference normalised per sample to [0, 1]: (B, C, T, h, 2w) -> (B, T, h, w).

    Dividing by a high percentile instead of the maximum keeps a few outlier cells from washing out the rest; values
    above it clamp to 1. A sample whose halves are identical (percentile 0) maps to all zeros rather than NaN.
    """
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    difference = half_difference(x0_hat)
    flat = difference.flatten(start_dim=1)
    scale = torch.quantile(flat, percentile / 100.0, dim=1).reshape(-1, 1, 1, 1)
    normalised = difference / scale.clamp_min(torch.finfo(difference.dtype).tiny)
    return torch.where(scale > 0, normalised.clamp(0.0, 1.0), torch.zeros_like(normalised))


def region_map_to_pixels(
    region: torch.Tensor, frames: int | None = None, height: int | None = None, width: int | None = None
) -> torch.Tensor:
    """Upsample a latent-grid map (T, h, w) to pixel frames (F, H, W) for previews and overlays.

    Time follows the VAE's grouping in reverse (pixel frame 0 <- latent 0, pixel frames 4t-3 .. 4t <- latent t), so a
    preview frame shows the latent frame that actually encodes it; space is bilinear. The defaults are the full
    decode, F = 4(T-1)+1, H = 8h, W = 8w. A smaller ``frames`` that still needs all T latent frames (a clip padded
    to 4n+1 and cropped back) is accepted; any size can be asked for in space (e.g. the source before resizing).
    """
    if not isinstance(region, torch.Tensor) or region.dim() != 3 or min(region.shape) == 0:
        shape = tuple(region.shape) if isinstance(region, torch.Tensor) else type(region).__name__
        raise ValueError(f"region must be a non-empty (T, h, w) map on the latent grid, got {shape}")
    latent_frames, h, w = region.shape
    full_height, full_width = pixel_size(h, w)
    frames = pixel_frame_count(latent_frames) if frames is None else frames
    height = full_height if height is None else height
    width = full_width if width is None else width
    low = 1 if latent_frames == 1 else pixel_frame_count(latent_frames - 1) + 1
    if not low <= frames <= pixel_frame_count(latent_frames):
        raise ValueError(f"{latent_frames} latent frames decode to {low}..{pixel_frame_count(latent_frames)} pixel "
                         f"frames, got frames={frames}")
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    index = latent_frame_of_pixel(torch.arange(frames, device=region.device))
    per_frame = region.float()[index]
    return F.interpolate(per_frame.unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False).squeeze(1)


def otsu_threshold(values: torch.Tensor) -> float | None:
    """Otsu's threshold of a set of values, or None when they are all equal (there is nothing to split).

    Exact rather than histogram based: every gap between consecutive sorted values is tried and the midpoint of the
    gap with the largest between-class variance is returned, so ``values > threshold`` is exactly Otsu's split.
    """
    ordered = values.detach().double().flatten().sort().values
    count = ordered.numel()
    if count < 2 or ordered[0] == ordered[-1]:
        return None
    below = torch.arange(1, count, dtype=torch.float64, device=ordered.device)
    sums = ordered.cumsum(dim=0)
    mean_below = sums[:-1] / below
    mean_above = (sums[-1] - sums[:-1]) / (count - below)
    between = below * (count - below) * (mean_below - mean_above) ** 2
    between = torch.where(ordered[1:] > ordered[:-1], between, torch.full_like(between, -1.0))
    split = int(torch.argmax(between))
    return float((ordered[split] + ordered[split + 1]) / 2)


def estimate_region_mask(
    maps: Sequence[torch.Tensor] | torch.Tensor, threshold: float | None = 0.5, first_steps: int | None = None
) -> torch.Tensor:
    """Bool (T, h, w) edit region from per-step region maps (each (T, h, w) in [0, 1]).

    The maps of the first ``first_steps`` (all when None) are averaged: early steps already decide layout, and the
    average is steadier than any single step. Cells above ``threshold`` are in; ``threshold=None`` uses Otsu's
    threshold of the average. An average with no spread gives Otsu nothing to split, and then 0.5 is used: all
    zeros (identical halves, nothing edited) gives no region, a saturated map (a global edit such as style) gives all.
    """
    if isinstance(maps, torch.Tensor):
        stack = maps
    else:
        stack = torch.stack(list(maps)) if len(maps) else torch.empty(0)
    if stack.dim() != 4 or stack.shape[0] == 0:
        raise ValueError(
            f"maps must be a non-empty sequence of (T, h, w) maps or one (S, T, h, w) tensor, got {tuple(stack.shape)}"
        )
    if first_steps is not None:
        if first_steps < 1:
            raise ValueError(f"first_steps must be at least 1, got {first_steps}")
        stack = stack[:first_steps]
    average = stack.float().mean(dim=0)
    if threshold is None:
        otsu = otsu_threshold(average)
        threshold = 0.5 if otsu is None else otsu
    return average > threshold


def latent_region_loss(x0_hat: torch.Tensor, latent_mask: torch.Tensor) -> torch.Tensor:
    """ReCo's L_latent: weighted_mean(a over mask = 0) - weighted_mean(a over mask = 1), averaged over the batch.

    ``a`` is :func:`half_difference` of x0_hat (B, C, T, h, 2w); ``latent_mask`` is (T, h, w), shared by every sample,
    or (B, T, h, w), with values in [0, 1] used as weights (soft masks work). Minimising it pushes the halves apart
    inside the edit region and together outside.

    A term whose weights sum to zero is undefined and is dropped, so the loss is never NaN: an all-ones mask gives
    -mean(a) and an all-zeros mask gives +mean(a). ReCo itself applies no region loss to style edits (all-ones
    masks), so the trainer should skip this call for them rather than rely on that value.
    """
    difference = half_difference(x0_hat)
    batch, frames, h, w = difference.shape
    mask = latent_mask.to(device=difference.device, dtype=difference.dtype)
    if mask.dim() == 3:
        mask = mask.unsqueeze(0).expand(batch, -1, -1, -1)
    if mask.shape != difference.shape:
        raise ValueError(
            f"latent_mask has shape {tuple(latent_mask.shape)} but one half of x0_hat is (T, h, w) = {(frames, h, w)} "
            f"for {batch} sample(s); give (T, h, w) or (B, T, h, w) on the latent grid (see regions.kmeans_latent_mask)"
        )
    inside = mask.flatten(start_dim=1)
    outside = 1.0 - inside
    flat = difference.flatten(start_dim=1)
    return (_weighted_mean(flat, outside) - _weighted_mean(flat, inside)).mean()


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-row weighted mean of (B, N) values; 0 (not NaN) for a row whose weights sum to zero."""
    total = weights.sum(dim=1)
    weighted = (values * weights).sum(dim=1)
    return torch.where(total > 0, weighted / total.clamp_min(torch.finfo(total.dtype).tiny), torch.zeros_like(total))
