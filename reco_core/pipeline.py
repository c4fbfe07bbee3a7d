"""ReCo's headless edit on diffusers' Wan VACE transformer: canvas -> VACE context -> joint denoising -> right half.

Both halves start from pure noise and are denoised together with one timestep for every token; the source reaches the
model only through the VACE context (RECO_METHOD.md, Inference). Noise, sigmas and latent normalization follow
ComfyUI's conventions, so a headless edit and a node graph with the same seed take the same steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .attention.constraint import ConstraintSettings, RegionConstraint, start_constraint
from .attention.diffusers_wan import constrained_attention
from .canvas import Canvas, CanvasSpec, Mode, build_canvas, restore, restore_mask
from .model_call import predict_velocity
from .region_map import region_map_to_pixels
from .sampling import SAMPLERS, guided, initial_latent
from .schedule import RECO_CFG, RECO_SHIFT, RECO_STEPS, flow_sigmas
from .vace_context import VaceContext, empty_latent_shape, vace_context
from .wan_latent import denormalize_latent
from .wan_models import load_transformer, load_vae
from .weights.checkpoint import load_state_dict
from .weights.lora_merge import merge_lora
from .windows import (
    DEFAULT_CARRY, Window, WindowEdit, carry_edit, check_mask_frames, default_overlap, edit_in_windows,
    window_part,
)

StepHook = Callable[[int, int, torch.Tensor], None]  # (step, total, region map (T, h, w)) -> None; may raise to cancel


@dataclass(frozen=True)
class SamplingSettings:
    """The authors' defaults: flow-matching Euler, shift 5, 50 steps, CFG 5."""

    steps: int = RECO_STEPS
    cfg: float = RECO_CFG
    shift: float = RECO_SHIFT
    sampler: str = "euler"
    seed: int = 0
    denoise: float = 1.0

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {self.sampler!r}.")
        for name in ("cfg", "shift", "denoise"):  # NaN passes every range check and would only show in the output
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}.")


@dataclass
class EditResult:
    edited: torch.Tensor  # (F, H, W, 3) right half at the source's size and frame count
    regenerated_source: torch.Tensor  # the left half, same geometry
    canvas: torch.Tensor  # the decoded canvas (length, H, 2W, 3)
    latent: torch.Tensor  # the sampled canvas as raw VAE latents, reference frame trimmed: ReCoSampler's LATENT
    region_map: torch.Tensor  # (F, H, W) the last step's region map at the source's size and frame count
    region_maps: list[torch.Tensor] = field(default_factory=list)  # per step, (T, h, w) in [0, 1]


class WanVaceCodec:
    """diffusers' Wan VAE with ComfyUI's conventions: frames (F, H, W, 3) in [0, 1] <-> raw latents (1, 16, T, h, w)."""

    def __init__(self, vae, device: torch.device, dtype: torch.dtype):
        self.vae, self.device, self.dtype = vae.to(device), device, dtype

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        pixels = (frames * 2 - 1).permute(3, 0, 1, 2).unsqueeze(0).to(self.device, self.vae.dtype)
        return self.vae.encode(pixels).latent_dist.mode().float()

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        pixels = self.vae.decode(latent.to(self.device, self.vae.dtype)).sample.float()
        return ((pixels[0].permute(1, 2, 3, 0) + 1) / 2).clamp(0, 1).cpu()


