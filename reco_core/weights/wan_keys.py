"""Key names of Wan2.1(-VACE) weights in ComfyUI's single-file layout and in diffusers' layout.

Artists hold ComfyUI-layout files (`wan2.1_vace_1.3B_fp16.safetensors`, `wan_2.1_vae.safetensors`); the headless
pipeline and the trainer run diffusers' modules. Both hold the same tensors under other names, so a rename suffices.
The transformer map works on module paths (no `.weight` suffix), which lets LoRA conversion use it too.
"""

from __future__ import annotations

import re

import torch

# Top-level modules: ComfyUI name -> diffusers name.
_TOP_LEVEL = {
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj",
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "head.head": "proj_out",
    "head.modulation": "scale_shift_table",
}
# Inside a DiT or VACE block. ComfyUI's norm3 (the affine norm before cross-attention) is diffusers' norm2; the other
# two norms hold no weights. VACE blocks' before_proj/after_proj are diffusers' proj_in/proj_out.
_IN_BLOCK = {
    "modulation": "scale_shift_table",
    "norm3": "norm2",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
    "before_proj": "proj_in",
    "after_proj": "proj_out",
}
_ATTENTION = {"self_attn": "attn1", "cross_attn": "attn2"}
_PROJECTION = {"q": "to_q", "k": "to_k", "v": "to_v", "o": "to_out.0", "norm_q": "norm_q", "norm_k": "norm_k"}

_BLOCK = re.compile(r"^((?:vace_)?blocks\.\d+)\.(.+)$")


def _invert(mapping: dict[str, str]) -> dict[str, str]:
    return {value: key for key, value in mapping.items()}


def _rename_in_block(rest: str, in_block: dict, attention: dict, projection: dict) -> str:
    for old, new in attention.items():
        if rest.startswith(old + "."):
            tail = rest[len(old) + 1:]
            return f"{new}.{projection.get(tail, tail)}"
    return in_block.get(rest, rest)


def _rename_module(path: str, top: dict, in_block: dict, attention: dict, projection: dict) -> str:
    if path in top:
        return top[path]
    block = _BLOCK.match(path)
    if block:
        return f"{block.group(1)}.{_rename_in_block(block.group(2), in_block, attention, projection)}"
    return path


def comfy_module_to_diffusers(path: str) -> str:
    """`blocks.3.self_attn.q` -> `blocks.3.attn1.to_q`; names shared by both layouts pass through."""
    return _rename_module(path, _TOP_LEVEL, _IN_BLOCK, _ATTENTION, _PROJECTION)


def diffusers_module_to_comfy(path: str) -> str:
    """Inverse of `comfy_module_to_diffusers`."""
    return _rename_module(path, _invert(_TOP_LEVEL), _invert(_IN_BLOCK), _invert(_ATTENTION), _invert(_PROJECTION))


def _split_parameter(key: str) -> tuple[str, str]:
    """`a.b.weight` -> (`a.b`, `weight`); bare parameters such as `head.modulation` have no suffix."""
    for suffix in ("weight", "bias"):
        if key.endswith("." + suffix):
            return key[: -len(suffix) - 1], suffix
    return key, ""


def _rename_state_dict(state_dict: dict[str, torch.Tensor], rename) -> dict[str, torch.Tensor]:
    renamed = {}
    for key, tensor in state_dict.items():
        module, suffix = _split_parameter(key)
        new_key = rename(module) + (f".{suffix}" if suffix else "")
        if new_key in renamed:
            raise ValueError(f"two weights map to {new_key}: the file mixes layouts.")
        renamed[new_key] = tensor
    return renamed


COMFY_PREFIXES = ("model.diffusion_model.", "diffusion_model.")


