"""ReCo's side-by-side canvas: the source video on the left, the half to generate on the right, and the way back.

ReCo edits by in-context generation: one video twice as wide holds [source | target], VACE sees the source in the
control video and a mask of 1 over the target half, and the edited clip is the right half of the decoded canvas.
This module builds the control video, the VACE mask and (for the reference variant) the reference frame from a clip of
any size and length, and records every choice it made (window, fit, boxes) so `restore` can map a decoded half back to
the source's own size and frame count.

Frames are float tensors in [0, 1] shaped (F, H, W, 3), ComfyUI's IMAGE layout; masks are (F, H, W) with 1 = generate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from .wan_latent import PATCH_SIZE, TIME_STRIDE, TOKEN_STRIDE, VAE_STRIDE, check_frame_count

Fit = Literal["stretch", "crop", "pad"]
Mode = Literal["edit", "first_frame", "reference"]
Half = Literal["left", "right"]

FITS: tuple[str, ...] = ("stretch", "crop", "pad")
MODES: tuple[str, ...] = ("edit", "first_frame", "reference")
# What the right half shows where nothing is known: VACE's neutral value, 0 after the (x - 0.5) shift.
NEUTRAL_GRAY = 0.5
# Frames resized per interpolate call: bounds the temporary (F, 3, H, W) copies for long high-resolution clips.
RESIZE_CHUNK = 8


def _is_int(value: object) -> bool:
    """An int that is not a bool: True as a frame count or size is always a mistake."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class CanvasSpec:
    """Size of one canvas half, the canvas length and how a source of another aspect is fitted into a half.

    The defaults are the authors': 832 x 480 per half (1664 x 480 in all), 81 frames, and "stretch", which ignores
    the aspect ratio exactly as their inference script does. "crop" scales to cover and center-crops; "pad" scales to
    fit and pads with black.
    """

    half_width: int = 832
    height: int = 480
    length: int = 81
    fit: Fit = "stretch"

    def __post_init__(self) -> None:
        for name in ("half_width", "height"):
            value = getattr(self, name)
            if not _is_int(value) or value < TOKEN_STRIDE or value % TOKEN_STRIDE:
                nearest = max(1, round(value / TOKEN_STRIDE)) * TOKEN_STRIDE if _is_int(value) else None
                fix = f"use {nearest}" if nearest else f"use an int multiple of {TOKEN_STRIDE}"
                raise ValueError(
                    f"CanvasSpec.{name} must be a positive multiple of {TOKEN_STRIDE} (the Wan VAE downsamples by "
                    f"{VAE_STRIDE} and the DiT patchifies by {PATCH_SIZE}), got {value!r}; {fix}."
                )
        if not _is_int(self.length):
            raise ValueError(f"CanvasSpec.length must be an int frame count such as 81, got {self.length!r}.")
        check_frame_count(self.length, "CanvasSpec.length")
        if self.fit not in FITS:
            raise ValueError(f"CanvasSpec.fit must be one of {FITS}, got {self.fit!r}.")

    @property
    def width(self) -> int:
        """Full canvas width: source half plus target half."""
        return 2 * self.half_width


class Box(NamedTuple):
    """An axis-aligned pixel rectangle: left column, top row, width, height."""

    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class CanvasGeometry:
    """Everything `restore` needs to undo `build_canvas`.

    ``source_box`` is the part of a source frame the half shows (smaller than the frame only for "crop");
    ``half_box`` is where that part sits inside a half (smaller than the half only for "pad"). The source frames
    ``start .. start + frames_used - 1`` fill the canvas; canvas frames after ``frames_used`` repeat the last one.
    """

    source_width: int
    source_height: int
    source_frames: int
    start: int
    frames_used: int
    length: int
    half_width: int
    height: int
    fit: Fit
    mode: Mode
    source_box: Box
    half_box: Box


@dataclass(frozen=True)
class Canvas:
    """The VACE inputs of one ReCo edit.

    control: (length, H, 2W, 3) [source | neutral gray]; mask: (length, H, 2W), 0 = keep (left half, and the right
    half of frame 0 in "first_frame" mode), 1 = generate; reference: (1, H, 2W, 3) in "reference" mode, else None.
    """

    control: torch.Tensor
    mask: torch.Tensor
    reference: torch.Tensor | None
    geometry: CanvasGeometry


