"""VideoGrain's modulated attention on the CPU in one pass over the keys, extremes included.

VideoGrain's rule scores a key (1 - lam) s + lam M when it lies in the query's own region and (1 - lam) s + lam m
otherwise, with M and m the row's maximum and minimum raw score s. Fused attention kernels report a log-sum-exp but
never a row's extremes, so the fused-kernel path (:func:`.region_attention._modulated_rows` off the CPU) spends a
whole score pass on M and m before its two subset attentions. On the CPU the attention itself is a matrix product,
an exponential and a second product per key block, which torch runs at the flash kernel's speed, so this module
computes the score block once and takes everything from it: the block's maximum and minimum (for M and m) and its
weights (for the subset's running attention). One pass costs about what the flash kernel's pass costs, about 0.6 of
the three passes (measured in docs/BENCHMARKS.md, section (a)).

Blocks: each key block is gathered from one subset (own keys, then the others), so every block feeds exactly one of
the two running attentions; its score block is (rows, key block), the key block a multiple of 16 elements, because
torch's row-wise amax and amin run four times slower on rows of other lengths (0.44 against 0.10 ns per element at
127 against 128 keys, measured).

Reference point: the weights are exp(score - reference). The textbook online softmax re-centres on every block's
running maximum, which costs a subtraction over the block and a rescale of the accumulator. Any fixed reference gives
the same result as long as no weight overflows and the row's largest weights stay normal floats, so the pass first
runs with reference 0 and no re-centring; if a subset's maximum scaled score left [-FIXED_REFERENCE_LIMIT,
FIXED_REFERENCE_LIMIT] (logits far beyond what attention layers produce), its rows are recomputed re-centred.
"""

from __future__ import annotations

import math

import torch

CPU_KEY_BLOCK = 256
"""Largest key block: above it the score block stops fitting the cache next to the accumulators."""
KEY_BLOCK_ALIGNMENT = 16
"""Key blocks are whole multiples of this (see the module docstring) unless the memory bound is smaller."""
FIXED_REFERENCE_LIMIT = 40.0
"""|maximum scaled score| up to which weights are exp(score) without re-centring: e^40 times 65,536 keys times values
of 1e16 still fit float32 (3.4e38), and in a row whose maximum is -40 every weight within float32's precision of the
largest (e^-17 below it) is still a normal float32 (above e^-87)."""


