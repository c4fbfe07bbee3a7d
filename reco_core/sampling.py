"""Flow-matching samplers (Euler, UniPC) with classifier-free guidance, for the headless pipeline and training previews.

The model predicts a velocity v = noise - x0, so x0_hat = x - sigma * v. Each step hands x0_hat to a callback: that
is where ReCo's region map is read, where previews are drawn and where a cancel request stops the run.
"""

from __future__ import annotations

from typing import Callable, Protocol

import torch

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class StepCallback(Protocol):
    def __call__(self, step: int, total: int, x0_hat: torch.Tensor, x: torch.Tensor) -> None: ...


def guided(cond: Velocity, uncond: Velocity | None, cfg: float) -> Velocity:
    """v = v_uncond + cfg * (v_cond - v_uncond); cfg 1 or no negative prompt skips the second forward pass."""
    if uncond is None or cfg == 1.0:
        return cond

    def velocity(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        v_uncond = uncond(x, sigma)
        return v_uncond + cfg * (cond(x, sigma) - v_uncond)

    return velocity


def initial_latent(noise: torch.Tensor, sigmas: torch.Tensor, latent: torch.Tensor | None = None) -> torch.Tensor:
    """Flow noising: sigma * noise + (1 - sigma) * latent at the first sigma (pure noise when sigma is 1)."""
    start = sigmas[0].to(noise.dtype)
    return start * noise + (1 - start) * (latent if latent is not None else torch.zeros_like(noise))


def sample_euler(velocity: Velocity, x: torch.Tensor, sigmas: torch.Tensor,
                 callback: StepCallback | None = None) -> torch.Tensor:
    total = len(sigmas) - 1
    for step in range(total):
        sigma, next_sigma = sigmas[step], sigmas[step + 1]
        v = velocity(x, sigma)
        if callback:
            callback(step, total, x - sigma * v, x)
        x = x + (next_sigma - sigma) * v
    return x


def sample_unipc(velocity: Velocity, x: torch.Tensor, sigmas: torch.Tensor,
                 callback: StepCallback | None = None) -> torch.Tensor:
    """UniPC (bh2, order 2) on the given sigmas, through diffusers' solver in its flow-prediction mode."""
    from diffusers import UniPCMultistepScheduler

    solver = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=1.0,
                                     solver_order=2, solver_type="bh2")
    solver.set_timesteps(sigmas=sigmas[:-1].double().numpy())
    total = len(sigmas) - 1
    for step, timestep in enumerate(solver.timesteps):
        sigma = solver.sigmas[step].to(x.dtype)  # the solver nudges a first sigma of 1 by 1e-6
        v = velocity(x, sigma)
        if callback:
            callback(step, total, x - sigma * v, x)
        x = solver.step(v, timestep, x, return_dict=False)[0]
    return x


SAMPLERS = {"euler": sample_euler, "unipc": sample_unipc}
