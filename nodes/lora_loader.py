"""ReCoLoRALoader: apply a ReCo LoRA (the released pickled .ckpt, or any accepted layout) to a native Wan2.1-VACE MODEL.

ReCo ships its LoRAs as torch pickles with PEFT keys, which ComfyUI's own LoraLoaderModelOnly neither reads safely nor
maps onto the model. This node reads the file weights-only, renames the keys to ComfyUI's form and then hands the
tensors to ComfyUI's own LoRA machinery (`comfy.sd.load_lora_for_models`), so the result is exactly what the native
loader computes from a converted file.

Conversion cache: a converted copy is written once as safetensors to `<first loras folder>/reco_converted/<name>`.
It lives in a loras folder so native LoraLoaderModelOnly (and any other workflow) can pick it up without this package,
and later sessions skip unpickling and renaming. The cache rule itself (reused only while its metadata names the same
source file, size, modification time and converter version; rewritten atomically otherwise; no copy of a source that
already is a ComfyUI-layout safetensors file) is reco_core.weights.lora_files. When the folder is
not writable the node still works, from memory only. In memory, the last converted LoRA is kept, as the native loader
keeps its last file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path

import comfy.lora
import comfy.sd
import folder_paths
import torch
from comfy_api.latest import io

from ..reco_core.weights.checkpoint import PICKLE_SUFFIXES, SAFETENSORS_SUFFIX, WeightFileError
from ..reco_core.weights.lora_files import cached_comfy_lora, conversion_stamp
from ..reco_core.weights.lora_keys import LoraKeyError
from .input_checks import check_inputs, widget_problem
from .model_checks import require_vace_model
from .safe_paths import resolve_inside

CACHE_FOLDER = "reco_converted"
ACCEPTED_SUFFIXES = (SAFETENSORS_SUFFIX, *PICKLE_SUFFIXES)
_DOWN, _UP = ".lora_A.weight", ".lora_B.weight"
_SHOWN = 3


def lora_files() -> list[str]:
    """The combo's choices: LoRA files in every loras folder that can be read safely, without the conversion cache."""
    return [
        name for name in folder_paths.get_filename_list("loras")
        if name.lower().endswith(ACCEPTED_SUFFIXES) and Path(name).parts[0] != CACHE_FOLDER
    ]


class ReCoLoRALoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoLoRALoader",
            display_name="ReCo LoRA Loader",
            category="ReCo",
            description="Applies a ReCo LoRA to a Wan2.1-VACE model, DiT and VACE blocks alike. Reads the released "
            ".ckpt files safely (weights only, no code runs), converts their keys for ComfyUI and keeps a "
            "safetensors copy in loras/reco_converted/ that the native LoRA loader can also use.",
            inputs=[
                io.Model.Input(
                    "model", tooltip="A Wan2.1-VACE diffusion model (UNETLoader with "
                    "wan2.1_vace_1.3B_fp16.safetensors). A T2V or I2V Wan model lacks the VACE blocks ReCo needs.",
                ),
                io.Combo.Input(
                    "lora_name", options=lora_files(),
                    tooltip="A ReCo LoRA in ComfyUI's loras folder: the released .ckpt (read weights-only) or a "
                    ".safetensors file with ReCo/PEFT, ComfyUI or diffusers key names.",
                ),
                io.Float.Input(
                    "strength", default=1.0, min=-2.0, max=2.0, step=0.01,
                    tooltip="How strongly the LoRA changes the model; 1.0 is what ReCo was trained for.",
                ),
            ],
            outputs=[io.Model.Output(tooltip="The model with the LoRA applied; the input model is left unchanged.")],
        )

    @classmethod
    def validate_inputs(cls, lora_name: str | None = None, strength: float | None = None) -> bool | str:
        if isinstance(lora_name, str):  # a name outside the list gets the fix first, the generic check after
            try:
                _source_path(lora_name)
            except ValueError as error:
                return str(error)
        return widget_problem(cls, lora_name=lora_name, strength=strength) or True

    @classmethod
    def fingerprint_inputs(cls, lora_name: str, **_other_inputs: object) -> str:
        """Re-run when the file is replaced under the same name (the native loader would keep the old weights)."""
        path = folder_paths.get_full_path("loras", lora_name) if isinstance(lora_name, str) else None
        if path is None:
            return ""
        stat = os.stat(path)
        return f"{stat.st_size}:{stat.st_mtime_ns}"

    @classmethod
    def execute(cls, model, lora_name: str, strength: float) -> io.NodeOutput:
        check_inputs(cls, locals())
        require_vace_model(model)
        path = _source_path(lora_name)
        stat = os.stat(path)
        try:
            lora = _converted_lora(path, _normalized(lora_name), stat.st_size, stat.st_mtime_ns)
        except WeightFileError as error:
            raise ValueError(f"lora_name: {error}") from None
        except LoraKeyError as error:
            raise ValueError(f"lora_name: '{lora_name}' is not a LoRA for Wan2.1-VACE: {error}") from None
        _require_fit(model, lora, lora_name)
        patched, _ = comfy.sd.load_lora_for_models(model, None, lora, strength, 0)
        return io.NodeOutput(patched)


