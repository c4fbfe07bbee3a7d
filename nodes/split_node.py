"""ReCoSplit: takes the decoded canvas apart into the edited clip and the regenerated source, at the source's size.

An odd source size is padded to even by default (even_size): H.264 4:2:0, what SaveVideo writes, cannot hold odd
sides, and failing at the save step after all the sampling is the worst moment to find out.
"""

from __future__ import annotations

import logging

from comfy_api.latest import io

from ..reco_core.canvas import CanvasGeometry, restore, restore_mask
from ..reco_core import footage
from .canvas_type import CanvasInfo, CanvasLayout
from .input_checks import about_input, check_inputs

log = logging.getLogger(__name__)


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
                io.Boolean.Input("even_size", default=True, optional=True,
                                 tooltip="Pad an odd width or height by one pixel (repeating the edge), because "
                                 "H.264 video (Save Video) needs even sides and fails at the save step otherwise. "
                                 "Turn off to keep an odd source size exactly, e.g. for image sequences."),
            ],
            outputs=[
                io.Image.Output(display_name="edited", tooltip="The edited video at the source's size (odd sides "
                                "padded to even when even_size is on). Only the canvas window's frames: a clip "
                                "longer than the canvas length is edited in windows (ReCoCanvas start_frame)."),
                io.Image.Output(display_name="regenerated_source", tooltip="The regenerated left half."),
                io.Mask.Output(display_name="region_map", tooltip="The region map at the source's size "
                               "(empty if none was connected)."),
            ],
        )

    @classmethod
    def execute(cls, canvas_frames, canvas: CanvasLayout, region_map=None, even_size: bool = True) -> io.NodeOutput:
        check_inputs(cls, locals())
        frames = canvas_frames[..., :3]
        with about_input("canvas_frames"):
            edited = restore(frames, canvas.geometry, "right")
            source = restore(frames, canvas.geometry, "left")
        with about_input("region_map"):
            restored_map = (edited.new_zeros(edited.shape[:3]) if region_map is None
                            else restore_mask(region_map, canvas.geometry))
        report_span(canvas.geometry)
        if even_size:
            edited, source, restored_map = (footage.pad_to_even(x) for x in (edited, source, restored_map))
        report_size(canvas.geometry, even_size)
        return io.NodeOutput(edited, source, restored_map)


def report_span(geometry: CanvasGeometry) -> None:
    """Says which source frames the edit covers when it is not all of them: a long clip is never cut silently."""
    end = geometry.start + geometry.frames_used
    if geometry.start or end < geometry.source_frames:
        log.warning("ReCoSplit: the edit covers source frames %d..%d of %d (canvas length %d); the others are not "
                    "returned: edit them in further windows with ReCoCanvas start_frame.", geometry.start, end - 1,
                    geometry.source_frames, geometry.length)


def report_size(geometry: CanvasGeometry, padded: bool) -> None:
    size = (geometry.source_width, geometry.source_height)
    if footage.even_size(*size) != size:
        what = ("padded to %dx%d (even_size)" % footage.even_size(*size) if padded
                else "kept odd (even_size off): saving it as H.264 will fail")
        log.warning("ReCoSplit: the source is %dx%d, %s.", *size, what)
