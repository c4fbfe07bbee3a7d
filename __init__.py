"""ComfyUI entry point for the ReCo video editing nodes; the node code lives in nodes/, the method in reco_core/."""

from .nodes import comfy_entrypoint

WEB_DIRECTORY = "./web"
__all__ = ["comfy_entrypoint", "WEB_DIRECTORY"]
