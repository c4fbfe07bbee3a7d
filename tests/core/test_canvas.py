"""The ReCo canvas: layout of [source | gray], the VACE mask, the three modes, the frame rule, fits and restore."""

from __future__ import annotations

import math

import pytest
import torch

from reco_core.canvas import (
    Box,
    CanvasSpec,
    build_canvas,
    fit_boxes,
    resize_frames,
    restore,
)
from reco_core.wan_latent import frame_count_rule, is_wan_frame_count

SPEC = CanvasSpec(half_width=32, height=32, length=9)


def smooth_clip(frames: int, height: int, width: int) -> torch.Tensor:
    """Low-frequency color waves that move per frame: resampling round trips stay close, every frame differs."""
    t = torch.arange(frames, dtype=torch.float32)[:, None, None, None]
    y = torch.linspace(0, 1, height)[None, :, None, None]
    x = torch.linspace(0, 1, width)[None, None, :, None]
    c = torch.arange(3, dtype=torch.float32)[None, None, None, :]
    return 0.5 + 0.4 * torch.sin(2 * math.pi * (0.7 * x + 0.4 * y) + 0.3 * t + c)


def random_clip(frames: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    return torch.rand((frames, height, width, 3), generator=torch.Generator().manual_seed(seed))


def test_frame_count_rule():
    assert [n for n in range(1, 20) if is_wan_frame_count(n)] == [1, 5, 9, 13, 17]
    assert not is_wan_frame_count(0)
    assert [frame_count_rule(n) for n in (1, 4, 5, 80, 81, 82)] == [1, 1, 5, 77, 81, 81]


def test_spec_defaults_are_the_authors():
    spec = CanvasSpec()
    assert (spec.half_width, spec.height, spec.length, spec.fit, spec.width) == (832, 480, 81, "stretch", 1664)


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(half_width=830), ["half_width", "multiple of 16", "use 832"]),
    (dict(height=0), ["height", "use 16"]),
    (dict(height=480.0), ["height", "int"]),
    (dict(length=80), ["length", "4n + 1", "use 77 or 81"]),
    (dict(length=True), ["length"]),
    (dict(fit="zoom"), ["fit", "stretch", "crop", "pad"]),
])
def test_spec_validation_names_the_field_and_the_fix(kwargs, words):
    with pytest.raises(ValueError) as error:
        CanvasSpec(**kwargs)
    for word in words:
        assert word in str(error.value)


def test_edit_layout_source_left_gray_right():
    source = random_clip(9, 32, 32)
    canvas = build_canvas(source, SPEC)
    assert canvas.control.shape == (9, 32, 64, 3) and canvas.control.dtype == torch.float32
    assert canvas.mask.shape == (9, 32, 64)
    assert torch.equal(canvas.control[:, :, :32], source)
    assert torch.all(canvas.control[:, :, 32:] == 0.5)
    assert torch.all(canvas.mask[:, :, :32] == 0) and torch.all(canvas.mask[:, :, 32:] == 1)
    assert canvas.reference is None
    geometry = canvas.geometry
    assert (geometry.source_width, geometry.source_height, geometry.source_frames) == (32, 32, 9)
    assert (geometry.start, geometry.frames_used, geometry.length, geometry.mode) == (0, 9, 9, "edit")


def test_short_clip_repeats_its_last_frame():
    source = random_clip(5, 32, 32)
    canvas = build_canvas(source, SPEC)
    assert torch.equal(canvas.control[:5, :, :32], source)
    for frame in range(5, 9):
        assert torch.equal(canvas.control[frame, :, :32], source[-1])
    assert canvas.geometry.frames_used == 5


@pytest.mark.parametrize(("start", "used"), [(0, 9), (6, 9), (15, 5)])
def test_long_clip_takes_a_window_from_start(start, used):
    source = random_clip(20, 32, 32)
    canvas = build_canvas(source, SPEC, start=start)
    assert torch.equal(canvas.control[:used, :, :32], source[start:start + used])
    assert torch.equal(canvas.control[used:, :, :32], source[-1:].expand(9 - used, -1, -1, -1))
    assert (canvas.geometry.start, canvas.geometry.frames_used) == (start, used)


def test_first_frame_mode_puts_the_edited_frame_right_of_frame_zero():
    source = random_clip(9, 32, 32)
    edited = random_clip(1, 64, 48, seed=1)[0]  # another size: resized like the source
    canvas = build_canvas(source, SPEC, mode="first_frame", edited_first_frame=edited)
    assert torch.allclose(canvas.control[0, :, 32:], resize_frames(edited[None], 32, 32)[0])
    assert torch.all(canvas.mask[0] == 0)
    assert torch.all(canvas.control[1:, :, 32:] == 0.5) and torch.all(canvas.mask[1:, :, 32:] == 1)
    assert torch.equal(canvas.control[:, :, :32], source)


