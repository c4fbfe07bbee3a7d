"""Pixel masks onto the latent and token grids, the authors' k-means latent mask, and pixel-mask dilation."""

from __future__ import annotations

import pytest
import torch

from reco_core.regions import (
    dilate_pixel_mask,
    kmeans_latent_mask,
    latent_grid_to_token_grid,
    pixel_mask_to_latent_grid,
    pixel_mask_to_token_grid,
)
from reco_core.wan_latent import latent_frame_count


def test_latent_frame_count_follows_4n_plus_1():
    assert [latent_frame_count(f) for f in (1, 5, 9, 81)] == [1, 2, 3, 21]
    for bad in (0, 2, 8, 80):
        with pytest.raises(ValueError, match="4n \\+ 1"):
            latent_frame_count(bad)


def test_one_pixel_lands_in_its_latent_frame_and_cell():
    mask = torch.zeros(9, 32, 48, dtype=torch.bool)
    mask[5, 19, 41] = True  # frame 5 is in latent frame 2 (pixel frames 5..8)
    grid = pixel_mask_to_latent_grid(mask)
    assert grid.shape == (3, 4, 6) and grid.dtype == torch.bool
    assert torch.nonzero(grid).tolist() == [[2, 19 // 8, 41 // 8]]


def test_frame_zero_is_its_own_latent_frame_and_frame_four_is_latent_one():
    mask = torch.zeros(9, 16, 16)
    mask[0, 0, 0] = 1.0
    mask[4, 15, 15] = 1.0
    assert torch.nonzero(pixel_mask_to_latent_grid(mask)).tolist() == [[0, 0, 0], [1, 1, 1]]


def test_soft_values_count_above_one_half():
    mask = torch.zeros(1, 16, 16)
    mask[0, 0, 0] = 0.5  # not in
    mask[0, 8, 8] = 0.51  # in
    assert torch.nonzero(pixel_mask_to_latent_grid(mask)).tolist() == [[0, 1, 1]]


def test_min_coverage_uses_the_fraction_of_covered_pixels():
    mask = torch.zeros(5, 8, 8, dtype=torch.bool)
    mask[1:5, :, :4] = True  # latent frame 1: half of its 4*64 pixels
    assert pixel_mask_to_latent_grid(mask)[1, 0, 0]
    assert pixel_mask_to_latent_grid(mask, min_coverage=0.49)[1, 0, 0]
    assert not pixel_mask_to_latent_grid(mask, min_coverage=0.5)[1, 0, 0]


def test_latent_to_token_pools_2x2():
    latent = torch.zeros(2, 4, 6)
    latent[1, 3, 2] = 1.0
    tokens = latent_grid_to_token_grid(latent)
    assert tokens.shape == (2, 2, 3)
    assert torch.nonzero(tokens).tolist() == [[1, 1, 1]]
    assert not latent_grid_to_token_grid(latent, min_coverage=0.25).any()


def test_pixel_to_token_equals_composition_and_full_size_grid():
    generator = torch.Generator().manual_seed(0)
    mask = torch.rand(9, 32, 64, generator=generator) > 0.97
    direct = pixel_mask_to_token_grid(mask)
    assert torch.equal(direct, latent_grid_to_token_grid(pixel_mask_to_latent_grid(mask)))
    assert direct.shape == (3, 2, 4)
    assert pixel_mask_to_token_grid(torch.zeros(81, 480, 832, dtype=torch.bool)).shape == (21, 30, 52)


def test_pixel_to_token_coverage_is_the_fraction_of_the_tokens_pixels():
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[0, :8, :] = True  # half the token's pixels
    assert pixel_mask_to_token_grid(mask, min_coverage=0.49).all()
    assert not pixel_mask_to_token_grid(mask, min_coverage=0.5).any()


@pytest.mark.parametrize(
    "call, shape, message",
    [
        (pixel_mask_to_latent_grid, (5, 12, 16), "multiples of 8"),
        (pixel_mask_to_token_grid, (5, 24, 32), "multiples of 16"),
        (pixel_mask_to_latent_grid, (6, 16, 16), "4n \\+ 1"),
        (pixel_mask_to_latent_grid, (16, 16), "\\(F, H, W\\)"),
        (latent_grid_to_token_grid, (2, 3, 4), "even"),
    ],
)
def test_bad_sizes_raise_clear_errors(call, shape, message):
    with pytest.raises(ValueError, match=message):
        call(torch.zeros(shape))


def test_latent_frames_mismatch_and_bad_coverage_raise():
    with pytest.raises(ValueError, match="latent_frames=4"):
        pixel_mask_to_latent_grid(torch.zeros(9, 8, 8), latent_frames=4)
    assert pixel_mask_to_latent_grid(torch.zeros(9, 8, 8), latent_frames=3).shape == (3, 1, 1)
    with pytest.raises(ValueError, match="min_coverage"):
        pixel_mask_to_latent_grid(torch.zeros(1, 8, 8), min_coverage=1.0)


def _two_cluster_latent(region: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """(16, T, h, w) latent: vectors near `high` inside region, near `low` outside, with a little noise."""
    generator = torch.Generator().manual_seed(1)
    base = torch.where(region, torch.tensor(high), torch.tensor(low)).unsqueeze(0).expand(16, -1, -1, -1)
    return base + 0.05 * torch.randn(base.shape, generator=generator)


def test_kmeans_separates_two_clusters_and_marks_the_higher_mean():
    region = torch.zeros(3, 6, 8, dtype=torch.bool)
    region[:, 1:4, 2:6] = True
    result = kmeans_latent_mask(_two_cluster_latent(region, high=1.0, low=-1.0))
    assert result.dtype == torch.float32 and result.shape == (3, 6, 8)
    assert torch.equal(result, region.float())
    # The higher-mean cluster is 1 even when it is the larger one.
    assert torch.equal(kmeans_latent_mask(_two_cluster_latent(region, high=-1.0, low=1.0)), (~region).float())


def test_kmeans_accepts_a_batch_of_one_and_is_deterministic():
    region = torch.zeros(2, 4, 4, dtype=torch.bool)
    region[:, 0, 0] = True
    latent = _two_cluster_latent(region, high=2.0, low=0.0)
    assert torch.equal(kmeans_latent_mask(latent.unsqueeze(0)), kmeans_latent_mask(latent))
    assert torch.equal(kmeans_latent_mask(latent), region.float())


def test_kmeans_constant_input_gives_all_ones():
    assert torch.equal(kmeans_latent_mask(torch.full((16, 2, 4, 4), 0.3)), torch.ones(2, 4, 4))


def test_kmeans_dilate_grows_per_frame():
    region = torch.zeros(1, 7, 7, dtype=torch.bool)
    region[0, 3, 3] = True
    result = kmeans_latent_mask(_two_cluster_latent(region, high=1.0, low=0.0), dilate=3)
    expected = torch.zeros(1, 7, 7)
    expected[0, 2:5, 2:5] = 1.0
    assert torch.equal(result, expected)
    with pytest.raises(ValueError, match="odd"):
        kmeans_latent_mask(_two_cluster_latent(region, high=1.0, low=0.0), dilate=2)


def test_kmeans_rejects_other_shapes():
    with pytest.raises(ValueError, match="mask_latent"):
        kmeans_latent_mask(torch.zeros(2, 16, 1, 2, 2))


def test_dilate_pixel_mask_11x11_square_per_frame_keeps_dtype():
    mask = torch.zeros(2, 20, 20, dtype=torch.bool)
    mask[0, 10, 10] = True
    mask[1, 0, 0] = True
    grown = dilate_pixel_mask(mask)
    assert grown.dtype == torch.bool
    assert torch.equal(torch.nonzero(grown[0]).amin(0), torch.tensor([5, 5]))
    assert torch.equal(torch.nonzero(grown[0]).amax(0), torch.tensor([15, 15]))
    assert int(grown[0].sum()) == 121
    assert int(grown[1].sum()) == 36  # clipped at the border
    assert not grown[1, 10, 10]  # frames dilate independently
    soft = dilate_pixel_mask(torch.tensor([[[0.0, 0.3, 0.0, 0.0]]]), kernel=3)
    assert torch.allclose(soft, torch.tensor([[[0.3, 0.3, 0.3, 0.0]]]))
    with pytest.raises(ValueError, match="odd"):
        dilate_pixel_mask(mask, kernel=4)
