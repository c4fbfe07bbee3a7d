"""Imports ComfyUI's own modules into a test process, for parity tests that compare our code with native code.

Only tests import ComfyUI this way; the package's core never does.
"""

from __future__ import annotations

import sys

from harness.comfy_server import comfyui_dir


def import_comfy(cpu: bool = True):
    """Makes `comfy.*` importable and, by default, CPU-safe (ComfyUI otherwise asks for CUDA at import); returns
    `comfy`. GPU benchmarks pass cpu=False."""
    path = str(comfyui_dir())
    if path not in sys.path:
        sys.path.insert(0, path)
    import comfy.cli_args

    comfy.cli_args.args.cpu = cpu
    import comfy.sd
    import comfy.utils

    return comfy


PACKAGE_NAME = "reco_video_edit_under_test"


def import_package(cpu: bool = True):
    """This repository imported the way ComfyUI imports a custom-node folder (after `import_comfy`)."""
    import importlib.util

    from harness.comfy_server import REPO

    import_comfy(cpu)
    if PACKAGE_NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACKAGE_NAME, REPO / "__init__.py",
                                                      submodule_search_locations=[str(REPO)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[PACKAGE_NAME]
