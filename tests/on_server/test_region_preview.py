"""ReCoRegionPreview on the real server: its overlay is reco_core's render_overlay, its preview sheets come back
through /view, a mismatched map is refused clearly, and ReCoSampler streams its region map while it samples.

PNG is 8-bit, so the exact check feeds the node 8-bit inputs (multi-page TIFFs through native LoadImage, which ComfyUI
reads as k/255 floats): then the node and this test compute render_overlay on identical floats and SaveImage's
quantization can be repeated here bit for bit.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import torch
from PIL import Image

from harness import graphs
from harness.sample_video import FPS, FRAMES, HEIGHT, WIDTH
from reco_core.preview.overlay import render_overlay
from reco_core.preview.sprite_sheet import plan_sheet

CAPTION = "Replace the square with a circle."
CANVAS_FRAMES, CANVAS_HALF, CANVAS_HEIGHT = graphs.SIZE["length"], graphs.SIZE["width"], graphs.SIZE["height"]


def decode_split(region_map: bool = True) -> dict:
    split_inputs = {"canvas_frames": ["decode", 0], "canvas": ["canvas", 3]}
    if region_map:
        split_inputs["region_map"] = ["sampler", 1]
    return {"decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sampler", 0], "vae": ["vae", 0]}},
            "split": {"class_type": "ReCoSplit", "inputs": split_inputs}}


def region_preview(frames, region_map, **inputs) -> dict:
    defaults = {"opacity": 0.5, "colormap": "inferno", "threshold": 0.0, "fps": 16.0}
    return {"preview": {"class_type": "ReCoRegionPreview", "inputs": {
        "frames": list(frames), "region_map": list(region_map), **defaults, **inputs}}}


def save_image(node: str, images, prefix: str) -> dict:
    return {node: {"class_type": "SaveImage", "inputs": {"images": list(images), "filename_prefix": prefix}}}


def save_mask(node: str, mask, prefix: str) -> dict:
    return {f"{node}_image": {"class_type": "MaskToImage", "inputs": {"mask": list(mask)}},
            **save_image(node, (f"{node}_image", 0), prefix)}


def saved_frames(server, result, node: str) -> np.ndarray:
    """A SaveImage node's PNGs as one uint8 (F, H, W, 3) array, in batch order."""
    entries = result.outputs(node)["images"]
    folder = server.base / "output"
    return np.stack([np.array(Image.open(folder / entry["subfolder"] / entry["filename"]).convert("RGB"))
                     for entry in entries])


def save_image_quantization(images: torch.Tensor) -> np.ndarray:
    """What native SaveImage writes for float images: 255 x value, clipped, truncated to uint8."""
    return np.clip(255.0 * images.numpy(), 0, 255).astype(np.uint8)


