"""The attention hook that binds several instructions to their regions, for one ReCoSampler run on a cloned model.

It rides on region_hook's adapter of ComfyUI's conventions (every call first goes to the previous override or the
backend ComfyUI chose, unchanged; only the rows the method changes are recomputed), with the plan of
reco_core.attention.multi_region in place of a single region's constraint, where every decision lives. Canvas
self-attentions get the plan's region rule on every batch row; canvas cross-attentions get the text binding on the
rows of the positive pass only. ComfyUI runs the positive and negative passes as chunks of one batch
(`transformer_options["cond_or_uncond"]`: 0 for a positive chunk, 1 for a negative one), and the negative prompt has
no per-region instructions, so its rows keep their plain attention.
"""

from __future__ import annotations

import torch

from ..reco_core.attention.multi_region import MultiRegionPlan
from .region_hook import attention_override

POSITIVE_CHUNK = 0  # ComfyUI's COND marker in cond_or_uncond


def positive_rows(options: dict, batch: int) -> torch.Tensor:
    """Batch indices of the positive pass; every row when ComfyUI did not say (a direct model call)."""
    chunks = options.get("cond_or_uncond")
    if not chunks:
        return torch.arange(batch)
    per_chunk = batch // len(chunks)
    return torch.tensor([chunk * per_chunk + row for chunk, kind in enumerate(chunks) if kind == POSITIVE_CHUNK
                         for row in range(per_chunk)], dtype=torch.long)


class _PlanCalls:
    """The plan, answering region_hook's adapter as a RegionConstraint does (applies, attend), plus the current
    call's transformer_options, which the cross-attention needs to find the positive rows."""

    def __init__(self, plan: MultiRegionPlan) -> None:
        self.plan = plan
        self.options: dict = {}

    def applies(self, query_tokens: int, key_tokens: int) -> bool:
        return (self.plan.is_self_attention(query_tokens, key_tokens)
                or self.plan.is_cross_attention(query_tokens, key_tokens))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sigma: float | None,
               plain: torch.Tensor) -> torch.Tensor:
        if k.shape[2] == self.plan.canvas_tokens:
            return self.plan.self_attention(q, k, v, plain=plain)
        rows = positive_rows(self.options, q.shape[0]).to(q.device)
        if rows.numel():
            plain[rows] = self.plan.cross_attention(q[rows], k[rows], v[rows]).to(plain.dtype)
        return plain


def multi_region_override(plan: MultiRegionPlan, previous=None):
    calls = _PlanCalls(plan)
    adapted = attention_override(calls, previous)

    def override(func, q, k, v, heads, **kwargs):
        calls.options = kwargs.get("transformer_options", {})
        return adapted(func, q, k, v, heads, **kwargs)

    return override
