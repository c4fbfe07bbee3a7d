"""Flow-matching noise levels for Wan, laid out exactly as ComfyUI's ModelSamplingSD3 + "simple" scheduler does.

With the same sigmas, the headless pipeline and the ComfyUI nodes take identical steps. ReCo samples with shift 5,
50 steps and CFG 5 (RECO_METHOD.md); a shift moves the steps toward high noise, where the layout is decided.
"""

from __future__ import annotations

import math

import torch

RECO_SHIFT = 5.0
RECO_STEPS = 50
RECO_CFG = 5.0
# Wan's flow timesteps are sigma x 1000; ComfyUI's sigma table has one entry per training timestep.
TIMESTEP_SCALE = 1000
# Longest schedule built: `steps / denoise` entries are computed, so a tiny denoise must not make the table unbounded.
MAX_SCHEDULE_STEPS = 100_000


def shift_sigma(sigma: torch.Tensor, shift: float) -> torch.Tensor:
    """sigma' = shift * s / (1 + (shift - 1) * s): the resolution-dependent shift of flow models."""
    return shift * sigma / (1 + (shift - 1) * sigma)


def sigma_table(shift: float = RECO_SHIFT) -> torch.Tensor:
    """ComfyUI's 1000 shifted noise levels, ascending, float64: shift_sigma(i / 1000), i = 1..1000.

    The sampler picks its steps from this table and training draws its noise levels from it, so the model is trained
    on exactly the levels it is sampled at.
    """
    if not (math.isfinite(shift) and shift > 0):
        raise ValueError(f"shift must be a positive number, got {shift}.")
    return shift_sigma(torch.arange(1, TIMESTEP_SCALE + 1, dtype=torch.float64) / TIMESTEP_SCALE, shift)


def flow_sigmas(steps: int = RECO_STEPS, shift: float = RECO_SHIFT, denoise: float = 1.0) -> torch.Tensor:
    """`steps + 1` descending sigmas ending at 0.

    Uniform in the unshifted time on ComfyUI's 1000-entry grid, then shifted; `denoise < 1` keeps the last `steps`
    of a schedule `steps / denoise` long, as ComfyUI does, so partial denoising starts from a lower sigma.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    if not 0.0 < denoise <= 1.0:
        raise ValueError(f"denoise must be in (0, 1], got {denoise}.")
    total = int(steps / denoise)
    if total > MAX_SCHEDULE_STEPS:
        raise ValueError(f"steps / denoise = {steps} / {denoise} asks for a {total}-step schedule; at most "
                         f"{MAX_SCHEDULE_STEPS} are allowed: lower steps or raise denoise.")
    table = sigma_table(shift)
    stride = TIMESTEP_SCALE / total
    picked = [table[-(1 + int(i * stride))] for i in range(total)]
    sigmas = torch.stack(picked + [torch.zeros((), dtype=torch.float64)]).float()
    return sigmas[-(steps + 1):]
