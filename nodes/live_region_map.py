"""Streams ReCoSampler's per-step region map to the browser, so an artist sees where the edit forms while it samples.

Each message is the websocket event "reco.region_map" with a small colorized PNG of every latent frame of the map
(base64, so no temp files pile up), sent only to the client that queued the prompt: a headless queue (no client id)
or a process without a server gets nothing and sampling is unaffected. Messages are throttled to about four a second;
the last step is always sent, so the widget ends on the map the node outputs.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import torch

from ..reco_core.preview.overlay import colorize
from ..reco_core.preview.sprite_sheet import plan_sheet, shrink_frames, tile_frames
from .preview_png import png_bytes
from .prompt_server import server_instance

EVENT = "reco.region_map"
MIN_INTERVAL_S = 0.25
FRAME_WIDTH = 64  # px per latent frame: the latent grid is coarse (832 px -> 104 cells), the widget is small
COLORMAP = "inferno"


class LiveRegionMap:
    """Called with (step, total, map) by a sampler callback; sends when a client listens and the throttle allows."""

    def __init__(self, node_id: str | None, clock: Callable[[], float] = time.monotonic):
        self.server = server_instance()
        self.client_id = getattr(self.server, "client_id", None)
        self.node_id = node_id
        self.clock = clock
        self.last_sent = -float("inf")

    def __call__(self, step: int, total: int, region: torch.Tensor) -> None:
        """``step`` is 0-based as in ComfyUI's callback; ``region`` is one (T, h, w) map in [0, 1]."""
        if self.client_id is None or self.node_id is None or not self.due(step, total):
            return
        self.server.send_sync(EVENT, self.message(step, total, region), self.client_id)

    def due(self, step: int, total: int) -> bool:
        """Whether this step goes out: the last step always, the others at most once per MIN_INTERVAL_S."""
        now = self.clock()
        if step + 1 < total and now - self.last_sent < MIN_INTERVAL_S:
            return False
        self.last_sent = now
        return True

    def message(self, step: int, total: int, region: torch.Tensor) -> dict:
        layout = plan_sheet(region.shape[0], region.shape[1], region.shape[2], max_frame_width=FRAME_WIDTH)
        cells = shrink_frames(region.float().unsqueeze(-1), layout)[..., 0]
        sheet = tile_frames(colorize(cells, COLORMAP), layout)
        return {
            "node": self.node_id, "prompt_id": getattr(self.server, "last_prompt_id", None),
            "step": step + 1, "total": total,
            "frames": layout.frames, "columns": layout.columns,
            "frame_width": layout.frame_width, "frame_height": layout.frame_height,
            "image": base64.b64encode(png_bytes(sheet)).decode("ascii"),
        }
