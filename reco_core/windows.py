"""Clips of any length, edited in windows of the trained length, with the edit carried across the seams.

ReCo was trained on 81-frame canvases. A longer clip is walked in windows of that length which overlap by a few
frames, and the overlap is what keeps the edit continuous from one window to the next. Two ways to use it:

- "first_frame" (carry): the previous window's last edited frames go onto the target half of the next window's
  first frames, with VACE mask 0 there, exactly as ReCo's first-frame variant keeps an edited first frame; the model
  continues that edit. The output keeps the previous window's frames in the overlap.
- "blend": each window is edited on its own, and the overlapping frames are cross-faded linearly, as ComfyUI's native
  context windows fuse theirs.

Everything here is method, so it is written once: the nodes (ReCoWindowedEdit) and the headless CLI hand
`edit_in_windows` a function that edits one window on their own model, and get the whole clip back. A window of one
frame with no overlap edits every frame as its own still: a batch of independent images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import torch

from .canvas import Canvas, fit_boxes, place_frames
from .interruption import check_interrupted
from .wan_latent import check_frame_count, frame_count_rule

CARRY_MODES: tuple[str, ...] = ("first_frame", "blend")
# Measured on the toy model (docs/RESULTS.md, "Long clips"): the carry mode whose seams are closest to in-window change.
# On the third toy build, which keeps the scene, blend's seams were 1.48-1.66x the in-window change and first_frame's
# 3.49-3.86x (one clip per task, overlap 1).
DEFAULT_CARRY = "blend"
# Overlap for 81-frame windows: 4n + 1 frames fill whole latent frames (frame 0, then 4 per latent frame).
DEFAULT_OVERLAP = 9


def default_overlap(length: int) -> int:
    """About a ninth of the window, as 4n + 1 frames: 9 for ReCo's 81, 1 for 9 to 33, 0 below 9 (stills)."""
    ninth = length // 9
    return frame_count_rule(ninth) if ninth else 0


class Window(NamedTuple):
    """Source frames ``start .. start + frames - 1``; ``overlap`` of them (the first ones) were in earlier windows."""

    start: int
    frames: int
    overlap: int

    @property
    def end(self) -> int:
        return self.start + self.frames


@dataclass(frozen=True)
class WindowEdit:
    """What editing one window gives back, at the source's size: frames (F, H, W, 3) and region map (F, H, W)."""

    frames: torch.Tensor
    region_map: torch.Tensor


# (window, carried edited frames (overlap, H, W, 3) or None) -> that window's edit.
EditWindow = Callable[[Window, torch.Tensor | None], WindowEdit]


def plan_windows(total: int, length: int, overlap: int) -> list[Window]:
    """Windows of ``length`` frames covering ``total`` source frames, each overlapping the one before.

    Windows step by ``length - overlap``; the last one is moved back to end on the clip's last frame (so it overlaps
    more, and every window is a whole canvas of real frames). A clip no longer than ``length`` is one window.
    """
    check_frame_count(length, "window length")
    if total < 1:
        raise ValueError(f"a clip to edit needs at least one frame, got {total}.")
    if not 0 <= overlap < length:
        raise ValueError(f"overlap must be at least 0 and below the window length {length}, got {overlap}.")
    if total <= length:
        return [Window(0, total, 0)]
    starts = list(range(0, total - length, length - overlap)) + [total - length]
    return [Window(start, length, max(0, previous_end - start))
            for start, previous_end in zip(starts, [0] + [s + length for s in starts[:-1]])]


def check_mask_frames(mask: torch.Tensor | None, total: int) -> None:
    """A source-aligned region mask must have one frame for all, or one per source frame of the clip to edit."""
    if mask is not None and mask.shape[0] not in (1, total):
        raise ValueError(f"region mask has {mask.shape[0]} frames but the clip to edit has {total}: give one mask "
                         "per source frame, or a single mask for all frames.")


def window_part(clip: torch.Tensor | None, window: Window) -> torch.Tensor | None:
    """A window's slice of a source-aligned clip (frames or a region mask); one frame for all stays as it is."""
    if clip is None or clip.shape[0] == 1:
        return clip
    return clip[window.start:window.end]


