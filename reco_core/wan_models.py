"""Loads the Wan2.1-VACE transformer and the Wan 2.1 VAE into diffusers' modules, from the files artists already have.

ComfyUI single files (`wan2.1_vace_1.3B_fp16.safetensors`, `wan_2.1_vae.safetensors`) carry no config, so the
architecture is read off the weights the way ComfyUI's own detection does (heads = dim / 128, VACE blocks spaced
evenly over the DiT blocks); diffusers folders (`save_pretrained`) load as they are.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import torch

from .wan_latent import PATCH_SIZE
from .weights.checkpoint import SAFETENSORS_SUFFIX, load_state_dict
from .weights.safetensors_stream import read_header, read_tensor, scratch_for
from .weights.wan_keys import strip_comfy_prefix, transformer_comfy_to_diffusers, vae_original_to_diffusers

HEAD_DIM = 128


class ModelFileError(ValueError):
    """A model file that cannot serve ReCo (wrong model family, T2V instead of VACE, unreadable)."""


def _count_blocks(keys, prefix: str) -> int:
    pattern = re.compile(rf"^{re.escape(prefix)}\.(\d+)\.")
    indices = {int(m.group(1)) for key in keys if (m := pattern.match(key))}
    return max(indices) + 1 if indices else 0


def transformer_config_from_comfy(state_dict: dict[str, torch.Tensor], name: str) -> dict:
    """diffusers WanVACETransformer3DModel arguments read off a ComfyUI-layout state dict."""
    if "head.modulation" not in state_dict:
        raise ModelFileError(f"{name} is not a Wan 2.1 diffusion model (no head.modulation weight).")
    if "vace_patch_embedding.weight" not in state_dict:
        raise ModelFileError(
            f"{name} is a Wan model without the VACE branch (T2V/I2V); ReCo needs Wan2.1-VACE, "
            "e.g. wan2.1_vace_1.3B_fp16.safetensors."
        )
    dim = state_dict["head.modulation"].shape[-1]
    layers = _count_blocks(state_dict, "blocks")
    vace = _count_blocks(state_dict, "vace_blocks")
    return dict(
        patch_size=(1, PATCH_SIZE, PATCH_SIZE), num_attention_heads=dim // HEAD_DIM, attention_head_dim=HEAD_DIM,
        in_channels=state_dict["patch_embedding.weight"].shape[1],
        out_channels=state_dict["head.head.weight"].shape[0] // (PATCH_SIZE * PATCH_SIZE),
        text_dim=state_dict["text_embedding.0.weight"].shape[1],
        freq_dim=state_dict["time_embedding.0.weight"].shape[1],
        ffn_dim=state_dict["blocks.0.ffn.0.weight"].shape[0], num_layers=layers,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
        vace_layers=list(range(0, layers, layers // vace)),
        vace_in_channels=state_dict["vace_patch_embedding.weight"].shape[1],
    )


def load_transformer(path: str | Path, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
    """A ComfyUI single file or a diffusers folder -> diffusers WanVACETransformer3DModel (eval mode).

    Weights land in ``dtype`` on ``device`` as they are read, except the modules diffusers keeps in float32 (time
    embedder, modulation tables, norms), exactly as ``from_pretrained(torch_dtype=...)`` leaves a folder. The model
    is built on the meta device, so no float32 copy of 2 B parameters is ever allocated: loading the 4.3 GB fp16 file
    peaks at about the weights in ``dtype`` instead of three times that.
    """
    from diffusers import WanVACETransformer3DModel

    path = Path(path)
    if path.is_dir():
        return WanVACETransformer3DModel.from_pretrained(path, torch_dtype=dtype).to(device).eval()
    with _weight_source(path) as (entries, fetch):
        config = transformer_config_from_comfy(strip_comfy_prefix(entries), path.name)
        file_keys = transformer_comfy_to_diffusers({key: key for key in entries})
        with torch.device("meta"):
            model = WanVACETransformer3DModel(**config)
        _check_keys(model, file_keys, path.name)
        keep = set(model._keep_in_fp32_modules or ())
        weights = {name: fetch(key, torch.float32 if keep & set(name.split(".")) else dtype, device)
                   for name, key in file_keys.items()}
    model.load_state_dict(weights, strict=True, assign=True)
    _rebuild_rope(model, device)
    return model.eval()


@contextmanager
def _weight_source(path: Path):
    """(name -> anything with .shape, fetch(name, dtype, device) -> tensor) for a weight file.

    safetensors files are streamed tensor by tensor (see :mod:`.weights.safetensors_stream`); torch pickles can only
    be read whole (weights-only), and each tensor is released from that dict once converted.
    """
    if path.suffix.lower() == SAFETENSORS_SUFFIX and path.is_file():
        entries = read_header(path)
        scratch = scratch_for(entries)
        with open(path, "rb") as handle:
            yield entries, lambda key, dtype, device: read_tensor(handle, entries[key], dtype, device, scratch)
        return
    state_dict = load_state_dict(path)
    yield dict(state_dict), lambda key, dtype, device: state_dict.pop(key).to(device=device, dtype=dtype)


def _check_keys(model: torch.nn.Module, names, file_name: str) -> None:
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(names)), sorted(set(names) - expected)
    if missing or unexpected:
        raise ModelFileError(f"{file_name} does not match the architecture read from it: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}.")


def _rebuild_rope(model: torch.nn.Module, device: torch.device | str) -> None:
    """The rotary tables are computed buffers, not weights: a meta-built model gets them computed for real."""
    rope = model.rope
    with torch.device(device):
        model.rope = type(rope)(rope.attention_head_dim, rope.patch_size, rope.max_seq_len)
    left = [name for name, tensor in model.state_dict(keep_vars=True).items() if tensor.is_meta]
    left += [name for name, tensor in model.named_buffers() if tensor.is_meta]
    if left:
        raise RuntimeError(f"weights never loaded (still on the meta device): {left[:3]}")


def load_vae(path: str | Path, dtype: torch.dtype = torch.float32):
    """An original-layout Wan 2.1 VAE file (ComfyUI's) or a diffusers folder -> diffusers AutoencoderKLWan."""
    from diffusers import AutoencoderKLWan

    path = Path(path)
    if path.is_dir():
        return AutoencoderKLWan.from_pretrained(path, torch_dtype=dtype).eval()
    original = load_state_dict(path)
    if "decoder.head.0.gamma" not in original or "decoder.middle.0.residual.0.gamma" not in original:
        raise ModelFileError(f"{path.name} is not a Wan 2.1 VAE (e.g. wan_2.1_vae.safetensors).")
    if "decoder.upsamples.0.upsamples.0.residual.2.weight" in original:
        raise ModelFileError(f"{path.name} is the Wan 2.2 VAE; Wan2.1-VACE needs the Wan 2.1 VAE (wan_2.1_vae).")
    model = AutoencoderKLWan(base_dim=original["decoder.head.0.gamma"].shape[0])
    _load_strict(model, vae_original_to_diffusers(original), path.name)
    return (model if dtype == torch.float32 else model.to(dtype)).eval()


def _load_strict(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], name: str) -> None:
    _check_keys(model, state_dict, name)
    model.load_state_dict(state_dict)