def comfy_noise(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """The initial noise ComfyUI draws for a seed (CPU generator seeded with torch.manual_seed, float32)."""
    return torch.randn(shape, generator=torch.manual_seed(seed), dtype=torch.float32, device="cpu")


class ReCoPipeline:
    def __init__(self, transformer, vae, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.transformer = transformer.to(self.device)
        self.codec = WanVaceCodec(vae, self.device, vae.dtype)

    @classmethod
    def from_files(cls, transformer_file: str | Path, vae_file: str | Path, lora_file: str | Path | None = None,
                   lora_strength: float = 1.0, dtype: torch.dtype = torch.float32,
                   device: str | torch.device = "cpu") -> "ReCoPipeline":
        """The pipeline over model files: the transformer (its LoRA merged at ``lora_strength``) and the VAE are
        read on the CPU in ``dtype``, then moved to ``device``; the one way the CLI, the toy build and the toy
        benchmarks and tests load an editor, so a change to loading reaches all of them."""
        transformer = load_transformer(transformer_file, dtype)
        if lora_file is not None:
            merge_lora(transformer, load_state_dict(lora_file), lora_strength)
        return cls(transformer, load_vae(vae_file, dtype), device)

    def _velocity(self, context: torch.Tensor, prompt: torch.Tensor, constraint: RegionConstraint):
        dtype = self.transformer.dtype

        @torch.no_grad()
        def velocity(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
            constraint.sigma = float(sigma)
            return predict_velocity(self.transformer, x.to(dtype), sigma.to(self.device), context.to(dtype),
                                    prompt.to(self.device, dtype)).float()

        return velocity

    def sample(
        self,
        context: VaceContext,
        shape: tuple[int, ...],
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor | None,
        settings: SamplingSettings,
        constraint: RegionConstraint,
        on_step: StepHook | None = None,
    ) -> torch.Tensor:
        """Denoise a canvas latent of ``shape`` from the seed's noise; returns it normalized, reference frame included.

        Every step's region map goes through ``constraint.observe`` (which also runs the automatic estimate) and
        then to ``on_step``; the self-attentions consult ``constraint`` throughout.
        """
        model_context = context.model_context().to(self.device)
        sigmas = flow_sigmas(settings.steps, settings.shift, settings.denoise)
        x = initial_latent(comfy_noise(shape, settings.seed), sigmas).to(self.device)

        def record(step: int, total: int, x0_hat: torch.Tensor, _x: torch.Tensor) -> None:
            region = constraint.observe(step, x0_hat)
            if on_step:
                on_step(step, total, region)

        velocity = guided(self._velocity(model_context, prompt_embeds, constraint),
                          None if negative_embeds is None
                          else self._velocity(model_context, negative_embeds, constraint),
                          settings.cfg)
        with constrained_attention(self.transformer, constraint):
            return SAMPLERS[settings.sampler](velocity, x, sigmas.to(self.device), callback=record)

    def edit(
        self,
        source: torch.Tensor,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor | None = None,
        spec: CanvasSpec = CanvasSpec(),
        settings: SamplingSettings = SamplingSettings(),
        mode: Mode = "edit",
        edited_first_frame: torch.Tensor | None = None,
        reference_image: torch.Tensor | None = None,
        start: int = 0,
        on_step: StepHook | None = None,
        constraint: ConstraintSettings = ConstraintSettings(),
        region_mask: torch.Tensor | None = None,
        carried: torch.Tensor | None = None,
    ) -> EditResult:
        """One ReCo edit; ``constraint`` and a source-aligned ``region_mask`` (F, H, W) as ReCoSampler takes them.

        ``carried``: already edited frames kept on the first target frames (windows.carry_edit), or None.
        """
        canvas: Canvas = build_canvas(source, spec, mode, edited_first_frame, reference_image, start)
        if carried is not None:
            canvas = carry_edit(canvas, carried)
        context = vace_context(self.codec.encode, canvas.control, canvas.mask, canvas.reference)
        shape = empty_latent_shape(spec.height, spec.width, spec.length, reference=canvas.reference is not None)
        run = start_constraint(constraint, shape, settings.steps, context.trim,
                               region_mask, canvas.geometry)
        latent = self.sample(context, shape, prompt_embeds, negative_embeds, settings, run, on_step)
        raw = denormalize_latent(latent[:, :, context.trim:])
        decoded = self.codec.decode(raw)
        return EditResult(
            edited=restore(decoded, canvas.geometry, "right"),
            regenerated_source=restore(decoded, canvas.geometry, "left"),
            canvas=decoded,
            latent=raw.cpu(),
            region_map=restore_mask(region_map_to_pixels(run.maps[-1], frames=spec.length, height=spec.height,
                                                          width=spec.half_width), canvas.geometry),
            region_maps=run.maps,
        )

    def edit_clip(
        self,
        source: torch.Tensor,
        prompt_embeds: torch.Tensor,
        negative_embeds: torch.Tensor | None = None,
        spec: CanvasSpec = CanvasSpec(),
        settings: SamplingSettings = SamplingSettings(),
        mode: Mode = "edit",
        edited_first_frame: torch.Tensor | None = None,
        reference_image: torch.Tensor | None = None,
        overlap: int | None = None,
        carry: str = DEFAULT_CARRY,
        on_step: StepHook | None = None,
        constraint: ConstraintSettings = ConstraintSettings(),
        region_mask: torch.Tensor | None = None,
        on_window: Callable[[int, int], None] | None = None,
    ) -> WindowEdit:
        """The whole clip, edited in windows of ``spec.length`` frames (see reco_core.windows); source-sized result.

        ``overlap`` None: `default_overlap` of the window. Every window samples from the same seed; the region mask (and the automatic estimate) follow each window.
        An edited first frame starts the first window only (the carry continues it); a reference serves every window.
        """
        def edit_window(window: Window, carried: torch.Tensor | None) -> WindowEdit:
            first = window.start == 0
            result = self.edit(source[window.start:window.end], prompt_embeds, negative_embeds, spec, settings,
                               mode if first or mode == "reference" else "edit",
                               edited_first_frame if first else None, reference_image,
                               on_step=on_step, constraint=constraint, region_mask=window_part(region_mask, window),
                               carried=carried)
            return WindowEdit(result.edited, result.region_map)

        check_mask_frames(region_mask, source.shape[0])
        overlap = default_overlap(spec.length) if overlap is None else overlap
        return edit_in_windows(source.shape[0], spec.length, overlap, carry, edit_window, on_window)