def test_reference_mode_letterboxes_the_image_on_white():
    source = random_clip(9, 32, 32)
    wide = random_clip(1, 16, 32, seed=2)  # 2:1 into a square half: 32 x 16 inside, 8 white rows above and below
    canvas = build_canvas(source, SPEC, mode="reference", reference_image=wide)
    reference = canvas.reference
    assert reference.shape == (1, 32, 64, 3)
    assert torch.all(reference[:, :, :32] == 1)
    assert torch.all(reference[:, :8, 32:] == 1) and torch.all(reference[:, 24:, 32:] == 1)
    assert torch.equal(reference[:, 8:24, 32:], wide)
    # The control video and mask are those of a plain edit.
    plain = build_canvas(source, SPEC)
    assert torch.equal(canvas.control, plain.control) and torch.equal(canvas.mask, plain.mask)


def test_fit_boxes():
    assert fit_boxes(48, 32, 32, 32, "stretch") == (Box(0, 0, 48, 32), Box(0, 0, 32, 32))
    assert fit_boxes(48, 32, 32, 32, "crop") == (Box(8, 0, 32, 32), Box(0, 0, 32, 32))
    assert fit_boxes(32, 48, 32, 32, "crop") == (Box(0, 8, 32, 32), Box(0, 0, 32, 32))
    assert fit_boxes(48, 32, 32, 32, "pad") == (Box(0, 0, 48, 32), Box(0, 5, 32, 21))
    assert fit_boxes(32, 64, 32, 32, "pad") == (Box(0, 0, 32, 64), Box(8, 0, 16, 32))
    # Same aspect: nothing cropped or padded, whatever the fit.
    for fit in ("crop", "pad"):
        assert fit_boxes(1664, 960, 832, 480, fit) == (Box(0, 0, 1664, 960), Box(0, 0, 832, 480))


def test_crop_fit_shows_the_center_and_restores_it_in_place():
    source = random_clip(9, 32, 48)
    canvas = build_canvas(source, CanvasSpec(32, 32, 9, fit="crop"))
    assert torch.equal(canvas.control[:, :, :32], source[:, :, 8:40])
    restored = restore(canvas.control, canvas.geometry, half="left")
    assert restored.shape == source.shape
    assert torch.equal(restored[:, :, 8:40], source[:, :, 8:40])
    assert torch.all(restored[:, :, :8] == 0) and torch.all(restored[:, :, 40:] == 0)


def test_pad_fit_pads_black_and_restore_cuts_the_pad_away():
    source = random_clip(9, 16, 32)
    canvas = build_canvas(source, CanvasSpec(32, 32, 9, fit="pad"))
    assert canvas.geometry.half_box == Box(0, 8, 32, 16)
    assert torch.all(canvas.control[:, :8, :32] == 0) and torch.all(canvas.control[:, 24:, :32] == 0)
    assert torch.equal(canvas.control[:, 8:24, :32], source)
    assert torch.equal(restore(canvas.control, canvas.geometry, half="left"), source)


def test_stretch_round_trip_is_exact_at_the_same_size():
    source = random_clip(9, 32, 32)
    canvas = build_canvas(source, SPEC)
    assert torch.equal(restore(canvas.control, canvas.geometry, half="left"), source)


@pytest.mark.parametrize(("height", "width"), [(16, 16), (64, 64), (16, 32)])
def test_stretch_round_trip_at_integer_scale_is_close(height, width):
    source = smooth_clip(9, height, width)
    canvas = build_canvas(source, SPEC)
    restored = restore(canvas.control, canvas.geometry, half="left")
    assert restored.shape == source.shape
    difference = (restored - source).abs()
    assert difference.mean().item() < 0.01 and difference.max().item() < 0.07


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_restore_right_half_gives_the_generated_frames_at_source_size(fit):
    source = smooth_clip(5, 24, 40)
    canvas = build_canvas(source, CanvasSpec(32, 32, 9, fit=fit))
    # A "decoded canvas" whose right half is the left half inverted: restoring it must invert the restored source.
    decoded = canvas.control.clone()
    decoded[:, :, 32:] = 1 - canvas.control[:, :, :32]
    left = restore(decoded, canvas.geometry, half="left")
    right = restore(decoded, canvas.geometry, half="right")
    assert right.shape == left.shape == (5, 24, 40, 3)
    box = canvas.geometry.source_box
    inside = (slice(None), slice(box.y, box.y + box.height), slice(box.x, box.x + box.width))
    assert torch.allclose(right[inside], 1 - left[inside], atol=1e-5)


def test_restore_returns_the_window_of_a_long_clip():
    source = random_clip(30, 32, 32)
    canvas = build_canvas(source, SPEC, start=10)
    assert torch.equal(restore(canvas.control, canvas.geometry, half="left"), source[10:19])


