"""The headless pipeline in-process: defaults, region maps, determinism, LoRA, and the UMT5 text path."""

from __future__ import annotations

import pytest
import torch

from reco_core.canvas import CanvasSpec
from reco_core.pipeline import SamplingSettings

SPEC = CanvasSpec(half_width=32, height=32, length=9)


def source(frames: int = 6) -> torch.Tensor:
    return torch.rand(frames, 24, 40, 3, generator=torch.Generator().manual_seed(1))


def test_defaults_are_the_authors():
    settings = SamplingSettings()
    assert (settings.steps, settings.cfg, settings.shift, settings.sampler) == (50, 5.0, 5.0, "euler")
    assert (CanvasSpec().half_width, CanvasSpec().height, CanvasSpec().length) == (832, 480, 81)


def test_edit_returns_source_geometry_and_one_region_map_per_step(headless_pipeline, text_embeds):
    steps = []
    result = headless_pipeline.edit(source(), *text_embeds, SPEC, SamplingSettings(steps=3, seed=5),
                           on_step=lambda step, total, region: steps.append((step, total, region.shape)))
    assert result.edited.shape == result.regenerated_source.shape == (6, 24, 40, 3)
    assert result.canvas.shape == (9, 32, 64, 3)
    assert steps == [(0, 3, (3, 4, 4)), (1, 3, (3, 4, 4)), (2, 3, (3, 4, 4))]
    assert all(0 <= float(m.min()) and float(m.max()) <= 1 for m in result.region_maps)


def test_same_seed_same_edit_and_other_seed_differs(headless_pipeline, text_embeds):
    run = lambda seed: headless_pipeline.edit(source(), *text_embeds, SPEC,
                                              SamplingSettings(steps=2, seed=seed)).canvas
    first, again, other = run(3), run(3), run(4)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize("mode", ["first_frame", "reference"])
def test_variants_run_and_trim_the_reference_frame(headless_pipeline, text_embeds, mode):
    image = torch.rand(1, 20, 30, 3)
    extra = {"edited_first_frame": image} if mode == "first_frame" else {"reference_image": image}
    result = headless_pipeline.edit(source(9), *text_embeds, SPEC, SamplingSettings(steps=2, sampler="unipc"),
                                    mode=mode, **extra)
    assert result.canvas.shape == (9, 32, 64, 3)
    assert result.region_maps[0].shape == (3, 4, 4)


def test_umt5_text_encoder_gives_real_token_embeddings(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    from reco_core.text_encoder import UMT5TextEncoder

    words = ["<pad>", "</s>", "<unk>", "make", "it", "a", "watercolor", "."]
    core = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(tmp_path)
    torch.manual_seed(0)
    UMT5EncoderModel(UMT5Config(vocab_size=len(words), d_model=4096, d_kv=8, d_ff=16, num_layers=1, num_heads=1,
                                relative_attention_num_buckets=8)).save_pretrained(tmp_path)

    encoder = UMT5TextEncoder(tmp_path)
    embeds = encoder.encode("make it a watercolor .")
    assert embeds.shape == (1, 5, 4096)
    assert not torch.equal(embeds, encoder.encode("make it a ."))
