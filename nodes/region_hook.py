"""The attention-mask hook ReCoSampler installs on a cloned native Wan model for one sampling run.

ComfyUI calls `transformer_options["optimized_attention_override"]` for every attention of the Wan model, VACE blocks
included, with q, k, v as (B, tokens, heads x head_dim). This hook only adapts those conventions: every call first
goes to the previous override or the backend ComfyUI chose, unchanged, so with the constraint off the numbers are the
native ones; then it asks the run's RegionConstraint (reco_core.attention.constraint, where every decision of the
method lives) whether the call is a canvas self-attention to constrain now, reshapes q/k/v, and hands over that plain
output and the noise level ComfyUI put in transformer_options, so only the constrained rows are recomputed.

Where the artist's backend fails on a call (an optional kernel such as Sage attention refusing a shape, dtype or
card), that call falls back to ComfyUI's PyTorch attention and the log says so, as ComfyUI's own Sage wrapper does:
the run goes on with the same numbers a PyTorch-attention start would give. Running out of memory is not a kernel
refusal and propagates, so ComfyUI's out-of-memory handling still sees it.
"""

from __future__ import annotations

import functools
import logging

import torch

from ..reco_core.attention.constraint import RegionConstraint

logger = logging.getLogger(__name__)


def attention_override(constraint: RegionConstraint, previous=None):
    failures: set[str] = set()  # backends that failed during this run, each logged once

    def override(func, q, k, v, heads, mask=None, attn_precision=None, skip_reshape=False,
                 skip_output_reshape=False, **kwargs):
        # Every query first goes through the artist's backend (Sage, flash, xformers...), or a previous override, in
        # the very call ComfyUI would make; only constrained rows are then recomputed, in place, on (B, heads, N, D)
        # views of the tensors.
        backend = functools.partial(with_fallback, func, failures)
        attend = functools.partial(previous, backend) if previous is not None else backend
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


def with_fallback(func, failures: set[str], *args, **kwargs):
    """``func(*args, **kwargs)``, or ComfyUI's PyTorch attention of the same arguments where ``func`` fails; the
    first failure of each backend in a run is logged (its name is added to ``failures``)."""
    try:
        return func(*args, **kwargs)
    except torch.OutOfMemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever an optional kernel raises; the fallback always exists
        from comfy.ldm.modules.attention import attention_pytorch

        name = getattr(func, "__name__", type(func).__name__)
        if name not in failures:
            failures.add(name)
            logger.warning("ReCo region hook: attention backend %s failed (%s: %s); its calls in this run use "
                           "PyTorch attention instead", name, type(error).__name__, error)
        return attention_pytorch(*args, **kwargs)
