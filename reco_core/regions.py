"""Resample pixel edit masks onto the grids ReCo's region constraints work on.

An edit mask is drawn per pixel frame, (F, H, W). The region losses and the region attention need it on coarser grids:

* the latent grid (T, H/8, W/8) of the Wan VAE, whose time axis groups pixel frames 4n+1 -> n+1
  (latent frame 0 <- pixel frame 0, latent frame t >= 1 <- pixel frames 4t-3 .. 4t);
* the token grid (T, H/16, W/16) of the DiT, which patchifies the latent 2x2.

Resampling rule. A coarse cell is "in" when the fraction of its pixels that are in exceeds ``min_coverage``. The
default 0.0 is any-pooling: a cell touched by the edit at all is in. That is the right default here because the
constraints tell the model *where it may change things*; losing a thin or small object (a 10-pixel ball vanishes under
majority pooling at 16x16) would forbid exactly the edit that was asked for, while a cell too many only lets the model
change a little background. The authors lean the same way: part of their data dilates masks 11x11 before use.

Separately, ``kmeans_latent_mask`` reproduces the authors' own latent mask, which does not pool pixels at all: the mask
video is VAE-encoded (elsewhere) and its latent vectors are split into two clusters.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .wan_latent import PATCH_SIZE, TIME_STRIDE, TOKEN_STRIDE, VAE_STRIDE, latent_frame_count

__all__ = [
    "dilate_pixel_mask",
    "kmeans_latent_mask",
    "latent_grid_to_token_grid",
    "pixel_mask_to_latent_grid",
    "pixel_mask_to_token_grid",
]


def _check_mask_grid(mask: torch.Tensor, layout: str, multiple: int, need: str) -> tuple[int, int, int]:
    """Return the three sides of a 3-D mask whose last two are positive multiples of ``multiple``, or raise.

    ``layout`` names the axes the caller expects and ``need`` says why the sides must be multiples, so each grid
    keeps its own message while the checks are written once.
    """
    if not isinstance(mask, torch.Tensor) or mask.dim() != 3:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a {layout} tensor, got {shape}")
    frames, height, width = mask.shape
    if height == 0 or width == 0 or height % multiple or width % multiple:
        raise ValueError(f"mask height and width must be positive multiples of {multiple} {need}, got {height}x{width}")
    return frames, height, width


def _check_pixel_mask(mask: torch.Tensor, multiple: int, grid: str) -> tuple[int, int, int]:
    """Return (F, H, W) of a pixel mask, or raise a ValueError saying what the ``grid`` needs."""
    frames, height, width = _check_mask_grid(
        mask, "(F, H, W)", multiple, f"for the {grid}; resize the mask to the video size that is actually encoded")
    latent_frame_count(frames, "mask")
    return frames, height, width


def _inside(mask: torch.Tensor) -> torch.Tensor:
    """Float 0/1 of which entries are in: bool as is, numbers above 0.5.

    Thresholding soft masks first keeps resize blur and anti-aliased edges from growing the region by a whole cell.
    """
    if mask.dtype == torch.bool:
        return mask.float()
    return (mask > 0.5).float()


def _check_coverage(min_coverage: float) -> None:
    if not 0.0 <= min_coverage < 1.0:
        raise ValueError(f"min_coverage must be in [0, 1) (0 = any covered pixel counts), got {min_coverage}")


def _latent_coverage(mask: torch.Tensor, latent_frames: int | None, multiple: int, grid: str) -> torch.Tensor:
    """Fraction (T, H/8, W/8) of each latent cell's pixels that are in, with the VAE's 4n+1 time grouping."""
    frames, height, width = _check_pixel_mask(mask, multiple, grid)
    count = latent_frame_count(frames, "mask")
    if latent_frames is not None and latent_frames != count:
        raise ValueError(
            f"mask has {frames} frames, which encode to {count} latent frames, but latent_frames={latent_frames}; "
            f"a mask for other frames than the video would mark the wrong place, so give it the video's frames"
        )
    h, w = height // VAE_STRIDE, width // VAE_STRIDE
    spatial = _inside(mask).reshape(frames, h, VAE_STRIDE, w, VAE_STRIDE).mean(dim=(2, 4))
    # Every group has the same pixel count, so a mean of means is the exact fraction of the group's pixels.
    grouped = spatial[1:].reshape(count - 1, TIME_STRIDE, h, w).mean(dim=1)
    return torch.cat((spatial[:1], grouped), dim=0)


def _check_latent_grid(mask: torch.Tensor) -> None:
    _check_mask_grid(mask, "(T, h, w) latent-grid", PATCH_SIZE,
                     f"(even: the DiT patchifies 2x2, so the pixel size must be a multiple of {TOKEN_STRIDE})")


def _token_coverage(latent_coverage: torch.Tensor) -> torch.Tensor:
    """Fraction (T, h/2, w/2) per token from a per-latent-cell fraction (equal cell sizes make the mean exact)."""
    t, h, w = latent_coverage.shape
    return latent_coverage.reshape(t, h // PATCH_SIZE, PATCH_SIZE, w // PATCH_SIZE, PATCH_SIZE).mean(dim=(2, 4))


def pixel_mask_to_latent_grid(
    mask: torch.Tensor, latent_frames: int | None = None, min_coverage: float = 0.0
) -> torch.Tensor:
    """Bool (T, H/8, W/8): which latent cells the pixel mask (F, H, W) covers by more than ``min_coverage``.

    ``latent_frames``, when given, is the latent length the caller works with; a mismatch raises instead of
    resampling in time, since it means mask and video disagree about which frames they describe.
    """
    _check_coverage(min_coverage)
    return _latent_coverage(mask, latent_frames, VAE_STRIDE, "latent grid (8x8 cells)") > min_coverage


def latent_grid_to_token_grid(mask: torch.Tensor, min_coverage: float = 0.0) -> torch.Tensor:
    """Bool (T, h/2, w/2): which DiT tokens the latent mask (T, h, w) covers by more than ``min_coverage``."""
    _check_coverage(min_coverage)
    _check_latent_grid(mask)
    return _token_coverage(_inside(mask)) > min_coverage


def pixel_mask_to_token_grid(
    mask: torch.Tensor, latent_frames: int | None = None, min_coverage: float = 0.0
) -> torch.Tensor:
    """Bool (T, H/16, W/16): the pixel mask (F, H, W) on the per-half token grid (21 x 30 x 52 at 81 x 480 x 832).

    Coverage is the fraction of the token's pixels, thresholded once, so this equals the two steps above for the
    default any-rule and stays exact for ``min_coverage > 0`` (two thresholds in a row would not be).
    """
    _check_coverage(min_coverage)
    grid = "token grid (16x16 pixels per token)"
    coverage = _latent_coverage(mask, latent_frames, TOKEN_STRIDE, grid)
    return _token_coverage(coverage) > min_coverage


def _dilate_frames(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """Per-frame spatial max filter (F, H, W) -> (F, H, W) with a square ``kernel``; borders do not count as in.

    A square max filter is separable: a row pass then a column pass give the same result with 2k instead of k^2
    comparisons per pixel, which roughly halves the CPU time for a full 81 x 480 x 832 mask.
    """
    half = kernel // 2
    rows = F.max_pool2d(mask.unsqueeze(1), kernel_size=(1, kernel), stride=1, padding=(0, half))
    return F.max_pool2d(rows, kernel_size=(kernel, 1), stride=1, padding=(half, 0)).squeeze(1)


def _check_kernel(kernel: int, name: str) -> None:
    if kernel < 1 or kernel % 2 == 0:
        raise ValueError(f"{name} must be an odd positive kernel size (1 = no dilation), got {kernel}")


def dilate_pixel_mask(mask: torch.Tensor, kernel: int = 11) -> torch.Tensor:
    """Grow a pixel mask (F, H, W) by a ``kernel`` x ``kernel`` square per frame, as part of ReCo's data was (11x11).

    Frames are dilated independently (no growth in time). Bool stays bool; a float mask gets a grayscale dilation
    (each pixel takes the largest value in its window), so a soft mask stays soft.
    """
    if not isinstance(mask, torch.Tensor) or mask.dim() != 3:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be a (F, H, W) tensor of pixel frames, got {shape}")
    _check_kernel(kernel, "kernel")
    if mask.dtype == torch.bool:
        return _dilate_frames(mask.float(), kernel) > 0.5
    return _dilate_frames(mask, kernel)


def _two_means(points: torch.Tensor, max_iters: int) -> torch.Tensor:
    """Lloyd's k-means with k = 2 on (N, C) points; return the bool assignment to cluster 1.

    Initialisation is deterministic so that the same mask always gives the same latent mask: the first centre is
    the point farthest from the global mean, the second the point farthest from the first. Iteration stops when no
    assignment changes. A cluster that empties keeps its previous centre rather than becoming NaN.
    """
    mean = points.mean(dim=0)
    first = points[torch.argmax(((points - mean) ** 2).sum(dim=1))]
    second = points[torch.argmax(((points - first) ** 2).sum(dim=1))]
    centres = torch.stack((first, second))
    assignment = torch.zeros(points.shape[0], dtype=torch.bool, device=points.device)
    for step in range(max_iters):
        new_assignment = torch.cdist(points, centres).argmin(dim=1).bool()
        if step > 0 and torch.equal(new_assignment, assignment):
            break
        assignment = new_assignment
        for index, members in enumerate((~assignment, assignment)):
            if members.any():
                centres[index] = points[members].mean(dim=0)
    return assignment


def kmeans_latent_mask(
    mask_latent: torch.Tensor, dilate: int = 0, max_iters: int = 100, constant_tol: float = 1e-6
) -> torch.Tensor:
    """The authors' latent edit mask: float {0, 1} (T, h, w) from the VAE encoding of the mask video.

    ``mask_latent`` is (16, T, h, w) or (1, 16, T, h, w). Its per-cell 16-d vectors are split by 2-means; the cluster
    whose vectors have the higher mean value is the edit region (1), as in the authors' code; that rule assumes the
    latent encodes white (edited) pixels to higher values than black ones, so pass the latent the VAE returns.

    A constant latent (every vector within ``constant_tol`` of the mean) has no second cluster and gives all ones. The
    only mask that encodes to a constant in ReCo's data is the all-ones mask of style edits (every edit changes
    something, so an all-zeros mask does not occur), so all ones is the answer that keeps the two consistent.

    ``dilate`` > 0 grows the result by a ``dilate`` x ``dilate`` square of latent cells per frame (odd sizes). It is a
    cheap stand-in for when only the latent is at hand; the authors' dilation is :func:`dilate_pixel_mask` on the
    pixel mask before encoding.
    """
    if mask_latent.dim() == 5 and mask_latent.shape[0] == 1:
        mask_latent = mask_latent[0]
    if mask_latent.dim() != 4 or min(mask_latent.shape) == 0:
        raise ValueError(
            "mask_latent must be one encoded mask video, (C, T, h, w) or (1, C, T, h, w), "
            f"got {tuple(mask_latent.shape)}"
        )
    if dilate != 0:
        _check_kernel(dilate, "dilate")
    channels, frames, h, w = mask_latent.shape
    points = mask_latent.detach().double().reshape(channels, -1).T
    spread = (points - points.mean(dim=0)).norm(dim=1).max()
    if spread <= constant_tol:
        return torch.ones(frames, h, w, dtype=torch.float32, device=mask_latent.device)
    assignment = _two_means(points, max_iters)
    if assignment.all() or not assignment.any():
        # Only degenerate data can end in one cluster; it carries no region, like a constant latent.
        return torch.ones(frames, h, w, dtype=torch.float32, device=mask_latent.device)
    value = points.mean(dim=1)
    if value[assignment].mean() < value[~assignment].mean():
        assignment = ~assignment
    result = assignment.float().reshape(frames, h, w)
    if dilate > 1:
        result = _dilate_frames(result, dilate)
    return result
