"""Lets reco_core's long loops stop when the host application asks, without reco_core knowing the host.

Decoding a long video, checking a large dataset or training can run for minutes. Inside ComfyUI the cancel button must
stop them, but reco_core never imports ComfyUI: the ComfyUI adapters install ComfyUI's own check once
(`install_check`), and the loops call `check_interrupted()`, which raises whatever that check raises. ComfyUI's
interrupt flag is process-wide, so one process-wide check matches it. Without a host (the CLI, core tests) nothing is
installed, `check_interrupted()` does nothing and Ctrl-C works as usual.
"""

from __future__ import annotations

from collections.abc import Callable

_check: Callable[[], None] | None = None


def install_check(check: Callable[[], None] | None) -> None:
    """Make `check_interrupted()` call `check` (which raises to stop the work) from now on, in this process; None
    removes it."""
    global _check
    _check = check


def check_interrupted() -> None:
    """Raise if the host asked to stop; a no-op when no host installed a check."""
    if _check is not None:
        _check()
