"""ReCo's training objective: the in-context flow-matching loss plus the two region constraints.

One training sample is a canvas latent x0 = [source | target] (B, 16, T, h, 2w). A noise level sigma is drawn, the
canvas is noised along the straight flow path x_t = (1 - sigma) x0 + sigma * noise, and the model predicts the
velocity v = noise - x0 for both halves at once (RECO_METHOD.md, Training):

* L_ic     = MSE(v_pred, noise - x0) over both halves, unweighted;
* L_latent = region_map.latent_region_loss on the one-step estimate x0_hat = x_t - sigma * v_pred;
* L_attn   = mean over every self-attention layer of attention.region_attention.centroid_attention_scores, with q and
  k taken after normalization and RoPE (collected by .attention_capture);
* L        = L_ic + lambda_latent * L_latent + lambda_attn * L_attn.

Noise levels. Sampling uses ComfyUI's 1000-entry table sigma_i = shift_sigma(i / 1000, 5), i = 1..1000
(schedule.sigma_table). Training draws i uniformly from 1..1000 and uses that sigma_i, so the model is trained on
exactly the noise levels the sampler visits, with the shift's emphasis on high noise. The model is called through
model_call.predict_velocity, the same call the sampler makes.

Style edits carry an all-ones latent mask; the method applies no region loss to them, so both constraints are
skipped for such samples (see :func:`has_edit_region`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..region_map import latent_region_loss
from ..regions import latent_grid_to_token_grid
from ..schedule import RECO_SHIFT, TIMESTEP_SCALE, sigma_table

__all__ = [
    "DEFAULT_LAMBDA_ATTN",
    "DEFAULT_LAMBDA_LATENT",
    "LossTerms",
    "attention_loss",
    "attention_region",
    "denoised_estimate",
    "has_edit_region",
    "in_context_loss",
    "noised_latent",
    "reco_loss",
    "sample_sigma",
]

DEFAULT_LAMBDA_LATENT = 1e-3
DEFAULT_LAMBDA_ATTN = 1e-3


def sample_sigma(generator: torch.Generator, shift: float = RECO_SHIFT) -> torch.Tensor:
    """One sigma drawn uniformly from the sampler's table :func:`..schedule.sigma_table` (float32 scalar)."""
    index = torch.randint(0, TIMESTEP_SCALE, (), generator=generator, device=generator.device)
    return sigma_table(shift).to(generator.device)[index].float()


def noised_latent(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_t = (1 - sigma) * x0 + sigma * noise: the straight flow path from data (sigma 0) to noise (sigma 1)."""
    return (1 - sigma) * x0 + sigma * noise


def denoised_estimate(x_t: torch.Tensor, v_pred: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x0_hat = x_t - sigma * v_pred: where one Euler step to sigma 0 lands; exact when v_pred = noise - x0."""
    return x_t - sigma * v_pred


def in_context_loss(v_pred: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """L_ic = MSE(v_pred, noise - x0) over every element of both halves, computed in float32."""
    return F.mse_loss(v_pred.float(), (noise - x0).float())


def has_edit_region(latent_mask: torch.Tensor) -> bool:
    """True unless the mask is all ones (a style edit, which the method trains without region losses)."""
    return not bool((latent_mask > 0.5).all())


def attention_region(latent_mask: torch.Tensor) -> torch.Tensor:
    """The latent mask (T, h, w) on the per-half token grid (T, h/2, w/2), bool, as L_attn needs it.

    A token is in when any of its 2x2 latent cells is (regions.latent_grid_to_token_grid's default rule): the
    constraint then covers every token that holds part of the edited object.
    """
    return latent_grid_to_token_grid(latent_mask)


def attention_loss(scores: Sequence[torch.Tensor]) -> torch.Tensor:
    """L_attn: the mean of the per-layer centroid scores (one per self-attention layer of one forward pass)."""
    if not scores:
        raise ValueError("no attention scores were collected; L_attn needs one score per self-attention layer")
    return torch.stack([score.float() for score in scores]).mean()


@dataclass(frozen=True)
class LossTerms:
    """The terms of one sample's loss. Region terms are None where they were not computed (style edit, or off)."""

    total: torch.Tensor
    ic: torch.Tensor
    latent: torch.Tensor | None
    attn: torch.Tensor | None


def reco_loss(
    v_pred: torch.Tensor,
    x0: torch.Tensor,
    noise: torch.Tensor,
    sigma: torch.Tensor,
    latent_mask: torch.Tensor,
    attention_scores: Sequence[torch.Tensor] | None = None,
    lambda_latent: float = DEFAULT_LAMBDA_LATENT,
    lambda_attn: float = DEFAULT_LAMBDA_ATTN,
) -> LossTerms:
    """L = L_ic + lambda_latent * L_latent + lambda_attn * L_attn for one forward pass.

    A lambda of 0 switches its term off and skips its computation. L_latent is computed when the mask has an edit
    region; L_attn when, in addition, ``attention_scores`` (from :class:`.attention_capture.AttentionCapture`) are
    given. x_t is rebuilt from x0, noise and sigma, so the caller passes the same three it noised with.
    """
    ic = in_context_loss(v_pred, x0, noise)
    total = ic
    latent = attn = None
    region = has_edit_region(latent_mask)
    if region and lambda_latent:
        x0_hat = denoised_estimate(noised_latent(x0.float(), noise.float(), sigma), v_pred.float(), sigma)
        latent = latent_region_loss(x0_hat, latent_mask)
        total = total + lambda_latent * latent
    if region and lambda_attn and attention_scores is not None:
        attn = attention_loss(attention_scores)
        total = total + lambda_attn * attn
    return LossTerms(total=total, ic=ic, latent=latent, attn=attn)
