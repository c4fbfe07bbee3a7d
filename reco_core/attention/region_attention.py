"""Region-aware attention on ReCo's side-by-side canvas, computed without any token-pair-sized tensor.

At full size the canvas has 65,520 tokens, so a dense N x N score or mask tensor is 4.3 G elements per head. Every
function here therefore works from length-N token sets (see :mod:`.canvas_tokens`) and delegates the quadratic part to
fused attention kernels, gathering and scattering queries by index:

* :func:`region_constrained_attention` keeps target-edit queries from copying the source-edit keys (an inference-time
  counterpart of the region constraint ReCo trains with), via a single broadcast key-bias row.
* :func:`modulated_attention` is VideoGrain's score modulation, rewritten as a merge of key-subset attentions.
* :func:`centroid_attention_scores` is the per-layer score of ReCo's training loss L_attn, built on key centroids.

All attention inputs follow torch SDPA: (batch, heads, tokens, head_dim).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .canvas_tokens import canvas_masks, check_canvas_length, check_region
from .modulated_single_pass import single_pass_modulated_rows

logger = logging.getLogger(__name__)

DEFAULT_SCORE_CHUNK_ELEMENTS = 2**26
"""Scores materialized at once by the blocked passes (256 MiB in fp32): memory stays bounded however large N gets."""


CALL_MEMORY_SHARE = 1 / 24
"""What one constrained kernel call may hold on top of the output (its gathered query rows, their outputs, score
blocks, gathered keys), as a share of the output: a constrained call then peaks within a few percent of the plain
call (1.035x for a block constraint, 1.038x for VideoGrain, measured at 4k and 16k tokens; 1/32 gave 1.024x and
1.028x but about 10 % more time, in shorter kernel calls). A call takes one head; its rows follow from this share
and from how many row-sized buffers it holds (see :func:`_rows_per_call`), so the number of calls is the same at
every canvas size and each call stays large enough to fill the device once the canvas is."""

MIN_ROWS_PER_CALL = 16
"""Below this a call is mostly overhead; only canvases of a few hundred tokens reach it."""
CUDA_BIAS_ALIGNMENT = 16
"""Elements the memory-efficient CUDA kernel wants a bias row's stride aligned to."""


