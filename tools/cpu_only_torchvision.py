"""Test-environment fix for CPU-only machines: lets `import torchvision` succeed without CUDA libraries.

The index has no CPU build of torchvision 0.28. Its compiled ops need CUDA libraries, so they never register, and
torchvision's own Python fallbacks then fail with "operator torchvision::nms does not exist". Declaring the two ops
(schema only) before torchvision is imported is enough; nothing here calls them. `tools/setup_env.py` installs this
module with a `.pth` line into `.venv` only where CUDA is absent. It adds an import hook instead of importing torch at
interpreter start, so Python processes that never touch torchvision pay nothing.
"""

from __future__ import annotations

import importlib.abc
import sys

_declared = []


def _declare_ops() -> None:
    import torch

    library = torch.library.Library("torchvision", "DEF")
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _declared.append(library)  # the Library object must stay alive or the definitions are dropped


class _BeforeTorchvision(importlib.abc.MetaPathFinder):
    """Runs once, the first time `torchvision` is looked up, then gets out of the way."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision" and not _declared:
            sys.meta_path.remove(self)
            _declare_ops()
        return None


def install() -> None:
    sys.meta_path.insert(0, _BeforeTorchvision())