def _source_path(lora_name: str) -> str:
    """The file a LoRA name stands for; folder_paths keeps it inside the loras folders whatever the name holds."""
    if not lora_name.lower().endswith(ACCEPTED_SUFFIXES):
        raise ValueError(
            f"lora_name: '{lora_name}' is not a {', '.join(ACCEPTED_SUFFIXES)} file; choose a LoRA file of those types."
        )
    path = folder_paths.get_full_path("loras", lora_name)
    if path is None:
        raise ValueError(f"lora_name: '{lora_name}' is not in ComfyUI's loras folder; put the LoRA file there.")
    return path


def _require_fit(model, lora: Mapping[str, torch.Tensor], lora_name: str) -> None:
    """Refuse a LoRA whose layers the model lacks or has in other shapes.

    ComfyUI skips LoRA keys it cannot place and logs shape mismatches without failing, so a LoRA made for another
    model would "load" and silently do nothing to those layers.
    """
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    weights = model.model.state_dict()
    missing: list[str] = []
    misshaped: list[str] = []
    for key, down in lora.items():
        if not key.endswith(_DOWN):
            continue
        module = key[: -len(_DOWN)]
        up = lora[module + _UP]
        shown = module.removeprefix("diffusion_model.")
        target = key_map.get(module)
        if target is None:
            missing.append(shown)
        elif tuple(weights[target].shape) != (up.shape[0], down.shape[1]):
            out_features, in_features = weights[target].shape[:2]
            misshaped.append(f"{shown}: LoRA {up.shape[0]}x{down.shape[1]}, model {out_features}x{in_features}")
    layers = sum(key.endswith(_DOWN) for key in lora)
    fix = "Use it with the Wan2.1-VACE model it was trained for (ReCo: Wan2.1-VACE 1.3B)."
    if missing:
        raise ValueError(
            f"lora_name: '{lora_name}' adapts {len(missing)} of {layers} layers that this model does not have "
            f"({_examples(missing)}); ComfyUI would skip them silently. {fix}"
        )
    if misshaped:
        raise ValueError(
            f"lora_name: '{lora_name}' does not match this model's layer sizes in {len(misshaped)} of {layers} "
            f"layers ({_examples(misshaped)}): it was made for another model size. {fix}"
        )


@functools.lru_cache(maxsize=1)
def _converted_lora(path: str, name: str, size: int, mtime_ns: int) -> dict[str, torch.Tensor]:
    """ComfyUI-keyed LoRA tensors of the source at `path`, via the on-disk cache when it is current.

    Size and mtime are arguments so that a replaced source misses this in-memory cache as well.
    """
    return cached_comfy_lora(path, _cache_path(name), conversion_stamp(name, size, mtime_ns))


def _cache_path(name: str) -> Path:
    root = Path(folder_paths.get_folder_paths("loras")[0]) / CACHE_FOLDER
    return resolve_inside(root, str(Path(name).with_suffix(SAFETENSORS_SUFFIX)), "lora_name")


def _normalized(lora_name: str) -> str:
    """The name as folder_paths resolves it: relative, without `..` or a leading `/`."""
    return os.path.relpath(os.path.join("/", lora_name), "/")


def _examples(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more
