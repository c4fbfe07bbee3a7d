"""ReCoLoRALoader on a real ComfyUI: the released .ckpt gives exactly what native LoraLoaderModelOnly gives on the
converted file, the conversion cache is a file the native loader can use, and bad models or files fail clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from harness.comfy_server import REPO, PromptRejected
from harness.crafted_files import RunsCode
from on_server.test_native_vace_video import native_vace_graph

from reco_core.weights.checkpoint import save_safetensors

CACHED = "reco_converted/tiny_reco_rank4.safetensors"


def latent_graph(tiny_models, prefix: str, lora: dict | None = None, unet_name: str | None = None) -> dict:
    """The native VACE graph sampled to a LATENT saved by native SaveLatent, with an optional LoRA node on the model."""
    graph = native_vace_graph(tiny_models, prefix)
    for node in ("trim", "decode", "video", "save"):
        del graph[node]
    graph["save"] = {"class_type": "SaveLatent", "inputs": {"samples": ["sample", 0], "filename_prefix": prefix}}
    if unet_name:
        graph["unet"]["inputs"]["unet_name"] = unet_name
    if lora:
        graph["lora"] = lora
        graph["shift"]["inputs"]["model"] = ["lora", 0]
    return graph


def reco_lora(lora_name: str, strength: float = 1.0) -> dict:
    return {"class_type": "ReCoLoRALoader",
            "inputs": {"model": ["unet", 0], "lora_name": lora_name, "strength": strength}}


def native_lora(lora_name: str) -> dict:
    return {"class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["unet", 0], "lora_name": lora_name, "strength_model": 1.0}}


def loras_folder(comfy_server) -> Path:
    return comfy_server.base / "models" / "loras"


def sampled_latent(comfy_server, graph: dict) -> torch.Tensor:
    result = comfy_server.run(graph)
    assert result.status == "execution_success", result.error
    (saved,) = result.outputs("save")["latents"]
    return load_file(comfy_server.base / "output" / saved["subfolder"] / saved["filename"])["latent_tensor"]


def test_ckpt_matches_native_loader_on_cli_converted_file(comfy_server, tiny_models):
    converted = loras_folder(comfy_server) / "tiny_reco_rank4_cli.safetensors"
    cli = subprocess.run([sys.executable, "-m", "reco_core", "convert", str(tiny_models.reco_lora), str(converted)],
                         cwd=REPO, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr

    reco = reco_lora(tiny_models.reco_lora.name)
    plain = sampled_latent(comfy_server, latent_graph(tiny_models, "latents/plain"))
    ours = sampled_latent(comfy_server, latent_graph(tiny_models, "latents/reco", reco))
    native = sampled_latent(comfy_server, latent_graph(tiny_models, "latents/native", native_lora(converted.name)))

    assert torch.equal(ours, native)
    assert (ours - plain).abs().mean() > 0.05 * plain.abs().mean()


def test_converted_cache_is_listed_apart_and_loads_natively(comfy_server, tiny_models):
    ours = sampled_latent(comfy_server, latent_graph(tiny_models, "latents/reco_cache",
                                                     reco_lora(tiny_models.reco_lora.name)))
    cache = loras_folder(comfy_server) / CACHED
    assert cache.is_file()
    source = tiny_models.reco_lora.stat()
    with safe_open(cache, framework="pt") as file:
        stamp = file.metadata()
        assert all(key.startswith("diffusion_model.") for key in file.keys())
    assert (stamp["reco_source"], stamp["reco_source_size"], stamp["reco_source_mtime_ns"]) == (
        tiny_models.reco_lora.name, str(source.st_size), str(source.st_mtime_ns))

    native = sampled_latent(comfy_server, latent_graph(tiny_models, "latents/native_cache", native_lora(CACHED)))
    assert torch.equal(ours, native)

    options = comfy_server.object_info()["ReCoLoRALoader"]["input"]["required"]["lora_name"][1]["options"]
    assert tiny_models.reco_lora.name in options and CACHED not in options


def test_bad_inputs_fail_clearly_and_the_server_stays_up(comfy_server, tiny_models, tmp_path):
    loras = loras_folder(comfy_server)
    marker = tmp_path / "code_ran"
    torch.save({"blocks.0.self_attn.q.lora_A.default.weight": RunsCode(marker)}, loras / "forged_reco.ckpt")
    save_safetensors({"diffusion_model.blocks.9.self_attn.q.lora_A.weight": torch.ones(4, 128),
                      "diffusion_model.blocks.9.self_attn.q.lora_B.weight": torch.ones(128, 4)},
                     loras / "too_deep.safetensors")
    reco = tiny_models.reco_lora.name
    cases = [
        (latent_graph(tiny_models, "latents/t2v", reco_lora(reco), unet_name=tiny_models.t2v.name),
         ["model:", "VACE"]),
        (latent_graph(tiny_models, "latents/forged", reco_lora("forged_reco.ckpt")),
         ["lora_name:", "forged_reco.ckpt", "weights-only"]),
        (latent_graph(tiny_models, "latents/too_deep", reco_lora("too_deep.safetensors")),
         ["lora_name:", "too_deep.safetensors", "blocks.9.self_attn.q"]),
    ]
    for graph, expected in cases:
        result = comfy_server.run(graph)
        assert result.status == "execution_error"
        assert result.error["node_id"] == "lora"
        for text in expected:
            assert text in result.error["exception_message"]
    assert not marker.exists()

    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(latent_graph(tiny_models, "latents/missing", reco_lora("no_such_lora.ckpt")), "test")
    assert "no_such_lora.ckpt" in str(rejected.value.node_errors["lora"])

    assert comfy_server.is_alive()
    sampled_latent(comfy_server, latent_graph(tiny_models, "latents/after_errors", reco_lora(reco, strength=0.5)))
