"""Two regions, two instructions, on the tiny native Wan-VACE: a probe of the attention the hook leaves each region.

The probe rides in the model's own forward: every attention call is answered by the hook as usual, and is asked a
second time with probe values (1 on one key set, 0 elsewhere), so the output of that second call IS the attention
mass the real queries (after the model's q/k norms and RoPE) put on that key set.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from harness.comfy_inprocess import PACKAGE_NAME, import_package
from reco_core.attention.canvas_tokens import canvas_masks
from reco_core.attention.multi_region import start_multi_region
from reco_core.text_embeddings import load_text_embeddings

GRID = (3, 4, 5)  # per-half token grid of a (1, 16, 3, 8, 20) canvas latent: 120 canvas tokens
HEADS, HEAD_DIM = 2, 16


@pytest.fixture(scope="module")
def hook():
    import_package()
    return importlib.import_module(f"{PACKAGE_NAME}.nodes.multi_region_hook")


def two_regions() -> list[torch.Tensor]:
    left, right = torch.zeros(GRID, dtype=torch.bool), torch.zeros(GRID, dtype=torch.bool)
    left[:, 1:3, :2] = True
    right[:, :, 3:] = True
    return [left, right]


def test_the_negative_rows_of_a_batched_pass_keep_plain_cross_attention(hook):
    from comfy.ldm.modules.attention import optimized_attention

    plan = start_multi_region(two_regions(), 6, (3, 4), 1.0, 0.0, 1.0, steps=1)
    tokens = plan.canvas_tokens
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(2, tokens, HEADS * HEAD_DIM, generator=generator)
    k, v = (torch.randn(2, 2 * plan.context_tokens, HEADS * HEAD_DIM, generator=generator) for _ in range(2))
    options = {"optimized_attention_override": hook.multi_region_override(plan), "cond_or_uncond": [1, 0]}
    bound = optimized_attention(q, k, v, heads=HEADS, transformer_options=options)
    plain = optimized_attention(q, k, v, heads=HEADS, transformer_options={})
    assert plan.cross_calls == 1
    assert torch.allclose(bound[0], plain[0], atol=1e-6)  # chunk 0 is the negative pass
    expected = plan.cross_attention(*(t[1:].unflatten(-1, (HEADS, -1)).transpose(1, 2) for t in (q, k, v)))
    assert torch.allclose(bound[1], expected.transpose(1, 2).flatten(2)[0], atol=1e-5)


@pytest.mark.parametrize("keep_own_source", [False, True], ids=["own object visible", "own object hidden"])
def test_probe_each_region_hears_its_own_instruction_and_none_of_the_other_regions_object(hook, tiny_models,
                                                                                          keep_own_source):
    """And with ``keep_own_source`` (ReCoSampler's region_mode mask) none of its own source object either."""
    import comfy.sd

    net = comfy.sd.load_diffusion_model(str(tiny_models.vace)).model.diffusion_model.float()
    canvas_text = load_text_embeddings(tiny_models.positive).embeds
    first, second = load_text_embeddings(tiny_models.positive).embeds, load_text_embeddings(tiny_models.negative).embeds
    context = torch.cat([canvas_text, first, second], dim=1)
    plan = start_multi_region(two_regions(), canvas_text.shape[1], (first.shape[1], second.shape[1]), 1.0, 0.0, 1.0,
                              steps=1, keep_own_source=keep_own_source)
    tokens = plan.canvas_tokens
    parts = [canvas_masks(region) for region in plan.regions]
    (global_span, spans), width = (plan.global_span, plan.spans), net.dim
    text_sets = [torch.zeros(plan.context_tokens, dtype=torch.bool) for _ in range(3)]
    for index, (start, end) in enumerate((global_span, *spans)):
        text_sets[index][start:end] = True
    source_sets = [part.source_edit for part in parts]

    def probe_values(sets: list[torch.Tensor]) -> torch.Tensor:
        values = torch.zeros(1, len(sets[0]), width)
        for channel, members in enumerate(sets):
            values[0, members, channel] = 1.0
        return values

    hooked = hook.multi_region_override(plan)
    masses = {"cross": [], "self": [], "plain_self": []}

    def probe(func, q, k, v, heads, **kwargs):
        out = hooked(func, q, k, v, heads, **kwargs)
        if k.shape[1] == plan.context_tokens:
            masses["cross"].append(hooked(func, q, k, probe_values(text_sets), heads, **kwargs)[0])
        elif k.shape[1] == tokens:
            masses["self"].append(hooked(func, q, k, probe_values(source_sets), heads, **kwargs)[0])
            masses["plain_self"].append(func(q, k, probe_values(source_sets), heads, **kwargs)[0])
        return out

    latent = torch.randn(1, 16, 3, 8, 20, generator=torch.Generator().manual_seed(1))
    vace = torch.randn(1, 1, 96, 3, 8, 20, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        net(latent, torch.tensor([900.0]), context, vace_context=vace, vace_strength=[1.0],
            transformer_options={"optimized_attention_override": probe})
    blocks = len(net.blocks) + len(net.vace_blocks)
    assert len(masses["cross"]) == len(masses["self"]) == blocks
    for layer in range(blocks):
        cross, constrained, plain = masses["cross"][layer], masses["self"][layer], masses["plain_self"][layer]
        for region, part in enumerate(parts):
            own, other = 1 + region, 2 - region
            rows = part.target_edit
            assert torch.allclose(cross[rows, own], torch.tensor(1.0), atol=1e-5)
            assert bool((cross[rows, other] == 0).all()) and bool((cross[rows, 0] == 0).all())
            assert bool((constrained[rows, 1 - region] == 0).all())  # none on the other region's source object
            assert float(plain[rows, 1 - region].min()) > 0  # which plain attention does look at
            if keep_own_source:
                assert bool((constrained[rows, region] == 0).all())
            else:
                assert float(constrained[rows, region].min()) > 0
        rest = ~(parts[0].target_edit | parts[1].target_edit)
        assert torch.allclose(cross[rest, 0], torch.tensor(1.0), atol=1e-5)  # the canvas instruction
        assert torch.allclose(constrained[rest], plain[rest], atol=1e-6)
