"""The attention hook that binds several instructions to their regions, for one ReCoSampler run on a cloned model.

Like nodes/region_hook.py it only adapts ComfyUI's conventions to the plan in reco_core.attention.multi_region, where
every decision lives: every call first goes to the previous override or ComfyUI's chosen backend, unchanged; then
canvas self-attentions get the plan's region rule on every batch row, and canvas cross-attentions get the text
binding on the rows of the positive pass only. ComfyUI runs the positive and negative passes as chunks of one batch
(`transformer_options["cond_or_uncond"]`: 0 for a positive chunk, 1 for a negative one), and the negative prompt has
no per-region instructions, so its rows keep their plain attention.
"""

from __future__ import annotations

import functools

import torch

from ..reco_core.attention.multi_region import MultiRegionPlan

POSITIVE_CHUNK = 0  # ComfyUI's COND marker in cond_or_uncond


def positive_rows(options: dict, batch: int) -> torch.Tensor:
    """Batch indices of the positive pass; every row when ComfyUI did not say (a direct model call)."""
    chunks = options.get("cond_or_uncond")
    if not chunks:
        return torch.arange(batch)
    per_chunk = batch // len(chunks)
    return torch.tensor([chunk * per_chunk + row for chunk, kind in enumerate(chunks) if kind == POSITIVE_CHUNK
                         for row in range(per_chunk)], dtype=torch.long)


def multi_region_override(plan: MultiRegionPlan, previous=None):
    def override(func, q, k, v, heads, mask=None, attn_precision=None, skip_reshape=False,
                 skip_output_reshape=False, **kwargs):
        attend = functools.partial(previous, func) if previous is not None else func
        plain = attend(q, k, v, heads, mask=mask, attn_precision=attn_precision, skip_reshape=skip_reshape,
                       skip_output_reshape=skip_output_reshape, **kwargs)
        token_axis = 2 if skip_reshape else 1
        query_tokens, key_tokens = q.shape[token_axis], k.shape[token_axis]
        is_self = plan.is_self_attention(query_tokens, key_tokens)
        if mask is not None or not (is_self or plan.is_cross_attention(query_tokens, key_tokens)):
            return plain
        if not skip_reshape:
            q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))
        plain_view = plain if skip_output_reshape else plain.unflatten(-1, (heads, -1)).transpose(1, 2)
        if is_self:
            out = plan.self_attention(q, k, v, plain=plain_view)
        else:
            rows = positive_rows(kwargs.get("transformer_options", {}), q.shape[0]).to(q.device)
            if rows.numel():
                plain_view[rows] = plan.cross_attention(q[rows], k[rows], v[rows]).to(plain_view.dtype)
            out = plain_view
        return out if skip_output_reshape else out.transpose(1, 2).flatten(2)

    return override
