"""ReCoCreateVideo: the edit as a VIDEO at the source's size, enlarged frame by frame only while it is saved.

Native CreateVideo holds every frame at full size as float32 (81 frames of 4K are 8 GB). This node keeps the
working-size frames and hands SaveVideo a video that enlarges, pads odd sides to even and muxes the audio one frame
at a time as it encodes, so saving a 4K edit costs about what saving a 480p one does.
"""

from __future__ import annotations

import json
import logging
from fractions import Fraction

import torch
from comfy_api.latest import Input, Types, io

from ..reco_core.canvas import resize_frames
from ..reco_core.footage import even_size, pad_to_even
from ..reco_core.video_io import Audio, write_video
from .input_checks import check_inputs, widget_problem

log = logging.getLogger(__name__)
MP4, H264, AUTO = "mp4", "h264", "auto"


class ScaledVideo(Input.Video):
    """Frames at the working size plus the size, rate and audio to save them with; full size only while saving."""

    def __init__(self, frames: torch.Tensor, fps: float, size: tuple[int, int], audio: dict | None):
        self.frames, self.fps, self.size, self.audio = frames, fps, size, audio

    def get_components(self) -> Types.VideoComponents:
        """Every frame at the saved size, for nodes that want the frames back (this one costs the full memory)."""
        width, height = self.size
        images = pad_to_even(torch.cat([resize_frames(self.frames[i:i + 1], height, width)
                                        for i in range(self.frames.shape[0])]))
        return Types.VideoComponents(images=images, audio=self.audio, frame_rate=Fraction(self.fps))

    def save_to(self, path: str, format: str = AUTO, codec: str = AUTO, metadata: dict | None = None) -> None:
        if getattr(format, "value", format) not in (AUTO, MP4) or getattr(codec, "value", codec) not in (AUTO, H264):
            raise ValueError(f"ReCoCreateVideo saves MP4/H.264: set SaveVideo's format to auto or mp4 and codec to "
                             f"auto or h264 (got {format}/{codec}).")
        tags = {key: value if isinstance(value, str) else json.dumps(value) for key, value in (metadata or {}).items()}
        write_video(path, self.frames, self.fps, size=self.size, audio=_audio(self.audio), metadata=tags)

    def get_dimensions(self) -> tuple[int, int]:
        return even_size(*self.size)

    def get_duration(self) -> float:
        return self.frames.shape[0] / self.fps

    def get_frame_count(self) -> int:
        return self.frames.shape[0]

    def get_frame_rate(self) -> Fraction:
        return Fraction(self.fps)


def _audio(audio: dict | None) -> Audio | None:
    """ComfyUI's AUDIO (waveform (1, C, S)) as one track; more than two channels keep the first two."""
    if audio is None:
        return None
    return Audio(audio["waveform"][0, :2].float(), int(audio["sample_rate"]))


class ReCoCreateVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoCreateVideo",
            display_name="ReCo Create Video",
            category="ReCo",
            description="Makes a VIDEO for SaveVideo from the edit at the working size: enlarged to width x height "
            "(the source's, from ReCoLoadVideo) frame by frame while saving, odd sides padded to even, with audio.",
            inputs=[
                io.Image.Input("images", tooltip="ReCoSplit's edited frames."),
                io.Float.Input("fps", default=16.0, min=0.01, max=1000.0, step=0.001,
                               tooltip="Frame rate: ReCoLoadVideo's fps keeps the source's duration."),
                io.Int.Input("width", default=0, min=0, max=16384,
                             tooltip="Width to save at (ReCoLoadVideo's width); 0 keeps the images' width."),
                io.Int.Input("height", default=0, min=0, max=16384,
                             tooltip="Height to save at (ReCoLoadVideo's height); 0 keeps the images' height."),
                io.Audio.Input("audio", optional=True, tooltip="ReCoLoadVideo's audio, cut to the edited span."),
            ],
            outputs=[io.Video.Output(tooltip="The edit, saved at full size only by SaveVideo, one frame at a time.")],
        )

    @classmethod
    def validate_inputs(cls, fps: float | None = None) -> bool | str:
        """ComfyUI's range check lets "nan" through; a frame rate must be a finite number."""
        return widget_problem(cls, fps=fps) or True

    @classmethod
    def execute(cls, images: torch.Tensor, fps: float, width: int, height: int, audio: dict | None = None
                ) -> io.NodeOutput:
        check_inputs(cls, locals())
        size = (width or images.shape[2], height or images.shape[1])
        if even_size(*size) != size:
            log.warning("ReCoCreateVideo: %dx%d has an odd side; the H.264 file is %dx%d (edge repeated).",
                        *size, *even_size(*size))
        return io.NodeOutput(ScaledVideo(images[..., :3], fps, size, audio))
