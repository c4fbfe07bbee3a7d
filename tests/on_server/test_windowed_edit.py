"""ReCoWindowedEdit on the real server: stills in a batch are independent edits, the progress bar counts windows and
steps, and native context windows never silently drop the region constraint."""

from __future__ import annotations

import io
import threading

import numpy as np
from PIL import Image

from harness import graphs


def still(name: str, color: int) -> dict:
    return {name: {"class_type": "EmptyImage", "inputs": {"width": 40, "height": 24, "batch_size": 1,
                                                          "color": color}}}


def saved_pngs(server, result, node: str) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(server.view(entry["filename"], entry["subfolder"], entry["type"]))))
            for entry in result.outputs(node)["images"]]


def test_a_batch_of_stills_is_edited_as_independent_one_frame_clips(comfy_server, tiny_models, source_video):
    images = {**still("red", 0xC03020), **still("blue", 0x2040C0),
              "batch": {"class_type": "ImageBatch", "inputs": {"image1": ["red", 0], "image2": ["blue", 0]}}}
    single = graphs.windowed_edit(("red", 0), window_length=1, overlap=0, even_size=False)["windowed"]
    batch = graphs.windowed_edit(("batch", 0), window_length=1, overlap=0, even_size=False)["windowed"]
    graph = {**graphs.loaders(tiny_models, source_video.name), **images, "single": single, "batched": batch,
             "save_single": {"class_type": "SaveImage", "inputs": {"images": ["single", 0],
                                                                  "filename_prefix": "stills/single"}},
             "save_batch": {"class_type": "SaveImage", "inputs": {"images": ["batched", 0],
                                                                 "filename_prefix": "stills/batch"}}}
    result = comfy_server.run(graph)
    assert result.status == "execution_success", result.error
    alone = saved_pngs(comfy_server, result, "save_single")
    first, second = saved_pngs(comfy_server, result, "save_batch")
    assert alone[0].shape == first.shape == second.shape == (24, 40, 3)  # each at its own (even or odd) size
    assert np.array_equal(alone[0], first)  # the second image changed nothing in the first one's edit
    assert not np.array_equal(first, second)


def test_progress_counts_every_step_of_every_window(comfy_server, tiny_models, source_video):
    seen: list[tuple[int, int]] = []

    def on_message(message: dict) -> None:
        if message["type"] == "progress" and message["data"].get("node") == "windowed":
            seen.append((message["data"]["value"], message["data"]["max"]))

    # 7 frames in windows of 5 with overlap 1: two windows (0..4, 2..6), 2 steps each.
    graph = {**graphs.loaders(tiny_models, source_video.name),
             **graphs.windowed_edit(window_length=5, overlap=1, steps=2, region_mode="auto"),
             "show": {"class_type": "PreviewImage", "inputs": {"images": ["windowed", 0]}}}
    result = comfy_server.run(graph, on_message=on_message)
    assert result.status == "execution_success", result.error
    assert [value for value, _ in seen] == [1, 2, 3, 4] and {total for _, total in seen} == {4}


def test_interrupt_stops_between_windows_and_steps(comfy_server, tiny_models, source_video):
    seen: list[int] = []

    def on_message(message: dict) -> None:
        if message["type"] == "progress" and message["data"].get("node") == "windowed":
            seen.append(message["data"]["value"])
            if len(seen) == 1:
                threading.Thread(target=comfy_server.interrupt).start()

    graph = {**graphs.loaders(tiny_models, source_video.name),
             **graphs.windowed_edit(window_length=1, overlap=0, steps=50),
             "show": {"class_type": "PreviewImage", "inputs": {"images": ["windowed", 0]}}}
    result = comfy_server.run(graph, on_message=on_message)
    assert result.status == "execution_interrupted"
    assert max(seen) < 7 * 50


def test_native_context_windows_refuse_the_region_constraint_by_name(comfy_server, tiny_models, source_video):
    context = {"context": {"class_type": "WanContextWindowsManual", "inputs": {
        "model": ["unet", 0], "context_length": 5, "context_overlap": 1, "context_schedule": "standard_static",
        "context_stride": 1, "closed_loop": False, "fuse_method": "pyramid"}}}
    base = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **context}
    for node, graph in {
        "sampler": {**base, **graphs.reco_sampler(model=("context", 0), region_mode="auto"),
                    **graphs.save_latent(("sampler", 0), "latents/never_context")},
        "windowed": {**base, **graphs.windowed_edit(region_mode="auto", model=["context", 0]),
                     "show": {"class_type": "PreviewImage", "inputs": {"images": ["windowed", 0]}}},
    }.items():
        result = comfy_server.run(graph)
        assert result.status == "execution_error", node
        message = result.error["exception_message"]
        assert "WanContextWindowsManual" in message and message.startswith("model:"), message
