"""Sprite sheets for the previewer: layout (near-square grid, shrink only, size caps) and tiling."""

from __future__ import annotations

import pytest
import torch

from reco_core.preview.sprite_sheet import SheetLayout, plan_sheet, shrink_frames, tile_frames


def test_reco_clip_tiles_near_square_with_256_px_cells():
    layout = plan_sheet(81, 480, 832)
    assert (layout.frame_width, layout.frame_height) == (256, 148)
    assert layout.columns * layout.rows >= 81 > layout.columns * (layout.rows - 1)
    assert 0.5 < layout.width / layout.height < 2


def test_small_frames_are_never_enlarged_and_one_frame_is_one_cell():
    assert plan_sheet(7, 40, 56) == SheetLayout(frames=7, frame_width=56, frame_height=40, columns=2)
    assert plan_sheet(1, 10, 20) == SheetLayout(frames=1, frame_width=20, frame_height=10, columns=1)


def test_long_clips_shrink_cells_to_stay_under_max_side():
    layout = plan_sheet(20_000, 480, 832, max_side=8192)
    assert layout.width <= 8192 and layout.height <= 8192
    assert abs(layout.frame_width / layout.frame_height - 832 / 480) < 0.2


def test_extreme_aspect_keeps_at_least_one_pixel():
    layout = plan_sheet(3, 1, 4096)
    assert layout.frame_height == 1 and layout.frame_width == 256


def test_impossible_and_invalid_layouts_are_refused():
    with pytest.raises(ValueError, match="preview a shorter clip"):
        plan_sheet(100, 16, 16, max_side=5)
    with pytest.raises(ValueError, match="frames must be a positive int"):
        plan_sheet(0, 16, 16)


def test_origin_is_row_major():
    layout = SheetLayout(frames=5, frame_width=4, frame_height=3, columns=2)
    assert [layout.origin(i) for i in range(5)] == [(0, 0), (4, 0), (0, 3), (4, 3), (0, 6)]
    assert (layout.rows, layout.width, layout.height) == (3, 8, 9)
    with pytest.raises(IndexError):
        layout.origin(5)


def test_tiling_puts_each_frame_in_its_cell_and_pads_black():
    layout = SheetLayout(frames=3, frame_width=2, frame_height=2, columns=2)
    cells = torch.stack([torch.full((2, 2, 3), value) for value in (0.2, 0.6, 1.0)])
    sheet = tile_frames(cells, layout)
    assert sheet.dtype == torch.uint8 and sheet.shape == (4, 4, 3)
    for index, level in enumerate((51, 153, 255)):
        x, y = layout.origin(index)
        assert bool((sheet[y:y + 2, x:x + 2] == level).all())
    assert bool((sheet[2:, 2:] == 0).all())


def test_shrink_keeps_fitting_frames_and_averages_larger_ones():
    video = torch.rand(2, 4, 6, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(shrink_frames(video, plan_sheet(2, 4, 6)), video)
    flat = torch.full((2, 8, 600, 1), 0.25)
    layout = plan_sheet(2, 8, 600)
    shrunk = shrink_frames(flat, layout)
    assert shrunk.shape == (2, layout.frame_height, 256, 1)
    assert torch.allclose(shrunk, torch.tensor(0.25))
    with pytest.raises(ValueError, match="for this layout"):
        shrink_frames(torch.zeros(3, 4, 6, 3), plan_sheet(2, 4, 6))
