"""The Wan 2.1 latent format: every fact about how pixels become latents and latents become DiT tokens.

The Wan VAE shrinks height and width by 8 and time by 4 after a first frame it encodes alone (so clips are 4n + 1
frames long and give n + 1 latent frames); the DiT then cuts the latent into 2 x 2 patches, one token each. Latents
are normalized per channel with the Wan 2.1 mean and std before the model sees them. The canvas, the region grids,
the VACE context, the headless pipeline, the trainer and the nodes all read these facts from here, so a model family
with another latent format has exactly one module to mirror (a test greps the rest of the code for stray literals).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

VAE_STRIDE = 8
"""Pixels per latent cell along height and width."""
TIME_STRIDE = 4
"""Pixel frames per latent frame after the first (4n + 1 pixel frames -> n + 1 latent frames)."""
PATCH_SIZE = 2
"""Latent cells per DiT token along height and width."""
TOKEN_STRIDE = VAE_STRIDE * PATCH_SIZE
"""Pixels per token side: canvas sides must be multiples of this."""
LATENT_CHANNELS = 16

# Per-channel statistics of Wan 2.1 VAE latents (the values in Wan's and ComfyUI's Wan21 latent format).
WAN21_LATENT_MEAN: tuple[float, ...] = (
    -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
    0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
)
WAN21_LATENT_STD: tuple[float, ...] = (
    2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
    3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.9160,
)


def is_wan_frame_count(frames: int) -> bool:
    """True when ``frames`` is 4n + 1, the only lengths the Wan VAE maps onto whole latent frames."""
    return frames >= 1 and (frames - 1) % TIME_STRIDE == 0


def frame_count_rule(frames: int) -> int:
    """The largest Wan-valid frame count (4n + 1) not above ``frames`` (at least 1), to suggest in error messages."""
    return max(1, ((frames - 1) // TIME_STRIDE) * TIME_STRIDE + 1)


def check_frame_count(frames: int, what: str) -> None:
    """The one ValueError for a frame count that is not 4n + 1: it names ``what`` and the two nearest fixes."""
    if not is_wan_frame_count(frames):
        lower = frame_count_rule(frames)
        raise ValueError(
            f"{what} has {frames} frames, but the Wan VAE needs 4n + 1 (1, 5, 9, ..., 81: it encodes one frame, "
            f"then groups of {TIME_STRIDE}); use {lower} or {lower + TIME_STRIDE}."
        )


def latent_frame_count(frames: int, what: str = "the clip") -> int:
    """Latent frames the Wan VAE makes of ``frames`` pixel frames; raises unless ``frames`` is 4n + 1."""
    check_frame_count(frames, what)
    return (frames - 1) // TIME_STRIDE + 1


def pixel_frame_count(latent_frames: int) -> int:
    """Pixel frames a full decode of ``latent_frames`` latent frames gives: 4(T - 1) + 1."""
    return TIME_STRIDE * (latent_frames - 1) + 1


def latent_frame_of_pixel(pixel_frames: torch.Tensor) -> torch.Tensor:
    """Index of the latent frame that encodes each pixel frame: 0 <- 0, t <- 4t - 3 .. 4t."""
    return (pixel_frames + TIME_STRIDE - 1) // TIME_STRIDE


def latent_shape(height: int, width: int, frames: int, extra_frames: int = 0,
                 batch_size: int = 1) -> tuple[int, int, int, int, int]:
    """(B, 16, T, H/8, W/8) of the latent of ``frames`` pixel frames of ``height`` x ``width``, plus leading extras."""
    return (batch_size, LATENT_CHANNELS, latent_frame_count(frames) + extra_frames,
            height // VAE_STRIDE, width // VAE_STRIDE)


def pixel_size(latent_height: int, latent_width: int) -> tuple[int, int]:
    """(H, W) in pixels of a latent grid's (h, w)."""
    return latent_height * VAE_STRIDE, latent_width * VAE_STRIDE


def token_grid(latent_frames: int, latent_height: int, latent_width: int) -> tuple[int, int, int]:
    """(T, h/2, w/2) tokens of a latent (a partial patch at an odd edge still makes a token, as the DiT pads it)."""
    return latent_frames, -(-latent_height // PATCH_SIZE), -(-latent_width // PATCH_SIZE)


def token_count(latent_shape: Sequence[int]) -> int:
    """How many tokens the DiT makes of a latent shaped (..., T, h, w): the sequence length of its self-attention."""
    frames, rows, columns = token_grid(*latent_shape[-3:])
    return frames * rows * columns


def latent_statistics(like: torch.Tensor, latent_mean: tuple[float, ...] = WAN21_LATENT_MEAN,
                      latent_std: tuple[float, ...] = WAN21_LATENT_STD) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std as (1, 16, 1, 1, 1) tensors on ``like``'s device and dtype."""
    if len(latent_mean) != LATENT_CHANNELS or len(latent_std) != LATENT_CHANNELS:
        raise ValueError(
            f"latent_mean and latent_std need {LATENT_CHANNELS} values each (one per Wan 2.1 latent channel), got "
            f"{len(latent_mean)} and {len(latent_std)}; leave them at WAN21_LATENT_MEAN / WAN21_LATENT_STD."
        )
    shape = (1, LATENT_CHANNELS, 1, 1, 1)
    mean = torch.tensor(latent_mean, dtype=like.dtype, device=like.device).view(shape)
    std = torch.tensor(latent_std, dtype=like.dtype, device=like.device).view(shape)
    return mean, std


def normalize_latent(latent: torch.Tensor) -> torch.Tensor:
    """Raw VAE latents -> the model's space, as ComfyUI's Wan21 latent format does (scale factor 1)."""
    mean, std = latent_statistics(latent)
    return (latent - mean) / std


def denormalize_latent(latent: torch.Tensor) -> torch.Tensor:
    """The model's space -> raw VAE latents, ready to decode."""
    mean, std = latent_statistics(latent)
    return latent * std + mean
