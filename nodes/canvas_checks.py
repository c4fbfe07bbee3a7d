"""Whether a canvas of the requested size can be made, checked before any of it is allocated.

ReCoCanvas and ReCoTrainLoRA both take width, height and length. Beyond the canvas rules (multiples of 16, 4n+1
frames), the canvas must fit in memory: it is laid out as float32 frames, several copies at once (the control video,
its inactive and reactive parts, the mask). Each input is within its own max, but the three maxima together ask for
about a terabyte, and the operating system would kill the server halfway instead of the node answering. Only those
copies are counted (the VAE needs more on top), so a canvas refused for memory could never have been made.
"""

from __future__ import annotations

import psutil

from ..reco_core.canvas import CanvasSpec

# float32 values per canvas pixel held at once: control, inactive and reactive frames (RGB each) and the mask.
CANVAS_FLOATS_PER_PIXEL = 3 * 3 + 1
FLOAT_BYTES = 4


def canvas_size_problem(width: int, height: int, length: int) -> str | None:
    """A message naming the inputs when no canvas of `length` frames, `height` x (2 x `width`), can be made."""
    try:
        CanvasSpec(half_width=width, height=height, length=length)
    except ValueError as error:
        return str(error).replace("CanvasSpec.half_width", "width").replace("CanvasSpec.", "")
    needed = length * height * 2 * width * CANVAS_FLOATS_PER_PIXEL * FLOAT_BYTES
    available = psutil.virtual_memory().available
    if needed <= available:
        return None
    return (f"width, height, length: a {2 * width}x{height} canvas of {length} frames needs at least "
            f"{needed / 2**30:.1f} GiB of memory and {available / 2**30:.1f} GiB is free; lower width, height or "
            "length (ReCo works at 832 x 480 per half, 81 frames).")
