"""The shipped toy model (assets/toy/) in a test server's folders, installed by set-up's own function.

Server and browser tests run ComfyUI on a base folder of their own; the toy workflow needs the toy files in its model
folders and the demo clip in its input folder, exactly where `make run` puts them for an artist.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from harness.comfy_server import REPO


def load_tool(name: str) -> ModuleType:
    """tools/ is not a package; load one of its scripts from its file, once per session."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_setup_env() -> ModuleType:
    """Set-up's script (it needs only the standard library)."""
    return load_tool("setup_env")


def install_toy_assets(base: Path) -> list[Path]:
    """Copy the toy files into a ComfyUI base folder (models/ may be a link to another tree); returns what was written."""
    setup_env = load_setup_env()
    return setup_env.install_toy_files(setup_env.TOY_ASSETS, base, base / "toy-files.json")


def require_toy_assets() -> None:
    """Fail at once, saying what to do, when a shipped toy file is missing (instead of a run failing far downstream)."""
    setup_env = load_setup_env()
    missing = [name for name in setup_env.TOY_FILES if not (setup_env.TOY_ASSETS / name).is_file()]
    assert not missing, (f"{setup_env.TOY_ASSETS} lacks {missing}: the toy model ships in the repository; "
                         "rebuild it with tools/build_toy.py")
