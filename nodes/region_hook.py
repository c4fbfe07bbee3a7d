"""The attention-mask hook ReCoSampler installs on a cloned native Wan model for one sampling run.

ComfyUI calls `transformer_options["optimized_attention_override"]` for every attention of the Wan model, VACE blocks
included, with q, k, v as (B, tokens, heads x head_dim). This hook recognises the canvas self-attentions (query and
key length equal the canvas token count; cross-attention keys have the text length), and during the chosen steps
hands them to reco_core's region-constrained attention. Everything else, and every step outside the range, goes to
the previous override or the backend unchanged, so with the constraint off the numbers are the native ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

from ..reco_core.attention.region_attention import (
    region_constrained_attention,
    videograin_canvas_attention,
    videograin_lambda,
)

CONSTRAINT_KINDS = ("block", "videograin")


@dataclass
class RegionConstraint:
    """Mutable per-run state: the token-grid region (None until known), strength and step range, current step."""

    tokens: int
    strength: float
    first_step: int
    end_step: int
    region: torch.Tensor | None = None  # (T, h, w) bool on one half's token grid, reference frame rows included
    kind: str = "block"  # block: scale the weights to the source object; videograin: VideoGrain's modulation
    step: int = 0
    calls: int = field(default=0)  # constrained attention calls, for tests and logs

    def active(self) -> bool:
        return (self.region is not None and self.strength > 0 and bool(self.region.any())
                and self.first_step <= self.step < self.end_step)


def attention_override(constraint: RegionConstraint, previous=None):
    def override(func, q, k, v, heads, mask=None, attn_precision=None, skip_reshape=False,
                 skip_output_reshape=False, **kwargs):
        # Every query first goes through the artist's backend (Sage, flash, xformers...), or a previous override, in
        # the very call ComfyUI would make; only constrained rows are then recomputed, in place, on (B, heads, N, D)
        # views of the tensors.
        attend = functools.partial(previous, func) if previous is not None else func
        plain = attend(q, k, v, heads, mask=mask, attn_precision=attn_precision, skip_reshape=skip_reshape,
                       skip_output_reshape=skip_output_reshape, **kwargs)
        token_axis = 2 if skip_reshape else 1
        canvas_self_attention = q.shape[token_axis] == k.shape[token_axis] == constraint.tokens
        if not (canvas_self_attention and mask is None and constraint.active()):
            return plain
        if not skip_reshape:
            q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))
        plain_view = plain if skip_output_reshape else plain.unflatten(-1, (heads, -1)).transpose(1, 2)
        region = constraint.region.to(q.device)
        if constraint.kind == "videograin":
            # VideoGrain's lambda follows the noise level (ComfyUI puts the current sigma in transformer_options).
            sigma = float(kwargs["transformer_options"]["sigmas"].max().clamp(0, 1))
            lam = constraint.strength * videograin_lambda(sigma, float(region.float().mean()), self_attention=True)
            out = videograin_canvas_attention(q, k, v, region, lam, plain=plain_view)
        else:
            out = region_constrained_attention(q, k, v, region, constraint.strength, plain=plain_view)
        constraint.calls += 1
        return out if skip_output_reshape else out.transpose(1, 2).flatten(2)

    return override
