"""ComfyUI adapters for ReCo. Every ComfyUI import of the package lives in this folder."""

from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from .conditioning_files import ReCoLoadConditioning, ReCoSaveConditioning


class ReCoExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [ReCoSaveConditioning, ReCoLoadConditioning]


async def comfy_entrypoint() -> ReCoExtension:
    return ReCoExtension()
