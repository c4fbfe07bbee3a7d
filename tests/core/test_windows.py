"""Long clips in windows: the plan, the carry into the next canvas, the blend, the seam measure, the whole-clip edit."""

from __future__ import annotations

import pytest
import torch

from reco_core.canvas import CanvasSpec, build_canvas
from reco_core.pipeline import SamplingSettings
from reco_core.windows import (
    Window, WindowEdit, carry_edit, edit_in_windows, plan_windows, seam_change, window_part,
)

SPEC = CanvasSpec(half_width=32, height=32, length=9)


def test_plan_covers_every_frame_with_full_windows_and_the_asked_overlap():
    plan = plan_windows(200, 81, 9)
    assert plan == [Window(0, 81, 0), Window(72, 81, 9), Window(119, 81, 34)]  # the last one ends on frame 199
    assert plan_windows(33, 81, 9) == [Window(0, 33, 0)]  # shorter than a window: one canvas, as before
    assert plan_windows(3, 1, 0) == [Window(0, 1, 0), Window(1, 1, 0), Window(2, 1, 0)]  # stills: one each
    covered = torch.zeros(200, dtype=torch.bool)
    for window in plan:
        covered[window.start:window.end] = True
    assert bool(covered.all())


@pytest.mark.parametrize(("length", "overlap", "fragment"), [(8, 0, "window length"), (9, 9, "overlap"), (9, -1, "overlap")])
def test_plan_refuses_bad_windows_naming_them(length, overlap, fragment):
    with pytest.raises(ValueError, match=fragment):
        plan_windows(40, length, overlap)


def constant_windows(window: Window, carried: torch.Tensor | None) -> WindowEdit:
    """A fake window edit whose every frame holds the window's start, to see exactly what lands where."""
    return WindowEdit(torch.full((window.frames, 2, 2, 3), float(window.start)), torch.zeros(window.frames, 2, 2))


def test_blend_cross_fades_the_overlap_linearly_and_carry_keeps_the_earlier_window():
    blended = edit_in_windows(13, 9, 5, "blend", constant_windows).frames[:, 0, 0, 0]
    ramp = torch.arange(1, 6) / 6
    assert torch.allclose(blended[4:9], 0 * (1 - ramp) + 4 * ramp)
    assert torch.equal(blended[9:], torch.full((4,), 4.0))
    carried = edit_in_windows(13, 9, 5, "first_frame", constant_windows).frames[:, 0, 0, 0]
    assert torch.equal(carried, torch.tensor([0.0] * 9 + [4.0] * 4))


def test_carry_hands_the_previous_windows_last_edited_frames_to_the_next():
    seen = []

    def edit(window: Window, carried: torch.Tensor | None) -> WindowEdit:
        seen.append(carried)
        frames = torch.arange(window.start, window.end, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 2, 2, 3)
        return WindowEdit(frames, torch.zeros(window.frames, 2, 2))

    edit_in_windows(17, 9, 5, "first_frame", edit)
    assert seen[0] is None
    assert torch.equal(seen[1][:, 0, 0, 0], torch.arange(4.0, 9.0))
    assert torch.equal(seen[2][:, 0, 0, 0], torch.arange(8.0, 13.0))


def test_carry_puts_the_frames_on_the_target_half_with_mask_zero_and_leaves_the_rest():
    source = torch.rand(9, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    edited = torch.rand(3, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    canvas = build_canvas(source, SPEC)
    carried = carry_edit(canvas, edited)
    assert torch.equal(carried.control[:3, :, 32:], edited)
    assert float(carried.mask[:3, :, 32:].abs().max()) == 0
    assert torch.equal(carried.control[3:], canvas.control[3:]) and torch.equal(carried.mask[3:], canvas.mask[3:])
    assert torch.equal(carried.control[:, :, :32], canvas.control[:, :, :32])
    assert float(canvas.mask[:3, :, 32:].min()) == 1  # the original canvas is untouched


def test_window_part_slices_per_frame_masks_and_keeps_one_for_all():
    per_frame, one = torch.rand(20, 4, 4), torch.rand(1, 4, 4)
    assert torch.equal(window_part(per_frame, Window(5, 9, 4)), per_frame[5:14])
    assert window_part(one, Window(5, 9, 4)) is one and window_part(None, Window(0, 9, 0)) is None


def test_seam_change_sees_a_jump_at_the_seam_and_none_inside():
    frames = torch.cat([torch.zeros(9, 2, 2, 3), torch.ones(4, 2, 2, 3)])
    frames += torch.arange(13.0).view(-1, 1, 1, 1) * 0.01  # steady motion inside
    change = seam_change(frames, plan_windows(13, 9, 5))
    assert change.seam == pytest.approx(1.01)
    assert change.inside == pytest.approx(0.01)
    assert change.ratio == pytest.approx(101)


def test_whole_clip_edit_carries_its_frames_exactly_into_the_next_windows_vace_context(headless_pipeline,
                                                                                       text_embeds):
    """The carried frames are what the first window returned, and they are what the second window's VACE encodes."""
    source = torch.rand(13, 32, 32, 3, generator=torch.Generator().manual_seed(2))  # half-sized: no resampling
    encoded = []
    encode = headless_pipeline.codec.encode
    headless_pipeline.codec.encode = lambda frames: encoded.append(frames.clone()) or encode(frames)
    windows = []
    try:
        result = headless_pipeline.edit_clip(source, *text_embeds, SPEC, SamplingSettings(steps=2, seed=3),
                                             overlap=5, carry="first_frame", on_window=lambda i, n: windows.append(n))
        first = headless_pipeline.edit(source[:9], *text_embeds, SPEC, SamplingSettings(steps=2, seed=3))
    finally:
        headless_pipeline.codec.encode = encode
    assert windows == [2, 2]
    assert result.frames.shape == (13, 32, 32, 3) and result.region_map.shape == (13, 32, 32)
    assert torch.equal(result.frames[:9], first.edited)
    inactive_second = encoded[2]  # per window: inactive stream, then reactive
    assert torch.equal(inactive_second[:5, :, 32:], first.edited[4:9])
    assert torch.equal(inactive_second[:5, :, :32], source[4:9])
    assert float((encoded[3][:5, :, 32:] - 0.5).abs().max()) == 0  # nothing of them in the reactive stream
