"""ReCo's inference-time region constraint: its settings, its run-state, and the one place it decides anything.

A constraint keeps the edited region's queries from copying the source object. It needs a region on the token grid
(from a source-aligned mask, or estimated from the first steps' region maps), a kind (block the source object, or
VideoGrain's score modulation whose lambda follows the noise level), a strength and a step range. All of that is
method, so it lives here, once; the two model paths only adapt their attention conventions to :meth:`attend`:
ComfyUI's `optimized_attention_override` (nodes/region_hook.py) and diffusers' attention processors
(:mod:`.diffusers_processor`). A new attention backend or model family adapts its q/k/v layout and calls the same
object, and gets the same numbers.

Timing follows the samplers: the model is called for step i while ``step == i``; after that step's callback,
:meth:`RegionConstraint.observe` records the step's region map and moves ``step`` on. In "auto" mode the region
appears after ``auto_steps`` observed steps, so the steps before run unconstrained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..canvas import CanvasGeometry, place_source_mask
from ..region_map import estimate_region_mask, region_map
from ..regions import latent_grid_to_token_grid, pixel_mask_to_token_grid
from ..wan_latent import token_count
from .region_attention import region_constrained_attention, videograin_canvas_attention, videograin_lambda

CONSTRAINT_KINDS = ("block", "videograin")
REGION_MODES = ("off", "mask", "auto")


@dataclass(frozen=True)
class ConstraintSettings:
    """What a user chooses: the ReCoSampler inputs and the `edit --region-*/--constraint-*` flags, with their defaults.

    ``start``/``end`` are fractions of the steps; ``auto_steps``/``auto_threshold`` drive the "auto" estimate.
    """

    mode: str = "off"
    kind: str = "block"
    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0
    auto_steps: int = 5
    auto_threshold: float = 0.5

    def __post_init__(self) -> None:
        if self.mode not in REGION_MODES:
            raise ValueError(f"region mode must be one of {REGION_MODES}, got {self.mode!r}.")
        if self.kind not in CONSTRAINT_KINDS:
            raise ValueError(f"constraint type must be one of {CONSTRAINT_KINDS}, got {self.kind!r}.")
        for name in ("strength", "start", "end", "auto_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"constraint {name} must lie in [0, 1], got {getattr(self, name)}.")
        if self.start > self.end:
            raise ValueError("constraint start must not be after constraint end.")
        if self.auto_steps < 1:
            raise ValueError(f"auto_steps must be at least 1, got {self.auto_steps}.")


@dataclass
class RegionConstraint:
    """Mutable per-run state: the token-grid region (None until known), strength and step range, current step.

    ``tokens`` is the canvas sequence length: only self-attentions of exactly that length are constrained.
    ``region`` is (T, h, w) bool on one half's token grid, aligned with the source, reference frame rows included.
    ``auto_steps`` (None: no estimate) and ``auto_threshold`` set the automatic estimate; ``trim`` is the number of
    leading latent frames that are not video (a reference frame), left out of region maps.
    """

    tokens: int
    strength: float
    first_step: int
    end_step: int
    region: torch.Tensor | None = None
    kind: str = "block"  # block: scale the weights to the source object; videograin: VideoGrain's modulation
    auto_steps: int | None = None
    auto_threshold: float = 0.5
    trim: int = 0
    step: int = 0
    calls: int = 0  # constrained attention calls, for tests and logs
    sigma: float | None = None  # current sampling sigma, for adapters not handed it per call (diffusers)
    maps: list[torch.Tensor] = field(default_factory=list)  # (T, h, w) region map of every observed step

    def active(self) -> bool:
        return (self.region is not None and self.strength > 0 and bool(self.region.any())
                and self.first_step <= self.step < self.end_step)

    def applies(self, query_tokens: int, key_tokens: int) -> bool:
        """Whether an attention with these lengths is a canvas self-attention to constrain now."""
        return query_tokens == key_tokens == self.tokens and self.active()

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sigma: float | None,
               plain: torch.Tensor | None = None) -> torch.Tensor:
        """Constrained canvas self-attention of (B, heads, N, head_dim) inputs at noise level ``sigma`` in [0, 1].

        ``sigma`` is the current sampling sigma; only the videograin kind needs it (None is refused there).
        ``plain``: the plain attention of all queries from the caller's own backend, whose constrained rows are
        overwritten in place (see :func:`.region_attention.region_constrained_attention`); None: torch SDPA.
        """
        region = self.region.to(q.device)
        if self.kind == "videograin":
            if sigma is None:
                raise ValueError("the videograin constraint needs the current sigma; the sampler did not provide it")
            # VideoGrain's lambda follows the noise level: strongest at pure noise, gone as the layout settles.
            noise = min(max(sigma, 0.0), 1.0)
            lam = self.strength * videograin_lambda(noise, float(region.float().mean()), self_attention=True)
            out = videograin_canvas_attention(q, k, v, region, lam, plain=plain)
        else:
            out = region_constrained_attention(q, k, v, region, self.strength, plain=plain)
        self.calls += 1
        return out

    def observe(self, step: int, x0_hat: torch.Tensor) -> torch.Tensor:
        """Record step ``step``'s region map from the denoised canvas estimate (B, C, T, h, 2w); return it (T, h, w).

        In auto mode, once ``auto_steps`` maps are in, their estimate becomes the region for the remaining steps.
        """
        self.maps.append(region_map(x0_hat[:, :, self.trim:].float()).mean(0).cpu())
        self.step = step + 1
        if self.auto_steps is not None and len(self.maps) == self.auto_steps:
            estimated = estimate_region_mask(torch.stack(self.maps), threshold=self.auto_threshold)
            self.region = with_reference_rows(latent_grid_to_token_grid(estimated), self.trim)
        return self.maps[-1]


def start_constraint(settings: ConstraintSettings, latent_shape: Sequence[int], steps: int, trim: int = 0,
                     region_mask: torch.Tensor | None = None,
                     geometry: CanvasGeometry | None = None) -> RegionConstraint:
    """The run-state for sampling a canvas latent of ``latent_shape`` (reference frame included) in ``steps`` steps.

    ``region_mask`` (source-aligned, (frames, H, W) or one frame for all) and the canvas ``geometry`` are needed in
    "mask" mode. With mode "off" the state only records region maps and never constrains.
    """
    constraint = RegionConstraint(
        tokens=token_count(latent_shape), strength=settings.strength, first_step=round(settings.start * steps),
        end_step=round(settings.end * steps), kind=settings.kind,
        auto_steps=settings.auto_steps if settings.mode == "auto" else None,
        auto_threshold=settings.auto_threshold, trim=trim,
    )
    if settings.mode == "mask":
        if region_mask is None or geometry is None:
            raise ValueError("region mode 'mask' needs a region mask (and the canvas it belongs to); give one, "
                             "or use region mode 'auto'.")
        constraint.region = mask_token_region(region_mask, geometry, trim)
    return constraint


def mask_token_region(region_mask: torch.Tensor, geometry: CanvasGeometry, trim: int = 0) -> torch.Tensor:
    """A source-aligned mask -> the token grid of one canvas half, with empty rows for ``trim`` leading frames."""
    return with_reference_rows(pixel_mask_to_token_grid(place_source_mask(region_mask, geometry)), trim)


def with_reference_rows(tokens: torch.Tensor, trim: int) -> torch.Tensor:
    """Prepend ``trim`` empty token frames: a reference frame is never part of the edit region."""
    if not trim:
        return tokens
    return torch.cat([torch.zeros((trim, *tokens.shape[1:]), dtype=torch.bool, device=tokens.device), tokens])
