"""ReCo's nodes end to end on the real server: edit graphs, bit-identity with native sampling, interruption."""

from __future__ import annotations

import threading

from safetensors.torch import load_file

from harness import graphs
from harness.sample_video import FRAMES, HEIGHT, WIDTH
from harness.video_probe import probe_video


def saved_latent(server, result, node: str = "save_latent"):
    entry = result.outputs(node)["latents"][0]
    return load_file(server.base / "output" / entry["subfolder"] / entry["filename"])["latent_tensor"]


def test_edit_graph_writes_the_edit_at_the_source_size_and_length(comfy_server, tiny_models, source_video, tmp_path):
    result = comfy_server.run(graphs.reco_edit(tiny_models, source_video.name, prefix="video/reco_edit"))
    assert result.status == "execution_success", result.error
    entry = result.outputs("save")["images"][0]
    out = tmp_path / "edit.mp4"
    out.write_bytes(comfy_server.view(entry["filename"], entry["subfolder"], entry["type"]))
    facts = probe_video(out)
    assert (facts.frames, facts.width, facts.height) == (FRAMES, WIDTH, HEIGHT)


def test_reco_sampler_without_constraints_equals_native_ksampler(comfy_server, tiny_models, source_video):
    graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(),
             **graphs.reco_sampler(), **graphs.native_sampler(),
             **graphs.save_latent(("sampler", 0), "latents/reco"),
             **graphs.save_latent(("ksampler", 0), "latents/native", node="save_native")}
    result = comfy_server.run(graph)
    assert result.status == "execution_success", result.error
    reco, native = saved_latent(comfy_server, result), saved_latent(comfy_server, result, "save_native")
    assert reco.shape == native.shape
    assert reco.abs().sum() > 0
    assert bool((reco == native).all())


def test_native_ksampler_after_reco_sampler_is_unaffected(comfy_server, tiny_models, source_video):
    """Hooks live on ReCoSampler's private clone: the same MODEL sampled natively afterwards gives the same bits."""
    native_only = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **graphs.native_sampler(seed=3),
                   **graphs.save_latent(("ksampler", 0), "latents/before", node="save_native")}
    before = comfy_server.run(native_only)
    assert before.status == "execution_success", before.error
    with_reco = {**native_only, **graphs.reco_sampler(region_mode="auto", constraint_strength=1.0),
                 **graphs.save_latent(("sampler", 0), "latents/reco_auto")}
    after_reco = comfy_server.run(with_reco)
    assert after_reco.status == "execution_success", after_reco.error
    native_only["save_native"]["inputs"]["filename_prefix"] = "latents/after"
    # ComfyUI caches by inputs: a denoise one ulp-ish below 1 gives the same sigmas but forces KSampler to run again.
    native_only["ksampler"]["inputs"]["denoise"] = 1.0 - 1e-9
    after = comfy_server.run(native_only)
    assert after.status == "execution_success", after.error
    assert bool((saved_latent(comfy_server, before, "save_native") == saved_latent(comfy_server, after, "save_native")).all())


def test_interrupt_stops_reco_sampler_within_a_step(comfy_server, tiny_models, source_video):
    steps_seen: list[int] = []

    def on_message(message: dict) -> None:
        if message["type"] == "progress" and message["data"].get("node") == "sampler":
            steps_seen.append(message["data"]["value"])
            if len(steps_seen) == 1:
                threading.Thread(target=comfy_server.interrupt).start()

    graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(length=33),
             **graphs.reco_sampler(steps=200), **graphs.save_latent(("sampler", 0), "latents/never")}
    result = comfy_server.run(graph, on_message=on_message)
    assert result.status == "execution_interrupted"
    assert max(steps_seen) <= 3, steps_seen
    assert not result.outputs("save_latent")

    good = comfy_server.run(graphs.reco_edit(tiny_models, source_video.name, prefix="video/after_interrupt"))
    assert good.status == "execution_success", good.error


def test_region_mask_constraints_run_end_to_end(comfy_server, tiny_models, source_video):
    """A source-aligned MASK drives both constraint kinds through the real graph, and changes the result.

    The mask covers the left half of the 56x40 source: VideoGrain's lambda scales with 1 - region size, so a
    whole-frame region would (rightly) leave videograin without effect.
    """
    mask = {
        "empty": {"class_type": "SolidMask", "inputs": {"value": 0.0, "width": 56, "height": 40}},
        "left": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 28, "height": 40}},
        "mask": {"class_type": "MaskComposite", "inputs": {
            "destination": ["empty", 0], "source": ["left", 0], "x": 0, "y": 0, "operation": "add"}},
    }
    latents = {}
    for kind in ("off", "block", "videograin"):
        overrides = {} if kind == "off" else {"region_mode": "mask", "region_mask": ["mask", 0],
                                               "constraint_type": kind}
        graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **mask,
                 **graphs.reco_sampler(seed=21, **overrides), **graphs.save_latent(("sampler", 0), f"latents/{kind}")}
        result = comfy_server.run(graph)
        assert result.status == "execution_success", result.error
        latents[kind] = saved_latent(comfy_server, result)
    assert not bool((latents["block"] == latents["off"]).all())
    assert not bool((latents["videograin"] == latents["off"]).all())


def test_api_prompts_saved_before_constraint_type_existed_still_run(comfy_server, tiny_models, source_video):
    graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **graphs.reco_sampler(seed=23),
             **graphs.save_latent(("sampler", 0), "latents/old_prompt")}
    del graph["sampler"]["inputs"]["constraint_type"]
    result = comfy_server.run(graph)
    assert result.status == "execution_success", result.error
