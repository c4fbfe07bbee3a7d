"""Read and write weight files without ever running code from them.

ReCo's released LoRAs are torch pickles (``.ckpt``). Unpickling can execute arbitrary code, so this module only ever
calls ``torch.load(..., weights_only=True)``: torch's restricted unpickler that rebuilds tensors and plain containers
and rejects everything else. A file that needs more than that is refused with an explanation, never retried unsafely.
What we write is safetensors (no code, memory-mappable), through a temp file and ``os.replace`` so that a crash or a
full disk never leaves a half-written file where ComfyUI's loaders would pick it up.
"""

from __future__ import annotations

import os
import pickle
import re
import secrets
from collections.abc import Mapping
from pathlib import Path

import safetensors
import safetensors.torch
import torch

__all__ = ["PICKLE_SUFFIXES", "SAFETENSORS_SUFFIX", "WeightFileError", "load_state_dict", "save_safetensors"]

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"

# Containers that training frameworks put around the tensors: Lightning ("state_dict"), DeepSpeed ("module"),
# and hand-written checkpoints ("model"). They are unwrapped only when the outer dict is not itself all tensors.
_WRAPPER_KEYS = ("state_dict", "module", "model")

# torch words a refused object two ways: an unknown global, or a global from a module it blocks outright (os, ...).
_UNSAFE_GLOBAL = re.compile(r"(?:Unsupported global|unsupported GLOBAL): GLOBAL (\S+)|unsupported GLOBAL (\S+) whose module")
# torch's refusal text opens with advice to retry with weights_only=False; only the unpickler's own reason is shown.
_UNPICKLER_REASON = re.compile(r"WeightsUnpickler error:\s*(.+)")

_FIX_UNREADABLE = "Re-download or re-export the file"


class WeightFileError(ValueError):
    """A weight file that cannot be used: missing, unsafe, corrupt, of an unknown type, or not a tensor dict."""


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Load a flat ``name -> tensor`` dict from a ``.safetensors`` file or a torch pickle, on the CPU.

    Torch pickles (.ckpt, .pt, .pth, .bin) are read weights-only; a wrapping ``state_dict`` / ``module`` / ``model``
    dict is unwrapped. Raises WeightFileError, whose message names the file and what to do about it.
    """
    file = Path(path)
    if not file.is_file():
        raise WeightFileError(f"weight file not found: {file}. Check the path (and that it is a file, not a folder).")
    suffix = file.suffix.lower()
    if suffix == SAFETENSORS_SUFFIX:
        payload: object = _load_safetensors(file)
    elif suffix in PICKLE_SUFFIXES:
        payload = _unwrap(_load_pickle(file))
    else:
        accepted = ", ".join((SAFETENSORS_SUFFIX, *PICKLE_SUFFIXES))
        raise WeightFileError(f"unsupported weight file type {suffix or '(none)'!r}: {file}. Accepted: {accepted}.")
    return _as_tensor_dict(payload, file)


def save_safetensors(
    state_dict: Mapping[str, torch.Tensor], path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``state_dict`` to ``path`` as safetensors, atomically (temp file in the same folder, then os.replace).

    The temp file lives next to the target so the final rename never crosses file systems. safetensors (0.8)
    writes files private (0600); the mode a plain ``open`` gives under the user's umask is restored, so a LoRA saved
    into a shared models folder stays readable like its neighbours. Tensors are made contiguous and standalone,
    because safetensors refuses strided views and tensors that share storage.
    """
    target = Path(path)
    tensors = {name: _standalone(tensor) for name, tensor in state_dict.items()}
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    with open(tmp, "xb"):  # claims the name, and shows which mode new files get here
        mode = os.stat(tmp).st_mode & 0o777
    try:
        safetensors.torch.save_file(tensors, tmp, metadata=dict(metadata) if metadata else None)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load_safetensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return safetensors.torch.load_file(file, device="cpu")
    except (safetensors.SafetensorError, OSError, ValueError) as err:
        raise WeightFileError(
            f"cannot read {file} as safetensors (corrupt or truncated?): {err}. {_FIX_UNREADABLE}."
        ) from None


def _load_pickle(file: Path) -> object:
    try:
        return torch.load(file, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        unsafe = _UNSAFE_GLOBAL.search(str(err))
        if unsafe:
            raise WeightFileError(
                f"refusing to load {file}: besides tensors it holds the Python object "
                f"{unsafe.group(1) or unsafe.group(2)}, and "
                "unpickling objects can run arbitrary code, so only weights-only loading is allowed. Fix: on a "
                "machine where you trust the file, convert it once to .safetensors (or re-save only its tensors), "
                "or get a .safetensors release of the weights."
            ) from None
        raise WeightFileError(
            f"cannot read {file} as a weights-only PyTorch checkpoint (corrupt, truncated, or not written by "
            f"torch.save): {_reason(err)}. {_FIX_UNREADABLE}, preferably as .safetensors."
        ) from None
    except Exception as err:  # noqa: BLE001
        # Random or damaged bytes make the restricted unpickler fail in many ways (IndexError, KeyError, struct.error,
        # ...); it never runs code, so every failure here means the same thing: the file cannot be read.
        raise WeightFileError(
            f"cannot read {file} as a PyTorch checkpoint (corrupt or truncated?): {_reason(err)}. "
            f"{_FIX_UNREADABLE}, preferably as .safetensors."
        ) from None


def _unwrap(payload: object) -> object:
    """Peel framework wrappers off until a dict of tensors (or something that is not a wrapper) remains."""
    while isinstance(payload, Mapping) and not _all_tensors(payload):
        inner = next((payload[k] for k in _WRAPPER_KEYS if isinstance(payload.get(k), Mapping)), None)
        if inner is None:
            break
        payload = inner
    return payload


def _as_tensor_dict(payload: object, file: Path) -> dict[str, torch.Tensor]:
    if not isinstance(payload, Mapping):
        raise WeightFileError(
            f"{file} holds a {type(payload).__name__}, not a dict of named tensors. Save the weights as a state dict."
        )
    if not payload:
        raise WeightFileError(f"{file} holds no tensors. Check that it is the right file.")
    bad = [(k, v) for k, v in payload.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if bad:
        shown = ", ".join(f"{k!r}: {type(v).__name__}" for k, v in bad[:3])
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise WeightFileError(
            f"{file} holds entries that are not named tensors ({shown}{more}). Save only the weights' state dict."
        )
    return dict(payload)


def _all_tensors(mapping: Mapping[object, object]) -> bool:
    return all(isinstance(v, torch.Tensor) for v in mapping.values())


def _standalone(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.detach().contiguous()
    if tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
        tensor = tensor.clone()
    return tensor


def _reason(err: BaseException) -> str:
    """The one sentence of a loader error worth showing to a user."""
    text = str(err).strip()
    found = _UNPICKLER_REASON.search(text)
    if found:
        return found.group(1).strip()
    return text.split(". ")[0].splitlines()[0] if text else type(err).__name__
