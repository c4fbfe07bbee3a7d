"""The floor every ReCo graph stands on: native loaders, native VACE conditioning and sampling, a real mp4 out."""

from __future__ import annotations

from harness.video_probe import probe_video

WIDTH, HEIGHT, LENGTH, FPS = 64, 48, 9, 16


def native_vace_graph(tiny_models, prefix: str) -> dict:
    return {
        "unet": {"class_type": "UNETLoader",
                 "inputs": {"unet_name": tiny_models.vace.name, "weight_dtype": "default"}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_models.vae.name}},
        "pos": {"class_type": "ReCoLoadConditioning", "inputs": {"file": tiny_models.positive.name}},
        "neg": {"class_type": "ReCoLoadConditioning", "inputs": {"file": tiny_models.negative.name}},
        "vace": {"class_type": "WanVaceToVideo", "inputs": {
            "positive": ["pos", 0], "negative": ["neg", 0], "vae": ["vae", 0], "width": WIDTH, "height": HEIGHT,
            "length": LENGTH, "batch_size": 1, "strength": 1.0}},
        "shift": {"class_type": "ModelSamplingSD3", "inputs": {"model": ["unet", 0], "shift": 5.0}},
        "sample": {"class_type": "KSampler", "inputs": {
            "model": ["shift", 0], "seed": 7, "steps": 2, "cfg": 5.0, "sampler_name": "euler", "scheduler": "simple",
            "positive": ["vace", 0], "negative": ["vace", 1], "latent_image": ["vace", 2], "denoise": 1.0}},
        "trim": {"class_type": "TrimVideoLatent", "inputs": {"samples": ["sample", 0], "trim_amount": ["vace", 3]}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["trim", 0], "vae": ["vae", 0]}},
        "video": {"class_type": "CreateVideo", "inputs": {"images": ["decode", 0], "fps": float(FPS)}},
        "save": {"class_type": "SaveVideo", "inputs": {
            "video": ["video", 0], "filename_prefix": prefix, "format": "mp4", "codec": "h264"}},
    }


def test_native_vace_graph_writes_a_decodable_mp4(comfy_server, tiny_models, tmp_path):
    result = comfy_server.run(native_vace_graph(tiny_models, "video/native_vace"))
    assert result.status == "execution_success", result.error

    saved = result.outputs("save")["images"]
    assert len(saved) == 1 and saved[0]["filename"].endswith(".mp4")
    video = tmp_path / "out.mp4"
    video.write_bytes(comfy_server.view(saved[0]["filename"], saved[0]["subfolder"], saved[0]["type"]))

    facts = probe_video(video)
    assert (facts.frames, facts.width, facts.height) == (LENGTH, WIDTH, HEIGHT)
    assert abs(facts.fps - FPS) < 0.01


def test_object_info_lists_reco_nodes_under_category_reco(comfy_server):
    info = comfy_server.object_info()
    reco = {name: node for name, node in info.items() if name.startswith("ReCo")}
    assert {"ReCoLoadConditioning", "ReCoSaveConditioning"} <= set(reco)
    assert {node["category"] for node in reco.values()} == {"ReCo"}
    for name, node in reco.items():
        for section in ("required", "optional"):
            for input_name, spec in node["input"].get(section, {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{name}.{input_name} has no tooltip"
