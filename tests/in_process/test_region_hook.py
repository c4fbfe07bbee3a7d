"""The attention hook as ComfyUI calls it: through optimized_attention and inside a native Wan-VACE forward."""

from __future__ import annotations

import importlib

import pytest
import torch

from harness.comfy_inprocess import PACKAGE_NAME, import_package
from reco_core.attention.canvas_tokens import canvas_masks
from reco_core.attention.constraint import RegionConstraint
from reco_core.text_embeddings import load_text_embeddings

GRID = (3, 4, 5)  # per-half token grid: frames, rows, columns
HEADS, HEAD_DIM = 2, 16


@pytest.fixture(scope="module")
def hook():
    import_package()
    return importlib.import_module(f"{PACKAGE_NAME}.nodes.region_hook")


def region() -> torch.Tensor:
    mask = torch.zeros(GRID, dtype=torch.bool)
    mask[:, 1:3, 1:4] = True
    return mask


def test_strength_one_gives_zero_attention_from_target_edit_queries_to_source_edit_keys(hook):
    from comfy.ldm.modules.attention import optimized_attention

    tokens = GRID[0] * GRID[1] * GRID[2] * 2
    constraint = RegionConstraint(tokens=tokens, strength=1.0, first_step=0, end_step=10, region=region())
    parts = canvas_masks(region())
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(1, tokens, HEADS * HEAD_DIM, generator=generator)
    k = torch.randn(1, tokens, HEADS * HEAD_DIM, generator=generator)
    # Probe values: every channel of a head is 1 on source-edit keys and 0 elsewhere, so the output IS the
    # attention mass each query puts on the source edit region.
    v = parts.source_edit.float().view(1, tokens, 1).expand(1, tokens, HEADS * HEAD_DIM).contiguous()
    options = {"optimized_attention_override": hook.attention_override(constraint)}

    constrained = optimized_attention(q, k, v, heads=HEADS, transformer_options=options)
    plain = optimized_attention(q, k, v, heads=HEADS, transformer_options={})
    assert constraint.calls == 1
    assert bool((constrained[0, parts.target_edit] == 0).all())
    assert float(plain[0, parts.target_edit].min()) > 0
    # Queries outside the target edit region are untouched.
    others = ~parts.target_edit
    assert torch.allclose(constrained[0, others], plain[0, others], atol=1e-5)


def test_hook_is_inactive_outside_its_step_range_and_for_cross_attention(hook):
    from comfy.ldm.modules.attention import optimized_attention

    tokens = GRID[0] * GRID[1] * GRID[2] * 2
    constraint = RegionConstraint(tokens=tokens, strength=1.0, first_step=2, end_step=4, region=region())
    options = {"optimized_attention_override": hook.attention_override(constraint)}
    q = torch.randn(1, tokens, HEADS * HEAD_DIM)
    text = torch.randn(1, 7, HEADS * HEAD_DIM)
    optimized_attention(q, q, q, heads=HEADS, transformer_options=options)  # step 0: before the range
    optimized_attention(q, text, text, heads=HEADS, transformer_options=options)  # cross-attention
    constraint.step = 4
    optimized_attention(q, q, q, heads=HEADS, transformer_options=options)  # after the range
    assert constraint.calls == 0
    constraint.step = 3
    optimized_attention(q, q, q, heads=HEADS, transformer_options=options)
    assert constraint.calls == 1


def test_hook_engages_on_every_canvas_self_attention_of_a_native_vace_forward(hook, tiny_models):
    import comfy.sd

    net = comfy.sd.load_diffusion_model(str(tiny_models.vace)).model.diffusion_model.float()
    latent = torch.randn(1, 16, 3, 8, 20)  # per-half token grid 3 x 4 x 5
    tokens = 3 * 4 * 10
    constraint = RegionConstraint(tokens=tokens, strength=1.0, first_step=0, end_step=1, region=region())
    context = load_text_embeddings(tiny_models.positive).embeds
    vace = torch.randn(1, 1, 96, 3, 8, 20)
    options = {"optimized_attention_override": hook.attention_override(constraint)}
    with torch.no_grad():
        hooked = net(latent, torch.tensor([500.0]), context, vace_context=vace, vace_strength=[1.0],
                     transformer_options=options)
        plain = net(latent, torch.tensor([500.0]), context, vace_context=vace, vace_strength=[1.0])
    blocks = len(net.blocks) + len(net.vace_blocks)
    assert constraint.calls == blocks
    assert (hooked - plain).abs().max() > 1e-4


def test_videograin_kind_lowers_target_edit_attention_to_the_source_object_at_high_noise(hook):
    from comfy.ldm.modules.attention import optimized_attention

    tokens = GRID[0] * GRID[1] * GRID[2] * 2
    parts = canvas_masks(region())
    generator = torch.Generator().manual_seed(1)
    q = torch.randn(1, tokens, HEADS * HEAD_DIM, generator=generator)
    k = torch.randn(1, tokens, HEADS * HEAD_DIM, generator=generator)
    v = parts.source_edit.float().view(1, tokens, 1).expand(1, tokens, HEADS * HEAD_DIM).contiguous()

    def mass_on_source_object(sigma: float) -> torch.Tensor:
        constraint = RegionConstraint(tokens=tokens, strength=1.0, first_step=0, end_step=10, region=region(),
                                           kind="videograin")
        options = {"optimized_attention_override": hook.attention_override(constraint),
                   "sigmas": torch.tensor([sigma])}
        out = optimized_attention(q, k, v, heads=HEADS, transformer_options=options)
        assert constraint.calls == 1
        return out[0, parts.target_edit].mean()

    plain = optimized_attention(q, k, v, heads=HEADS, transformer_options={})[0, parts.target_edit].mean()
    assert mass_on_source_object(1.0) < 0.8 * plain  # lambda = 0.3 (1 - region fraction) at sigma 1
    assert torch.allclose(mass_on_source_object(0.0), plain, atol=1e-6)  # lambda vanishes as t^5 -> 0


