"""Seed the toy DiT with attention heads that look across the canvas seam: the in-context prior, given at init.

ReCo edits by copying: every target token outside the edit fetches its twin, the source token half a canvas to its
left. Wan-VACE brings that ability from web-scale pretraining. The toy DiT, trained from scratch on a CPU budget,
never found it: after 1,800 steps its heads put 0.004 of their attention on the twin (uniform is 1/216), and
sampling a "twin" canvas (the same clip on both halves) ended 0.31 MSE from the answer. With one head per chosen
block seeded to attend at that offset, 200 steps of the same training brought that error to 0.05.

The seeded head's query and key ignore the content (zero weights) and carry a constant vector as their bias; the key's
is the query's rotated by the offset along the width, so after RoPE the score of query p and key p' peaks where
p = p' + offset, for every position. Everything stays trainable: this is an initialisation, not a wiring.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ..attention.diffusers_wan import rotate_pairs

# Bias size before RMS normalisation: large against the other head's content, so the seeded head's scale is set by
# the norm's weight (`gain`) alone.
BIAS_SCALE = 30.0
# With this gain a seeded head puts about 0.95 of its attention on the twin at the toy's 3 x 6 x 12 token canvas.
DEFAULT_GAIN = 4.0


def rope_tables(transformer, grid: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each (tokens, head_dim): the transformer's own RoPE for a canvas of `grid` tokens."""
    frames, height, width = grid
    patch = transformer.config.patch_size
    probe = torch.zeros(1, transformer.config.in_channels, frames * patch[0], height * patch[1], width * patch[2])
    cos, sin = transformer.rope(probe)
    return cos[0, :, 0].float(), sin[0, :, 0].float()


def seed_copy_heads(transformer, grid: tuple[int, int, int], blocks: Sequence[int], head: int = 0,
                    gain: float = DEFAULT_GAIN) -> None:
    """Make `head` of each block's self-attention look `grid[2] // 2` tokens to the left (the other half's twin)."""
    head_dim = transformer.config.attention_head_dim
    offset = grid[2] // 2
    cos, sin = rope_tables(transformer, grid)
    query = torch.zeros(head_dim)
    query[0::2] = 1.0
    key = rotate_pairs(query, cos[offset], sin[offset])  # token (0, 0, offset): the query turned by the offset
    span = slice(head * head_dim, (head + 1) * head_dim)
    with torch.no_grad():
        for block in blocks:
            attention = transformer.blocks[block].attn1
            for projection, vector, norm in ((attention.to_q, query, attention.norm_q),
                                             (attention.to_k, key, attention.norm_k)):
                projection.weight[span] = 0
                projection.bias[span] = BIAS_SCALE * vector
                norm.weight[span] = gain


def twin_attention(transformer, grid: tuple[int, int, int], block: int, head: int,
                   hidden: torch.Tensor) -> float:
    """Mean attention weight that right-half queries of `hidden` (1, tokens, dim) put on their left twin."""
    frames, height, width = grid
    attention = transformer.blocks[block].attn1
    cos, sin = rope_tables(transformer, grid)
    with torch.no_grad():
        query = attention.norm_q(attention.to_q(hidden))[0].unflatten(-1, (attention.heads, -1))[:, head]
        key = attention.norm_k(attention.to_k(hidden))[0].unflatten(-1, (attention.heads, -1))[:, head]
    query, key = rotate_pairs(query, cos, sin), rotate_pairs(key, cos, sin)
    weights = torch.softmax(query @ key.T / math.sqrt(query.shape[-1]), dim=-1)
    position = torch.arange(frames * height * width)
    column = position % width
    right = (column >= width // 2).nonzero()[:, 0]
    return weights[right, right - width // 2].mean().item()
