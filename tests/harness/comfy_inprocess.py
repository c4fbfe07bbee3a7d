"""Imports ComfyUI's own modules into a test process, for parity tests that compare our code with native code.

Only tests import ComfyUI this way; the package's core never does.
"""

from __future__ import annotations

import sys

from harness.comfy_server import comfyui_dir


def import_comfy():
    """Makes `comfy.*` importable and CPU-safe (ComfyUI otherwise asks for CUDA at import); returns `comfy`."""
    path = str(comfyui_dir())
    if path not in sys.path:
        sys.path.insert(0, path)
    import comfy.cli_args

    comfy.cli_args.args.cpu = True
    import comfy.sd
    import comfy.utils

    return comfy
