"""The RECO_CANVAS socket: how a source clip was laid on the canvas, so later nodes can map results back."""

from __future__ import annotations

from dataclasses import dataclass

from comfy_api.latest import io

from ..reco_core.canvas import CanvasGeometry

CanvasInfo = io.Custom("RECO_CANVAS")
# Key under which ReCoCanvas also stores the layout in its LATENT (KSampler and ReCoSampler copy extra keys along),
# so ReCoSampler finds it without an extra wire.
LATENT_KEY = "reco_canvas"


@dataclass(frozen=True)
class CanvasLayout:
    geometry: CanvasGeometry
    trim: int  # leading latent frames that are not video (the reference frame), dropped after sampling
