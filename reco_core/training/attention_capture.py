"""Collect ReCo's L_attn score from inside diffusers' Wan self-attention, without storing any attention map.

L_attn needs q and k of every self-attention layer (30 DiT + 15 VACE at full size) exactly as the layer uses them:
after the RMS norm and after RoPE. diffusers' WanAttnProcessor computes them as locals and drops them, so
:class:`RegionScoreProcessor` replaces it on every ``attn1`` of ``blocks`` and ``vace_blocks``. It is
:class:`..attention.diffusers_wan.WanSelfAttentionProcessor` (bitwise WanAttnProcessor's output) whose attention
step, while a region is set, also reduces (q, k) to the per-layer centroid score of
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
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

from ..attention.canvas_tokens import check_region
from ..attention.diffusers_wan import WanSelfAttentionProcessor, self_attention_layers
from ..attention.region_attention import centroid_attention_scores

__all__ = ["AttentionCapture", "RegionScoreProcessor", "ScoreFn"]

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


class RegionScoreProcessor(WanSelfAttentionProcessor):
    """WanAttnProcessor's self-attention, plus the L_attn score of q and k while the shared state holds a region.

    The centroids need every token of the canvas, so context parallelism is not supported.
    """

    def __init__(self, state: _CaptureState):
        self.state = state

    def attend(self, query, key, value, attention_mask):
        self.state.observe(query, key)
        return super().attend(query, key, value, attention_mask)


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
