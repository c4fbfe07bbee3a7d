"""Key conversion between ComfyUI's single-file Wan layout and diffusers', checked against both real loaders."""

from __future__ import annotations

import torch
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from safetensors.torch import load_file

from reco_core.weights.wan_keys import (
    comfy_module_to_diffusers,
    diffusers_module_to_comfy,
    transformer_comfy_to_diffusers,
    transformer_diffusers_to_comfy,
    vae_diffusers_to_original,
    vae_original_to_diffusers,
)


def test_module_names_map_both_ways():
    pairs = {
        "blocks.3.self_attn.q": "blocks.3.attn1.to_q",
        "vace_blocks.1.cross_attn.o": "vace_blocks.1.attn2.to_out.0",
        "blocks.0.ffn.0": "blocks.0.ffn.net.0.proj",
        "blocks.0.norm3": "blocks.0.norm2",
        "vace_blocks.0.before_proj": "vace_blocks.0.proj_in",
        "head.head": "proj_out",
        "time_projection.1": "condition_embedder.time_proj",
    }
    for comfy, diffusers in pairs.items():
        assert comfy_module_to_diffusers(comfy) == diffusers
        assert diffusers_module_to_comfy(diffusers) == comfy


def test_transformer_conversion_agrees_with_diffusers_single_file_converter(tiny_models):
    comfy = load_file(tiny_models.vace)
    ours = transformer_comfy_to_diffusers(comfy)
    theirs = convert_wan_transformer_to_diffusers(dict(comfy))
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert transformer_diffusers_to_comfy(ours).keys() == comfy.keys()


def test_transformer_conversion_accepts_prefixed_files(tiny_models):
    comfy = load_file(tiny_models.vace)
    prefixed = {f"model.diffusion_model.{k}": v for k, v in comfy.items()}
    assert transformer_comfy_to_diffusers(prefixed).keys() == transformer_comfy_to_diffusers(comfy).keys()


def test_vae_conversion_round_trips_through_diffusers_converter(tiny_models):
    original = load_file(tiny_models.vae)
    diffusers = vae_original_to_diffusers(original)
    back = vae_diffusers_to_original(diffusers)
    assert back.keys() == original.keys()
    assert all(torch.equal(back[k], original[k]) for k in original)


def test_tiny_files_load_strictly_in_comfyui(tiny_models):
    from harness.comfy_inprocess import import_comfy

    comfy = import_comfy()
    model = comfy.sd.load_diffusion_model(str(tiny_models.vace))
    net = model.model.diffusion_model
    assert type(net).__name__ == "VaceWanModel"
    missing, unexpected = net.load_state_dict(load_file(tiny_models.vace), strict=False)
    assert not missing and not unexpected

    t2v = comfy.sd.load_diffusion_model(str(tiny_models.t2v)).model.diffusion_model
    assert type(t2v).__name__ == "WanModel"

    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(tiny_models.vae)))
    missing, unexpected = vae.first_stage_model.load_state_dict(load_file(tiny_models.vae), strict=False)
    assert not missing and not unexpected
    assert vae.encode(torch.rand(5, 32, 32, 3)).shape == (1, 16, 2, 4, 4)
