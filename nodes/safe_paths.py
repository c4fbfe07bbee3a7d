"""Keeps every file a node input names inside ComfyUI's own folders.

A workflow is shared text: a file name in it may hold `../`, an absolute path or lead through a symlink. Each name is
resolved by reco_core.paths.resolve_inside (the rule the dataset manifest uses too) and must land inside the folder it
was meant for, or the node refuses it.
"""

from __future__ import annotations

from pathlib import Path

from ..reco_core.paths import resolve_inside

__all__ = ["files_with_suffix", "resolve_inside"]


def files_with_suffix(folder: str | Path, suffix: str) -> list[str]:
    """Relative names of the files under `folder` (subfolders included) ending in `suffix`, sorted, for a combo."""
    base = Path(folder)
    if not base.is_dir():
        return []
    return sorted(str(path.relative_to(base)) for path in base.rglob(f"*{suffix}") if path.is_file())