def build_canvas(
    source_frames: torch.Tensor,
    spec: CanvasSpec = CanvasSpec(),
    mode: Mode = "edit",
    edited_first_frame: torch.Tensor | None = None,
    reference_image: torch.Tensor | None = None,
    start: int = 0,
) -> Canvas:
    """Lay a source clip out as ReCo's canvas.

    The canvas takes ``spec.length`` frames from ``start`` on; a shorter remainder repeats its last frame, as the
    authors do, so motion freezes rather than loops. "first_frame" puts an already edited first frame on the right of
    frame 0 (mask 0 there, so the model keeps it and propagates the edit); "reference" adds a separate reference frame
    (white left half, the image letterboxed on white on the right) that VACE prepends as one extra latent frame.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if not isinstance(spec, CanvasSpec):
        raise ValueError(f"spec must be a CanvasSpec, got {type(spec).__name__}; e.g. CanvasSpec(832, 480, 81).")
    frames, src_height, src_width = _check_frames(source_frames, "source_frames")
    if mode == "first_frame" and edited_first_frame is None:
        raise ValueError("mode='first_frame' needs edited_first_frame: pass the edited version of the clip's frame 0.")
    if mode != "first_frame" and edited_first_frame is not None:
        raise ValueError(f"edited_first_frame is only used with mode='first_frame' (mode is {mode!r}); pass None.")
    if mode == "reference" and reference_image is None:
        raise ValueError("mode='reference' needs reference_image: pass the image whose subject the edit should use.")
    if mode != "reference" and reference_image is not None:
        raise ValueError(f"reference_image is only used with mode='reference' (mode is {mode!r}); pass None.")
    if not _is_int(start) or not 0 <= start < frames:
        raise ValueError(f"start must be a frame index in 0..{frames - 1} of the {frames}-frame source, got {start!r}.")

    width, height, length = spec.half_width, spec.height, spec.length
    window = source_frames[start:start + length]
    used = window.shape[0]
    source_box, half_box = fit_boxes(src_width, src_height, width, height, spec.fit)
    left = place_frames(window, source_box, half_box, width, height, fill=0.0)

    control = torch.full((length, height, 2 * width, 3), NEUTRAL_GRAY, dtype=torch.float32, device=left.device)
    control[:used, :, :width] = left
    control[used:, :, :width] = left[-1]
    mask = torch.zeros((length, height, 2 * width), dtype=torch.float32, device=left.device)
    mask[:, :, width:] = 1.0

    if mode == "first_frame":
        edited = _check_image(edited_first_frame, "edited_first_frame")
        boxes = fit_boxes(edited.shape[2], edited.shape[1], width, height, spec.fit)
        control[0, :, width:] = place_frames(edited, *boxes, width, height, fill=0.0)[0]
        mask[0, :, width:] = 0.0

    reference = None
    if mode == "reference":
        image = _check_image(reference_image, "reference_image")
        boxes = fit_boxes(image.shape[2], image.shape[1], width, height, "pad")
        reference = torch.ones((1, height, 2 * width, 3), dtype=torch.float32, device=left.device)
        reference[:, :, width:] = place_frames(image, *boxes, width, height, fill=1.0)

    geometry = CanvasGeometry(
        source_width=src_width, source_height=src_height, source_frames=frames, start=start, frames_used=used,
        length=length, half_width=width, height=height, fit=spec.fit, mode=mode,
        source_box=source_box, half_box=half_box,
    )
    return Canvas(control=control, mask=mask, reference=reference, geometry=geometry)


def restore(decoded_canvas_frames: torch.Tensor, geometry: CanvasGeometry, half: Half = "right") -> torch.Tensor:
    """Map one half of a decoded canvas back to the source's width, height and frame count.

    Frames: the first ``geometry.frames_used`` canvas frames, i.e. the window of a long clip, or a short clip without
    its repeated last frame. Space, per fit: "stretch" resizes the half to the source size; "pad" cuts the padding away
    and resizes what is left to the source size; "crop" resizes the half to the size the crop had in the source and
    puts it back where it was cut from. The strips "crop" cut away never reached the model, so nothing was generated
    for them: they come back black (0). Callers who want the source there can paste it outside
    ``geometry.source_box``. Values are not clamped; bilinear resampling keeps them inside the input's range.
    """
    if half not in ("left", "right"):
        raise ValueError(f"half must be 'left' (the source half) or 'right' (the edited half), got {half!r}.")
    frames, height, width = _check_frames(decoded_canvas_frames, "decoded_canvas_frames")
    expected = (geometry.length, geometry.height, 2 * geometry.half_width)
    if (frames, height, width) != expected:
        hint = ""
        if geometry.mode == "reference" and frames == geometry.length + TIME_STRIDE:
            hint = (f" It has {TIME_STRIDE} frames too many: trim the reference latent frame (trim_latent = 1) "
                    "before decoding.")
        raise ValueError(
            f"decoded_canvas_frames has {frames} frames of {height} x {width} but the canvas had {expected[0]} frames "
            f"of {expected[1]} x {expected[2]}: pass the decoded frames of this canvas, uncropped.{hint}"
        )
    columns = slice(0, geometry.half_width) if half == "left" else slice(geometry.half_width, width)
    part = decoded_canvas_frames[:geometry.frames_used, :, columns]
    out = torch.zeros(
        (geometry.frames_used, geometry.source_height, geometry.source_width, 3),
        dtype=part.dtype, device=part.device,
    )
    return _paste(part, geometry.half_box, geometry.source_box, out)


def fit_boxes(src_width: int, src_height: int, width: int, height: int, fit: Fit) -> tuple[Box, Box]:
    """(source_box, half_box): the source rectangle shown, and where it lands in a ``width`` x ``height`` half.

    Comparisons use integer cross-products so that equal aspects never crop or pad by a rounding error.
    """
    whole_source = Box(0, 0, src_width, src_height)
    whole_half = Box(0, 0, width, height)
    wider = src_width * height > src_height * width
    taller = src_width * height < src_height * width
    if fit == "stretch" or not (wider or taller):
        return whole_source, whole_half
    if fit == "crop":
        if wider:
            crop_width = min(src_width, max(1, round(src_height * width / height)))
            return Box((src_width - crop_width) // 2, 0, crop_width, src_height), whole_half
        crop_height = min(src_height, max(1, round(src_width * height / width)))
        return Box(0, (src_height - crop_height) // 2, src_width, crop_height), whole_half
    if fit == "pad":
        if wider:
            inner_height = min(height, max(1, round(src_height * width / src_width)))
            return whole_source, Box(0, (height - inner_height) // 2, width, inner_height)
        inner_width = min(width, max(1, round(src_width * height / src_height)))
        return whole_source, Box((width - inner_width) // 2, 0, inner_width, height)
    raise ValueError(f"fit must be one of {FITS}, got {fit!r}.")


def place_frames(frames: torch.Tensor, source_box: Box, half_box: Box, width: int, height: int,
                 fill: float) -> torch.Tensor:
    """Cut ``source_box`` from each frame, resize it to ``half_box`` and lay it on a ``fill``-colored half."""
    out = torch.full((frames.shape[0], height, width, 3), fill, dtype=torch.float32, device=frames.device)
    return _paste(frames, source_box, half_box, out)


def _paste(frames: torch.Tensor, from_box: Box, to_box: Box, out: torch.Tensor) -> torch.Tensor:
    """Resize ``frames``' ``from_box`` region to ``to_box``'s size and write it into ``out`` there; returns ``out``."""
    region = frames[:, from_box.y:from_box.y + from_box.height, from_box.x:from_box.x + from_box.width]
    target = out[:, to_box.y:to_box.y + to_box.height, to_box.x:to_box.x + to_box.width]
    for first in range(0, frames.shape[0], RESIZE_CHUNK):
        chunk = region[first:first + RESIZE_CHUNK]
        target[first:first + RESIZE_CHUNK] = resize_frames(chunk, to_box.height, to_box.width)
    return out


def resize_frames(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of (F, h, w, 3) frames; antialiased when any side shrinks, so downscaling does not alias."""
    if frames.shape[1:3] == (height, width):
        return frames.to(torch.float32)
    shrinking = height < frames.shape[1] or width < frames.shape[2]
    channels_first = frames.to(torch.float32).permute(0, 3, 1, 2)
    resized = F.interpolate(channels_first, size=(height, width), mode="bilinear", align_corners=False,
                            antialias=shrinking)
    return resized.permute(0, 2, 3, 1)


