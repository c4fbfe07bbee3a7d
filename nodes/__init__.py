"""ComfyUI adapters for ReCo. Every ComfyUI import of the package lives in this folder."""

from __future__ import annotations

import comfy.model_management
from comfy_api.latest import ComfyExtension, io

from ..reco_core.interruption import install_check
from .canvas_node import ReCoCanvas
from .conditioning_files import ReCoLoadConditioning, ReCoSaveConditioning
from .lora_loader import ReCoLoRALoader
from .region_preview_node import ReCoRegionPreview
from .sampler_node import ReCoSampler
from .split_node import ReCoSplit
from .train_lora_node import ReCoTrainLoRA
from .load_video_node import ReCoLoadVideo
from .video_out_node import ReCoCreateVideo
from .toy_text_node import ReCoToyTextEncode
from .region_instructions_node import ReCoRegionInstructions
from .windowed_edit_node import ReCoWindowedEdit


class ReCoExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [ReCoLoRALoader, ReCoCanvas, ReCoSampler, ReCoSplit, ReCoRegionPreview, ReCoTrainLoRA,
                ReCoSaveConditioning, ReCoLoadConditioning, ReCoLoadVideo, ReCoCreateVideo,
                ReCoToyTextEncode, ReCoRegionInstructions, ReCoWindowedEdit]


async def comfy_entrypoint() -> ReCoExtension:
    # ComfyUI's cancel button also stops reco_core's long loops (video decoding, dataset checks, training).
    install_check(comfy.model_management.throw_exception_if_processing_interrupted)
    return ReCoExtension()
