"""ReCoSampler: samples the canvas on the native Wan-VACE model with ReCo's defaults and optional region constraints.

It runs ComfyUI's own sampling (every sampler and scheduler) on a clone of the MODEL with the flow shift applied by
core's ModelSamplingSD3, so with the constraint off it is bit-identical to ModelSamplingSD3 + KSampler. The region hook
and the step callback live on that clone only and vanish with it. Each step's denoised estimate yields ReCo's region
map (where the two halves differ), output as a MASK, used by the automatic mode to find the edit region, and
streamed to the browser step by step (live_region_map).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import torch
from comfy_api.latest import io
from comfy_extras.nodes_model_advanced import ModelSamplingSD3

from ..reco_core.attention.constraint import CONSTRAINT_KINDS, REGION_MODES, ConstraintSettings, start_constraint
from ..reco_core.region_map import region_map, region_map_to_pixels
from ..reco_core.schedule import MAX_SCHEDULE_STEPS, RECO_CFG, RECO_SHIFT, RECO_STEPS
from .canvas_type import LATENT_KEY, CanvasLayout
from .compiled_model import bypass_torch_compile
from .input_checks import about_input, check_inputs, widget_problem
from .live_region_map import LiveRegionMap
from .model_checks import (
    require_no_context_windows, require_vace_conditioning, require_vace_model, require_video_latent,
)
from .multi_edit import install_multi_edit
from .region_hook import attention_override
from .region_instructions_type import RegionInstructionsInfo

# (step, denoised estimate x0, current x, total steps, the step's region map (T, h, w)) -> None
StepCallback = Callable[[int, torch.Tensor, torch.Tensor, int, torch.Tensor], None]


def sampling_inputs() -> list[io.Input]:
    """seed, steps, cfg, sampler_name, scheduler, shift: ReCoSampler's inputs, shared with ReCoWindowedEdit."""
    return [
        io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                     tooltip="Noise seed; both halves start from this noise."),
        io.Int.Input("steps", default=RECO_STEPS, min=1, max=10000, tooltip="Sampling steps (ReCo: 50)."),
        io.Float.Input("cfg", default=RECO_CFG, min=0.0, max=100.0, step=0.1, round=0.01,
                       tooltip="Classifier-free guidance scale (ReCo: 5)."),
        io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default="euler",
                       tooltip="Any ComfyUI sampler; ReCo uses euler (uni_pc with 30 steps also works)."),
        io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS, default="simple",
                       tooltip="Sigma schedule; simple is the flow-matching schedule ReCo uses."),
        io.Float.Input("shift", default=RECO_SHIFT, min=0.0, max=100.0, step=0.01,
                       tooltip="Flow shift sigma' = shift*s/(1+(shift-1)*s) (ReCo: 5)."),
    ]