def region_constrained_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    region: torch.Tensor,
    strength: float,
    scale: float | None = None,
    plain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Canvas self-attention in which target-edit queries are steered away from source-edit keys.

    For each query in the target half inside ``region``, the unnormalized attention weight exp(s) of every key in the
    source half inside ``region`` is multiplied by (1 - strength) and the row is renormalized. Strength 0 is plain
    attention (returned from the very same attention call); strength 1 gives those keys exactly zero probability, so
    the edited object cannot be copied from the source. All other queries are untouched.

    Multiplying weights by (1 - strength) is adding log(1 - strength) to the scores, and that bias depends on the key
    only. So all queries first get plain attention (``plain``: the artist's backend, in one call, into the one
    output buffer), then the constrained rows are recomputed with torch SDPA and a single (1, 1, 1, N) bias row that
    the kernel broadcasts, and written over their plain rows, a chunk at a time (see :data:`CALL_MEMORY_SHARE`): the
    peak stays within a few percent of the plain call's, and nothing token-pair sized is ever allocated (a copy of the
    allowed keys and values would cost more memory than the whole output). Rows never become fully masked, because
    target-half keys are never biased, even when ``region`` is all ones.

    Args:
        q, k, v: (B, heads, N, head_dim) canvas tokens, N = F * H * 2W.
        region: (F, H, W) bool edit mask on the per-half token grid, aligned with the source half.
        strength: in [0, 1].
        scale: score scale as in torch SDPA (default 1 / sqrt(head_dim)).
        plain: plain attention of all of ``q`` as the caller's backend computed it, (B, heads, N, v_head_dim) (any
            strides), with the same ``scale``; its constrained rows are overwritten in place. Default: torch SDPA.

    Returns:
        (B, heads, N, v_head_dim), dtype of ``v``: ``plain`` with its constrained rows overwritten (a copy of it
        when gradients are recorded); differentiable like SDPA.
    """
    _check_attention_inputs(q, k, v)
    check_region(region)
    check_canvas_length(q.shape[2], region, "q")
    check_canvas_length(k.shape[2], region, "k")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength}")
    out = F.scaled_dot_product_attention(q, k, v, scale=scale) if plain is None else plain
    masks = canvas_masks(region, q.device)
    if strength == 0.0 or not bool(masks.target_edit.any()):
        return out
    key_bias = -math.inf if strength == 1.0 else math.log1p(-strength)
    bias_row = torch.zeros(k.shape[2], dtype=q.dtype, device=q.device).masked_fill(masks.source_edit, key_bias)
    return overwrite_rows(out, q, masks.target_edit, buffers=2, attend=lambda rows, heads:
                          F.scaled_dot_product_attention(rows, k[:, heads], v[:, heads],
                                                         attn_mask=bias_row.view(1, 1, 1, -1), scale=scale))


def videograin_canvas_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    region: torch.Tensor,
    lam: float,
    scale: float | None = None,
    plain: torch.Tensor | None = None,
) -> torch.Tensor:
    """VideoGrain's modulation as a soft counterpart of `region_constrained_attention` on the canvas.

    Target-edit queries treat the source edit region as "another region" (scores pushed toward their row minimum)
    and every other key as "their own" (pushed toward the row maximum); all other queries are plain attention through
    ``plain`` (default torch SDPA), so the source half and the background are untouched. ``lam`` comes from
    :func:`videograin_lambda`. Inference only, like :func:`modulated_attention`.
    """
    _check_attention_inputs(q, k, v)
    check_region(region)
    check_canvas_length(q.shape[2], region, "q")
    check_canvas_length(k.shape[2], region, "k")
    _refuse_gradients(q, k, v, "videograin_canvas_attention")
    out = F.scaled_dot_product_attention(q, k, v, scale=scale) if plain is None else plain
    masks = canvas_masks(region, q.device)
    if lam == 0.0 or not bool(masks.target_edit.any()):
        return out
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    own_keys = ~masks.source_edit  # the source object is "another region" to the target edit; the rest is its own
    # Row-sized buffers of a call at its peak: the gathered queries, the output and a second accumulator, and the
    # score block with one key block's keys or values (three; on the CPU, see _modulated_rows; elsewhere the score
    # block of the extremum pass, or a key chunk's output, keys and values). Three score buffers against two or four
    # measured as fast at 16k tokens, within 1.04x of the plain call's memory at 4k and 16k.
    buffers = 6
    return overwrite_rows(out, q, masks.target_edit, buffers=buffers, attend=lambda rows, heads: _modulated_rows(
        rows, k[:, heads], v[:, heads], own_keys, lam, scale, score_chunk_elements=3 * rows.numel(),
        key_chunk=rows.shape[2]))


def overwrite_rows(out: torch.Tensor, q: torch.Tensor, rows_mask: torch.Tensor, buffers: int,
                    attend: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Replace the rows of ``out`` selected by ``rows_mask`` (bool, length N) with ``attend(query rows, heads)``.

    ``attend`` gets gathered query rows of the heads ``heads`` (a slice of one head) and returns their attention
    output while holding at most ``buffers`` tensors the size of those rows; rows go in chunks of
    :func:`_rows_per_call`, each written straight into ``out``. One head per call: for the same memory a call then
    takes as many times more rows as there are heads, and attention kernels run long query blocks (the CPU flash
    kernel uses blocks of 32 query rows below 192 rows a call, 256 from 768). When autograd records, ``out`` is
    copied first: the backend that produced it may have saved it for its backward pass.
    """
    if torch.is_grad_enabled() and (out.requires_grad or q.requires_grad):
        out = out.clone()
    rows = torch.nonzero(rows_mask).squeeze(1)
    heads = q.shape[1]
    for head in range(heads):
        one = slice(head, head + 1)
        for chunk in rows.split(_rows_per_call(q.shape[2], buffers) * heads):
            out[:, one].index_copy_(2, chunk, attend(q[:, one].index_select(2, chunk), one))
    return out


