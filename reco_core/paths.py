"""The one rule for a file name that must stay inside a folder: node inputs, dataset manifests, caches.

Names come from shared text (workflows, manifests) and may hold `..`, an absolute path or a symlink that leads out.
The name is resolved with symlinks followed and must land inside the folder's own real path, so nothing that a
workflow or a manifest names can reach a file outside the folder it was meant for, however it is written. (A dataset
whose videos live elsewhere is linked as a whole folder, which resolves as the folder itself.)
"""

from __future__ import annotations

import os
from pathlib import Path


def resolve_inside(folder: str | os.PathLike[str], name: str, what: str = "", folder_label: str | None = None) -> Path:
    """The real path of ``name`` under ``folder``; a ValueError naming ``what`` when it would leave the folder.

    ``folder_label`` is how the message calls the folder (default: its real path).
    """
    base = Path(folder).resolve()
    candidate = (base / name).resolve()
    if candidate != base and base not in candidate.parents:
        prefix = f"{what}: " if what else ""
        raise ValueError(f"{prefix}'{name}' points outside {folder_label or base}; choose a file inside that folder.")
    return candidate
