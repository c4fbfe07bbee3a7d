"""Collect ReCo's L_attn score from inside diffusers' Wan self-attention, without storing any attention map.

L_attn needs q and k of every self-attention layer (30 DiT + 15 VACE at full size) exactly as the layer uses them:
after the RMS norm and after RoPE. diffusers' WanAttnProcessor computes them as locals and drops them, so
:class:`RegionScoreProcessor` replaces it on every ``attn1`` of ``blocks`` and ``vace_blocks``. It performs the same
operations in the same precision as WanAttnProcessor's self-attention path (projections, RMS norm over all heads,
interleaved-pair RoPE, the same ``dispatch_attention_fn`` call, output projection), so the layer output is bitwise
the same, and, while a region is set, also reduces (q, k) to the per-layer centroid score of
:func:`..attention.region_attention.centroid_attention_scores` (linear in the token count; nothing N x N is built).

Per training step the trainer does::

    with capture.region(token_region):          # the scores are computed while this is open: forward AND backward
        with capture.collect() as scores:       # ... but only kept while this is open: the forward call
            v_pred = model(...)
        loss = ... + lambda_attn * mean(scores)
        loss.backward()

Gradient checkpointing. The score is computed inside the checkpointed block, so it is part of the autograd graph
recorded during the forward pass; torch's non-reentrant checkpointing (the only kind the trainer enables) records
that graph with grad enabled and rebuilds the discarded activations on demand, so the score is differentiable.
During backward the block's forward runs a second time to rebuild them. That rerun must repeat exactly the same
operations, because non-reentrant checkpointing matches recomputed tensors to the originals by their order: so the
processor computes the score again whenever a region is set. It is counted only once because collection is open
only around the forward call; the recomputation happens inside ``backward()``, after ``collect()`` has closed, and
its scores are dropped. (Reentrant checkpointing runs the first forward without grad, which would silently make the
score a constant; the trainer never uses it.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

from ..attention.canvas_tokens import check_region
from ..attention.region_attention import centroid_attention_scores

__all__ = ["AttentionCapture", "RegionScoreProcessor", "ScoreFn", "self_attention_layers"]

ScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""(q, k, token region) -> scalar, with q and k as (B, heads, N, head_dim): what is reduced from each layer."""


class _CaptureState:
    """What every processor of one model shares: the score, the current token region, the open collection list."""

    def __init__(self, score: ScoreFn) -> None:
        self.score = score
        self.region: torch.Tensor | None = None
        self.scores: list[torch.Tensor] | None = None

    def observe(self, query: torch.Tensor, key: torch.Tensor) -> None:
        """Score one layer's (B, N, heads, d) q and k when a region is set; keep the score when collecting."""
        if self.region is None:
            return
        score = self.score(query.transpose(1, 2), key.transpose(1, 2), self.region)
        if self.scores is not None:
            self.scores.append(score)


def _rotate_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's RoPE: channels (2i, 2i+1) of each head form a pair rotated by the angle of frequency i.

    ``cos``/``sin`` (1, N, 1, d) come from diffusers' WanRotaryPosEmbed, which stores each frequency twice in a row;
    the even entries hold one copy. Products are taken in the tables' float32 and rounded to x's dtype once at the
    end, which is where WanAttnProcessor rounds too.
    """
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = cos[..., 0::2], sin[..., 0::2]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


class RegionScoreProcessor:
    """Self-attention processor for diffusers' WanAttention equal to WanAttnProcessor, plus the L_attn score hook.

    Only plain self-attention is supported (no encoder states, no image keys, unfused projections): that is every
    ``attn1`` of Wan2.1-VACE. Context parallelism is not supported, since the centroids need every token of the
    canvas; the attention backend chosen with diffusers' ``set_attention_backend`` is honoured.
    """

    _attention_backend = None
    _parallel_config = None

    def __init__(self, state: _CaptureState):
        self.state = state

    def __call__(
        self,
        attn,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attn.add_k_proj is not None:
            raise ValueError("RegionScoreProcessor serves self-attention (attn1) only, not cross-attention")
        if getattr(attn, "fused_projections", False):
            raise ValueError("RegionScoreProcessor needs unfused q/k/v projections; call unfuse_projections() first")
        heads = attn.heads
        query = attn.norm_q(attn.to_q(hidden_states)).unflatten(2, (heads, -1))
        key = attn.norm_k(attn.to_k(hidden_states)).unflatten(2, (heads, -1))
        value = attn.to_v(hidden_states).unflatten(2, (heads, -1))
        if rotary_emb is not None:
            query = _rotate_pairs(query, *rotary_emb)
            key = _rotate_pairs(key, *rotary_emb)
        self.state.observe(query, key)
        out = dispatch_attention_fn(
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False,
            backend=self._attention_backend,
        )
        out = out.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


def self_attention_layers(transformer: torch.nn.Module) -> list[torch.nn.Module]:
    """Every self-attention module of a Wan VACE transformer: ``attn1`` of each VACE block, then of each DiT block."""
    layers = [block.attn1 for tree in ("vace_blocks", "blocks") for block in getattr(transformer, tree, ())]
    if not layers:
        raise ValueError(f"{type(transformer).__name__} has no blocks/vace_blocks with attn1; expected a Wan model")
    return layers


class AttentionCapture:
    """Installs :class:`RegionScoreProcessor` on every self-attention layer of ``transformer`` and gathers scores.

    Installing changes no output (the processors compute what diffusers' do); :meth:`remove` puts diffusers'
    WanAttnProcessor back. ``score`` is L_attn's per-layer centroid score unless another reduction of (q, k) is
    wanted, e.g. a diagnostic that reads one part of it.
    """

    def __init__(self, transformer: torch.nn.Module, score: ScoreFn = centroid_attention_scores):
        self._state = _CaptureState(score)
        self._layers = self_attention_layers(transformer)
        for layer in self._layers:
            layer.set_processor(RegionScoreProcessor(self._state))

    @property
    def layer_count(self) -> int:
        """How many scores one forward pass yields while a region is set."""
        return len(self._layers)

    @contextmanager
    def region(self, token_region: torch.Tensor | None) -> Iterator[None]:
        """Score every self-attention call inside the block against ``token_region`` (F, H, W) bool, or nothing.

        Keep it open across forward and backward when training with gradient checkpointing (see module docstring).
        """
        if token_region is not None:
            check_region(token_region, "token_region")
        if self._state.region is not None:
            raise RuntimeError("AttentionCapture.region() is already open; regions do not nest")
        self._state.region = token_region
        try:
            yield
        finally:
            self._state.region = None

    @contextmanager
    def collect(self) -> Iterator[list[torch.Tensor]]:
        """A fresh list that receives one score per self-attention call made inside the block."""
        if self._state.scores is not None:
            raise RuntimeError("AttentionCapture.collect() is already open; collections do not nest")
        scores: list[torch.Tensor] = []
        self._state.scores = scores
        try:
            yield scores
        finally:
            self._state.scores = None

    def remove(self) -> None:
        """Give every self-attention layer diffusers' own processor back."""
        for layer in self._layers:
            layer.set_processor(WanAttnProcessor())
