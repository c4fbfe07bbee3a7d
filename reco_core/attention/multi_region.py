"""Several edits in one pass: each region of the canvas's target half bound to its own instruction, VideoGrain-style.

The text context of the positive pass is the canvas's own instruction followed by one instruction per region,
concatenated along the token axis; :func:`instruction_spans` records where each one sits. Binding then works in both
attentions of every DiT and VACE block:

* cross-attention: the target-half queries of region r attend only to instruction r's tokens; every other query
  (the whole source half, and the target half outside all regions) attends only to the canvas's own instruction, the
  "global" one. So without regions a canvas behaves exactly as plain ReCo, and the global instruction can describe
  the whole change ("Remove the car and make the sky stormy") while each region hears only its own part.
* self-attention: the target-half queries of region r are kept from the source-half tokens of every OTHER region
  (weights scaled by 1 - strength; at strength 1 none of their attention lands there), so one region's edit cannot
  copy another region's source object. Their own source object stays visible, as in plain ReCo, unless
  ``keep_own_source`` is set: then each region is kept from its own source object too, which is ReCo's region
  constraint applied per region (on the toy model removals appear only with it: docs/RESULTS.md).

Regions come as token grids of one canvas half (see :func:`.constraint.mask_token_region`) and must not overlap;
where two regions share a token after the 16-pixel token pooling, the earlier region keeps it.

Nothing token-pair sized is built: queries are grouped by region, and each group attends to a contiguous slice of
the text (cross) or to all keys with one broadcast key-bias row (self), as :mod:`.region_attention` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .canvas_tokens import canvas_masks, check_region
from .region_attention import overwrite_rows

Span = tuple[int, int]


def instruction_spans(global_tokens: int, instruction_tokens: Sequence[int]) -> tuple[Span, tuple[Span, ...]]:
    """Token spans [start, end) of the global instruction and of each region's instruction in the joined context."""
    lengths = [global_tokens, *instruction_tokens]
    if any(length < 1 for length in lengths):
        raise ValueError(f"every instruction needs at least one token, got lengths {lengths}")
    starts = [sum(lengths[:index]) for index in range(len(lengths) + 1)]
    spans = tuple((starts[index], starts[index + 1]) for index in range(len(lengths)))
    return spans[0], spans[1:]


def first_overlap(masks: Sequence[torch.Tensor]) -> tuple[int, int, int] | None:
    """(earlier index, later index, shared pixels) of the first two masks that share a pixel above 0.5, or None.

    Masks are (frames, H, W) of one size; a one-frame mask counts for every frame, as it does on the canvas.
    """
    inside = [mask > 0.5 for mask in masks]
    for later in range(len(inside)):
        for earlier in range(later):
            shared = int((inside[earlier] & inside[later]).sum())
            if shared:
                return earlier, later, shared
    return None


def disjoint_token_regions(regions: Sequence[torch.Tensor]) -> torch.Tensor:
    """(R, T, h, w) bool from per-region token grids: a token claimed by two regions stays with the earlier one.

    A region left with no token (it lay entirely under earlier regions or was empty) is an error naming it, because
    its instruction would silently reach nobody.
    """
    if not regions:
        raise ValueError("at least one region is needed")
    shape = check_region(regions[0], "region 1")
    taken = torch.zeros(shape, dtype=torch.bool, device=regions[0].device)
    owned = []
    for index, region in enumerate(regions, start=1):
        if check_region(region, f"region {index}") != shape:
            raise ValueError(f"region {index} has token grid {tuple(region.shape)} but region 1 has {shape}")
        mine = region & ~taken
        if not bool(mine.any()):
            raise ValueError(f"region {index} covers no token of the canvas that an earlier region has not taken; "
                             "draw it larger or apart from the others")
        owned.append(mine)
        taken |= mine
    return torch.stack(owned)


