"""ReCoSplit: takes the decoded canvas apart into the edited clip and the regenerated source, at the source's size."""

from __future__ import annotations

from comfy_api.latest import io

from ..reco_core.canvas import restore, restore_mask
from .canvas_type import CanvasInfo, CanvasLayout
from .input_checks import about_input, check_inputs


class ReCoSplit(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoSplit",
            display_name="ReCo Split",
            category="ReCo",
            description="The right half of the decoded canvas is the edit; this returns it (and the regenerated left "
            "half) at the source's width, height and frame count.",
            inputs=[
                io.Image.Input("canvas_frames", tooltip="VAEDecode output of ReCoSampler's latent."),
                CanvasInfo.Input("canvas", tooltip="canvas output of ReCoCanvas."),
                io.Mask.Input("region_map", optional=True,
                              tooltip="region_map of ReCoSampler, to bring back to the source geometry too."),
            ],
            outputs=[
                io.Image.Output(display_name="edited", tooltip="The edited video at the source's size."),
                io.Image.Output(display_name="regenerated_source", tooltip="The regenerated left half."),
                io.Mask.Output(display_name="region_map", tooltip="The region map at the source's size "
                               "(empty if none was connected)."),
            ],
        )

    @classmethod
    def execute(cls, canvas_frames, canvas: CanvasLayout, region_map=None) -> io.NodeOutput:
        check_inputs(cls, locals())
        frames = canvas_frames[..., :3]
        with about_input("canvas_frames"):
            edited = restore(frames, canvas.geometry, "right")
            source = restore(frames, canvas.geometry, "left")
        with about_input("region_map"):
            restored_map = (edited.new_zeros(edited.shape[:3]) if region_map is None
                            else restore_mask(region_map, canvas.geometry))
        return io.NodeOutput(edited, source, restored_map)
