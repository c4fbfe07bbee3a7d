"""Hostile files for the fuzz test: weight files that lie, pickles that carry code, videos that are not videos.

Every writer returns the bytes of one file; the fuzz test places them where a node input can name them.
"""

from __future__ import annotations

import io
import json
import os
import random
import struct
from pathlib import Path

import torch
from PIL import Image

from reco_core.text_embeddings import save_text_embeddings
from reco_core.video_io import write_video
from reco_core.weights.checkpoint import save_safetensors

SEED = 9


class RunsCode:
    """Pickles to a call of os.mkdir: loading the file unsafely would create the marker folder."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def random_bytes(count: int = 4096) -> bytes:
    return random.Random(SEED).randbytes(count)


def safetensors_header_that_lies() -> bytes:
    """A well-formed header promising a 4 MB tensor, followed by 16 bytes of data."""
    header = json.dumps({"weight": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}}).encode()
    return struct.pack("<Q", len(header)) + header + bytes(16)


def safetensors_huge_header_length() -> bytes:
    """A header length of 2**60: a reader that trusts it would try to allocate an exabyte."""
    return struct.pack("<Q", 2**60) + b"{}"


def pickle_with_code(marker: Path, key: str) -> bytes:
    buffer = io.BytesIO()
    torch.save({key: RunsCode(marker)}, buffer)
    return buffer.getvalue()


def saved(path: Path, write) -> bytes:
    """The bytes a writer that needs a path produces."""
    write(path)
    data = path.read_bytes()
    path.unlink()
    return data


def lora_of_wrong_shapes(scratch: Path) -> bytes:
    """ComfyUI-keyed LoRA for a real layer of the tiny model, but with 64 inputs where the layer has 128."""
    return saved(scratch / "wrong_shapes.safetensors", lambda path: save_safetensors({
        "diffusion_model.blocks.0.self_attn.q.lora_A.weight": torch.ones(4, 64),
        "diffusion_model.blocks.0.self_attn.q.lora_B.weight": torch.ones(128, 4)}, path))


def embeddings_of_wrong_width(scratch: Path) -> bytes:
    return saved(scratch / "narrow.safetensors", lambda path: save_text_embeddings(path, torch.ones(1, 4, 4095)))


def safetensors_without_embeddings(scratch: Path) -> bytes:
    return saved(scratch / "other.safetensors", lambda path: save_safetensors({"weight": torch.ones(2, 2)}, path))


def one_frame_video(scratch: Path) -> bytes:
    return saved(scratch / "one.mp4", lambda path: write_video(path, torch.rand(1, 32, 32, 3), 16))


def png_image() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()