def constraint_inputs() -> list[io.Input]:
    """region_mode, constraint_strength/start/end, auto_steps, auto_threshold: the region constraint's inputs."""
    return [
        io.Combo.Input("region_mode", options=list(REGION_MODES), default="off",
                       tooltip="off: plain ReCo (no mask needed). mask: constrain the region of region_mask. "
                       "auto: estimate the region from the first steps' region map, constrain the rest."),
        io.Float.Input("constraint_strength", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="How much edited-region queries are kept from attending to the source "
                       "object: 0 no effect, 1 blocks it (videograin: scales VideoGrain's lambda)."),
        io.Float.Input("constraint_start", default=0.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Fraction of the steps after which the constraint starts."),
        io.Float.Input("constraint_end", default=1.0, min=0.0, max=1.0, step=0.01,
                       tooltip="Fraction of the steps after which the constraint stops."),
        io.Int.Input("auto_steps", default=5, min=1, max=1000,
                     tooltip="region_mode auto: steps whose region maps estimate the region."),
        io.Float.Input("auto_threshold", default=0.5, min=0.0, max=1.0, step=0.01,
                       tooltip="region_mode auto: region map level counted as edited."),
    ]


def constraint_type_input() -> io.Input:
    """The constraint kind; optional, since ReCoSampler gained it after workflows were saved."""
    return io.Combo.Input("constraint_type", options=list(CONSTRAINT_KINDS), default="block", optional=True,
                          tooltip="block: edited-region queries' attention to the source object is scaled by "
                          "1 - strength. videograin: VideoGrain's score modulation (pushes those queries toward "
                          "their own region), strongest at high noise; use constraint_end 0.3 as VideoGrain does.")


class ReCoSampler(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoSampler",
            display_name="ReCo Sampler",
            category="ReCo",
            description="Denoises both halves of the ReCo canvas jointly (ReCo defaults: Euler, 50 steps, CFG 5, "
            "shift 5). Optionally keeps the edited region from copying the source object (region constraint), from "
            "a mask or found automatically. Outputs the latent and the region map.",
            inputs=[
                io.Model.Input("model", tooltip="Wan2.1-VACE model (UNETLoader), with the ReCo LoRA applied."),
                io.Conditioning.Input("positive", tooltip="positive output of ReCoCanvas."),
                io.Conditioning.Input("negative", tooltip="negative output of ReCoCanvas."),
                io.Latent.Input("latent", tooltip="latent output of ReCoCanvas (the empty canvas)."),
                *sampling_inputs(),
                io.Float.Input("denoise", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="1 regenerates both halves from pure noise, as ReCo does."),
                *constraint_inputs(),
                # New inputs go last and optional: saved UI workflows store widget values by position, and API
                # prompts saved before an input existed must still validate.
                constraint_type_input(),
                io.Mask.Input("region_mask", optional=True,
                              tooltip="region_mode mask: the edit region, aligned with the source frames "
                              "(one per frame, or one for all)."),
                RegionInstructionsInfo.Input("region_instructions", optional=True,
                                             tooltip="Several edits at once (ReCoRegionInstructions): each region's "
                                             "edited pixels follow their own instruction and are kept from the "
                                             "other regions' source objects. region_mode off leaves each region its "
                                             "own source object; mask hides that too (ReCo's constraint per region, "
                                             "best for removals and replacements). Leave region_mask unconnected."),
            ],
            outputs=[
                io.Latent.Output(display_name="latent", tooltip="The sampled canvas, ready for VAEDecode "
                                 "(a reference frame is already trimmed)."),
                io.Mask.Output(display_name="region_map", tooltip="Where the edited half differs from the "
                               "regenerated source half at the last step, per canvas frame, half-canvas size."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def validate_inputs(cls, steps: int | None = None, cfg: float | None = None, sampler_name: str | None = None,
                        scheduler: str | None = None, shift: float | None = None, denoise: float | None = None,
                        region_mode: str | None = None, constraint_strength: float | None = None,
                        constraint_start: float | None = None, constraint_end: float | None = None,
                        auto_threshold: float | None = None, constraint_type: str | None = None) -> bool | str:
        problem = widget_problem(
            cls, steps=steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler, shift=shift, denoise=denoise,
            region_mode=region_mode, constraint_strength=constraint_strength, constraint_start=constraint_start,
            constraint_end=constraint_end, auto_threshold=auto_threshold, constraint_type=constraint_type)
        if problem:
            return problem
        if constraint_start is not None and constraint_end is not None and constraint_start > constraint_end:
            return "constraint_start must not be after constraint_end."
        if steps is not None and denoise is not None and 0 < denoise < 1 and steps / denoise > MAX_SCHEDULE_STEPS:
            return (f"denoise: {denoise} with {steps} steps makes ComfyUI compute a {steps / denoise:.0f}-step "
                    f"schedule (steps / denoise); keep it at most {MAX_SCHEDULE_STEPS}: raise denoise or lower steps.")
        return True

    @classmethod
    def execute(cls, model, positive, negative, latent, seed: int, steps: int, cfg: float, sampler_name: str,
                scheduler: str, shift: float, denoise: float, region_mode: str, constraint_strength: float,
                constraint_start: float, constraint_end: float, auto_steps: int, auto_threshold: float,
                constraint_type: str = "block",
                region_mask=None, region_instructions=None) -> io.NodeOutput:
        check_inputs(cls, locals())
        require_video_latent(latent)
        require_vace_model(model)
        require_vace_conditioning(positive, "positive")
        require_vace_conditioning(negative, "negative")
        settings = ConstraintSettings(mode=region_mode, kind=constraint_type, strength=constraint_strength,
                                      start=constraint_start, end=constraint_end, auto_steps=auto_steps,
                                      auto_threshold=auto_threshold)
        preview = latent_preview.prepare_callback(model, steps)
        live_map = LiveRegionMap(cls.hidden.unique_id if cls.hidden else None)

        def on_step(step: int, x0: torch.Tensor, x: torch.Tensor, total: int, region: torch.Tensor) -> None:
            live_map(step, total, region)
            preview(step, x0, x, total)

        out, final, note = sample_canvas(model, positive, negative, latent, seed, steps, cfg, sampler_name, scheduler,
                                         shift, denoise, settings, region_mask, on_step, region_instructions)
        return io.NodeOutput(out, region_map_to_pixels(final), ui={"text": [note]} if note else None)


def sample_canvas(model, positive, negative, latent: dict, seed: int, steps: int, cfg: float, sampler_name: str,
                  scheduler: str, shift: float, denoise: float, settings: ConstraintSettings, region_mask,
                  on_step: StepCallback, region_instructions=None) -> tuple[dict, torch.Tensor, str | None]:
    """Sample one ReCo canvas on the native model: (the LATENT, reference frame trimmed; last region map (T, h, w);
    a note for the node's text output, e.g. that a compiled model ran uncompiled, or None).

    ReCoSampler runs it once; ReCoWindowedEdit once per window. ``on_step(step, x0, x, total, region_map)`` runs after
    the step's region map is recorded; the interrupt is checked every step. ``region_instructions`` (ReCoSampler's
    several-edits input) binds each region to its own instruction.
    """
    require_no_context_windows(model, settings.mode)
    layout: CanvasLayout | None = latent.get(LATENT_KEY)
    if settings.mode != "off" and layout is None:
        raise ValueError("latent: region constraints need the latent output of ReCoCanvas (it carries the "
                         "canvas layout); connect that latent, or set region_mode to off.")
    if region_instructions is not None and region_mask is not None:
        raise ValueError("region_mask: leave it unconnected when region_instructions is connected; each region's "
                         "own mask (ReCoRegionInstructions) is its constraint.")
    if settings.mode == "mask" and region_mask is None and region_instructions is None:
        raise ValueError("region_mask: region_mode is mask but no mask is connected; connect one or use auto.")
    trim = layout.trim if layout else 0

    patched = ModelSamplingSD3().patch(model, shift)[0]
    samples = latent["samples"]
    # With region instructions, region_mode mask asks the regions' own masks for the constraint (multi_edit);
    # the single-region constraint then only records the region map.
    single = settings if region_instructions is None else replace(settings, mode="off")
    with about_input("region_mask"):
        constraint = start_constraint(single, samples.shape, steps, trim, region_mask,
                                      layout.geometry if layout else None)
    note = None
    if settings.mode != "off":
        note = bypass_torch_compile(patched)
    if single.mode != "off":
        options = patched.model_options.setdefault("transformer_options", {})
        options["optimized_attention_override"] = attention_override(
            constraint, options.get("optimized_attention_override"))
    multi = None
    if region_instructions is not None:
        positive, multi = install_multi_edit(patched, region_instructions, positive, layout, samples.shape, steps,
                                             settings)

    def callback(step: int, x0: torch.Tensor, x: torch.Tensor, total: int) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        region = constraint.observe(step, x0)
        if multi is not None:
            multi.step = step + 1
        on_step(step, x0, x, total, region)

    samples = comfy.sample.fix_empty_latent_channels(patched, samples)
    noise = comfy.sample.prepare_noise(samples, seed, latent.get("batch_index"))
    sampled = comfy.sample.sample(
        patched, noise, steps, cfg, sampler_name, scheduler, positive, negative, samples, denoise=denoise,
        noise_mask=latent.get("noise_mask"), callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED,
        seed=seed,
    )
    out = latent.copy()
    out["samples"] = sampled[:, :, trim:]
    if layout:
        out[LATENT_KEY] = CanvasLayout(layout.geometry, trim=0)
    final = constraint.maps[-1] if constraint.maps else region_map(sampled[:, :, trim:].float()).mean(0)
    return out, final, note