def single_pass_modulated_rows(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, own_keys: torch.Tensor,
                               lam: float, scale: float, score_chunk_elements: int) -> torch.Tensor:
    """VideoGrain's modulated attention of queries sharing one region: ``own_keys`` (bool, Nk) marks their region.

    q: (B, heads, Nq, head_dim); k, v: (B, heads, Nk, head_dim / v_head_dim). Each batch item and head is computed
    alone, in query blocks whose score block and one gathered key block together hold at most
    ``score_chunk_elements`` elements (besides the output, the call holds a second accumulator of the output's size).
    Accumulates in float32 (float64 for float64 inputs) and returns that dtype, (B, heads, Nq, v_head_dim).
    """
    work = torch.promote_types(torch.promote_types(q.dtype, v.dtype), torch.float32)
    rows = q.shape[2]
    per_key = max(rows, 1) + max(q.shape[-1], v.shape[-1])  # a key's scores and its gathered key or value
    key_block = min(score_chunk_elements, CPU_KEY_BLOCK,
                    max(KEY_BLOCK_ALIGNMENT, score_chunk_elements // per_key // KEY_BLOCK_ALIGNMENT
                        * KEY_BLOCK_ALIGNMENT))
    row_block = max(1, score_chunk_elements // key_block)
    subsets = [(keys, anchor) for keys, anchor in ((torch.nonzero(own_keys).squeeze(1), "max"),
                                                   (torch.nonzero(~own_keys).squeeze(1), "min")) if keys.numel()]
    out = q.new_empty(q.shape[:3] + (v.shape[-1],), dtype=work)
    for batch in range(q.shape[0]):
        for head in range(q.shape[1]):
            for start in range(0, rows, row_block):
                block = slice(start, start + row_block)
                _modulated_block(q[batch, head, block].to(work), k[batch, head], v[batch, head], subsets, lam,
                                 scale, key_block, out[batch, head, block])
    return out


def _modulated_block(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, subsets: list[tuple[torch.Tensor, str]],
                     lam: float, scale: float, key_block: int, out: torch.Tensor) -> None:
    """Write the modulated attention of the query rows ``q`` (rows, head_dim) into ``out`` (rows, v_head_dim).

    Both subsets attend at scale (1 - lam) * scale, the factor every modulated score shares, and are merged by their
    log-sum-exps shifted by lam * M and lam * m (in that scale's units: lam / (1 - lam) times its extremes). At
    lam = 1 every weight within a subset is equal and the scores only feed M and m: they are then taken at ``scale``.
    """
    exponentiate = lam < 1.0
    subset_scale = (1.0 - lam) * scale if exponentiate else scale
    found = _subset_sums(q, k, v, subsets, subset_scale, exponentiate, key_block, out, centred=False)
    if found is None:
        found = _subset_sums(q, k, v, subsets, subset_scale, exponentiate, key_block, out, centred=True)
    sums, extremes = found
    if len(sums) == 1:  # one subset holds every key: its constant shift changes nothing
        first, total, _ = sums[0]
        first.div_(total.unsqueeze(-1))
        return
    anchor_weight = lam / (1.0 - lam) if exponentiate else 1.0
    (first, first_total, first_lse), (second, second_total, second_lse) = sums
    gap = first_lse.add_(extremes[subsets[0][1]], alpha=anchor_weight).sub_(second_lse).sub_(
        extremes[subsets[1][1]], alpha=anchor_weight)
    first.mul_(torch.sigmoid(gap).div_(first_total).unsqueeze(-1))
    first.addcmul_(second, torch.sigmoid(gap.neg_()).div_(second_total).unsqueeze(-1))


def _subset_sums(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, subsets: list[tuple[torch.Tensor, str]],
                 subset_scale: float, exponentiate: bool, key_block: int, out: torch.Tensor, centred: bool
                 ) -> tuple[list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], dict[str, torch.Tensor]] | None:
    """Per subset: the weighted value sum (the first one in ``out``), the weight sum and its log-sum-exp, all over
    weights exp(subset_scale * q.k - reference); and the rows' maximum and minimum of subset_scale * q.k over all keys
    ({"max": ..., "min": ...}). The reference is 0 unless ``centred`` (then each row's running maximum, the online
    softmax); with reference 0, None when a subset's maximum lies outside [-FIXED_REFERENCE_LIMIT,
    FIXED_REFERENCE_LIMIT], where that is not safe.
    """
    rows = q.shape[0]
    scores = q.new_empty(rows * min(key_block, max(keys.numel() for keys, _ in subsets)))
    row_max = q.new_full((rows,), -math.inf)
    row_min = q.new_full((rows,), math.inf)
    sums = []
    for index, (keys, _) in enumerate(subsets):
        weighted = out.zero_() if index == 0 else torch.zeros_like(out)
        total = q.new_zeros(rows)
        reference = q.new_full((rows,), -math.inf if centred else 0.0)
        subset_max = q.new_full((rows,), -math.inf)
        for block in keys.split(key_block):
            block_scores = scores[: rows * block.numel()].view(rows, block.numel())
            torch.addmm(block_scores, q, k.index_select(0, block).to(q.dtype).t(), beta=0, alpha=subset_scale,
                        out=block_scores)
            block_max = block_scores.amax(1)
            torch.maximum(subset_max, block_max, out=subset_max)
            torch.minimum(row_min, block_scores.amin(1), out=row_min)
            if not exponentiate:
                block_scores.fill_(1.0)
            elif centred:
                new_reference = torch.maximum(reference, block_max)
                correction = reference.sub_(new_reference).exp_()
                weighted.mul_(correction.unsqueeze(-1))
                total.mul_(correction)
                reference = new_reference
                block_scores.sub_(reference.unsqueeze(-1)).exp_()
            else:
                block_scores.exp_()
            total.add_(block_scores.sum(1))
            weighted.addmm_(block_scores, v.index_select(0, block).to(q.dtype))
        if exponentiate and not centred and float(subset_max.abs().max()) > FIXED_REFERENCE_LIMIT:
            return None
        torch.maximum(row_max, subset_max, out=row_max)
        sums.append((weighted, total, reference.add_(total.log())))
    return sums, {"max": row_max, "min": row_min}
