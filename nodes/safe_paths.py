"""Keeps every file a node input names inside ComfyUI's own folders.

A workflow is shared text: a file name in it may hold `../`, an absolute path or lead through a symlink. Names the
file system would choke on (empty, control characters such as NUL or newline, text that is not valid Unicode, longer
than a file system allows) are refused first, with a message naming the input instead of an OSError from deep inside;
then the name is resolved by reco_core.paths.resolve_inside (the rule the dataset manifest uses too) and must land
inside the folder it was meant for, or the node refuses it.
"""

from __future__ import annotations

from pathlib import Path

from ..reco_core import paths

# Linux and macOS file systems allow 255 bytes per path component and 4096 per path.
MAX_COMPONENT_BYTES = 255
MAX_PATH_BYTES = 4096


def resolve_inside(folder: str | Path, name: str, input_name: str) -> Path:
    """The real path of `name` under `folder`; a ValueError naming the input when it is no file name or leaves it."""
    check_name(name, input_name)
    return paths.resolve_inside(folder, name, input_name)


def check_name(name: object, input_name: str) -> None:
    """A ValueError naming the input when `name` is not a name a file could have."""
    if not isinstance(name, str):
        raise ValueError(f"{input_name}: expected a file or folder name, got {type(name).__name__}.")
    if not name.strip():
        raise ValueError(f"{input_name}: the name is empty; enter a file or folder name.")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ValueError(f"{input_name}: {name!r:.80} contains a control character (NUL, newline, tab, ...); "
                         "use a name without them.")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{input_name}: {name!r:.80} is not valid Unicode text; retype the name.") from None
    if len(encoded) > MAX_PATH_BYTES or any(len(part) > MAX_COMPONENT_BYTES for part in encoded.split(b"/")):
        raise ValueError(f"{input_name}: the name is {len(encoded)} bytes long; file systems allow "
                         f"{MAX_COMPONENT_BYTES} per folder or file name and {MAX_PATH_BYTES} in all.")


def files_with_suffix(folder: str | Path, suffix: str) -> list[str]:
    """Relative names of the files under `folder` (subfolders included) ending in `suffix`, sorted, for a combo."""
    base = Path(folder)
    if not base.is_dir():
        return []
    return sorted(str(path.relative_to(base)) for path in base.rglob(f"*{suffix}") if path.is_file())
