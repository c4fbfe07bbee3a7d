"""The compute floor of a ReCo edit: matrix-multiply FLOPs of Wan2.1-VACE's forward on the canvas.

Counting only the matrix products (2 FLOP per multiply-add) of every DiT and VACE block gives the work no kernel can
skip; a measured time divided into it is the achieved throughput, and against a card's peak, the achieved fraction.
At ReCo's full canvas (65,520 tokens) self-attention is 82 % of it: that is where the region constraint must be free.
"""

from __future__ import annotations

FULL_CANVAS_TOKENS = 21 * 30 * 104
TEXT_TOKENS = 512
# Linear layers of a self-attention: q, k, v and o.
SELF_ATTENTION_PROJECTIONS = 4


def forward_flops(tokens: int = FULL_CANVAS_TOKENS, dim: int = 1536, ffn_dim: int = 8960, blocks: int = 30 + 15,
                  text_tokens: int = TEXT_TOKENS) -> float:
    """FLOPs of one transformer call (all blocks, VACE blocks included; embeddings and head are negligible)."""
    self_projections = SELF_ATTENTION_PROJECTIONS * 2 * tokens * dim * dim
    cross_projections = 2 * 2 * tokens * dim * dim + 2 * 2 * text_tokens * dim * dim  # q, o on tokens; k, v on text
    feed_forward = 2 * 2 * tokens * dim * ffn_dim
    self_attention = 2 * 2 * tokens * tokens * dim  # scores and the weighted sum
    cross_attention = 2 * 2 * tokens * text_tokens * dim
    return float(blocks * (self_projections + cross_projections + feed_forward + self_attention + cross_attention))


def edit_flops(steps: int = 50, cfg: bool = True, **model) -> float:
    """FLOPs of a whole edit: one call per step, two with classifier-free guidance."""
    return steps * (2 if cfg else 1) * forward_flops(**model)
