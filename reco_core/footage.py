"""How a source clip maps onto one ReCo edit and back: the rule every path (nodes and CLI) follows.

The rule, written once:
- Frames: the canvas takes source frames one for one from ``start`` (no resampling in time), up to the canvas
  length. ReCo was trained on 16 fps clips; a 30 or 60 fps source is shown to the model at its own rate, so its motion
  per canvas frame is smaller than in training. A clip longer than the window is edited only inside the window; the
  frames after it are not returned (and this is reported, never silent).
- Timing: the edit is written at the source's average frame rate (frame count over duration, the rate ffmpeg and
  ComfyUI's LoadVideo report), so it has the source window's frame count and duration. A variable-frame-rate source
  is read frame by frame as stored (no duplicated frames) and comes back at constant rate with the same count and
  duration; the individual frame times are evened out.
- Size: the edit comes back at the source's width and height. H.264 in 4:2:0 (what every player accepts) needs even
  sides, so an odd side is padded by one pixel, repeating the edge, and that is reported.
- Audio: the source's audio, cut to the edited span (from start / fps, for frames / fps seconds).
- Memory: frames are decoded already shrunk to the smallest size that still covers a canvas half (aspect kept, never
  enlarged), and only the window is kept; the output is enlarged back one frame at a time while it is encoded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# The frame rate ReCo's training clips (and the authors' outputs) have.
RECO_TRAINING_FPS = 16.0


def decode_size(width: int, height: int, cover_width: int, cover_height: int) -> tuple[int, int]:
    """The size to decode a ``width`` x ``height`` source at, to fill a ``cover_width`` x ``cover_height`` half.

    The smallest uniform shrink that still covers the half on both sides, so that no fit (stretch, crop, pad)
    enlarges what was decoded; never larger than the source. A cover side of 0 means "no limit": full size.
    """
    if cover_width <= 0 or cover_height <= 0:
        return width, height
    scale = min(1.0, max(cover_width / width, cover_height / height))
    return max(1, math.ceil(width * scale - 1e-6)), max(1, math.ceil(height * scale - 1e-6))


def even_size(width: int, height: int) -> tuple[int, int]:
    """The size an H.264 4:2:0 file of a ``width`` x ``height`` picture has: odd sides one pixel larger."""
    return width + width % 2, height + height % 2


def pad_to_even(frames: torch.Tensor) -> torch.Tensor:
    """(F, H, W, ...) frames or masks with odd sides padded by one row/column repeating the edge; even ones as is."""
    height, width = frames.shape[1], frames.shape[2]
    if height % 2 == 0 and width % 2 == 0:
        return frames
    channels_first = frames.unsqueeze(-1) if frames.ndim == 3 else frames
    channels_first = channels_first.movedim(-1, 1)
    padded = F.pad(channels_first.float(), (0, width % 2, 0, height % 2), mode="replicate").to(frames.dtype)
    padded = padded.movedim(1, -1)
    return padded.squeeze(-1) if frames.ndim == 3 else padded


@dataclass(frozen=True)
class EditSpan:
    """The part of a source clip one edit covers, and what it means in time.

    ``start`` and ``frames``: the source frames on the canvas; ``more``: the source has frames after them, which the
    edit does not cover; ``fps``: the source's average rate (0 when the file states none, e.g. a still image).
    """

    start: int
    frames: int
    fps: float
    more: bool = False

    @property
    def start_seconds(self) -> float:
        return self.start / self.fps if self.fps > 0 else 0.0

    @property
    def seconds(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0

    def report(self, width: int, height: int, decoded: tuple[int, int]) -> str:
        """What an artist should know about this edit's frames, timing and size, in a few plain lines."""
        end = self.start + self.frames - 1
        rate = f"{self.fps:.3f}".rstrip("0").rstrip(".") if self.fps > 0 else "no stated rate"
        lines = [f"source frames {self.start}..{end} ({self.frames} frames, {self.seconds:.2f} s at {rate} fps), "
                 f"one canvas frame per source frame"]
        if self.fps > 0 and abs(self.fps - RECO_TRAINING_FPS) > 0.5:
            lines.append(f"ReCo was trained on {RECO_TRAINING_FPS:g} fps clips: at {rate} fps each canvas frame "
                         f"moves {RECO_TRAINING_FPS / self.fps:.2f}x as far as in training")
        if self.more:
            lines.append(f"the source continues after frame {end}: those frames are not edited "
                         f"(edit them with start_frame {end + 1}, or a longer length)")
        if decoded != (width, height):
            lines.append(f"decoded at {decoded[0]}x{decoded[1]} (covers the canvas half) from {width}x{height}")
        if even_size(width, height) != (width, height):
            padded = even_size(width, height)
            lines.append(f"{width}x{height} has an odd side: the saved H.264 file is {padded[0]}x{padded[1]} "
                         f"(edge repeated), as 4:2:0 video needs even sides")
        return "\n".join(lines)