def _rows_per_call(tokens: int, buffers: int) -> int:
    """Query rows per constrained call of all heads such that ``buffers`` row-sized tensors hold
    :data:`CALL_MEMORY_SHARE` of an output of ``tokens`` rows (same batch, heads and head_dim); a call of one head
    takes this many times the head count."""
    return max(MIN_ROWS_PER_CALL, int(tokens * CALL_MEMORY_SHARE / buffers))


def modulated_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_labels: torch.Tensor,
    k_labels: torch.Tensor,
    same_region: torch.Tensor,
    lam: float,
    scale: float | None = None,
    score_chunk_elements: int = DEFAULT_SCORE_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """VideoGrain-style attention modulation over labelled queries and keys, without a token-pair tensor.

    With raw scores s = scale * q.k and, per query, M and m the maximum and minimum of s over all keys, the score to a
    key whose region pair (query label, key label) is marked in ``same_region`` becomes s + lam * (M - s); any other
    score becomes s - lam * (s - m). Softmax then runs over the modified scores.

    Both rules equal (1 - lam) * s + lam * c with c a per-query constant (M or m). A constant inside a key subset
    leaves the attention within that subset unchanged, so for every query label the result is two plain attentions,
    over the "same" keys and over the others, both with scale (1 - lam) * scale, merged by their log-sum-exps
    shifted by lam * M and lam * m. M and m come from the same score blocks (on the CPU, see
    :mod:`.modulated_single_pass`) or from a pass of their own, over blocks of at most ``score_chunk_elements``
    scores. Works for self-attention (labels from :func:`.canvas_tokens.canvas_labels`) and cross-attention alike.

    Inference only: the fused kernels do not differentiate their log-sum-exp output, so gradients through the merge
    would be silently incomplete; calling this with grad enabled on inputs that require grad raises.

    Args:
        q: (B, heads, Nq, head_dim); k, v: (B, heads, Nk, head_dim) and (B, heads, Nk, v_head_dim).
        q_labels, k_labels: integer region label per query (Nq,) and per key (Nk,), values in [0, R).
        same_region: (R, R) bool; entry [a, b] marks query label a and key label b as the same region.
        lam: modulation strength in [0, 1]; 0 is plain attention (see :func:`videograin_lambda`).
        scale: score scale as in torch SDPA (default 1 / sqrt(head_dim)).
        score_chunk_elements: memory bound of the score blocks, in elements.

    Returns:
        (B, heads, Nq, v_head_dim) in the dtype of ``v``.
    """
    _check_attention_inputs(q, k, v)
    regions = _check_same_region(same_region)
    _check_labels(q_labels, q.shape[2], regions, "q_labels")
    _check_labels(k_labels, k.shape[2], regions, "k_labels")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    if score_chunk_elements < 1:
        raise ValueError(f"score_chunk_elements must be positive, got {score_chunk_elements}")
    _refuse_gradients(q, k, v, "modulated_attention")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    if lam == 0.0:
        return F.scaled_dot_product_attention(q, k, v, scale=scale)

    q_labels = q_labels.to(q.device)
    key_same = same_region.to(q.device)[:, k_labels.to(q.device)]
    out = torch.empty(q.shape[:3] + (v.shape[-1],), dtype=v.dtype, device=q.device)
    for label in torch.unique(q_labels).tolist():
        rows = torch.nonzero(q_labels == label).squeeze(1)
        out.index_copy_(2, rows, _modulated_rows(q.index_select(2, rows), k, v, key_same[label], lam, scale,
                                                 score_chunk_elements, key_chunk=_key_chunk(q, score_chunk_elements)))
    return out


