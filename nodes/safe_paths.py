"""Keeps every file a node input names inside ComfyUI's own folders.

A workflow is shared text: a file name in it may hold `../` or an absolute path. Each name is resolved and must land
inside the folder it was meant for, or the node refuses it.
"""

from __future__ import annotations

from pathlib import Path


def resolve_inside(folder: str | Path, name: str, input_name: str) -> Path:
    """The real path of `name` under `folder`; a ValueError naming the input when it would leave the folder."""
    base = Path(folder).resolve()
    candidate = (base / name).resolve()
    if candidate != base and base not in candidate.parents:
        raise ValueError(f"{input_name}: '{name}' points outside {base}; choose a file inside that folder.")
    return candidate


def files_with_suffix(folder: str | Path, suffix: str) -> list[str]:
    """Relative names of the files under `folder` (subfolders included) ending in `suffix`, sorted, for a combo."""
    base = Path(folder)
    if not base.is_dir():
        return []
    return sorted(str(path.relative_to(base)) for path in base.rglob(f"*{suffix}") if path.is_file())
