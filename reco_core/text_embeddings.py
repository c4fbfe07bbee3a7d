"""Saved text embeddings: an instruction encoded once by UMT5, reused by every later edit.

Headless queues and the tests need CONDITIONING without loading an 11 GB text encoder each time, so an encoded
prompt is stored as a safetensors file holding one tensor, ``prompt_embeds`` of shape (1, tokens, 4096), with the
instruction and the encoder's name in the metadata. The same file feeds ComfyUI (as CONDITIONING) and the diffusers
pipeline (as ``prompt_embeds``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from .weights.checkpoint import save_safetensors

EMBEDS_KEY = "prompt_embeds"
FORMAT_TAG = "reco-text-embeddings/1"
UMT5_DIM = 4096


@dataclass(frozen=True)
class TextEmbeddings:
    embeds: torch.Tensor  # (1, tokens, dim)
    text: str
    encoder: str


def save_text_embeddings(path: str | Path, embeds: torch.Tensor, text: str = "", encoder: str = "umt5-xxl") -> Path:
    """Write one prompt's embeddings; accepts (tokens, dim) or (1, tokens, dim)."""
    embeds = _as_single_prompt(embeds, "embeds")
    metadata = {"format": FORMAT_TAG, "text": text, "encoder": encoder, "shape": json.dumps(list(embeds.shape))}
    return save_safetensors({EMBEDS_KEY: embeds}, path, metadata)


def load_text_embeddings(path: str | Path) -> TextEmbeddings:
    """Read a file written by `save_text_embeddings`; anything else gets an error that says what the file must hold."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text embeddings file {path} does not exist: save one with ReCoSaveConditioning first.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            keys = list(handle.keys())
            metadata = handle.metadata() or {}
            if EMBEDS_KEY not in keys:
                raise ValueError(
                    f"{path.name} holds no '{EMBEDS_KEY}' tensor (it has {keys[:5]}): it is not a text embeddings file; "
                    "make one with ReCoSaveConditioning or `save_text_embeddings`."
                )
            embeds = handle.get_tensor(EMBEDS_KEY)
    except SafetensorError as error:
        raise ValueError(f"{path.name} is not a readable safetensors file ({error}).") from error
    return TextEmbeddings(_as_single_prompt(embeds, path.name), metadata.get("text", ""), metadata.get("encoder", ""))


def _as_single_prompt(embeds: torch.Tensor, name: str) -> torch.Tensor:
    if embeds.ndim == 2:
        embeds = embeds.unsqueeze(0)
    if embeds.ndim != 3 or embeds.shape[0] != 1 or embeds.shape[1] == 0:
        raise ValueError(
            f"{name} must hold one prompt's embeddings shaped (tokens, dim) or (1, tokens, dim); got {tuple(embeds.shape)}."
        )
    return embeds.contiguous()
