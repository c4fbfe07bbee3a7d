"""Local file names in a manifest must stay inside the manifest's folder, and values sent to a server must not name
paths outside ComfyUI's folders.

A manifest is shared text like a workflow: a row could name `/etc/passwd`, `../../secrets` or a symlink that leads out
of the folder. The client refuses all three before anything is uploaded; the nodes on the server check again.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath


def file_in_folder(folder: Path, name: str) -> Path:
    """The file ``name`` (relative to ``folder``) resolved through symlinks; a ValueError if it leaves the folder."""
    if looks_absolute(name):
        raise ValueError(f"'{name}' is an absolute path; give a path relative to the manifest's folder")
    root = folder.resolve()
    written = Path(os.path.normpath(root / name))
    if os.path.commonpath([root, written]) != str(root):
        raise ValueError(f"'{name}' points outside the manifest's folder ({root}); keep the files inside it")
    real = written.resolve()
    if os.path.commonpath([root, real]) != str(root):
        raise ValueError(f"'{name}' is a symlink that leads outside the manifest's folder ({root}) to {real}")
    if not real.is_file():
        raise ValueError(f"'{name}' does not exist in {root}")
    return real


def looks_absolute(value: str) -> bool:
    """True for POSIX and Windows absolute paths (a server may run on either)."""
    return PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute() or value.startswith("\\")


def escapes_folder(value: str) -> bool:
    """True when a value sent to a server would address a file outside the folder it is resolved in."""
    parts = value.replace("\\", "/").split("/")
    return looks_absolute(value) or ".." in parts
