"""Our VACE context equals what ComfyUI's native WanVaceToVideo puts into the conditioning, for all three modes."""

from __future__ import annotations

import pytest
import torch

from reco_core.canvas import CanvasSpec, build_canvas
from reco_core.vace_context import empty_latent_shape, fold_mask, vace_context
from reco_core.wan_latent import WAN21_LATENT_MEAN, WAN21_LATENT_STD

SPEC = CanvasSpec(half_width=16, height=16, length=9)  # small: every VAE encode costs time on CPU


@pytest.fixture(scope="module")
def comfy_vae(tiny_models):
    from harness.comfy_inprocess import import_comfy

    comfy = import_comfy()
    return comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(tiny_models.vae)))


@pytest.fixture(scope="module")
def native_node():
    from harness.comfy_inprocess import import_comfy

    import_comfy()
    from comfy_extras.nodes_wan import WanVaceToVideo

    return WanVaceToVideo


@pytest.fixture(scope="module")
def ours(comfy_vae):
    """Our context per mode, computed once: each costs three or four VAE encodes."""
    cache = {}

    def context_of(mode: str):
        if mode not in cache:
            canvas = make_canvas(mode)
            cache[mode] = canvas, vace_context(comfy_vae.encode, canvas.control, canvas.mask, canvas.reference)
        return cache[mode]

    return context_of


def make_canvas(mode: str):
    generator = torch.Generator().manual_seed(7)
    source = torch.rand((9, 24, 40, 3), generator=generator)
    extra = {}
    if mode == "first_frame":
        extra["edited_first_frame"] = torch.rand((24, 40, 3), generator=generator)
    if mode == "reference":
        extra["reference_image"] = torch.rand((1, 20, 12, 3), generator=generator)
    return build_canvas(source, SPEC, mode=mode, **extra)


@pytest.mark.parametrize("mode", ["edit", "first_frame", "reference"])
def test_matches_native_wan_vace_to_video(comfy_vae, native_node, ours, mode):
    canvas, context = ours(mode)

    empty_conditioning = [[torch.zeros(1, 4, 8), {}]]
    length, height, width, _ = canvas.control.shape
    positive, _, latent, trim = native_node.execute(
        empty_conditioning, empty_conditioning, comfy_vae, width, height, length, 1, 1.0,
        control_video=canvas.control, control_masks=canvas.mask, reference_image=canvas.reference,
    )
    native = positive[0][1]
    assert len(native["vace_frames"]) == len(native["vace_mask"]) == 1
    assert context.frames.shape == native["vace_frames"][0].shape
    assert context.mask.shape == native["vace_mask"][0].shape
    assert torch.equal(context.frames, native["vace_frames"][0])
    assert torch.equal(context.mask, native["vace_mask"][0])
    reference = mode == "reference"
    assert tuple(latent["samples"].shape) == empty_latent_shape(height, width, length, reference=reference)
    assert (context.latent_length, context.trim) == (latent["samples"].shape[2], trim)
    assert (context.latent_length, context.trim) == (3 + reference, int(reference))


def test_layout_of_the_context(ours):
    """The parts a reader of the docstring relies on: what the reference frame holds, which mask channels are 1."""
    _, context = ours("reference")
    assert context.frames.shape == (1, 32, 4, 2, 4) and context.mask.shape == (1, 64, 4, 2, 4)
    mean = torch.tensor(WAN21_LATENT_MEAN).view(1, 16, 1, 1, 1).expand(1, 16, 1, 2, 4)
    assert torch.equal(context.frames[:, 16:, :1], mean)
    assert torch.all(context.mask[:, :, 0] == 0)
    assert torch.all(context.mask[:, :, 1:, :, :2] == 0) and torch.all(context.mask[:, :, 1:, :, 2:] == 1)
    normalized = context.model_context()
    assert normalized.shape == (1, 96, 4, 2, 4)
    assert torch.all(normalized[:, 16:32, 0] == 0)  # the reference's reactive part is zero once normalized


def test_model_context_normalizes_like_native(native_node, ours):
    from comfy.latent_formats import Wan21  # importable once the native_node fixture has run import_comfy

    _, context = ours("first_frame")
    native_format = Wan21()
    assert torch.equal(torch.tensor(WAN21_LATENT_MEAN), native_format.latents_mean.flatten())
    assert torch.equal(torch.tensor(WAN21_LATENT_STD), native_format.latents_std.flatten())
    expected = torch.cat(
        [native_format.process_in(context.frames[:, :16]), native_format.process_in(context.frames[:, 16:]),
         context.mask], dim=1,
    )
    assert torch.allclose(context.model_context(WAN21_LATENT_MEAN, WAN21_LATENT_STD), expected, rtol=0, atol=1e-6)


def test_fold_mask_channel_order():
    """Channel 8 * row + column holds that pixel of each 8 x 8 block; latent frame t takes frame floor((t + .5) F/T)."""
    mask = torch.zeros(5, 16, 16)
    mask[:, 3, 5] = 1  # block (0, 0), row 3, column 5, every frame
    mask[3, 8 + 1, 8 + 2] = 1  # block (1, 1), row 1, column 2, frame 3 only: latent frame 1 samples frame 3
    mask[4, 8 + 1, 8 + 3] = 1  # frame 4 is sampled by no latent frame (5 -> 2 takes frames 1 and 3)
    folded = fold_mask(mask, 2)
    assert folded.shape == (64, 2, 2, 2)
    assert folded[8 * 3 + 5, :, 0, 0].tolist() == [1, 1]
    assert folded[8 * 1 + 2, :, 1, 1].tolist() == [0, 1]
    assert folded.sum().item() == 3


def fake_encode(frames: torch.Tensor) -> torch.Tensor:
    """Shape-correct stand-in for a VAE: the validation tests need no real model."""
    count, height, width, _ = frames.shape
    return torch.zeros(1, 16, (count - 1) // 4 + 1, height // 8, width // 8)


@pytest.mark.parametrize(("control", "mask", "reference", "words"), [
    (torch.rand(8, 16, 32, 3), torch.zeros(8, 16, 32), None, ["control has 8 frames", "use 5 or 9"]),
    (torch.rand(9, 12, 32, 3), torch.zeros(9, 12, 32), None, ["12 x 32", "multiples of 8"]),
    (torch.rand(9, 16, 32), torch.zeros(9, 16, 32), None, ["control", "(F, H, W, 3)"]),
    (torch.rand(9, 16, 32, 3), torch.zeros(9, 16, 16), None, ["mask", "(9, 16, 32)"]),
    (torch.rand(9, 16, 32, 3), torch.zeros(9, 16, 32), torch.rand(1, 16, 16, 3), ["reference", "(1, 16, 32, 3)"]),
])
def test_input_errors_name_the_argument(control, mask, reference, words):
    with pytest.raises(ValueError) as error:
        vace_context(fake_encode, control, mask, reference)
    for word in words:
        assert word in str(error.value)


def test_a_wrong_encoder_and_wrong_statistics_are_refused():
    control, mask = torch.rand(9, 16, 32, 3), torch.zeros(9, 16, 32)
    with pytest.raises(ValueError, match=r"encode returned \(1, 16, 3, 16, 32\) for the inactive stream"):
        vace_context(lambda frames: torch.zeros(1, 16, 3, 16, 32), control, mask)  # forgot the 8x downsampling
    with pytest.raises(ValueError, match="latent_mean and latent_std need 16 values"):
        vace_context(fake_encode, control, mask, torch.rand(1, 16, 32, 3), latent_mean=(0.0,) * 4)
