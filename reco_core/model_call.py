"""The one way a Wan VACE transformer (diffusers) is asked for a velocity: sampling and training share it.

Inputs follow ComfyUI's conventions, so both model paths see the same numbers: x_t (B, 16, T, h, 2w) and the VACE
context (B, 96, T, h, 2w) in the normalized latent space, the timestep sigma x 1000 (schedule.TIMESTEP_SCALE) and
every VACE hint at scale 1 (diffusers' default when no scale is passed). The result is the flow velocity
v = noise - x0, so x0_hat = x_t - sigma * v.
"""

from __future__ import annotations

import torch

from .schedule import TIMESTEP_SCALE


def predict_velocity(
    transformer: torch.nn.Module,
    x_t: torch.Tensor,
    sigma: torch.Tensor,
    context: torch.Tensor,
    prompt_embeds: torch.Tensor,
) -> torch.Tensor:
    """The model's velocity for a noised canvas; prompt_embeds (B, tokens, 4096).

    The transformer may be wrapped (DDP, accelerate), so nothing here reads its attributes; callers cast the inputs
    to the model's dtype and device.
    """
    timestep = (sigma * TIMESTEP_SCALE).reshape(1).expand(x_t.shape[0]).to(x_t.device)
    return transformer(
        hidden_states=x_t, timestep=timestep, encoder_hidden_states=prompt_embeds,
        control_hidden_states=context, return_dict=False,
    )[0]
