"""Bad input answers with an error that names the input and the fix; the server stays up and no output is written."""

from __future__ import annotations

import pytest

from harness import graphs
from harness.comfy_server import PromptRejected


def edit_graph(tiny_models, video: str, **sampler) -> dict:
    return {**graphs.loaders(tiny_models, video), **graphs.canvas(), **graphs.reco_sampler(**sampler),
            **graphs.save_latent(("sampler", 0), "latents/bad")}


def with_canvas(graph: dict, **inputs) -> dict:
    graph["canvas"]["inputs"].update(inputs)
    return graph


def rejected_cases(tiny, video):
    return {
        "length not 4n+1": (with_canvas(edit_graph(tiny, video), length=10), "canvas", "4n + 1"),
        "width not a multiple of 16": (with_canvas(edit_graph(tiny, video), width=40), "canvas", "multiple of 16"),
        "missing video file": (edit_graph(tiny, "no_such_clip.mp4"), "load", "no_such_clip.mp4"),
        "missing conditioning file": (
            {**edit_graph(tiny, video), "pos": {"class_type": "ReCoLoadConditioning",
                                                "inputs": {"file": "nope.safetensors"}}}, "pos", "input folder"),
        "constraint range reversed": (
            edit_graph(tiny, video, constraint_start=0.8, constraint_end=0.2), "sampler", "constraint_start"),
    }


def failing_cases(tiny, video):
    solid = {"mask": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 16, "height": 16}}}
    wan_vace = {"native": {"class_type": "WanVaceToVideo", "inputs": {
        "positive": ["pos", 0], "negative": ["neg", 0], "vae": ["vae", 0], "width": 64, "height": 32, "length": 9,
        "batch_size": 1, "strength": 1.0}}}
    t2v = edit_graph(tiny, video)
    t2v["unet"]["inputs"]["unet_name"] = tiny.t2v.name
    no_vace = edit_graph(tiny, video)
    no_vace["sampler"]["inputs"]["positive"] = ["pos", 0]
    wrong_split = {**graphs.loaders(tiny, video), **graphs.canvas(), "split": {"class_type": "ReCoSplit", "inputs": {
        "canvas_frames": ["parts", 0], "canvas": ["canvas", 3]}},
        "preview": {"class_type": "PreviewImage", "inputs": {"images": ["split", 0]}}}
    foreign_latent = {**edit_graph(tiny, video, region_mode="auto"), **wan_vace}
    foreign_latent["sampler"]["inputs"]["latent"] = ["native", 2]
    return {
        "T2V model where VACE is needed": (t2v, "model", "VACE"),
        "conditioning without VACE context": (no_vace, "positive", "ReCoCanvas"),
        "mask mode without a mask": (edit_graph(tiny, video, region_mode="mask"), "region_mask", "no mask"),
        "mask of the wrong size": ({**edit_graph(tiny, video, region_mode="mask", region_mask=["mask", 0]), **solid},
                                   "region mask", "source is 56x40"),
        "region mode on a latent not from ReCoCanvas": (foreign_latent, "latent", "ReCoCanvas"),
        "first_frame mode without the edited frame": (
            with_canvas(edit_graph(tiny, video), mode="first_frame"), "edited_first_frame", "first_frame"),
        "split of frames that are not the decoded canvas": (wrong_split, "decoded_canvas_frames", "canvas had 9"),
    }


def test_invalid_graphs_are_rejected_before_running(comfy_server, tiny_models, source_video):
    for name, (graph, node, phrase) in rejected_cases(tiny_models, source_video.name).items():
        with pytest.raises(PromptRejected) as rejected:
            comfy_server.queue(graph, client_id="bad-input")
        errors = rejected.value.node_errors
        assert node in errors, f"{name}: {errors}"
        assert phrase in str(errors[node]), f"{name}: {errors[node]}"


def test_failing_graphs_report_an_execution_error_and_write_nothing(comfy_server, tiny_models, source_video):
    latents = comfy_server.base / "output" / "latents"
    for name, (graph, input_name, phrase) in failing_cases(tiny_models, source_video.name).items():
        before = sorted(latents.glob("bad_*")) if latents.exists() else []
        result = comfy_server.run(graph)
        assert result.status == "execution_error", name
        message = result.error["exception_message"]
        assert input_name in message and phrase in message, f"{name}: {message}"
        after = sorted(latents.glob("bad_*")) if latents.exists() else []
        assert after == before, name
    assert comfy_server.is_alive()
    good = comfy_server.run(graphs.reco_edit(tiny_models, source_video.name, prefix="video/after_bad_inputs"))
    assert good.status == "execution_success", good.error
