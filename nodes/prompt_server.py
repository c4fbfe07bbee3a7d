"""The running ComfyUI server, if any: in-process tests and scripts import the nodes without one, and then nothing is
sent to a browser while the nodes work as usual."""

from __future__ import annotations


def server_instance():
    try:
        from server import PromptServer
    except ImportError:
        return None
    return PromptServer.instance
