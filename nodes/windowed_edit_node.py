"""ReCoWindowedEdit: a clip of any length (or a batch of stills) edited in windows of the trained length, in one node.

Why one node rather than a loop of ReCoCanvas -> ReCoSampler -> VAEDecode: carrying the edit across a seam needs the
previous window's decoded frames inside the next window's canvas, and a ComfyUI graph has no loops. This node runs
exactly what those three nodes run (the same canvas encoding, the same sampling function, the same decode and split)
once per window, with the carry and the blend of reco_core.windows, and returns the whole clip at the source's size
and frame count; CreateVideo gives it the source's fps. A window of 1 frame with overlap 0 edits every image of a batch
as its own one-frame clip. The region constraint and its map follow every window; the progress bar counts windows and
steps; the cancel button stops it between steps and windows.
"""

from __future__ import annotations

import comfy.utils
import latent_preview
import torch
from comfy_api.latest import io

from ..reco_core import footage
from ..reco_core.attention.constraint import ConstraintSettings
from ..reco_core.canvas import FITS, CanvasSpec, build_canvas, restore, restore_mask
from ..reco_core.region_map import region_map_to_pixels
from ..reco_core.windows import (
    CARRY_MODES, DEFAULT_CARRY, DEFAULT_OVERLAP, Window, WindowEdit, carry_edit, check_mask_frames, edit_in_windows,
    window_part,
)
from .canvas_checks import canvas_size_problem
from .canvas_node import MAX_SIDE, encode_canvas
from .input_checks import about_input, check_inputs, widget_problem
from .model_checks import require_no_context_windows, require_vace_model
from .sampler_node import constraint_inputs, constraint_type_input, sample_canvas, sampling_inputs

MAX_OVERLAP = 1024


