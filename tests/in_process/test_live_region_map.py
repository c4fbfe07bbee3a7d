"""ReCoSampler's live region map: which steps are sent (throttle) and what one message holds."""

from __future__ import annotations

import base64
import importlib
import io

import pytest
import torch
from PIL import Image

from harness.comfy_inprocess import PACKAGE_NAME, import_package


@pytest.fixture(scope="module")
def live():
    import_package()
    return importlib.import_module(f"{PACKAGE_NAME}.nodes.live_region_map")


def test_steps_are_throttled_and_the_last_step_always_goes_out(live):
    now = [0.0]
    stream = live.LiveRegionMap("5", clock=lambda: now[0])
    sent = []
    for step in range(10):
        now[0] = step * 0.1  # ten steps a second
        if stream.due(step, 10):
            sent.append(step)
    assert sent == [0, 3, 6, 9]


def test_without_a_server_nothing_is_sent_and_nothing_fails(live):
    stream = live.LiveRegionMap("5")
    assert stream.client_id is None
    stream(0, 1, torch.rand(3, 4, 6))


def test_a_message_is_a_colorized_png_of_every_latent_frame(live):
    region = torch.zeros(3, 60, 104)
    region[1, 10:20, 30:50] = 1.0
    message = live.LiveRegionMap("12:5").message(step=4, total=50, region=region)
    assert {key: message[key] for key in ("node", "step", "total", "frames", "frame_width")} == {
        "node": "12:5", "step": 5, "total": 50, "frames": 3, "frame_width": live.FRAME_WIDTH}
    with Image.open(io.BytesIO(base64.b64decode(message["image"]))) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.size == (message["columns"] * message["frame_width"],
                              -(-3 // message["columns"]) * message["frame_height"])