def strip_comfy_prefix(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Single files may carry `model.diffusion_model.` (full checkpoints) or `diffusion_model.` in front."""
    stripped = {}
    for key, tensor in state_dict.items():
        for prefix in COMFY_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                break
        stripped[key] = tensor
    return stripped


def transformer_comfy_to_diffusers(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return _rename_state_dict(strip_comfy_prefix(state_dict), comfy_module_to_diffusers)


def transformer_diffusers_to_comfy(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return _rename_state_dict(state_dict, diffusers_module_to_comfy)


# --- Wan 2.1 VAE -------------------------------------------------------------------------------------------------
# The original (ComfyUI) VAE keeps residual blocks as nn.Sequential: index 0 norm, 2 conv, 3 norm, 6 conv.
_RESNET_PARTS = {"norm1": "residual.0", "conv1": "residual.2", "norm2": "residual.3", "conv2": "residual.6",
                 "conv_shortcut": "shortcut"}
_VAE_FIXED = {
    "encoder.conv_in": "encoder.conv1", "decoder.conv_in": "decoder.conv1",
    "encoder.norm_out": "encoder.head.0", "encoder.conv_out": "encoder.head.2",
    "decoder.norm_out": "decoder.head.0", "decoder.conv_out": "decoder.head.2",
    "quant_conv": "conv1", "post_quant_conv": "conv2",
}
_MID_RESNET = re.compile(r"^(encoder|decoder)\.mid_block\.resnets\.(\d)\.(\w+)$")
_MID_ATTENTION = re.compile(r"^(encoder|decoder)\.mid_block\.attentions\.0\.(.+)$")
_DOWN = re.compile(r"^encoder\.down_blocks\.(\d+)\.(.+)$")
_UP_RESNET = re.compile(r"^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(\w+)$")
_UP_SAMPLER = re.compile(r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.(.+)$")


def _vae_module_to_original(path: str, resnets_per_up_block: int) -> str:
    if path in _VAE_FIXED:
        return _VAE_FIXED[path]
    if match := _MID_RESNET.match(path):
        side, index, part = match.groups()
        return f"{side}.middle.{2 * int(index)}.{_RESNET_PARTS[part]}"
    if match := _MID_ATTENTION.match(path):
        return f"{match.group(1)}.middle.1.{match.group(2)}"
    if match := _DOWN.match(path):
        index, rest = match.groups()
        part, _, tail = rest.partition(".")
        rest = _RESNET_PARTS[part] + (f".{tail}" if tail else "") if part in _RESNET_PARTS else rest
        return f"encoder.downsamples.{index}.{rest}"
    # Decoder stages are flattened: each stage's resnets, then its upsampler, share one running index.
    stride = resnets_per_up_block + 1
    if match := _UP_RESNET.match(path):
        block, resnet, part = (int(match.group(1)), int(match.group(2)), match.group(3))
        return f"decoder.upsamples.{block * stride + resnet}.{_RESNET_PARTS[part]}"
    if match := _UP_SAMPLER.match(path):
        return f"decoder.upsamples.{int(match.group(1)) * stride + resnets_per_up_block}.{match.group(2)}"
    raise ValueError(f"unknown Wan VAE weight {path}: not a diffusers AutoencoderKLWan key.")


def _vae_parameter_split(key: str) -> tuple[str, str]:
    module, _, suffix = key.rpartition(".")
    return module, suffix


def vae_diffusers_to_original(state_dict: dict[str, torch.Tensor], num_res_blocks: int = 2) -> dict[str, torch.Tensor]:
    """diffusers AutoencoderKLWan keys -> the original Wan 2.1 VAE keys that ComfyUI's VAELoader reads."""
    converted = {}
    for key, tensor in state_dict.items():
        module, suffix = _vae_parameter_split(key)
        converted[f"{_vae_module_to_original(module, num_res_blocks + 1)}.{suffix}"] = tensor
    return converted


def vae_original_to_diffusers(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Original Wan 2.1 VAE keys -> diffusers; diffusers' own single-file converter does this direction exactly."""
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    return convert_wan_vae_to_diffusers(dict(state_dict))
