"""ReCoCanvas: width-concat conditioning. Source frames -> [source | gray] control video, [0 | 1] mask, VACE context.

The VACE tensors equal native WanVaceToVideo's for the same canvas (tested), so any Wan-VACE sampler can use them.
"""

from __future__ import annotations

import comfy.model_management
import node_helpers
import torch
from comfy_api.latest import io

from ..reco_core.canvas import FITS, MODES, Canvas, CanvasSpec, build_canvas
from ..reco_core.vace_context import empty_latent_shape, vace_context
from .canvas_checks import canvas_size_problem
from .canvas_type import LATENT_KEY, CanvasInfo, CanvasLayout
from .input_checks import check_inputs, widget_problem

MAX_SIDE = 4096


class ReCoCanvas(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoCanvas",
            display_name="ReCo Canvas",
            category="ReCo",
            description="Lays the source clip on ReCo's [source | target] canvas and encodes it as VACE conditioning: "
            "the right half is generated from the instruction while the left half shows the source. No mask needed.",
            inputs=[
                io.Image.Input("source_frames", tooltip="Source video frames (e.g. LoadVideo -> GetVideoComponents)."),
                io.Vae.Input("vae", tooltip="The Wan 2.1 VAE (wan_2.1_vae.safetensors)."),
                io.Conditioning.Input("positive", tooltip="The encoded instruction, e.g. 'Remove the red car.'"),
                io.Conditioning.Input("negative", tooltip="The encoded negative prompt."),
                io.Int.Input("width", default=832, min=16, max=MAX_SIDE, step=16,
                             tooltip="Width of EACH half; the canvas is twice as wide. ReCo was trained at 832."),
                io.Int.Input("height", default=480, min=16, max=MAX_SIDE, step=16,
                             tooltip="Canvas height. ReCo was trained at 480."),
                io.Int.Input("length", default=81, min=1, max=1025, step=4,
                             tooltip="Frames on the canvas, 4n+1. Longer clips use a window of this many frames, "
                             "shorter clips repeat their last frame."),
                io.Combo.Input("fit", options=list(FITS), default="stretch",
                               tooltip="How a source of another aspect fills a half: stretch (as the authors do), "
                               "crop to cover, or pad with black."),
                io.Combo.Input("mode", options=list(MODES), default="edit",
                               tooltip="edit: instruction only. first_frame: propagate an already edited first "
                               "frame. reference: use a reference image (needs the rank-256 ReCo LoRA)."),
                io.Int.Input("start_frame", default=0, min=0, max=100000,
                             tooltip="First source frame of the window, for clips longer than length."),
                io.Image.Input("edited_first_frame", optional=True,
                               tooltip="mode first_frame: the edited version of the window's first frame."),
                io.Image.Input("reference_image", optional=True,
                               tooltip="mode reference: the image whose subject the edit should use."),
            ],
            outputs=[
                io.Conditioning.Output(display_name="positive", tooltip="Instruction + VACE canvas context."),
                io.Conditioning.Output(display_name="negative", tooltip="Negative prompt + VACE canvas context."),
                io.Latent.Output(display_name="latent", tooltip="Empty canvas latent to sample (both halves)."),
                CanvasInfo.Output(display_name="canvas",
                                  tooltip="How the source was laid out; ReCoSplit uses it to restore its size."),
                io.Image.Output(display_name="control_video",
                                tooltip="The [source | gray] control video, to check the layout."),
            ],
        )

    @classmethod
    def validate_inputs(cls, width: int | None = None, height: int | None = None, length: int | None = None,
                        fit: str | None = None, mode: str | None = None) -> bool | str:
        problem = widget_problem(cls, width=width, height=height, length=length, fit=fit, mode=mode)
        if problem:
            return problem
        if None in (width, height, length):
            return True
        return canvas_size_problem(width, height, length) or True

    @classmethod
    def execute(cls, source_frames, vae, positive, negative, width: int, height: int, length: int, fit: str, mode: str,
                start_frame: int, edited_first_frame=None, reference_image=None) -> io.NodeOutput:
        check_inputs(cls, locals())
        spec = CanvasSpec(half_width=width, height=height, length=length, fit=fit)
        canvas = build_canvas(
            source_frames[..., :3], spec, mode,
            edited_first_frame=None if edited_first_frame is None else edited_first_frame[:1, ..., :3],
            reference_image=None if reference_image is None else reference_image[:1, ..., :3],
            start=start_frame,
        )
        positive, negative, latent = encode_canvas(canvas, vae, positive, negative)
        return io.NodeOutput(positive, negative, latent, latent[LATENT_KEY], canvas.control)


def encode_canvas(canvas: Canvas, vae, positive, negative) -> tuple[list, list, dict]:
    """The canvas as VACE conditioning (appended to both prompts) and its empty LATENT, which carries the layout.

    ReCoCanvas does this once; ReCoWindowedEdit once per window.
    """
    context = vace_context(lambda frames: vae.encode(frames), canvas.control, canvas.mask, canvas.reference)
    values = {"vace_frames": [context.frames], "vace_mask": [context.mask], "vace_strength": [1.0]}
    positive = node_helpers.conditioning_set_values(positive, values, append=True)
    negative = node_helpers.conditioning_set_values(negative, values, append=True)
    geometry = canvas.geometry
    shape = empty_latent_shape(geometry.height, 2 * geometry.half_width, geometry.length,
                               reference=canvas.reference is not None)
    latent = {"samples": torch.zeros(shape, device=comfy.model_management.intermediate_device()),
              LATENT_KEY: CanvasLayout(geometry, context.trim)}
    return positive, negative, latent