def test_restore_errors():
    canvas = build_canvas(random_clip(9, 32, 32), SPEC, mode="reference", reference_image=random_clip(1, 8, 8))
    with pytest.raises(ValueError, match="trim the reference latent frame"):
        restore(torch.rand(13, 32, 64, 3), canvas.geometry)
    with pytest.raises(ValueError, match="decoded_canvas_frames has 9 frames of 32 x 32"):
        restore(torch.rand(9, 32, 32, 3), canvas.geometry)
    with pytest.raises(ValueError, match="half must be 'left'"):
        restore(canvas.control, canvas.geometry, half="middle")
    with pytest.raises(ValueError, match="decoded_canvas_frames has 4 channels"):
        restore(torch.rand(9, 32, 64, 4), canvas.geometry)


@pytest.mark.parametrize(("call", "words"), [
    (lambda: build_canvas(torch.rand(0, 32, 32, 3), SPEC), ["source_frames", "empty", "at least one frame"]),
    (lambda: build_canvas(torch.rand(9, 0, 32, 3), SPEC), ["source_frames", "empty"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 4), SPEC), ["source_frames", "4 channels", "x[..., :3]"]),
    (lambda: build_canvas(torch.rand(32, 32, 3), SPEC), ["source_frames", "image[None]"]),
    (lambda: build_canvas(torch.zeros(9, 32, 32, 3, dtype=torch.uint8), SPEC), ["source_frames", "/ 255"]),
    (lambda: build_canvas([[0.5]], SPEC), ["source_frames", "torch.Tensor"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 3), SPEC, mode="first_frame"), ["edited_first_frame", "frame 0"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 3), SPEC, mode="reference"), ["reference_image"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 3), SPEC, mode="first_frame", edited_first_frame=torch.rand(32, 32)),
     ["edited_first_frame", "(H, W, 3) or (1, H, W, 3)"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 3), SPEC, mode="first_frame",
                          edited_first_frame=torch.rand(2, 32, 32, 3)), ["edited_first_frame", "images[:1]"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 3), SPEC, mode="reference", reference_image=torch.rand(8, 8, 1)),
     ["reference_image", "1 channels"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 3), SPEC, edited_first_frame=torch.rand(32, 32, 3)),
     ["edited_first_frame", "only used with mode='first_frame'"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 3), SPEC, mode="inpaint"), ["mode", "first_frame"]),
    (lambda: build_canvas(torch.rand(9, 32, 32, 3), SPEC, start=9), ["start", "0..8"]),
])
def test_build_errors_name_the_argument_and_the_fix(call, words):
    with pytest.raises(ValueError) as error:
        call()
    for word in words:
        assert word in str(error.value)


@pytest.mark.parametrize("fit", ["stretch", "crop", "pad"])
def test_source_mask_lands_where_the_source_pixels_land(fit):
    from reco_core.canvas import place_source_mask

    generator = torch.Generator().manual_seed(2)
    mask = (torch.rand(6, 24, 40, generator=generator) > 0.5).float()
    spec = CanvasSpec(half_width=32, height=32, length=9, fit=fit)
    as_frames = build_canvas(mask.unsqueeze(-1).expand(-1, -1, -1, 3).contiguous(), spec)
    placed = place_source_mask(mask, as_frames.geometry)
    assert placed.shape == (9, 32, 32)
    assert torch.allclose(placed, as_frames.control[:, :, :32, 0].clamp(0, 1), atol=1e-6)


def test_source_mask_errors_name_the_mismatch():
    from reco_core.canvas import place_source_mask

    geometry = build_canvas(torch.rand(6, 24, 40, 3), CanvasSpec(half_width=32, height=32, length=9)).geometry
    with pytest.raises(ValueError, match="source is 40x24"):
        place_source_mask(torch.ones(6, 20, 40), geometry)
    with pytest.raises(ValueError, match="source has 6"):
        place_source_mask(torch.ones(5, 24, 40), geometry)
    assert place_source_mask(torch.ones(1, 24, 40), geometry).shape == (9, 32, 32)


def test_restore_mask_inverts_place_source_mask_for_stretch_at_equal_size():
    from reco_core.canvas import place_source_mask, restore_mask

    mask = (torch.rand(6, 32, 32, generator=torch.Generator().manual_seed(4)) > 0.5).float()
    geometry = build_canvas(torch.rand(6, 32, 32, 3), CanvasSpec(half_width=32, height=32, length=9)).geometry
    assert torch.equal(restore_mask(place_source_mask(mask, geometry), geometry), mask)
    with pytest.raises(ValueError, match="half width"):
        restore_mask(torch.zeros(9, 32, 64), geometry)
