"""The latent region signal: half difference, normalised map, pixel upsampling, region estimate and L_latent."""

from __future__ import annotations

import pytest
import torch

from reco_core.region_map import (
    estimate_region_mask,
    half_difference,
    latent_region_loss,
    otsu_threshold,
    region_map,
    region_map_to_pixels,
)


def _canvas(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(B, C, T, h, 2w) canvas from two (B, C, T, h, w) halves."""
    return torch.cat((source, target), dim=-1)


def _random_half(batch: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 4, 3, 4, 5, generator=torch.Generator().manual_seed(seed))


def test_half_difference_by_hand():
    source = torch.zeros(1, 2, 1, 1, 2)
    target = torch.tensor([1.0, -3.0, 2.0, 0.0]).reshape(1, 2, 1, 1, 2)
    # cell 0: channels differ by 1 and 2 -> 1.5; cell 1: by 3 and 0 -> 1.5
    assert torch.allclose(half_difference(_canvas(source, target)), torch.full((1, 1, 1, 2), 1.5))


def test_region_map_is_zero_for_identical_halves():
    half = _random_half(batch=2)
    result = region_map(_canvas(half, half))
    assert result.shape == (2, 3, 4, 5)
    assert torch.equal(result, torch.zeros_like(result))


def test_region_map_is_high_where_halves_differ_and_per_sample_normalised():
    source = _random_half(batch=2)
    target = source.clone()
    target[0, :, 1, 2, 3] += 5.0
    target[1, :, :, 0, :] += 0.01  # a tiny difference still normalises to 1 in its own sample
    result = region_map(_canvas(source, target))
    assert result[0, 1, 2, 3] == 1.0 and result[0].sum() == 1.0
    assert torch.allclose(result[1, :, 0, :], torch.ones(3, 5)) and result[1, :, 1:].abs().sum() == 0
    assert result.min() >= 0 and result.max() <= 1


def test_region_map_percentile_clamps_outliers():
    source = torch.zeros(1, 1, 1, 10, 10)
    target = torch.ones(1, 1, 1, 10, 10)
    target[..., 0, 0] = 100.0
    result = region_map(_canvas(source, target), percentile=90.0)
    assert result[0, 0, 0, 0] == 1.0 and torch.allclose(result[0, 0, 5, 5], torch.tensor(1.0))


def test_half_difference_rejects_odd_width_and_wrong_rank():
    with pytest.raises(ValueError, match="even"):
        half_difference(torch.zeros(1, 4, 1, 2, 3))
    with pytest.raises(ValueError, match="\\(B, C, T, h, 2w\\)"):
        half_difference(torch.zeros(4, 1, 2, 4))


def test_region_map_to_pixels_temporal_mapping():
    latent = torch.arange(3, dtype=torch.float32).reshape(3, 1, 1).expand(3, 2, 2)
    pixels = region_map_to_pixels(latent)
    assert pixels.shape == (9, 16, 16)
    assert pixels[:, 0, 0].tolist() == [0, 1, 1, 1, 1, 2, 2, 2, 2]


def test_region_map_to_pixels_bilinear_and_custom_size():
    latent = torch.zeros(1, 1, 2)
    latent[0, 0, 1] = 1.0
    pixels = region_map_to_pixels(latent, frames=1, height=3, width=4)
    assert pixels.shape == (1, 3, 4)
    # align_corners=False: output columns sample latent x = -0.25, 0.25, 0.75, 1.25 -> clamped at the borders
    assert torch.allclose(pixels[0, 0], torch.tensor([0.0, 0.25, 0.75, 1.0]))


def test_region_map_to_pixels_frame_count_check():
    latent = torch.zeros(3, 1, 1)
    assert region_map_to_pixels(latent, frames=6).shape == (6, 8, 8)  # a padded clip cropped back
    for bad in (5, 10):
        with pytest.raises(ValueError, match="6..9"):
            region_map_to_pixels(latent, frames=bad)


def test_otsu_threshold_splits_two_groups_and_none_for_constant():
    values = torch.tensor([0.1, 0.12, 0.11, 0.8, 0.9])
    threshold = otsu_threshold(values)
    assert 0.12 < threshold < 0.8
    assert otsu_threshold(torch.full((4,), 0.3)) is None


def test_estimate_region_mask_averages_first_steps():
    truth = torch.zeros(2, 3, 3, dtype=torch.bool)
    truth[1, 1, 1] = True
    good = truth.float() * 0.9 + 0.05
    late = torch.ones(2, 3, 3)
    assert torch.equal(estimate_region_mask([good, good, late], first_steps=2), truth)
    assert torch.equal(estimate_region_mask(torch.stack([good, good]), threshold=None), truth)
    assert not estimate_region_mask([torch.zeros(2, 3, 3)], threshold=None).any()
    assert estimate_region_mask([torch.ones(2, 3, 3)], threshold=None).all()
    with pytest.raises(ValueError, match="non-empty"):
        estimate_region_mask([])


def _mask_and_canvas(differ_inside: bool) -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.zeros(3, 4, 5)
    mask[:, 1:3, 1:4] = 1.0
    source = _random_half()
    target = source + 0.5 * (mask if differ_inside else 1.0 - mask)
    return mask, _canvas(source, target)


def test_latent_loss_sign():
    mask, canvas = _mask_and_canvas(differ_inside=True)
    assert torch.allclose(latent_region_loss(canvas, mask), torch.tensor(-0.5))
    mask, canvas = _mask_and_canvas(differ_inside=False)
    assert torch.allclose(latent_region_loss(canvas, mask), torch.tensor(0.5))


def test_latent_loss_by_hand_with_soft_mask_and_batch_mask():
    source = torch.zeros(1, 1, 1, 1, 3)
    target = torch.tensor([1.0, 2.0, 4.0]).reshape(1, 1, 1, 1, 3)
    mask = torch.tensor([1.0, 0.5, 0.0]).reshape(1, 1, 3)
    # inside: (1*1 + 0.5*2) / 1.5 = 4/3; outside: (0.5*2 + 1*4) / 1.5 = 10/3
    expected = torch.tensor(10 / 3 - 4 / 3)
    assert torch.allclose(latent_region_loss(_canvas(source, target), mask), expected)
    assert torch.allclose(latent_region_loss(_canvas(source, target), mask.unsqueeze(0)), expected)


def test_latent_loss_all_ones_and_all_zeros_masks_are_defined():
    half = _random_half()
    canvas = _canvas(half, half + 0.25)
    ones, zeros = torch.ones(3, 4, 5), torch.zeros(3, 4, 5)
    assert torch.allclose(latent_region_loss(canvas, ones), torch.tensor(-0.25))
    assert torch.allclose(latent_region_loss(canvas, zeros), torch.tensor(0.25))


def test_latent_loss_gradient_flows_and_shape_errors():
    mask, canvas = _mask_and_canvas(differ_inside=True)
    canvas = canvas.to(torch.bfloat16).requires_grad_(True)
    loss = latent_region_loss(canvas, mask)
    loss.backward()
    assert canvas.grad is not None and canvas.grad.abs().sum() > 0
    assert torch.isfinite(canvas.grad.float()).all()
    with pytest.raises(ValueError, match="latent_mask"):
        latent_region_loss(canvas.detach(), torch.ones(3, 4, 4))
