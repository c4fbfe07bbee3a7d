"""Region-map overlays: colormap anchors, thresholding, opacity, blending and input checks."""

from __future__ import annotations

import pytest
import torch

from reco_core.preview.overlay import COLORMAPS, colorize, render_overlay, side_by_side


def _frames() -> torch.Tensor:
    return torch.rand(2, 3, 4, 3, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ["inferno", "viridis", "red", "turbo"])
def test_colormaps_have_5_to_9_anchors_and_hit_them(name):
    anchors = torch.tensor(COLORMAPS[name])
    assert 5 <= anchors.shape[0] <= 9 and anchors.min() >= 0 and anchors.max() <= 1
    stops = torch.linspace(0, 1, anchors.shape[0])
    assert torch.allclose(colorize(stops, name), anchors, atol=1e-6)


def test_colorize_interpolates_linearly_between_anchors():
    anchors = torch.tensor(COLORMAPS["viridis"])  # 5 anchors: stops 0, .25, .5, .75, 1
    middle = colorize(torch.tensor([0.125]), "viridis")[0]
    assert torch.allclose(middle, (anchors[0] + anchors[1]) / 2, atol=1e-6)
    assert colorize(torch.zeros(2, 3), "red").shape == (2, 3, 3)


def test_below_threshold_leaves_pixels_unchanged():
    frames = _frames()
    region = torch.full((2, 3, 4), 0.3)
    region[0, 0, 0] = 0.9
    out = render_overlay(frames, region, opacity=1.0, threshold=0.5)
    changed = (out != frames).any(dim=-1)
    assert torch.nonzero(changed).tolist() == [[0, 0, 0]]


def test_opacity_zero_leaves_the_frame_unchanged():
    frames = _frames()
    assert torch.equal(render_overlay(frames, torch.rand(2, 3, 4), opacity=0.0), frames)


@pytest.mark.parametrize("name", ["inferno", "viridis", "red", "turbo"])
def test_opacity_one_at_value_one_is_the_top_colour(name):
    out = render_overlay(_frames(), torch.ones(2, 3, 4), opacity=1.0, colormap=name)
    assert torch.allclose(out, torch.tensor(COLORMAPS[name][-1]).expand(2, 3, 4, 3), atol=1e-6)


def test_alpha_is_opacity_times_value():
    frames = torch.full((1, 1, 1, 3), 0.2)
    out = render_overlay(frames, torch.full((1, 1, 1), 1.0), opacity=0.5, colormap="red")
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.6, 0.1, 0.1]))
    out = render_overlay(frames, torch.full((1, 1, 1), 0.5), opacity=0.5, colormap="red")
    red = colorize(torch.tensor(0.5), "red")
    assert torch.allclose(out[0, 0, 0], 0.75 * 0.2 + 0.25 * red)
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1


def test_overlay_errors_name_inputs_and_fix():
    with pytest.raises(ValueError, match="region_map_to_pixels"):
        render_overlay(_frames(), torch.zeros(2, 6, 8))
    with pytest.raises(ValueError, match="\\(F, H, W, 3\\)"):
        render_overlay(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="unknown colormap"):
        render_overlay(_frames(), torch.zeros(2, 3, 4), colormap="jet")
    with pytest.raises(ValueError, match="opacity"):
        render_overlay(_frames(), torch.zeros(2, 3, 4), opacity=1.5)
    with pytest.raises(ValueError, match="threshold"):
        render_overlay(_frames(), torch.zeros(2, 3, 4), threshold=-0.1)


def test_side_by_side_concatenates_along_width():
    a, b = torch.zeros(2, 3, 4, 3), torch.ones(2, 3, 5, 3)
    joined = side_by_side(a, b)
    assert joined.shape == (2, 3, 9, 3)
    assert torch.equal(joined[:, :, :4], a) and torch.equal(joined[:, :, 4:], b)
    with pytest.raises(ValueError, match="video 1"):
        side_by_side(a, torch.zeros(2, 4, 4, 3))
    with pytest.raises(ValueError, match="at least one"):
        side_by_side()