def carry_edit(canvas: Canvas, edited: torch.Tensor) -> Canvas:
    """The canvas with already edited frames (k, H, W, 3), at the source's size, kept on its first k target frames.

    They are fitted into the half as the source was, and the VACE mask is 0 there: the model keeps them and continues
    the edit from them (ReCo's first-frame variant, over k frames).
    """
    geometry = canvas.geometry
    count = edited.shape[0]
    if count > geometry.length:
        raise ValueError(f"{count} carried frames do not fit on a {geometry.length}-frame canvas.")
    boxes = fit_boxes(edited.shape[2], edited.shape[1], geometry.half_width, geometry.height, geometry.fit)
    control, mask = canvas.control.clone(), canvas.mask.clone()
    control[:count, :, geometry.half_width:] = place_frames(edited.to(control.device), *boxes, geometry.half_width,
                                                            geometry.height, fill=0.0)
    mask[:count, :, geometry.half_width:] = 0.0
    return replace(canvas, control=control, mask=mask)


def edit_in_windows(total: int, length: int, overlap: int, carry: str, edit_window: EditWindow,
                    on_window: Callable[[int, int], None] | None = None) -> WindowEdit:
    """Edit ``total`` frames window by window with ``edit_window``; the whole clip's frames and region map.

    ``on_window(index, count)`` is called before each window; the host's interrupt is checked between windows.
    """
    if carry not in CARRY_MODES:
        raise ValueError(f"carry must be one of {CARRY_MODES}, got {carry!r}.")
    plan = plan_windows(total, length, overlap)
    frames = region = None
    for index, window in enumerate(plan):
        check_interrupted()
        if on_window:
            on_window(index, len(plan))
        carried = frames[window.start:window.start + window.overlap] if carry == "first_frame" and window.overlap \
            else None
        edit = edit_window(window, carried)
        if frames is None:
            frames = edit.frames.new_zeros((total, *edit.frames.shape[1:]))
            region = edit.region_map.new_zeros((total, *edit.region_map.shape[1:]))
        _merge(frames, edit.frames, window, blend=carry == "blend")
        _merge(region, edit.region_map, window, blend=carry == "blend")
    return WindowEdit(frames, region)


def _merge(out: torch.Tensor, part: torch.Tensor, window: Window, blend: bool) -> None:
    """Write a window's result into the clip: new frames as they are; the overlap kept (carry) or cross-faded."""
    if part.shape[0] != window.frames:
        raise ValueError(f"a window of {window.frames} frames came back with {part.shape[0]}.")
    shared = window.overlap
    out[window.start + shared:window.end] = part[shared:].to(out.device, out.dtype)
    if blend and shared:
        ramp = torch.arange(1, shared + 1, dtype=out.dtype, device=out.device) / (shared + 1)
        ramp = ramp.view(-1, *[1] * (out.ndim - 1))
        kept = out[window.start:window.start + shared]
        out[window.start:window.start + shared] = kept * (1 - ramp) + part[:shared].to(out.device, out.dtype) * ramp


@dataclass(frozen=True)
class SeamChange:
    """Frame-to-frame change across window seams against the change inside windows (mean |difference| per pixel).

    ``seam``: per seam, the largest change among the transitions from the frame before the overlap to the first frame
    after it (wherever the two windows' contributions meet), averaged over seams; ``inside``: the mean change of every
    other transition. ``ratio`` = seam / inside: 1 means a seam is no more visible than ordinary motion.
    """

    seam: float
    inside: float

    @property
    def ratio(self) -> float:
        return self.seam / self.inside if self.inside > 0 else float("inf")


def seam_change(frames: torch.Tensor, plan: list[Window]) -> SeamChange:
    """Measure how visible the seams of ``plan`` are in the edited ``frames`` (F, H, W, 3)."""
    change = (frames[1:].float() - frames[:-1].float()).abs().flatten(1).mean(1)  # transition i: frame i -> i + 1
    seam_zone = torch.zeros_like(change, dtype=torch.bool)
    peaks = []
    for window in plan[1:]:
        first, last = max(window.start - 1, 0), min(window.start + window.overlap, len(change) - 1)
        seam_zone[first:last + 1] = True
        peaks.append(float(change[first:last + 1].max()))
    if not peaks:
        raise ValueError("the plan has one window, so there is no seam to measure; use a longer clip.")
    inside = change[~seam_zone]
    return SeamChange(seam=sum(peaks) / len(peaks), inside=float(inside.mean()) if len(inside) else 0.0)
