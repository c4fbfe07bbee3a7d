"""The attention-mask hook ReCoSampler installs on a cloned native Wan model for one sampling run.

ComfyUI calls `transformer_options["optimized_attention_override"]` for every attention of the Wan model, VACE blocks
included, with q, k, v as (B, tokens, heads x head_dim). This hook only adapts those conventions: it asks the
run's RegionConstraint (reco_core.attention.constraint, where every decision of the method lives) whether a call is a
canvas self-attention to constrain now, reshapes q/k/v, and hands over the noise level ComfyUI put in
transformer_options. Everything else goes to the previous override or the backend unchanged, so with the constraint
off the numbers are the native ones.
"""

from __future__ import annotations

import functools

from ..reco_core.attention.constraint import RegionConstraint


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
        if mask is not None or not constraint.applies(q.shape[token_axis], k.shape[token_axis]):
            return plain
        if not skip_reshape:
            q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))
        plain_view = plain if skip_output_reshape else plain.unflatten(-1, (heads, -1)).transpose(1, 2)
        sigmas = kwargs.get("transformer_options", {}).get("sigmas")
        out = constraint.attend(q, k, v, None if sigmas is None else float(sigmas.max()), plain=plain_view)
        return out if skip_output_reshape else out.transpose(1, 2).flatten(2)

    return override
