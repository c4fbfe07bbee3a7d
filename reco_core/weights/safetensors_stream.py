"""Read a safetensors file one tensor at a time, with plain file reads, straight into the dtype and device wanted.

safetensors' own loaders memory-map the file, and every page of a mapping that has been read counts in the process's
resident memory until the file is closed. Loading a 4.3 GB model that way and converting it peaks near twice the
weights (the mapping plus the converted copy), which is what an artist with 16 GB of RAM cannot afford. Reading each
tensor into its own buffer and converting it at once keeps the peak at the converted weights plus one tensor.
The format is simple and fixed: 8 bytes little-endian header length, a JSON header, then the raw tensor bytes.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch

from .checkpoint import WeightFileError

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
_HEADER_LIMIT = 100 * 2**20  # the format's own bound on the JSON header


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies in the file: its stored dtype and shape, and its absolute byte range."""

    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int
    end: int


def read_header(path: str | os.PathLike[str]) -> dict[str, TensorEntry]:
    """Name -> TensorEntry for every tensor of a safetensors file, checked against the file's size."""
    file = Path(path)
    size = file.stat().st_size
    with open(file, "rb") as handle:
        raw_length = handle.read(8)
        length = struct.unpack("<Q", raw_length)[0] if len(raw_length) == 8 else -1
        if not 0 < length <= min(_HEADER_LIMIT, size - 8):
            raise WeightFileError(f"{file} is not a safetensors file (bad header length). Re-download or re-export it.")
        try:
            header = json.loads(handle.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise WeightFileError(f"{file} has a corrupt safetensors header ({err}). Re-download or re-export it.") from None
    header.pop("__metadata__", None)
    entries = {}
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(n) for n in info["shape"])
            begin, end = (8 + length + int(offset) for offset in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise WeightFileError(f"{file}: tensor {name!r} has an unreadable or unsupported header entry "
                                  f"{info!r}. Re-export the file with a current safetensors.") from None
        expected = _numel(shape) * dtype.itemsize
        if end - begin != expected or begin < 8 + length or end > size:
            raise WeightFileError(f"{file}: tensor {name!r} lies outside the file or has the wrong byte size "
                                  "(truncated download?). Re-download or re-export it.")
        entries[name] = TensorEntry(dtype, shape, begin, end)
    return entries


def read_tensor(handle: BinaryIO, entry: TensorEntry, dtype: torch.dtype | None = None,
                device: torch.device | str = "cpu", scratch: torch.Tensor | None = None) -> torch.Tensor:
    """One tensor read from an open file, then converted to ``dtype`` on ``device``.

    With the stored dtype on the CPU the tensor is read into its own new buffer and returned. Otherwise it is read
    into ``scratch`` (uint8, at least the tensor's bytes; see :func:`scratch_for`) when given: one reused buffer
    instead of a freed one per tensor, whose holes would keep the process's resident memory high.
    """
    keep = (dtype is None or dtype == entry.dtype) and torch.device(device).type == "cpu"
    if scratch is None or keep:
        buffer = torch.empty(entry.shape, dtype=entry.dtype)
    else:
        buffer = scratch[: entry.end - entry.start].view(entry.dtype).view(entry.shape)
    handle.seek(entry.start)
    view = memoryview(buffer.reshape(-1).view(torch.uint8).numpy())
    if handle.readinto(view) != entry.end - entry.start:
        raise WeightFileError(f"{getattr(handle, 'name', 'file')} ended inside a tensor (truncated download?).")
    return buffer.to(device=device, dtype=dtype or entry.dtype)


def scratch_for(entries: dict[str, TensorEntry]) -> torch.Tensor:
    """A reusable read buffer big enough for the largest tensor of a file."""
    return torch.empty(max((e.end - e.start for e in entries.values()), default=0), dtype=torch.uint8)


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count