@dataclass
class MultiRegionPlan:
    """Which queries see which keys, for one sampling run with several (instruction, region) pairs.

    ``regions``: (R, T, h, w) disjoint token grids of one half (reference-frame rows included, empty);
    ``global_span`` / ``spans``: token spans of the global and per-region instructions in the joined context of
    ``context_tokens`` tokens. The self-attention rule holds with ``strength`` while ``first_step <= step <
    end_step``; the text binding holds at every step, since it is what ties an instruction to its region.
    ``keep_own_source``: the rule hides every region's source object from every region's target queries, their
    own included (ReCo's constraint per region), instead of only the other regions' objects.
    """

    regions: torch.Tensor
    global_span: Span
    spans: tuple[Span, ...]
    context_tokens: int
    strength: float = 1.0
    keep_own_source: bool = False
    first_step: int = 0
    end_step: int = 1 << 62
    step: int = 0
    cross_calls: int = 0  # bound cross-attention calls, for tests and logs
    self_calls: int = 0  # constrained self-attention calls
    _masks: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.regions.dim() != 4 or self.regions.dtype != torch.bool:
            raise ValueError(f"regions must be (R, T, h, w) bool, got {tuple(self.regions.shape)} {self.regions.dtype}")
        if len(self.spans) != self.regions.shape[0]:
            raise ValueError(f"{self.regions.shape[0]} regions but {len(self.spans)} instruction spans")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must lie in [0, 1], got {self.strength}")
        ends = [end for _, end in (self.global_span, *self.spans)]
        if max(ends) > self.context_tokens:
            raise ValueError(f"instruction spans end at {max(ends)} but the context has {self.context_tokens} tokens")
        if self.canvas_tokens % self.context_tokens == 0:
            # A context repeated to the canvas length (ComfyUI pads batched contexts by repeating them) would be
            # taken for a self-attention.
            raise ValueError(f"the joined instructions have {self.context_tokens} tokens, which divides the canvas's "
                             f"{self.canvas_tokens}: self- and cross-attention could not be told apart; add a word "
                             "to one instruction")

    @property
    def canvas_tokens(self) -> int:
        _, frames, height, width = self.regions.shape
        return frames * height * 2 * width

    def is_self_attention(self, query_tokens: int, key_tokens: int) -> bool:
        """A canvas self-attention whose region rule is on at the current step."""
        return (query_tokens == key_tokens == self.canvas_tokens and self.strength > 0
                and self.first_step <= self.step < self.end_step
                and (self.regions.shape[0] > 1 or self.keep_own_source))

    def is_cross_attention(self, query_tokens: int, key_tokens: int) -> bool:
        """A canvas cross-attention over the joined context (possibly repeated whole, as ComfyUI batches it)."""
        return (query_tokens == self.canvas_tokens and key_tokens != self.canvas_tokens
                and key_tokens % self.context_tokens == 0)

    def query_labels(self, device: torch.device) -> torch.Tensor:
        """Int64 (N,) per canvas token: r for the target-half tokens of region r, -1 for every other token."""
        return self._parts(device)[0]

    def cross_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                        scale: float | None = None) -> torch.Tensor:
        """Bound cross-attention of (B, heads, N, D) queries over the joined context (B, heads, K, D).

        Only the first ``context_tokens`` keys are read: a context repeated whole gives the same attention as one copy.
        """
        self.cross_calls += 1
        labels = self.query_labels(q.device)
        start, end = self.global_span
        out = F.scaled_dot_product_attention(q, k[:, :, start:end], v[:, :, start:end], scale=scale)
        for label, (start, end) in enumerate(self.spans):
            rows = torch.nonzero(labels == label).squeeze(1)
            out.index_copy_(2, rows, F.scaled_dot_product_attention(
                q.index_select(2, rows), k[:, :, start:end], v[:, :, start:end], scale=scale))
        return out

    def self_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, plain: torch.Tensor | None = None,
                       scale: float | None = None) -> torch.Tensor:
        """Canvas self-attention in which each region's target queries are kept from the other regions' sources
        (and from their own with ``keep_own_source``).

        ``plain``: the caller backend's attention of all queries (B, heads, N, D); the rows of region queries are
        overwritten in place with torch SDPA under one (1, 1, 1, N) key-bias row per group of queries that hide the
        same keys: one group per region, or one for all regions when every region hides every source object.
        Default: torch SDPA.
        """
        self.self_calls += 1
        out = F.scaled_dot_product_attention(q, k, v, scale=scale) if plain is None else plain
        _, targets, sources = self._parts(q.device)
        bias_value = -math.inf if self.strength == 1.0 else math.log1p(-self.strength)
        if self.keep_own_source:
            groups = [(targets.any(dim=0), sources.any(dim=0))]
        else:
            groups = [(targets[label], sources[torch.arange(len(sources), device=q.device) != label].any(dim=0))
                      for label in range(len(targets))]
        for rows_mask, hidden in groups:
            bias = torch.zeros(k.shape[2], dtype=q.dtype, device=q.device).masked_fill(hidden, bias_value)
            out = overwrite_rows(out, q, rows_mask, buffers=2, attend=lambda rows, heads, bias=bias:
                                  F.scaled_dot_product_attention(rows, k[:, heads], v[:, heads],
                                                                 attn_mask=bias.view(1, 1, 1, -1), scale=scale))
        return out

    def _parts(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(query labels (N,), target masks (R, N), source masks (R, N)) on ``device``, computed once per device."""
        key = str(device)
        if key not in self._masks:
            parts = [canvas_masks(region, device) for region in self.regions]
            targets = torch.stack([part.target_edit for part in parts])
            sources = torch.stack([part.source_edit for part in parts])
            labels = torch.full((targets.shape[1],), -1, dtype=torch.long, device=device)
            for label, target in enumerate(targets):
                labels[target] = label
            self._masks[key] = (labels, targets, sources)
        return self._masks[key]


def start_multi_region(regions: Sequence[torch.Tensor], global_tokens: int, instruction_tokens: Sequence[int],
                       strength: float, start: float, end: float, steps: int,
                       keep_own_source: bool = False) -> MultiRegionPlan:
    """The plan for one run of ``steps`` steps: token-grid ``regions`` (one half each, in instruction order), the
    token counts of the global and per-region instructions, and the self-attention rule's strength and step range
    as fractions of the steps (ReCoSampler's constraint_strength / start / end); ``keep_own_source`` as in
    :class:`MultiRegionPlan`."""
    if len(regions) != len(instruction_tokens):
        raise ValueError(f"{len(regions)} regions but {len(instruction_tokens)} instructions: give one each")
    global_span, spans = instruction_spans(global_tokens, instruction_tokens)
    return MultiRegionPlan(regions=disjoint_token_regions(regions), global_span=global_span, spans=spans,
                           context_tokens=spans[-1][1], strength=strength, first_step=round(start * steps),
                           end_step=round(end * steps), keep_own_source=keep_own_source)
