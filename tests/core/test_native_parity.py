"""The same tiny VACE weights give the same velocity in diffusers (headless, training) and in ComfyUI (nodes).

This is what proves the key conversion right; later parity checks (LoRA, hooks) build on it.
"""

from __future__ import annotations

import pytest
import torch
from diffusers import WanVACETransformer3DModel
from safetensors.torch import load_file

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


@pytest.mark.parametrize("timestep", [999.0, 500.0, 31.0])
def test_velocity_matches_on_a_canvas(both_models, tiny_models, timestep):
    native, diffusers = both_models
    generator = torch.Generator().manual_seed(int(timestep))
    latent = torch.randn(CANVAS_LATENT, generator=generator)
    vace_context = torch.randn((1, 96, *CANVAS_LATENT[2:]), generator=generator)
    context = load_text_embeddings(tiny_models.positive).embeds
    t = torch.tensor([timestep])
    with torch.no_grad():
        ours = diffusers(hidden_states=latent, timestep=t, encoder_hidden_states=context,
                         control_hidden_states=vace_context,
                         control_hidden_states_scale=torch.ones(len(diffusers.config.vace_layers)),
                         return_dict=False)[0]
        theirs = native(latent, t, context, vace_context=vace_context.unsqueeze(1), vace_strength=[1.0])
    assert ours.shape == theirs.shape == CANVAS_LATENT
    assert (ours - theirs).abs().max().item() <= 1e-4
    # The VACE branch matters: without it the prediction moves by far more than the tolerance.
    with torch.no_grad():
        unhinted = native(latent, t, context, vace_context=vace_context.unsqueeze(1), vace_strength=[0.0])
    assert (unhinted - theirs).abs().max().item() > 1e-2
