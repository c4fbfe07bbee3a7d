"""ReCoRegionPreview: the region map over the frames, as an overlay IMAGE and as a playable preview in the node.

The overlay is reco_core.preview.overlay.render_overlay, the function `python -m reco_core edit` draws its region-map
video with, so both paths paint the same picture. The preview is for the web extension (web/reco_region_preview.js):
one PNG sprite sheet per panel (source, edit, colorized region) in ComfyUI's temp folder, which /view serves and
ComfyUI empties at start-up, plus a grayscale sheet of each pixel's blend weight so the browser can redo the blend at
any opacity without another run.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import folder_paths
import torch
from comfy_api.latest import io

from ..reco_core.preview.map_alignment import align_region_map
from ..reco_core.preview.overlay import COLORMAPS, colorize, render_overlay
from ..reco_core.preview.sprite_sheet import SheetLayout, plan_sheet, shrink_frames, tile_frames
from .input_checks import check_inputs, widget_problem
from .preview_png import png_bytes

UI_KEY = "reco_preview"


class ReCoRegionPreview(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoRegionPreview",
            display_name="ReCo Region Preview",
            category="ReCo",
            description="Shows where the edit happens: the region map blended over the frames, as an IMAGE to save "
            "and as a player in the node (source | edit | region side by side, with an opacity slider).",
            is_output_node=True,
            inputs=[
                io.Image.Input("frames", tooltip="The frames to draw on: ReCoSplit's edited frames, or the whole "
                               "decoded canvas (VAEDecode of ReCoSampler's latent)."),
                io.Mask.Input("region_map", tooltip="ReCoSampler's or ReCoSplit's region_map, or any MASK. One frame "
                              "is shown on every frame; a map half as wide as canvas frames covers their right half; "
                              "other sizes are resized to the frames."),
                io.Float.Input("opacity", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Blend strength: each pixel gets opacity x map value of the colormap's colour."),
                io.Combo.Input("colormap", options=list(COLORMAPS), default="inferno",
                               tooltip="Colours of the map, from low to high values."),
                io.Float.Input("threshold", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Map values below this leave the frame untouched."),
                io.Float.Input("fps", default=16.0, min=0.1, max=240.0, step=0.1,
                               tooltip="Playback speed of the preview (ReCo renders at 16; GetVideoComponents' fps "
                               "can be connected)."),
                io.Image.Input("source", optional=True,
                               tooltip="The source frames for the preview's left panel. Without it, canvas frames show "
                               "their left half there, and other frames show no source panel."),
                io.String.Input("caption", optional=True, default="",
                                tooltip="Text shown above the preview, e.g. the instruction."),
            ],
            outputs=[
                io.Image.Output(display_name="overlay", tooltip="The frames with the colorized region map blended in."),
                io.Mask.Output(display_name="mask", tooltip="The region map at the frames' size and frame count."),
            ],
        )

    @classmethod
    def validate_inputs(cls, opacity: float | None = None, colormap: str | None = None, threshold: float | None = None,
                        fps: float | None = None) -> bool | str:
        return widget_problem(cls, opacity=opacity, colormap=colormap, threshold=threshold, fps=fps) or True

    @classmethod
    def execute(cls, frames, region_map, opacity: float, colormap: str, threshold: float, fps: float,
                source=None, caption: str | None = None) -> io.NodeOutput:
        check_inputs(cls, locals())
        rgb = frames[..., :3]
        aligned = align_region_map(region_map, *rgb.shape[:3])
        overlay = render_overlay(rgb, aligned.values, opacity=opacity, colormap=colormap, threshold=threshold)
        half = rgb.shape[2] // 2 if aligned.right_half else 0
        if source is None and aligned.right_half:
            source = rgb[:, :, :half]
        preview = write_preview(rgb[:, :, half:], aligned.values[:, :, half:], source, colormap, threshold)
        preview.update(fps=fps, caption=caption or "", opacity=opacity)
        return io.NodeOutput(overlay, aligned.values, ui={UI_KEY: [preview]})


def write_preview(edit: torch.Tensor, values: torch.Tensor, source: torch.Tensor | None, colormap: str,
                  threshold: float) -> dict:
    """Write the panel sheets to the temp folder; return the preview's metadata (files, sheet layout)."""
    layout = plan_sheet(*edit.shape[:3])
    values = values.to(edit.device).clamp(0.0, 1.0)
    weight = shrink_frames(torch.where(values >= threshold, values, 0.0).unsqueeze(-1), layout)
    sheets = {"edit": shrink_frames(edit, layout), "region": colorize(weight[..., 0], colormap)}
    if source is not None:
        sheets = {"source": shrink_frames(_same_frame_count(source[..., :3], layout.frames), layout), **sheets}
    prefix = f"reco_preview_{uuid.uuid4().hex}"
    files = {name: _save(cells, layout, f"{prefix}_{name}.png") for name, cells in {**sheets, "weight": weight}.items()}
    return {
        "frames": layout.frames, "columns": layout.columns, "rows": layout.rows,
        "frame_width": layout.frame_width, "frame_height": layout.frame_height,
        "panels": [{"name": name, **files[name]} for name in sheets],
        "weight": files["weight"],
    }


def _same_frame_count(video: torch.Tensor, frames: int) -> torch.Tensor:
    """The first ``frames`` frames, the last one repeated if the video is shorter (a source is display-only here)."""
    return video[torch.arange(frames).clamp_max(video.shape[0] - 1)]


def _save(cells: torch.Tensor, layout: SheetLayout, filename: str) -> dict:
    path = Path(folder_paths.get_temp_directory()) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(tile_frames(cells, layout)))
    return {"filename": filename, "subfolder": "", "type": "temp"}