def _check_frames(frames: object, name: str) -> tuple[int, int, int]:
    """(F, H, W) of an (F, H, W, 3) float frame tensor, or a ValueError that names ``name`` and the fix."""
    if not isinstance(frames, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor shaped (F, H, W, 3), got {type(frames).__name__}.")
    if frames.ndim != 4:
        hint = " For a single image add a frame axis: image[None]." if frames.ndim == 3 else ""
        raise ValueError(f"{name} must be shaped (F, H, W, 3), got {tuple(frames.shape)}.{hint}")
    _check_pixels(frames, name)
    count, height, width, _ = frames.shape
    if count == 0 or height == 0 or width == 0:
        raise ValueError(f"{name} has an empty dimension {tuple(frames.shape)}: pass at least one frame of pixels.")
    return count, height, width


def _check_image(image: object, name: str) -> torch.Tensor:
    """One image as a (1, H, W, 3) tensor; accepts (H, W, 3) or a batch of one, refuses anything else."""
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor shaped (H, W, 3) or (1, H, W, 3), got {type(image).__name__}.")
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4 or image.shape[0] != 1:
        raise ValueError(
            f"{name} must be one image shaped (H, W, 3) or (1, H, W, 3), got {tuple(image.shape)}; "
            "pick one frame, e.g. images[:1]."
        )
    _check_pixels(image, name)
    if image.shape[1] == 0 or image.shape[2] == 0:
        raise ValueError(f"{name} has an empty dimension {tuple(image.shape)}: pass an image with pixels.")
    return image


def _check_pixels(frames: torch.Tensor, name: str) -> None:
    if frames.shape[-1] != 3:
        raise ValueError(
            f"{name} has {frames.shape[-1]} channels in its last axis, expected 3 (RGB, channels last); "
            "drop alpha with x[..., :3] or move channels last with x.movedim(1, -1)."
        )
    if not frames.is_floating_point():
        raise ValueError(f"{name} has dtype {frames.dtype}; pass floats in [0, 1], e.g. x.float() / 255.")


def place_source_mask(mask: torch.Tensor, geometry: CanvasGeometry) -> torch.Tensor:
    """A mask aligned with the source clip -> the same mask on the canvas's half grid, (length, H, half_width).

    It goes through exactly what the frames went through (window, repeated last frame, fit boxes), so a region drawn on
    the source lands on the same pixels of both halves. A single-frame mask applies to every frame; cropped-away parts
    drop out and padding is 0.
    """
    if not isinstance(mask, torch.Tensor) or mask.ndim != 3:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"region mask must be shaped (frames, height, width), got {shape}.")
    frames, height, width = mask.shape
    expected = (geometry.source_height, geometry.source_width)
    if (height, width) != expected:
        raise ValueError(
            f"region mask is {width}x{height} but the source is {expected[1]}x{expected[0]}: "
            "draw or load the mask at the source video's size."
        )
    if frames == 1:
        mask = mask.expand(geometry.source_frames, height, width)
    elif frames != geometry.source_frames:
        raise ValueError(
            f"region mask has {frames} frames but the source has {geometry.source_frames}: "
            "give one mask per source frame, or a single mask for all frames."
        )
    window = mask[geometry.start:geometry.start + geometry.frames_used].float().unsqueeze(-1)
    out = torch.zeros((geometry.frames_used, geometry.height, geometry.half_width, 1), device=mask.device)
    placed = _paste(window, geometry.source_box, geometry.half_box, out)[..., 0]
    repeats = placed[-1:].expand(geometry.length - geometry.frames_used, -1, -1)
    return torch.cat([placed, repeats]).clamp(0, 1)


def restore_mask(mask: torch.Tensor, geometry: CanvasGeometry) -> torch.Tensor:
    """A (length, H, half_width) mask on the half grid (e.g. a region map) -> the source's frames and size.

    The inverse of `place_source_mask`, done as `restore` does it for frames.
    """
    expected = (geometry.length, geometry.height, geometry.half_width)
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != expected:
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"mask must be shaped {expected} (frames, height, half width of the canvas), got {shape}.")
    out = torch.zeros((geometry.frames_used, geometry.source_height, geometry.source_width, 1), device=mask.device)
    return _paste(mask[:geometry.frames_used].float().unsqueeze(-1), geometry.half_box, geometry.source_box, out)[..., 0]
