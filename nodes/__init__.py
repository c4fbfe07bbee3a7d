"""ComfyUI adapters for ReCo. Every ComfyUI import of the package lives in this folder."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .canvas_node import ReCoCanvas
from .conditioning_files import ReCoLoadConditioning, ReCoSaveConditioning
from .lora_loader import ReCoLoRALoader
from .region_preview_node import ReCoRegionPreview
from .sampler_node import ReCoSampler
from .split_node import ReCoSplit
from .train_lora_node import ReCoTrainLoRA
from .toy_text_node import ReCoToyTextEncode


class ReCoExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [ReCoLoRALoader, ReCoCanvas, ReCoSampler, ReCoSplit, ReCoRegionPreview, ReCoTrainLoRA,
                ReCoSaveConditioning, ReCoLoadConditioning, ReCoToyTextEncode]


async def comfy_entrypoint() -> ReCoExtension:
    return ReCoExtension()