def _key_chunk(q: torch.Tensor, score_chunk_elements: int) -> int:
    """Keys gathered at once such that their keys and values hold no more than a score block."""
    return max(1, score_chunk_elements // (2 * q.shape[0] * q.shape[1] * q.shape[-1]))


def _modulated_rows(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, own_keys: torch.Tensor, lam: float,
                    scale: float, score_chunk_elements: int, key_chunk: int) -> torch.Tensor:
    """VideoGrain's modulated attention of queries that share one label; ``own_keys`` (bool, Nk) marks their region.

    On the CPU in one pass of torch ops over the keys (:mod:`.modulated_single_pass`: no fused CPU kernel reports a
    row's extremes, and the products and exponentials run as fast as the flash kernel's); elsewhere in three passes
    around the device's fused kernels (:func:`_fused_kernel_modulated_rows`). Returned in the dtype of ``v``.
    """
    if q.device.type == "cpu":
        return single_pass_modulated_rows(q, k, v, own_keys, lam, scale, score_chunk_elements).to(v.dtype)
    return _fused_kernel_modulated_rows(q, k, v, own_keys, lam, scale, score_chunk_elements, key_chunk)


def _fused_kernel_modulated_rows(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, own_keys: torch.Tensor,
                                 lam: float, scale: float, score_chunk_elements: int, key_chunk: int) -> torch.Tensor:
    """:func:`_modulated_rows` around fused attention kernels that report their log-sum-exp (CUDA's).

    Three passes over the keys, the last two at scale (1 - lam) * scale: the extremum pass over all keys (score
    blocks of at most ``score_chunk_elements``), then the larger key subset attended over all of k and v with a
    broadcast (1, 1, 1, Nk) bias row that is -inf off the subset (no key is copied; the kernel reports its
    log-sum-exp), then the smaller subset (on the canvas the source object, ~15 % of the keys) over its own keys
    only, gathered ``key_chunk`` at a time, each chunk merged into the running result by log-sum-exp, so it costs
    its share of the keys rather than a pass over all of them. Holds the queries, the running output (float32), one
    chunk's output, keys and values at once.
    """
    row_max, row_min = _score_extremes(q, k, scale, score_chunk_elements)
    subset_scale = (1.0 - lam) * scale
    subsets = [(own_keys, row_max), (~own_keys, row_min)]
    subsets = sorted((s for s in subsets if bool(s[0].any())), key=lambda s: -int(s[0].sum()))
    (large, large_anchor), *small = subsets
    if small:
        key_bias = torch.zeros(k.shape[2], dtype=q.dtype, device=q.device).masked_fill(~large, -math.inf)
    else:  # one subset holds every key: no bias at all
        key_bias = None
    merged = _attention_with_lse(q, k, v, subset_scale, key_bias, score_chunk_elements)
    if not small:
        return merged[0]
    merged = (merged[0], merged[1].add_(large_anchor, alpha=lam))
    (small_keys, small_anchor), = small
    for keys in torch.nonzero(small_keys).squeeze(1).split(key_chunk):
        out, lse = _attention_with_lse(q, k.index_select(2, keys), v.index_select(2, keys), subset_scale, None,
                                       score_chunk_elements)
        merged = _merge_attentions(merged, (out, lse.add_(small_anchor, alpha=lam)))
    return merged[0].to(v.dtype)


def videograin_lambda(t: float, region_fraction: float, self_attention: bool) -> float:
    """VideoGrain's modulation strength lam = xi(t) * (1 - region_fraction).

    xi(t) = 0.3 t^5 for self-attention and t^5 for cross-attention, with t the normalized diffusion time (1 = pure
    noise, 0 = clean), so modulation fades out fast as the layout settles; small regions get stronger modulation.
    VideoGrain applies it during the first 15 of 50 steps only; that schedule is the caller's choice.
    """
    if not 0.0 <= t <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {t}")
    if not 0.0 <= region_fraction <= 1.0:
        raise ValueError(f"region_fraction must lie in [0, 1], got {region_fraction}")
    xi = (0.3 if self_attention else 1.0) * t**5
    return xi * (1.0 - region_fraction)


def centroid_attention_scores(q: torch.Tensor, k: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Per-layer score of ReCo's attention-space loss L_attn (the trainer averages it over layers).

    Using key centroids instead of attention maps keeps the loss linear in N. Per batch item and head:

    * kLin = mean of source-half keys inside ``region``, kLout = mean of source-half keys outside,
      kRout = mean of target-half keys outside; the queries are the target-half tokens inside ``region``.
    * Score1 = mean over those queries of (p_in - p_out), p = softmax([q.kLin, q.kLout] / sqrt(head_dim)).
    * Score2 = mean over the same queries of (p_Lout - p_Rout), p = softmax([q.kLout, q.kRout] / sqrt(head_dim)),
      only when ``region`` is not all ones (otherwise there are no outside keys to compare).

    Returned: Score1 + Score2 (Score1 alone for an all-ones mask), averaged over heads and then over the batch, as a
    float32 scalar. Minimizing it makes edit-region queries look away from the source object and, for context, toward
    the target half's own surroundings rather than the source's. q and k must be taken after normalization and RoPE,
    as the attention layer sees them.

    Edge cases: an empty ``region`` returns a constant 0 (there are no queries). For an all-ones ``region`` kLout is
    the mean of an empty set, taken as the zero vector, so Score1 then compares q.kLin against 0; callers that follow
    the method's "no region loss for style edits" should skip such samples.

    Args:
        q, k: (B, heads, N, head_dim) canvas tokens, N = F * H * 2W.
        region: (F, H, W) bool edit mask on the per-half token grid.
    """
    for name, tensor in (("q", q), ("k", k)):
        if tensor.dim() != 4:
            raise ValueError(f"{name} must have shape (B, heads, N, head_dim), got {tuple(tensor.shape)}")
    if q.shape != k.shape:
        raise ValueError(f"q and k must have the same shape, got {tuple(q.shape)} and {tuple(k.shape)}")
    check_region(region)
    check_canvas_length(q.shape[2], region, "q")

    masks = canvas_masks(region, q.device)
    queries = torch.nonzero(masks.target_edit).squeeze(1)
    if queries.numel() == 0:
        return torch.zeros((), dtype=torch.float32, device=q.device)
    full_mask = not bool(masks.source_rest.any())

    member = torch.stack((masks.source_edit, masks.source_rest, masks.target_rest), dim=1).float()
    mean_weights = (member / member.sum(dim=0).clamp(min=1)).to(k.dtype)  # counts in fp32: bf16 cannot hold them
    centroids = torch.matmul(k.transpose(-1, -2), mean_weights)  # (B, heads, head_dim, 3): kLin, kLout, kRout
    logits = torch.matmul(q.index_select(2, queries), centroids).float() / math.sqrt(q.shape[-1])

    in_vs_out = torch.softmax(logits[..., (0, 1)], dim=-1)
    score = (in_vs_out[..., 0] - in_vs_out[..., 1]).mean(dim=2)
    if not full_mask:
        left_vs_right = torch.softmax(logits[..., (1, 2)], dim=-1)
        score = score + (left_vs_right[..., 0] - left_vs_right[..., 1]).mean(dim=2)
    return score.mean(dim=1).mean(dim=0)


def _attention_with_lse(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, key_bias: torch.Tensor | None,
    score_chunk_elements: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention output with the score bias ``key_bias`` (Nk,; None: no bias) added to every row, and its float32
    log-sum-exp of biased scaled scores, shape (B, heads, Nq), from CUDA's fused kernel that broadcasts the bias row.

    Where no fused kernel reports the log-sum-exp (devices other than CUDA, or a CUDA build whose memory-efficient
    kernel refuses the inputs), the output comes from torch SDPA, with whatever backend it picks there, and the
    log-sum-exp from a chunked pass. (The CPU runs VideoGrain in one pass of its own, without this function.)
    """
    bias = None if key_bias is None else key_bias.view(1, 1, 1, -1)
    if q.device.type == "cuda":
        fused = _cuda_attention_with_lse(q, k, v, scale, key_bias)
        if fused is not None:
            return fused
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale)
    return out, _chunked_logsumexp(q, k, scale, key_bias, score_chunk_elements)


def _cuda_attention_with_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float,
                             key_bias: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The memory-efficient CUDA kernel with the bias row broadcast by strides, or None where it refuses the inputs.

    The kernel wants the bias's row stride aligned to 16 elements, so the row is stored padded and sliced back, and it
    reads the (B, heads, Nq, Nk) bias through zero strides: nothing token-pair sized exists.
    """
    keys = k.shape[2]
    bias = None
    if key_bias is not None:
        padded = key_bias.new_zeros(-(-keys // CUDA_BIAS_ALIGNMENT) * CUDA_BIAS_ALIGNMENT)
        padded[:keys] = key_bias
        bias = padded[:keys].view(1, 1, 1, keys).expand(q.shape[0], q.shape[1], q.shape[2], keys)
    try:
        out, lse = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, bias, True, scale=scale)[:2]
    except RuntimeError as refusal:  # an old card or build without the kernel for these dtypes/shapes
        _warn_fallback_once(str(refusal).splitlines()[0])
        return None
    return out, lse[..., : q.shape[2]].float()


@functools.cache
def _warn_fallback_once(reason: str) -> None:
    logger.warning("ReCo region attention: the fused CUDA kernel refused a constrained call (%s); using torch SDPA "
                   "and a chunked log-sum-exp instead (same result, slower)", reason)


def _chunked_logsumexp(q: torch.Tensor, k: torch.Tensor, scale: float, key_bias: torch.Tensor | None,
                       score_chunk_elements: int) -> torch.Tensor:
    """log sum_j exp(scale * q.k_j + key_bias_j) per query in float32 (B, heads, Nq), accumulated over score blocks."""
    total = q.new_full(q.shape[:3], -math.inf, dtype=torch.float32)

    def update(rows: slice, keys: slice, scores: torch.Tensor) -> None:
        biased = scores.float() if key_bias is None else scores.float().add_(key_bias[keys].float())
        total[..., rows] = torch.logaddexp(total[..., rows], torch.logsumexp(biased, dim=-1))

    _for_each_score_block(q, k, scale, score_chunk_elements, update)
    return total


def _score_extremes(
    q: torch.Tensor, k: torch.Tensor, scale: float, score_chunk_elements: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-query maximum and minimum of the scaled scores over all keys, float32 (B, heads, Nq).

    Five kernels per score block (product, max, min, two in-place updates). Separate amax and amin, not the fused
    aminmax: on the CPU aminmax over a row runs about ten times slower than amax and amin together (195 against 21
    microseconds on a 256 x 512 block here), and it made this pass cost more than a whole attention.
    """
    row_max = q.new_full(q.shape[:3], -math.inf, dtype=torch.float32)
    row_min = q.new_full(q.shape[:3], math.inf, dtype=torch.float32)

    def update(rows: slice, keys: slice, scores: torch.Tensor) -> None:
        torch.maximum(row_max[..., rows], scores.amax(dim=-1), out=row_max[..., rows])
        torch.minimum(row_min[..., rows], scores.amin(dim=-1), out=row_min[..., rows])

    _for_each_score_block(q, k, scale, score_chunk_elements, update)
    return row_max, row_min


def _for_each_score_block(
    q: torch.Tensor,
    k: torch.Tensor,
    scale: float,
    score_chunk_elements: int,
    update: Callable[[slice, slice, torch.Tensor], None],
) -> None:
    """Call ``update(query slice, key slice, scaled scores (B, heads, query block, key block))`` over all pairs.

    Blocks hold at most ``score_chunk_elements`` scores each (at least one query-key pair per batch item and head)
    and are at least about square: square blocks keep the matmuls efficient, whereas thin key chunks spanning many
    queries would re-read every query once per chunk. Query blocks are of equal size, between one and two sides of
    the square, so no thin remainder block costs a whole pass over the keys (341 rows once went as 330 + 11, the
    second block costing a third of the pass). Each block is handed over as a temporary, so it is freed before the
    next one is computed and the peak stays at one block.
    """
    per_pair = max(1, score_chunk_elements // (q.shape[0] * q.shape[1]))
    side = max(1, math.isqrt(per_pair))
    query_step = -(-q.shape[2] // max(1, q.shape[2] // side))
    key_step = max(1, per_pair // query_step)
    for query_start in range(0, q.shape[2], query_step):
        rows = slice(query_start, query_start + query_step)
        scaled_q = q[:, :, rows] * scale
        for key_start in range(0, k.shape[2], key_step):
            keys = slice(key_start, key_start + key_step)
            update(rows, keys, torch.matmul(scaled_q, k[:, :, keys].transpose(-1, -2)))


def _merge_attentions(a: tuple[torch.Tensor, torch.Tensor],
                      b: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention over two disjoint key sets from each one's (output, float32 log-sum-exp): (output in float32,
    log-sum-exp). The share of the first set in the joint softmax is sigmoid(lse_a - lse_b), so the joint output is
    the convex blend out_b + share * (out_a - out_b), formed in place in the first output when it is float32."""
    (out_a, lse_a), (out_b, lse_b) = a, b
    share_a = torch.sigmoid(lse_a - lse_b).unsqueeze(-1)
    return out_a.float().sub_(out_b).mul_(share_a).add_(out_b), torch.logaddexp(lse_a, lse_b)


def _check_attention_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise a ValueError naming the argument when q, k, v do not form an SDPA-style batch."""
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        if not isinstance(tensor, torch.Tensor) or tensor.dim() != 4:
            shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise ValueError(f"{name} must have shape (B, heads, N, head_dim), got {shape}")
    if k.shape[:3] != v.shape[:3]:
        raise ValueError(f"k and v must agree in (B, heads, N), got {tuple(k.shape)} and {tuple(v.shape)}")
    if q.shape[:2] != k.shape[:2] or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must agree in B, heads and head_dim, got {tuple(q.shape)} and {tuple(k.shape)}")


def _refuse_gradients(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, name: str) -> None:
    """Raise for an inference-only function called while autograd records on its inputs: the fused kernels do not
    differentiate their log-sum-exp output, so gradients through the merge would be silently incomplete."""
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        raise RuntimeError(f"{name} is inference-only; call it under torch.no_grad()")


def _check_same_region(same_region: torch.Tensor) -> int:
    """Return R of an (R, R) bool region-pair table, or raise a ValueError."""
    if (
        not isinstance(same_region, torch.Tensor)
        or same_region.dtype != torch.bool
        or same_region.dim() != 2
        or same_region.shape[0] != same_region.shape[1]
        or same_region.shape[0] == 0
    ):
        shape = tuple(same_region.shape) if isinstance(same_region, torch.Tensor) else type(same_region).__name__
        raise ValueError(f"same_region must be a non-empty square (R, R) bool tensor, got {shape}")
    return same_region.shape[0]


def _check_labels(labels: torch.Tensor, length: int, regions: int, name: str) -> None:
    """Raise a ValueError naming the argument unless ``labels`` holds ``length`` integers in [0, regions)."""
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        shape = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"{name} must be a 1-D integer tensor, got {shape}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    if labels.numel() != length:
        raise ValueError(f"{name} has {labels.numel()} labels for {length} tokens")
    if length and (int(labels.min()) < 0 or int(labels.max()) >= regions):
        raise ValueError(f"{name} values must lie in [0, {regions}) to index same_region")