def _recording(backend, calls: list):
    """A real ComfyUI attention backend that notes the query count and layout flag of every call it serves."""
    def record(q, k, v, heads, **kwargs):
        calls.append((q.shape[2] if kwargs.get("skip_reshape") else q.shape[1], kwargs.get("skip_reshape")))
        return backend(q, k, v, heads, **kwargs)
    return record


def test_unconstrained_queries_run_on_the_backend_the_hook_was_handed(hook):
    from comfy.ldm.modules.attention import attention_pytorch, attention_split

    tokens = GRID[0] * GRID[1] * GRID[2] * 2
    parts = canvas_masks(region())
    constraint = RegionConstraint(tokens=tokens, strength=0.5, first_step=0, end_step=10, region=region())
    generator = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, tokens, HEADS * HEAD_DIM, generator=generator) for _ in range(3))
    calls: list = []
    # attention_split is a real backend other than the test machine's default, so its use cannot be a coincidence.
    out = hook.attention_override(constraint)(_recording(attention_split, calls), q, k, v, HEADS,
                                              transformer_options={})
    assert constraint.calls == 1
    assert calls == [(tokens, False)]  # the very call ComfyUI would make: every query, ComfyUI's layout
    free = ~parts.target_edit
    assert torch.equal(out[0, free], attention_split(q, k, v, HEADS)[0, free])  # bit for bit that backend's rows
    plain = attention_pytorch(q, k, v, HEADS)
    assert torch.allclose(out[0, free], plain[0, free], atol=1e-5)
    assert not torch.allclose(out[0, parts.target_edit], plain[0, parts.target_edit], atol=1e-3)


def test_unconstrained_queries_keep_a_previous_override_in_the_chain(hook):
    from comfy.ldm.modules.attention import optimized_attention

    tokens = GRID[0] * GRID[1] * GRID[2] * 2
    parts = canvas_masks(region())
    constraint = RegionConstraint(tokens=tokens, strength=1.0, first_step=0, end_step=10, region=region(),
                                       kind="videograin")
    calls: list = []

    def previous(func, *args, **kwargs):  # another pack's override, installed before ReCoSampler's
        return _recording(func, calls)(*args, **kwargs)

    q = torch.randn(1, tokens, HEADS * HEAD_DIM, generator=torch.Generator().manual_seed(3))
    options = {"optimized_attention_override": hook.attention_override(constraint, previous),
               "sigmas": torch.tensor([1.0])}
    out = optimized_attention(q, q, q, heads=HEADS, transformer_options=options)
    assert constraint.calls == 1
    assert calls == [(tokens, False)]
    plain = optimized_attention(q, q, q, heads=HEADS, transformer_options={})
    assert torch.allclose(out[0, ~parts.target_edit], plain[0, ~parts.target_edit], atol=1e-5)


def test_a_failing_backend_falls_back_to_pytorch_attention_and_says_so(hook, caplog):
    """What `--use-sage-attention` (or any optional kernel) does when it refuses a call: the run goes on."""
    from comfy.ldm.modules.attention import attention_pytorch

    tokens = GRID[0] * GRID[1] * GRID[2] * 2
    constraint = RegionConstraint(tokens=tokens, strength=0.5, first_step=0, end_step=10, region=region())
    generator = torch.Generator().manual_seed(4)
    q, k, v = (torch.randn(1, tokens, HEADS * HEAD_DIM, generator=generator) for _ in range(3))

    def attention_sage(*args, **kwargs):  # named like ComfyUI's Sage backend, failing like a kernel without a card
        raise RuntimeError("sageattention needs a CUDA device")

    override = hook.attention_override(constraint)
    with caplog.at_level("WARNING"):
        out = override(attention_sage, q, k, v, HEADS, transformer_options={})
        override(attention_sage, q, q, q, HEADS, transformer_options={})
    assert constraint.calls == 2
    expected = hook.attention_override(RegionConstraint(tokens=tokens, strength=0.5, first_step=0, end_step=10,
                                                        region=region()))(attention_pytorch, q, k, v, HEADS)
    assert torch.equal(out, expected)
    warnings = [r.getMessage() for r in caplog.records if "attention_sage failed" in r.getMessage()]
    assert len(warnings) == 1 and "PyTorch attention instead" in warnings[0]


def test_running_out_of_memory_in_the_backend_is_not_a_fallback(hook):
    tokens = GRID[0] * GRID[1] * GRID[2] * 2
    constraint = RegionConstraint(tokens=tokens, strength=0.5, first_step=0, end_step=10, region=region())
    q = torch.randn(1, tokens, HEADS * HEAD_DIM)

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("out of memory")

    with pytest.raises(torch.OutOfMemoryError):
        hook.attention_override(constraint)(exhausted, q, q, q, HEADS, transformer_options={})
