"""Several (instruction, region) pairs: the spans, the region rules, and the bound attention against dense references."""

from __future__ import annotations

import math

import pytest
import torch

from reco_core.attention.canvas_tokens import canvas_masks
from reco_core.attention.multi_region import (
    MultiRegionPlan, disjoint_token_regions, first_overlap, instruction_spans, start_multi_region,
)

GRID = (2, 3, 4)  # per-half token grid: frames, rows, columns -> 48 canvas tokens
HEADS, HEAD_DIM = 2, 8
GLOBAL, FIRST, SECOND = 6, 3, 4  # instruction token counts -> 13 context tokens (not a divisor of 48)


def two_regions() -> list[torch.Tensor]:
    left, right = torch.zeros(GRID, dtype=torch.bool), torch.zeros(GRID, dtype=torch.bool)
    left[:, :, :2] = True
    right[:, 1:, 2:] = True
    return [left, right]


def plan(strength: float = 1.0) -> MultiRegionPlan:
    return start_multi_region(two_regions(), GLOBAL, (FIRST, SECOND), strength, 0.0, 1.0, steps=10)


def dense_attention(q, k, v, allowed=None, bias=None):
    """Reference: softmax over a full score matrix, with disallowed pairs at -inf and an optional key bias."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    if allowed is not None:
        scores = scores.masked_fill(~allowed, -math.inf)
    return torch.softmax(scores, dim=-1) @ v


def test_spans_follow_the_concatenation_order():
    assert instruction_spans(6, (3, 4)) == ((0, 6), ((6, 9), (9, 13)))
    with pytest.raises(ValueError, match="at least one token"):
        instruction_spans(5, (0,))


def test_first_overlap_finds_shared_pixels_and_one_frame_masks_count_for_every_frame():
    a = torch.zeros(1, 4, 4)
    a[0, :2] = 1.0
    b = torch.zeros(3, 4, 4)
    b[2, 1, 1] = 0.9
    assert first_overlap([a, torch.zeros(3, 4, 4)]) is None
    assert first_overlap([a, b]) == (0, 1, 1)
    c = torch.zeros(1, 4, 4)
    c[0, 3] = 1.0
    assert first_overlap([a, c, b]) == (0, 2, 1)


def test_a_shared_token_stays_with_the_earlier_region_and_a_swallowed_region_is_refused():
    first, second = two_regions()
    second[:, :, 1] = True  # reaches into the first region
    owned = disjoint_token_regions([first, second])
    assert torch.equal(owned[0], first)
    assert not bool((owned[0] & owned[1]).any())
    with pytest.raises(ValueError, match="region 2 covers no token"):
        disjoint_token_regions([first, first.clone()])


def test_cross_attention_binds_each_region_to_its_own_instruction():
    bound = plan()
    tokens = bound.canvas_tokens
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(1, HEADS, tokens, HEAD_DIM, generator=generator)
    k, v = (torch.randn(1, HEADS, bound.context_tokens, HEAD_DIM, generator=generator) for _ in range(2))
    labels = bound.query_labels(q.device)
    span_of_key = torch.tensor([0] * GLOBAL + [1] * FIRST + [2] * SECOND)
    allowed = (labels.view(-1, 1) + 1) == span_of_key.view(1, -1)  # label -1 -> global span 0, r -> span r + 1
    assert torch.allclose(bound.cross_attention(q, k, v), dense_attention(q, k, v, allowed), atol=1e-5)
    # Probe values: channel s is 1 on span s, so the output is each query's attention mass per instruction.
    probe = torch.nn.functional.one_hot(span_of_key, 3).float().expand(1, HEADS, -1, 3)
    mass = bound.cross_attention(q, k, probe)
    parts = [canvas_masks(region) for region in bound.regions]
    for region, part in enumerate(parts):
        assert torch.allclose(mass[0, :, part.target_edit, region + 1], torch.tensor(1.0))
        others = [span for span in range(3) if span != region + 1]
        assert bool((mass[0, :, part.target_edit][..., others] == 0).all())
    elsewhere = labels == -1
    assert torch.allclose(mass[0, :, elsewhere, 0], torch.tensor(1.0))
    assert bool(elsewhere[: GRID[2]].all())  # the source half hears the global instruction too


def test_cross_attention_over_a_repeated_context_equals_one_copy():
    bound = plan()
    generator = torch.Generator().manual_seed(1)
    q = torch.randn(2, HEADS, bound.canvas_tokens, HEAD_DIM, generator=generator)
    k, v = (torch.randn(2, HEADS, bound.context_tokens, HEAD_DIM, generator=generator) for _ in range(2))
    repeated = bound.cross_attention(q, k.repeat(1, 1, 3, 1), v.repeat(1, 1, 3, 1))
    assert torch.allclose(repeated, bound.cross_attention(q, k, v), atol=1e-6)
    assert bound.is_cross_attention(bound.canvas_tokens, 3 * bound.context_tokens)
    assert not bound.is_cross_attention(bound.canvas_tokens, bound.context_tokens + 1)


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_self_attention_keeps_each_region_from_the_other_regions_source_objects(strength):
    bound = plan(strength)
    tokens = bound.canvas_tokens
    generator = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, HEADS, tokens, HEAD_DIM, generator=generator) for _ in range(3))
    parts = [canvas_masks(region) for region in bound.regions]
    out = bound.self_attention(q, k, v)
    for region, part in enumerate(parts):
        other = parts[1 - region].source_edit
        bias = torch.zeros(tokens).masked_fill(other, math.log1p(-strength) if strength < 1 else -math.inf)
        expected = dense_attention(q, k, v, bias=bias)
        assert torch.allclose(out[0, :, part.target_edit], expected[0, :, part.target_edit], atol=1e-5)
    untouched = ~(parts[0].target_edit | parts[1].target_edit)
    assert torch.allclose(out[0, :, untouched], dense_attention(q, k, v)[0, :, untouched], atol=1e-5)
    if strength == 1.0:  # probe values: 1 on the other region's source object -> no mass there at all
        for region, part in enumerate(parts):
            probe = parts[1 - region].source_edit.float().view(1, 1, tokens, 1).expand(1, HEADS, tokens, 1)
            assert bool((bound.self_attention(q, k, probe)[0, :, part.target_edit] == 0).all())


def test_self_rule_follows_its_step_range_and_a_context_dividing_the_canvas_is_refused():
    bound = start_multi_region(two_regions(), GLOBAL, (FIRST, SECOND), 1.0, 0.2, 0.5, steps=10)
    tokens = bound.canvas_tokens
    assert [bound.is_self_attention(tokens, tokens) for bound.step in range(7)] == [False] * 2 + [True] * 3 + [False] * 2
    with pytest.raises(ValueError, match="divides the canvas"):
        start_multi_region(two_regions(), 4, (4, 4), 1.0, 0.0, 1.0, steps=10)  # 12 tokens, canvas of 48
    with pytest.raises(ValueError, match="2 regions but 1 instructions"):
        start_multi_region(two_regions(), GLOBAL, (FIRST,), 1.0, 0.0, 1.0, steps=10)
