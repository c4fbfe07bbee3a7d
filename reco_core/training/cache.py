"""An on-disk cache of the tensors a training row needs, keyed by what they were computed from.

Encoding a pair of 81-frame clips with the Wan VAE costs more than a training step of the LoRA, and every epoch would
repeat it. Entries are safetensors files named by a sha256 over the inputs' bytes and every setting that changes the
result (canvas spec, codec identity, mask dilation, the cache format version), so an edited video, another VAE or a
new canvas size can never be served a stale latent; nothing is ever invalidated by hand. Files are written atomically,
so a crash mid-write leaves no entry that a later run would trust; an entry that still fails to load is recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import safetensors.torch
import torch

from ..weights.checkpoint import save_safetensors

# Bump when what an entry holds or how it is computed changes, so old entries stop matching.
CACHE_FORMAT_VERSION = 1
# Bytes read at a time while hashing, so a large video never sits in memory whole.
HASH_CHUNK = 1 << 20

Tensors = dict[str, torch.Tensor]


def file_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes; remembered per (path, size, mtime) so each epoch does not re-read every video."""
    stat = os.stat(path)
    return _digest(os.path.abspath(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=65536)
def _digest(path: str, _size: int, _mtime_ns: int) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def cache_key(parts: Mapping[str, object]) -> str:
    """sha256 of the JSON of ``parts`` (sorted keys) together with the cache format version."""
    payload = json.dumps({"cache_format": CACHE_FORMAT_VERSION, **parts}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class TensorCache:
    """A folder of ``<key[:2]>/<key>.safetensors`` entries (the two-letter level keeps folders small for big sets)."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.safetensors"

    def get_or_compute(self, key: str, compute: Callable[[], Tensors]) -> Tensors:
        """The entry for ``key``; on a miss (or an unreadable entry) ``compute()`` is stored and returned."""
        path = self.path(key)
        if path.is_file():
            try:
                return safetensors.torch.load_file(path, device="cpu")
            except (safetensors.SafetensorError, OSError):
                pass  # a damaged entry is a miss; the fresh one below replaces it
        tensors = {name: tensor.detach().cpu() for name, tensor in compute().items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        save_safetensors(tensors, path)
        return tensors
