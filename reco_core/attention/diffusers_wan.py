"""diffusers' Wan self-attention with a seam between computing q/k/v and attending, for ReCo's attention hooks.

diffusers' WanAttnProcessor computes q and k (RMS norm over all heads, then RoPE) as locals and attends at once, so
nothing can look at them or attend differently. :class:`WanSelfAttentionProcessor` performs the same operations in
the same precision (projections, norm, interleaved-pair RoPE, the same ``dispatch_attention_fn`` call, output
projection), so its output is bitwise WanAttnProcessor's, and routes the attention through :meth:`attend`, which
subclasses override. Two do: the trainer's L_attn capture (training/attention_capture.py) and
:class:`ConstrainedAttentionProcessor`, the headless path's adapter for :class:`.constraint.RegionConstraint` (the
ComfyUI path's adapter is nodes/region_hook.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn

from .constraint import RegionConstraint

__all__ = ["ConstrainedAttentionProcessor", "WanSelfAttentionProcessor", "constrained_attention",
           "self_attention_layers"]


def rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's RoPE: channels (2i, 2i+1) of each head form a pair rotated by the angle of frequency i.

    ``cos``/``sin`` (1, N, 1, d) come from diffusers' WanRotaryPosEmbed, which stores each frequency twice in a row;
    the even entries hold one copy. Products are taken in the tables' float32 and rounded to x's dtype once at the
    end, which is where WanAttnProcessor rounds too.
    """
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = cos[..., 0::2], sin[..., 0::2]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


class WanSelfAttentionProcessor:
    """Self-attention processor for diffusers' WanAttention equal to WanAttnProcessor, with an :meth:`attend` seam.

    Only plain self-attention is supported (no encoder states, no image keys, unfused projections): that is every
    ``attn1`` of Wan2.1-VACE. Context parallelism is not supported; the attention backend chosen with diffusers'
    ``set_attention_backend`` is honoured.
    """

    _attention_backend = None
    _parallel_config = None

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        name = type(self).__name__
        if encoder_hidden_states is not None or attn.add_k_proj is not None:
            raise ValueError(f"{name} serves self-attention (attn1) only, not cross-attention")
        if getattr(attn, "fused_projections", False):
            raise ValueError(f"{name} needs unfused q/k/v projections; call unfuse_projections() first")
        heads = attn.heads
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (heads, -1))
        key = attn.norm_k(attn.to_k(hidden_states)).unflatten(2, (heads, -1))
        value = attn.to_v(hidden_states).unflatten(2, (heads, -1))
        if rotary_emb is not None:
            query = rotate_pairs(query, *rotary_emb)
            key = rotate_pairs(key, *rotary_emb)
        out = self.attend(query, key, value, attention_mask)
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))

    def attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Attention of (B, N, heads, head_dim) q, k, v -> (B, N, heads, head_dim), exactly as WanAttnProcessor."""
        return dispatch_attention_fn(query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False,
                                     backend=self._attention_backend)


class ConstrainedAttentionProcessor(WanSelfAttentionProcessor):
    """Hands canvas self-attentions to a RegionConstraint while it is active; plain attention otherwise.

    The constraint's ``sigma`` is the current sampling sigma, set by the sampler before each model call.
    """

    def __init__(self, constraint: RegionConstraint):
        self.constraint = constraint

    def attend(self, query, key, value, attention_mask):
        if attention_mask is not None or not self.constraint.applies(query.shape[1], key.shape[1]):
            return super().attend(query, key, value, attention_mask)
        out = self.constraint.attend(*(t.transpose(1, 2) for t in (query, key, value)), self.constraint.sigma)
        return out.transpose(1, 2)


def self_attention_layers(transformer: torch.nn.Module) -> list[torch.nn.Module]:
    """Every self-attention module of a Wan VACE transformer: ``attn1`` of each VACE block, then of each DiT block."""
    layers = [block.attn1 for tree in ("vace_blocks", "blocks") for block in getattr(transformer, tree, ())]
    if not layers:
        raise ValueError(f"{type(transformer).__name__} has no blocks/vace_blocks with attn1; expected a Wan model")
    return layers


@contextmanager
def constrained_attention(transformer: torch.nn.Module, constraint: RegionConstraint) -> Iterator[None]:
    """Every self-attention of ``transformer`` consults ``constraint`` inside the block; the old processors return."""
    layers = self_attention_layers(transformer)
    previous = [layer.processor for layer in layers]
    processor = ConstrainedAttentionProcessor(constraint)
    for layer in layers:
        layer.set_processor(processor)
    try:
        yield
    finally:
        for layer, old in zip(layers, previous):
            layer.set_processor(old)
