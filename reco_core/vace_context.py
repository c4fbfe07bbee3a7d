"""The VACE context of a ReCo canvas, computed exactly as ComfyUI's native WanVaceToVideo computes it.

ReCo needs nothing beyond ordinary VACE conditioning, so the nodes can hand the canvas to native WanVaceToVideo; this
module computes the same tensors without ComfyUI, for the headless (diffusers) path and for checks against native.

Channel order of the 96-channel context: inactive latent (16) | reactive latent (16) | mask (64).
- inactive = encode((control - 0.5) * (1 - mask) + 0.5): what must be kept (the source half), gray elsewhere;
- reactive = encode((control - 0.5) * mask + 0.5): what may change, gray elsewhere;
- mask: each 8 x 8 pixel block folded into 64 channels, channel = 8 * row_in_block + column_in_block, then resampled
  in time from F frames to the T latent frames with "nearest-exact" (source index floor((t + 0.5) * F / T)).
With a reference image one latent frame is prepended: its inactive part is the encoded reference, its reactive part is
the latent that normalizes to zero (the Wan 2.1 latent mean), its mask all zeros; that frame is trimmed before decoding.

Latents here are raw VAE latents, as ComfyUI's VAE.encode returns them and as native puts them into ``vace_frames``;
the model normalizes each 16-channel group with the Wan 2.1 latent mean and std (`VaceContext.model_context` does the
same for callers that drive a model directly).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .wan_latent import (
    LATENT_CHANNELS,
    VAE_STRIDE,
    WAN21_LATENT_MEAN,
    WAN21_LATENT_STD,
    check_frame_count,
    latent_frame_count,
    latent_shape,
    latent_statistics,
)

# frames (F, H, W, 3) in [0, 1] -> raw latent (1, 16, T, H/8, W/8): the convention of ComfyUI's VAE.encode.
Encoder = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class VaceContext:
    """The tensors native WanVaceToVideo returns, for one context at strength 1.

    frames: (1, 32, T, h, w) raw latents, inactive | reactive (native ``vace_frames``);
    mask: (1, 64, T, h, w) (native ``vace_mask``); latent_length: T, the reference frame included;
    trim: latent frames to drop from the front of the sampled latent before decoding (native ``trim_latent``).
    """

    frames: torch.Tensor
    mask: torch.Tensor
    latent_length: int
    trim: int

    def model_context(
        self,
        latent_mean: tuple[float, ...] = WAN21_LATENT_MEAN,
        latent_std: tuple[float, ...] = WAN21_LATENT_STD,
    ) -> torch.Tensor:
        """The (1, 96, T, h, w) context a Wan-VACE model consumes: each latent group normalized, then the mask.

        This is what ComfyUI's WAN21_Vace model does to ``vace_frames`` before its forward pass.
        """
        mean, std = latent_statistics(self.frames, latent_mean, latent_std)
        groups = [(group - mean) / std for group in self.frames.split(LATENT_CHANNELS, dim=1)]
        return torch.cat([*groups, self.mask.to(self.frames.dtype)], dim=1)


def empty_latent_shape(
    height: int, width: int, length: int, reference: bool = False, batch_size: int = 1,
) -> tuple[int, int, int, int, int]:
    """Shape of the empty latent to sample a canvas of ``length`` frames of ``height`` x ``width`` pixels from.

    A reference adds one leading latent frame (trimmed again before decoding); native fills this latent with zeros.
    """
    return latent_shape(height, width, length, extra_frames=int(reference), batch_size=batch_size)


def vace_context(
    encode: Encoder,
    control: torch.Tensor,
    mask: torch.Tensor,
    reference: torch.Tensor | None = None,
    latent_mean: tuple[float, ...] = WAN21_LATENT_MEAN,
    latent_std: tuple[float, ...] = WAN21_LATENT_STD,
) -> VaceContext:
    """Encode a canvas into its VACE context, matching native WanVaceToVideo given the canvas at its own size.

    control: (F, H, W, 3) in [0, 1]; mask: (F, H, W), 1 = generate; reference: (1, H, W, 3) or None. F must be 4n + 1
    and H, W multiples of 8. ``latent_mean``/``latent_std`` define the zero of the normalized latent space, which is
    what the reference frame's reactive part holds.
    """
    frames, height, width = _check_inputs(control, mask, reference)
    latent_length = latent_frame_count(frames)
    expected = latent_shape(height, width, frames)

    reference_latent = None
    if reference is not None:
        encoded = _encode(encode, reference, (1, *expected[1:2], 1, *expected[3:]), "reference")
        mean, std = latent_statistics(encoded, latent_mean, latent_std)
        zero_of_normalized_space = torch.zeros_like(encoded) * std + mean
        reference_latent = torch.cat((encoded, zero_of_normalized_space), dim=1)

    shifted = control - 0.5
    pixel_mask = mask.to(control.dtype).unsqueeze(-1)
    inactive = _encode(encode, shifted * (1 - pixel_mask) + 0.5, expected, "inactive stream")
    reactive = _encode(encode, shifted * pixel_mask + 0.5, expected, "reactive stream")
    latents = torch.cat((inactive, reactive), dim=1)

    folded = fold_mask(pixel_mask[..., 0], latent_length)
    trim = 0
    if reference_latent is not None:
        latents = torch.cat((reference_latent, latents), dim=2)
        folded = torch.cat((torch.zeros_like(folded[:, :1]), folded), dim=1)
        trim = 1
    return VaceContext(frames=latents, mask=folded.unsqueeze(0), latent_length=latent_length + trim, trim=trim)


def fold_mask(mask: torch.Tensor, latent_length: int) -> torch.Tensor:
    """(F, H, W) pixel mask -> (64, T, H/8, W/8): 8 x 8 blocks into channels, then nearest-exact resampling in time."""
    frames, height, width = mask.shape
    rows, columns = height // VAE_STRIDE, width // VAE_STRIDE
    blocks = mask.reshape(frames, rows, VAE_STRIDE, columns, VAE_STRIDE).permute(2, 4, 0, 1, 3)
    channels = blocks.reshape(VAE_STRIDE * VAE_STRIDE, frames, rows, columns)
    return F.interpolate(channels.unsqueeze(0), size=(latent_length, rows, columns), mode="nearest-exact").squeeze(0)


def _encode(encode: Encoder, pixels: torch.Tensor, expected: tuple[int, ...], what: str) -> torch.Tensor:
    latent = encode(pixels)
    if not isinstance(latent, torch.Tensor) or tuple(latent.shape) != expected:
        got = tuple(latent.shape) if isinstance(latent, torch.Tensor) else type(latent).__name__
        raise ValueError(
            f"encode returned {got} for the {what}, expected {expected}: encode must map (F, H, W, 3) frames in [0, 1] "
            "to one raw Wan 2.1 latent (1, 16, T, H/8, W/8), like ComfyUI's VAE.encode."
        )
    return latent


def _check_inputs(control: object, mask: object, reference: object) -> tuple[int, int, int]:
    """(F, H, W) of a consistent control/mask/reference triple, or a ValueError naming the argument and the fix."""
    if not isinstance(control, torch.Tensor) or control.ndim != 4 or control.shape[-1] != 3:
        got = tuple(control.shape) if isinstance(control, torch.Tensor) else type(control).__name__
        raise ValueError(f"control must be a float tensor shaped (F, H, W, 3), got {got}; build it with build_canvas.")
    frames, height, width, _ = control.shape
    check_frame_count(frames, "control")
    if height == 0 or width == 0 or height % VAE_STRIDE or width % VAE_STRIDE:
        raise ValueError(
            f"control is {height} x {width} pixels; both must be positive multiples of {VAE_STRIDE} for the mask "
            "folding (a CanvasSpec guarantees multiples of 16)."
        )
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (frames, height, width):
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be shaped (F, H, W) = {(frames, height, width)} like control, got {got}.")
    if reference is not None:
        if not isinstance(reference, torch.Tensor) or tuple(reference.shape) != (1, height, width, 3):
            got = tuple(reference.shape) if isinstance(reference, torch.Tensor) else type(reference).__name__
            raise ValueError(
                f"reference must be one canvas-sized image (1, {height}, {width}, 3), got {got}; "
                "use Canvas.reference from build_canvas(mode='reference')."
            )
    return frames, height, width