class ReCoWindowedEdit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoWindowedEdit",
            display_name="ReCo Windowed Edit (whole clip)",
            category="ReCo",
            description="Edits a whole clip of any length in windows of the trained length (81 frames), carrying the "
            "edit across the seams, and returns every frame at the source's size. A batch of images with "
            "window_length 1 and overlap 0 is edited as independent stills.",
            inputs=[
                io.Model.Input("model", tooltip="Wan2.1-VACE model (UNETLoader), with the ReCo LoRA applied."),
                io.Vae.Input("vae", tooltip="The Wan 2.1 VAE (wan_2.1_vae.safetensors)."),
                io.Conditioning.Input("positive", tooltip="The encoded instruction, e.g. 'Remove the red car.'"),
                io.Conditioning.Input("negative", tooltip="The encoded negative prompt."),
                io.Image.Input("source_frames", tooltip="The whole source clip (GetVideoComponents), or a batch of "
                               "images (LoadImage) to edit one by one with window_length 1."),
                io.Int.Input("width", default=832, min=16, max=MAX_SIDE, step=16,
                             tooltip="Width of EACH canvas half. ReCo was trained at 832."),
                io.Int.Input("height", default=480, min=16, max=MAX_SIDE, step=16,
                             tooltip="Canvas height. ReCo was trained at 480."),
                io.Int.Input("window_length", default=81, min=1, max=1025, step=4,
                             tooltip="Frames per window, 4n+1 (ReCo was trained on 81). 1 edits every frame as a "
                             "still of its own."),
                io.Int.Input("overlap", default=DEFAULT_OVERLAP, min=0, max=MAX_OVERLAP,
                             tooltip="Frames each window shares with the one before; 4n+1 fills whole latent frames. "
                             "0 edits the windows independently (stills)."),
                io.Combo.Input("carry", options=list(CARRY_MODES), default=DEFAULT_CARRY,
                               tooltip="first_frame: the previous window's last edited frames become the next "
                               "window's first frames (kept by VACE, mask 0). blend: windows edited on their own, "
                               "overlaps cross-faded."),
                io.Combo.Input("fit", options=list(FITS), default="stretch",
                               tooltip="How a source of another aspect fills a half: stretch, crop or pad."),
                *sampling_inputs(),
                *constraint_inputs(),
                constraint_type_input(),
                io.Mask.Input("region_mask", optional=True,
                              tooltip="region_mode mask: the edit region at the source's size, one per source "
                              "frame or one for all."),
                io.Boolean.Input("even_size", default=True, optional=True,
                                 tooltip="Pad an odd width or height by one pixel, as H.264 (Save Video) needs; "
                                 "turn off for images."),
            ],
            outputs=[
                io.Image.Output(display_name="edited", tooltip="Every frame of the clip, edited, at the source's "
                                "size (odd sides padded when even_size is on)."),
                io.Mask.Output(display_name="region_map", tooltip="Where each edited frame differs from the "
                               "regenerated source, at the source's size."),
            ],
        )

    @classmethod
    def validate_inputs(cls, width: int | None = None, height: int | None = None, window_length: int | None = None,
                        overlap: int | None = None, carry: str | None = None, fit: str | None = None,
                        steps: int | None = None, cfg: float | None = None, sampler_name: str | None = None,
                        scheduler: str | None = None, shift: float | None = None, region_mode: str | None = None,
                        constraint_type: str | None = None, constraint_strength: float | None = None,
                        constraint_start: float | None = None, constraint_end: float | None = None,
                        auto_threshold: float | None = None) -> bool | str:
        problem = widget_problem(
            cls, width=width, height=height, window_length=window_length, overlap=overlap, carry=carry, fit=fit,
            steps=steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler, shift=shift,
            region_mode=region_mode, constraint_type=constraint_type, constraint_strength=constraint_strength,
            constraint_start=constraint_start, constraint_end=constraint_end, auto_threshold=auto_threshold)
        if problem:
            return problem
        if None not in (width, height, window_length):
            problem = canvas_size_problem(width, height, window_length)
            if problem:
                return problem.replace("length", "window_length")
        if overlap is not None and window_length is not None and overlap >= window_length:
            return (f"overlap: {overlap} frames do not fit in a window of {window_length}; keep it below "
                    "window_length (e.g. 9 for 81-frame windows, 0 for stills).")
        if constraint_start is not None and constraint_end is not None and constraint_start > constraint_end:
            return "constraint_start must not be after constraint_end."
        return True

    @classmethod
    def execute(cls, model, vae, positive, negative, source_frames, width: int, height: int, window_length: int,
                overlap: int, carry: str, fit: str, seed: int, steps: int, cfg: float, sampler_name: str,
                scheduler: str, shift: float, region_mode: str, constraint_strength: float, constraint_start: float,
                constraint_end: float, auto_steps: int, auto_threshold: float, constraint_type: str = "block",
                region_mask=None, even_size: bool = True) -> io.NodeOutput:
        check_inputs(cls, locals())
        require_vace_model(model)
        require_no_context_windows(model, region_mode)
        if region_mode == "mask" and region_mask is None:
            raise ValueError("region_mask: region_mode is mask but no mask is connected; connect one or use auto.")
        settings = ConstraintSettings(mode=region_mode, kind=constraint_type, strength=constraint_strength,
                                      start=constraint_start, end=constraint_end, auto_steps=auto_steps,
                                      auto_threshold=auto_threshold)
        source = source_frames[..., :3]
        with about_input("region_mask"):
            check_mask_frames(region_mask, source.shape[0])
        spec = CanvasSpec(half_width=width, height=height, length=window_length, fit=fit)
        progress = WindowProgress(model, steps)
        notes: set[str] = set()

        def edit_window(window: Window, carried: torch.Tensor | None) -> WindowEdit:
            canvas = build_canvas(source[window.start:window.end], spec)
            if carried is not None:
                canvas = carry_edit(canvas, carried)
            window_positive, window_negative, latent = encode_canvas(canvas, vae, positive, negative)
            sampled, final, note = sample_canvas(model, window_positive, window_negative, latent, seed, steps, cfg,
                                                 sampler_name, scheduler, shift, 1.0, settings,
                                                 window_part(region_mask, window), progress.step)
            notes.update([note] if note else [])
            decoded = vae.decode(sampled["samples"])
            decoded = decoded.reshape(-1, *decoded.shape[-3:])[..., :3]
            pixels = region_map_to_pixels(final, frames=spec.length, height=spec.height, width=spec.half_width)
            return WindowEdit(restore(decoded, canvas.geometry, "right"), restore_mask(pixels, canvas.geometry))

        result = edit_in_windows(source.shape[0], window_length, overlap, carry, edit_window, progress.window)
        edited, region = result.frames, result.region_map
        if even_size:
            edited, region = footage.pad_to_even(edited), footage.pad_to_even(region)
        return io.NodeOutput(edited, region, ui={"text": sorted(notes)} if notes else None)


class WindowProgress:
    """One ComfyUI progress bar over every step of every window, with the sampler's latent preview."""

    def __init__(self, model, steps: int):
        self.steps, self.index, self.count, self.bar = steps, 0, 1, None
        self.previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def window(self, index: int, count: int) -> None:
        self.index, self.count = index, count
        if self.bar is None:
            self.bar = comfy.utils.ProgressBar(count * self.steps)

    def step(self, step: int, x0: torch.Tensor, _x: torch.Tensor, total: int, _region: torch.Tensor) -> None:
        preview = self.previewer.decode_latent_to_preview_image("JPEG", x0) if self.previewer else None
        self.bar.update_absolute(self.index * total + step + 1, self.count * total, preview)