def as_loaded(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames as native LoadImage gives them: float32 k / 255."""
    return torch.from_numpy(frames.astype(np.float32) / 255.0)


def write_tiff(path, frames: np.ndarray) -> str:
    pages = [Image.fromarray(frame) for frame in frames]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return path.name


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


def test_preview_of_an_edit_serves_its_sheets_and_streams_the_live_map(comfy_server, tiny_models, source_video):
    graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(),
             # A seed no other test uses, so the sampler runs instead of coming from ComfyUI's cache.
             **graphs.reco_sampler(seed=4242), **decode_split(),
             **region_preview(("split", 0), ("split", 2), source=["parts", 0], fps=["parts", 2], caption=CAPTION),
             **save_image("save_overlay", ("preview", 0), "preview/overlay"),
             **save_image("save_edit", ("split", 0), "preview/edit"),
             **save_mask("save_map", ("split", 2), "preview/map")}
    result = comfy_server.run(graph)
    assert result.status == "execution_success", result.error

    [preview] = result.outputs("preview")["reco_preview"]
    layout = plan_sheet(FRAMES, HEIGHT, WIDTH)
    assert {key: preview[key] for key in ("frames", "columns", "rows", "frame_width", "frame_height")} == {
        "frames": FRAMES, "columns": layout.columns, "rows": layout.rows,
        "frame_width": WIDTH, "frame_height": HEIGHT}
    assert (preview["fps"], preview["caption"], preview["opacity"]) == (FPS, CAPTION, 0.5)
    assert [panel["name"] for panel in preview["panels"]] == ["source", "edit", "region"]
    sheets = {panel["name"]: comfy_server.view(panel["filename"], panel["subfolder"], panel["type"])
              for panel in [*preview["panels"], {"name": "weight", **preview["weight"]}]}
    assert all(png_size(data) == (layout.width, layout.height) for data in sheets.values())

    # Frames this small are not shrunk: the edit and weight cells are the node's frames and map, rounded to 8 bits
    # (SaveImage truncates instead, hence one level of difference).
    edit, region = saved_frames(comfy_server, result, "save_edit"), saved_frames(comfy_server, result, "save_map")
    edit_sheet = np.array(Image.open(io.BytesIO(sheets["edit"])).convert("RGB"))
    weight_sheet = np.array(Image.open(io.BytesIO(sheets["weight"])))
    for index in range(FRAMES):
        x, y = layout.origin(index)
        cell = (slice(y, y + HEIGHT), slice(x, x + WIDTH))
        assert np.abs(edit_sheet[cell].astype(int) - edit[index]).max() <= 1
        assert np.abs(weight_sheet[cell].astype(int) - region[index, ..., 0]).max() <= 1

    # Overlay of 8-bit copies of the inputs: within the error 8-bit inputs and outputs can add (see the exact test).
    expected = save_image_quantization(render_overlay(as_loaded(edit), as_loaded(region[..., 0])))
    assert np.abs(saved_frames(comfy_server, result, "save_overlay").astype(int) - expected).max() <= 3

    live = [message["data"] for message in result.messages if message["type"] == "reco.region_map"]
    assert live, "ReCoSampler sent no live region map"
    assert live[-1]["node"] == "sampler" and live[-1]["step"] == live[-1]["total"] == 2
    latent_frames = (CANVAS_FRAMES - 1) // 4 + 1
    assert (live[-1]["frames"], live[-1]["frame_width"], live[-1]["frame_height"]) == (
        latent_frames, CANVAS_HALF // 8, CANVAS_HEIGHT // 8)
    live_layout = plan_sheet(latent_frames, CANVAS_HEIGHT // 8, CANVAS_HALF // 8)
    assert png_size(base64.b64decode(live[-1]["image"])) == (live_layout.width, live_layout.height)


def test_overlay_of_the_canvas_equals_reco_core_render_overlay_exactly(comfy_server, tiny_models, source_video):
    """ReCoSampler's half-width map over the whole decoded canvas: the map covers the right half, the left stays 0."""
    first = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **graphs.reco_sampler(seed=4243),
             **decode_split(region_map=False),
             **save_image("save_canvas", ("decode", 0), "preview/canvas"),
             **save_mask("save_map", ("sampler", 1), "preview/canvas_map")}
    result = comfy_server.run(first)
    assert result.status == "execution_success", result.error
    canvas = saved_frames(comfy_server, result, "save_canvas")
    region = saved_frames(comfy_server, result, "save_map")[..., 0]
    assert canvas.shape == (CANVAS_FRAMES, CANVAS_HEIGHT, 2 * CANVAS_HALF, 3)
    assert region.shape == (CANVAS_FRAMES, CANVAS_HEIGHT, CANVAS_HALF) and region.max() > 0

    inputs = comfy_server.base / "input"
    frames_file = write_tiff(inputs / "preview_canvas.tiff", canvas)
    map_file = write_tiff(inputs / "preview_map.tiff", region)
    second = {
        "frames": {"class_type": "LoadImage", "inputs": {"image": frames_file}},
        "map_image": {"class_type": "LoadImage", "inputs": {"image": map_file}},
        "map": {"class_type": "ImageToMask", "inputs": {"image": ["map_image", 0], "channel": "red"}},
        **region_preview(("frames", 0), ("map", 0), opacity=0.7, colormap="turbo", threshold=0.2),
        **save_image("save_overlay", ("preview", 0), "preview/exact_overlay"),
        **save_mask("save_mask", ("preview", 1), "preview/exact_mask"),
    }
    result = comfy_server.run(second)
    assert result.status == "execution_success", result.error

    loaded_map = as_loaded(region)
    full_map = torch.cat((torch.zeros_like(loaded_map), loaded_map), dim=2)
    expected = render_overlay(as_loaded(canvas), full_map, opacity=0.7, colormap="turbo", threshold=0.2)
    assert np.array_equal(saved_frames(comfy_server, result, "save_overlay"), save_image_quantization(expected))
    mask = saved_frames(comfy_server, result, "save_mask")[..., 0]
    assert np.array_equal(mask, save_image_quantization(full_map))

    [preview] = result.outputs("preview")["reco_preview"]
    # A canvas previews as its halves: the left half becomes the source panel, the right half the edit.
    assert [panel["name"] for panel in preview["panels"]] == ["source", "edit", "region"]
    assert (preview["frame_width"], preview["frame_height"]) == (CANVAS_HALF, CANVAS_HEIGHT)


def test_a_map_with_another_frame_count_is_refused_naming_both_inputs(comfy_server, tiny_models, source_video):
    graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **graphs.reco_sampler(),
             **decode_split(),
             # The decoded canvas has 9 frames; ReCoSplit's map has the source's 7.
             **region_preview(("decode", 0), ("split", 2)),
             **save_image("save_overlay", ("preview", 0), "preview/never")}
    result = comfy_server.run(graph)
    assert result.status == "execution_error"
    message = result.error["exception_message"]
    assert f"region_map has {FRAMES} frames but frames has {CANVAS_FRAMES}" in message
    assert "ReCoSplit's region_map with its edited frames" in message
    assert not result.outputs("save_overlay")
    assert comfy_server.is_alive()
