"""The toy models' builders: the text encoder's contract, the real file layouts, and the base DiT's canvases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reco_core.toy.copy_heads import twin_attention
from reco_core.toy.dit_training import (CANVAS_TOKENS, COPY_HEAD_BLOCKS, KINDS, LatentPool, compose_sample,
                                        new_transformer, save_transformer)
from reco_core.toy.text_encoder import MAX_WORDS, ToyTextEncoder
from reco_core.toy.vae_training import ANCHOR_SCALE, BLIND_MARGIN_DB, anchor_target, evaluate_vae, save_vae, world_frames
from reco_core.toy.world import make_clip, vocabulary
from reco_core.vace_context import fold_mask
from reco_core.wan_models import load_transformer, load_vae


@pytest.fixture(scope="module")
def encoder() -> ToyTextEncoder:
    return ToyTextEncoder.create(vocabulary())


def test_text_encoder_file_gives_the_same_embeddings(encoder, tmp_path):
    loaded = ToyTextEncoder.load(encoder.save(tmp_path / "enc.safetensors"))

    text = make_clip("test", 5).instruction
    assert loaded.vocabulary == vocabulary()
    assert torch.equal(loaded.encode(text), encoder.encode(text))


def test_text_is_words_then_zero_padding_and_order_matters(encoder):
    embeds = encoder.encode("Remove the red circle.")

    assert embeds.shape == (1, MAX_WORDS, 4096)
    assert embeds[0, :4].abs().sum(dim=1).min() > 0
    assert not embeds[0, 4:].any()
    assert encoder.unconditional().shape == embeds.shape and not encoder.unconditional().any()
    swapped = encoder.encode("Replace the square with a circle.")
    assert not torch.equal(swapped, encoder.encode("Replace the circle with a square."))


def test_unknown_words_and_empty_text_are_named(encoder):
    with pytest.raises(ValueError, match=r"\['car', 'zebra'\]"):
        encoder.encode("Remove the red car and the zebra.")
    with pytest.raises(ValueError, match="empty"):
        encoder.encode(" . ")


def test_a_file_of_another_kind_is_refused(tmp_path):
    from reco_core.text_embeddings import save_text_embeddings

    other = tmp_path / "prompt.safetensors"
    save_text_embeddings(other, torch.zeros(1, 3, 4096))
    with pytest.raises(ValueError, match="not a ReCo-Toy text encoder"):
        ToyTextEncoder.load(other)


def test_toy_dit_file_is_read_back_as_the_same_vace_model(tmp_path, single_torch_thread):
    model = new_transformer(seed=0).eval()
    loaded = load_transformer(save_transformer(model, tmp_path / "dit.safetensors"))

    assert loaded.config.num_attention_heads == 2 and loaded.config.attention_head_dim == 128
    assert list(loaded.config.vace_layers) == list(model.config.vace_layers)
    for (name, ours), theirs in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(ours.half().float(), theirs), name


def test_toy_vae_file_is_read_back_in_the_original_layout(tmp_path, single_torch_thread):
    from diffusers import AutoencoderKLWan

    vae = AutoencoderKLWan(base_dim=16)
    loaded = load_vae(save_vae(vae, tmp_path / "vae.safetensors"))

    for (name, ours), theirs in zip(vae.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(ours.half().float(), theirs), name


def test_anchor_target_is_each_latent_cells_mean_colour_in_the_latents_layout(single_torch_thread):
    from diffusers import AutoencoderKLWan

    pixels = torch.zeros(1, 3, 9, 16, 24)
    pixels[:, 0, 0] = 1.0  # red in frame 0 only: it belongs to latent frame 0 alone
    pixels[:, 1, 5:9, :8, :8] = -1.0  # green dark in the top-left cell of frames 5-8: latent frame 2, cell (0, 0)
    anchor = anchor_target(pixels)
    latent = AutoencoderKLWan(base_dim=16).encode(pixels).latent_dist.mean

    assert anchor.shape == (1, 3) + latent.shape[2:]
    assert torch.allclose(anchor[0, 0, 0], torch.full((2, 3), ANCHOR_SCALE)) and not anchor[0, 0, 1:].any()
    assert anchor[0, 1, 2, 0, 0] == -ANCHOR_SCALE and not anchor[0, 1, 2].flatten()[1:].any()


def test_a_decoder_that_ignores_its_latents_fails_the_blindness_gate(single_torch_thread):
    """The gate train_vae applies: with conv_out's weights zeroed every latent decodes to one frame (its bias)."""
    from diffusers import AutoencoderKLWan

    vae = AutoencoderKLWan(base_dim=16).eval()
    with torch.no_grad():
        vae.decoder.conv_out.weight.zero_()

    assert evaluate_vae(vae, world_frames("test", 2, frames=1, size=32))[3] > BLIND_MARGIN_DB


@pytest.fixture
def pool() -> LatentPool:
    generator = torch.Generator().manual_seed(0)
    latents = lambda count: torch.randn(count, 16, 3, 12, 12, generator=generator)  # noqa: E731
    masks = torch.zeros(2, 9, 96, 96)
    masks[:, :, 16:48, 24:64] = 1
    return LatentPool(scenes=latents(4), captions=[f"caption {i}" for i in range(4)], inpaint_targets=latents(2),
                      inpaint_boxed=latents(2), inpaint_masks=masks, inpaint_captions=["box 0", "box 1"],
                      gray=latents(1)[0])


def test_every_base_canvas_keeps_what_its_mask_keeps(pool):
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(60):
        x0, context, caption, kind = compose_sample(pool, rng)
        seen.add(kind)
        assert x0.shape == (16, 3, 12, 24) and context.shape == (96, 3, 12, 24)
        inactive, reactive, mask = context[:16], context[16:32], context[32:]
        assert torch.equal(reactive, torch.cat((pool.gray, pool.gray), dim=-1))
        kept = mask.amax(dim=0) == 0  # latent cells where nothing is generated
        if kind != "inpaint":  # an inpaint clip's boxed latent matches its target only approximately outside the box
            assert torch.equal(inactive[:, kept], x0[:, kept]), kind
        if kind in ("right", "twin"):
            assert torch.equal(mask, fold_mask(torch.cat((torch.zeros(9, 96, 96), torch.ones(9, 96, 96)), -1), 3))
            assert torch.equal(inactive[..., 12:], pool.gray)
        if kind == "twin":
            assert torch.equal(x0[..., :12], x0[..., 12:])
    assert seen == set(KINDS)


def test_a_fresh_toy_dit_has_heads_that_look_at_the_other_half(single_torch_thread):
    """The seeded heads put most of their attention on the twin token, whatever the content; the others do not."""
    model = new_transformer(seed=0).eval()
    width = model.config.num_attention_heads * model.config.attention_head_dim
    hidden = torch.randn(1, math.prod(CANVAS_TOKENS), width, generator=torch.Generator().manual_seed(0))

    for block in COPY_HEAD_BLOCKS:
        assert twin_attention(model, CANVAS_TOKENS, block, head=0, hidden=hidden) > 0.9
        assert twin_attention(model, CANVAS_TOKENS, block, head=1, hidden=hidden) < 0.05
    unseeded = next(block for block in range(len(model.blocks)) if block not in COPY_HEAD_BLOCKS)
    assert twin_attention(model, CANVAS_TOKENS, unseeded, head=0, hidden=hidden) < 0.05
