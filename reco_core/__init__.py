"""ReCo core: the in-context video editing method without ComfyUI.

Everything that is math, I/O or training lives here so that the ComfyUI nodes, the headless CLI and the trainer share
one implementation. This package must never import ComfyUI; its submodules use relative imports so it works both as
the top-level ``reco_core`` package and as a subpackage of the custom-node folder inside ComfyUI.
"""

__version__ = "0.1.0"
