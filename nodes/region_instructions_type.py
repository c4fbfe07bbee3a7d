"""The RECO_REGIONS socket: several (mask, instruction) pairs for one ReCoSampler pass, in the order given."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from comfy_api.latest import io

RegionInstructionsInfo = io.Custom("RECO_REGIONS")


@dataclass(frozen=True)
class RegionInstructions:
    masks: tuple[torch.Tensor, ...]  # (frames, H, W) per region, aligned with the source clip (1 frame: all frames)
    instructions: tuple[torch.Tensor, ...]  # (1, tokens, dim) encoded instruction per region
