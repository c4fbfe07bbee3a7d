"""TorchCompileModel under ReCoSampler's region constraint: the constrained run samples uncompiled, and says so.

TorchCompileModel wraps the model's apply_model in a torch.compile'd diffusion model. The region hook is Python that
decides per call and per step (the constraint's step range, a data-dependent row set), so a compiled graph would
either break at every attention or recompile every step; and on this project's CPU test machine a compile takes
minutes, so no such run is tested. Instead ReCoSampler removes the compile wrapper from its own clone of the MODEL
while a constraint is on (the artist's MODEL keeps it), which runs the same weights and options eagerly, and reports
that in its output text and the log. With region_mode "off" nothing is removed: ReCoSampler is then KSampler's path.
"""

from __future__ import annotations

import logging

from comfy.patcher_extension import WrappersMP
from comfy_api.torch_helpers.torch_compile import COMPILE_KEY

logger = logging.getLogger(__name__)

COMPILE_BYPASSED = ("TorchCompileModel: the region constraint runs on the uncompiled model (its attention hook "
                    "cannot be compiled); set region_mode to off to sample the compiled model.")


def bypass_torch_compile(patcher) -> str | None:
    """Remove TorchCompileModel's wrapper from ``patcher`` (a clone ReCoSampler owns); the message, or None when the
    model was not compiled."""
    if not patcher.get_wrappers(WrappersMP.APPLY_MODEL, COMPILE_KEY):
        return None
    patcher.remove_wrappers_with_key(WrappersMP.APPLY_MODEL, COMPILE_KEY)
    logger.warning("ReCoSampler: %s", COMPILE_BYPASSED)
    return COMPILE_BYPASSED
