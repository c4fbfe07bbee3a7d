"""Weight files of Wan2.1-VACE's exact key layout and shapes without holding (or even computing) the weights.

Loading benchmarks and tests need a full-width model file; a 4.3 GB file of real random numbers would take minutes
to draw and write. The tensors' bytes are a sparse hole of zeros instead: the loader reads, converts and places every
byte exactly as it would real weights, so peak memory and load time are those of the real file.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from ..weights.wan_keys import transformer_diffusers_to_comfy

WAN_VACE_1_3B = dict(
    patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    eps=1e-6, vace_layers=list(range(0, 30, 2)), vace_in_channels=96,
)
"""diffusers arguments of Wan2.1-VACE-1.3B: dim 1536, 30 DiT blocks, 15 VACE blocks, 2.15 B parameters."""

_STORED = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}
# safetensors aligns the tensor data that follows the JSON header to 8 bytes.
SAFETENSORS_ALIGNMENT = 8


def wan_vace_config(layers: int = 30, vace_every: int = 2) -> dict:
    """WAN_VACE_1_3B at full width with ``layers`` DiT blocks and a VACE block on every ``vace_every``-th one."""
    return {**WAN_VACE_1_3B, "num_layers": layers, "vace_layers": list(range(0, layers, vace_every))}


def write_zero_wan_vace(path: str | os.PathLike[str], config: dict, dtype: torch.dtype = torch.float16) -> int:
    """Write a ComfyUI-layout safetensors file of the model ``config`` describes, all zeros; returns its byte size."""
    from diffusers import WanVACETransformer3DModel

    with torch.device("meta"):
        shapes = {name: tuple(t.shape) for name, t in WanVACETransformer3DModel(**config).state_dict().items()}
    header, offset = {}, 0
    for name, shape in transformer_diffusers_to_comfy(shapes).items():
        size = dtype.itemsize
        for n in shape:
            size *= n
        header[name] = {"dtype": _STORED[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % SAFETENSORS_ALIGNMENT)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)) + encoded)
        handle.truncate(8 + len(encoded) + offset)
    return Path(path).stat().st_size
