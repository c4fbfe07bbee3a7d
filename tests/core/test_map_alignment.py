"""Region maps brought to the frames they are shown over: broadcast, canvas right half, resize, clear errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reco_core.preview.map_alignment import align_region_map


def test_a_map_of_the_frames_size_is_used_as_is():
    region = torch.rand(3, 4, 6)
    aligned = align_region_map(region, 3, 4, 6)
    assert torch.equal(aligned.values, region) and not aligned.right_half


def test_one_frame_or_a_2d_mask_is_shown_on_every_frame():
    region = torch.rand(4, 6)
    for given in (region, region.unsqueeze(0)):
        aligned = align_region_map(given, 5, 4, 6)
        assert aligned.values.shape == (5, 4, 6)
        assert all(torch.equal(frame, region) for frame in aligned.values)


def test_a_half_width_map_covers_the_right_half_of_canvas_frames():
    region = torch.rand(2, 4, 6)
    aligned = align_region_map(region, 2, 4, 12)
    assert aligned.right_half
    assert torch.equal(aligned.values[:, :, 6:], region)
    assert bool((aligned.values[:, :, :6] == 0).all())


def test_other_sizes_are_resized_bilinearly():
    region = torch.rand(2, 3, 5)
    aligned = align_region_map(region, 2, 6, 7)
    expected = F.interpolate(region.unsqueeze(1), size=(6, 7), mode="bilinear", align_corners=False).squeeze(1)
    assert torch.equal(aligned.values, expected) and not aligned.right_half


def test_frame_count_mismatch_names_both_inputs_and_the_fix():
    with pytest.raises(ValueError, match=r"region_map has 3 frames but frames has 5.*ReCoSplit's region_map"):
        align_region_map(torch.zeros(3, 4, 6), 5, 4, 6)
    with pytest.raises(ValueError, match="region_map must be a MASK"):
        align_region_map(torch.zeros(1, 1, 4, 6), 1, 4, 6)
