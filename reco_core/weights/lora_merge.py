"""Fold a LoRA into a diffusers Wan VACE transformer's weights, for headless inference.

Merging once (W += strength * alpha/rank * B @ A) costs nothing per step, unlike keeping adapter layers, and gives the
same weights ComfyUI's LoRA patching computes, which is what the parity test checks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .lora_keys import convert_lora

PREFIX = "transformer."


def _group_by_module(lora: Mapping[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    grouped: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in convert_lora(lora, to="diffusers").items():
        key = key[len(PREFIX):]
        if key.endswith(".alpha"):
            module, part = key[: -len(".alpha")], "alpha"
        else:
            module, part, _ = key.rsplit(".", 2)
        grouped.setdefault(module, {})[part] = tensor
    return grouped


@torch.no_grad()
def merge_lora(transformer: torch.nn.Module, lora: Mapping[str, torch.Tensor], strength: float = 1.0) -> int:
    """Add the LoRA's low-rank updates to `transformer`'s Linear weights in place; returns the number of layers."""
    if not math.isfinite(strength):
        raise ValueError(f"LoRA strength must be a finite number, got {strength}; ReCo's LoRAs are made for 1.0.")
    modules = dict(transformer.named_modules())
    grouped = _group_by_module(lora)
    missing = [name for name in grouped if not isinstance(modules.get(name), torch.nn.Linear)]
    if missing:
        raise ValueError(
            f"the LoRA targets {len(missing)} layers this model lacks (e.g. {missing[:3]}): it was trained for a "
            "model with more blocks; load it with the Wan2.1-VACE model it was made for."
        )
    for name, parts in grouped.items():
        down, up = parts["lora_A"].float(), parts["lora_B"].float()
        scale = float(parts["alpha"]) / down.shape[0] if "alpha" in parts else 1.0
        weight = modules[name].weight
        weight += (strength * scale * (up @ down)).to(weight.dtype)
    return len(grouped)
