"""The LoRA files this package writes: their metadata, and the cache of converted copies.

Three writers produce LoRA safetensors: ReCoLoRALoader's conversion cache, `python -m reco_core convert` and the
trainer. They share one metadata vocabulary (so any of their files tells how it was made) and the loader's cache rule
lives here, without ComfyUI, so it can be tested and reused: a converted copy is reused only while its metadata names
the same source file, size, modification time and converter version; otherwise it is rewritten atomically.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import safetensors
import torch

from .. import __version__
from .checkpoint import SAFETENSORS_SUFFIX, load_state_dict, save_safetensors
from .lora_keys import convert_lora, summarize_lora

__all__ = ["PRODUCER", "cached_comfy_lora", "conversion_stamp", "lora_metadata"]

PRODUCER = f"reco_core {__version__}"


def lora_metadata(key_style: str, ranks: Iterable[int], **fields: str) -> dict[str, str]:
    """Metadata of a LoRA file we write: the key layout, the rank(s), plus the writer's own ``reco_*`` fields.

    "format": "pt" is the safetensors convention other loaders check; the key layout has its own field.
    """
    return {"format": "pt", "reco_key_style": key_style, "reco_rank": ",".join(str(rank) for rank in ranks),
            **fields}


def conversion_stamp(name: str, size: int, mtime_ns: int) -> dict[str, str]:
    """What a cached conversion must record to stand for source ``name`` of that size and modification time."""
    return {"reco_source": name, "reco_source_size": str(size), "reco_source_mtime_ns": str(mtime_ns),
            "reco_converted_by": PRODUCER}


def cached_comfy_lora(source: str | os.PathLike[str], cache: Path, stamp: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """ComfyUI-keyed LoRA tensors of ``source``, read from ``cache`` when its stamp matches, else converted.

    A conversion is written to ``cache`` unless the source already is a ComfyUI-layout safetensors file; when the
    folder is not writable the tensors are still returned (from memory) and a warning is logged.
    """
    if _is_current(cache, stamp):
        return load_state_dict(cache)
    state_dict = load_state_dict(source)
    summary = summarize_lora(state_dict)
    lora = convert_lora(state_dict, to="comfy")
    logging.info("ReCo LoRA %s: %s", stamp.get("reco_source", source), summary)
    if summary.style != "comfy" or not str(source).lower().endswith(SAFETENSORS_SUFFIX):
        metadata = lora_metadata("comfy", summary.ranks, reco_source_key_style=summary.style, **stamp)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_safetensors(lora, cache, metadata)
        except OSError as error:
            logging.warning("ReCo LoRA %s: cannot write the converted copy %s (%s); using it from memory.",
                            stamp.get("reco_source", source), cache, error)
    return lora


def _is_current(cache: Path, stamp: Mapping[str, str]) -> bool:
    if not cache.is_file():
        return False
    try:
        with safetensors.safe_open(cache, framework="pt") as file:
            metadata = file.metadata() or {}
    except (safetensors.SafetensorError, OSError):
        return False
    return all(metadata.get(key) == value for key, value in stamp.items())
