"""The same tiny VACE weights give the same velocity in diffusers (headless, training) and in ComfyUI (nodes).

This is what proves the key conversion right; later parity checks (LoRA, hooks) build on it.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import WanVACETransformer3DModel

from reco_core.text_embeddings import load_text_embeddings

# A canvas-shaped latent: 3 latent frames, 6 rows, 2 x 8 columns (source | target).
CANVAS_LATENT = (1, 16, 3, 6, 16)


@pytest.fixture(scope="module")
def both_models(tiny_models):
    from harness.comfy_inprocess import import_comfy

    comfy = import_comfy()
    native = comfy.sd.load_diffusion_model(str(tiny_models.vace)).model.diffusion_model.float().eval()
    diffusers = WanVACETransformer3DModel.from_pretrained(tiny_models.diffusers_transformer).float().eval()
    return native, diffusers


def canvas_inputs(tiny_models, seed: int):
    """A random canvas latent, VACE context and the saved prompt, all of the canvas's shape."""
    generator = torch.Generator().manual_seed(seed)
    latent = torch.randn(CANVAS_LATENT, generator=generator)
    vace_context = torch.randn((1, 96, *CANVAS_LATENT[2:]), generator=generator)
    return latent, vace_context, load_text_embeddings(tiny_models.positive).embeds


@torch.no_grad()
def diffusers_velocity(model, latent, t, context, vace_context):
    scale = torch.ones(len(model.config.vace_layers))
    return model(hidden_states=latent, timestep=t, encoder_hidden_states=context, control_hidden_states=vace_context,
                 control_hidden_states_scale=scale, return_dict=False)[0]


@torch.no_grad()
def native_velocity(net, latent, t, context, vace_context, strength: float = 1.0):
    return net(latent, t, context, vace_context=vace_context.unsqueeze(1), vace_strength=[strength])


@pytest.mark.parametrize("timestep", [999.0, 500.0, 31.0])
def test_velocity_matches_on_a_canvas(both_models, tiny_models, timestep):
    native, diffusers = both_models
    latent, vace_context, context = canvas_inputs(tiny_models, int(timestep))
    t = torch.tensor([timestep])
    ours = diffusers_velocity(diffusers, latent, t, context, vace_context)
    theirs = native_velocity(native, latent, t, context, vace_context)
    assert ours.shape == theirs.shape == CANVAS_LATENT
    assert (ours - theirs).abs().max().item() <= 1e-4
    # The VACE branch matters: without it the prediction moves by far more than the tolerance.
    unhinted = native_velocity(native, latent, t, context, vace_context, strength=0.0)
    assert (unhinted - theirs).abs().max().item() > 1e-2


def tiny_reco_lora(diffusers_model, rank: int = 4, seed: int = 3) -> dict[str, torch.Tensor]:
    """A ReCo-style LoRA (PEFT keys, .default, no alpha) on every target of every DiT and VACE block."""
    generator = torch.Generator().manual_seed(seed)
    targets = ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
               "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2")
    config = diffusers_model.config
    lora = {}
    for tree, count in (("blocks", config.num_layers), ("vace_blocks", len(config.vace_layers))):
        for index in range(count):
            for module in targets:
                fan_in = config.ffn_dim if module == "ffn.2" else 128
                fan_out = config.ffn_dim if module == "ffn.0" else 128
                lora[f"{tree}.{index}.{module}.lora_A.default.weight"] = torch.randn(rank, fan_in, generator=generator) / fan_in**0.5
                lora[f"{tree}.{index}.{module}.lora_B.default.weight"] = 0.2 * torch.randn(fan_out, rank, generator=generator)
    return lora


def test_velocity_matches_with_a_converted_lora_applied(tiny_models, tmp_path):
    from harness.comfy_inprocess import import_comfy

    from reco_core.weights.lora_keys import convert_lora
    from reco_core.weights.lora_merge import merge_lora

    comfy = import_comfy()
    diffusers = WanVACETransformer3DModel.from_pretrained(tiny_models.diffusers_transformer).float().eval()
    lora = tiny_reco_lora(diffusers)
    strength = 0.8

    patcher = comfy.sd.load_diffusion_model(str(tiny_models.vace))
    patched, _ = comfy.sd.load_lora_for_models(patcher, None, convert_lora(lora, to="comfy"), strength, 0.0)
    patched.patch_model()
    native = patched.model.diffusion_model.float().eval()
    assert merge_lora(diffusers, lora, strength) == len(lora) // 2

    latent, vace_context, context = canvas_inputs(tiny_models, 11)
    t = torch.tensor([640.0])
    ours = diffusers_velocity(diffusers, latent, t, context, vace_context)
    theirs = native_velocity(native, latent, t, context, vace_context)
    patched.unpatch_model()
    unpatched = native_velocity(patcher.model.diffusion_model, latent, t, context, vace_context)
    assert (ours - theirs).abs().max().item() <= 1e-4
    # The LoRA really changed the prediction, by much more than the tolerance.
    assert (unpatched - theirs).abs().max().item() > 1e-2
