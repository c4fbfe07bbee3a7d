"""ReCoLoadVideo: loads only the span of a video that one edit uses, already at the working size, with its audio.

Native LoadVideo -> GetVideoComponents decodes every frame at full size as float32 (a minute of 4K is ~90 GB) before
ReCoCanvas shrinks it to 832 x 480. This node, in the manner of VideoHelperSuite's frame cap and custom size, has
ffmpeg skip to start_frame, shrink each frame to the smallest size that still covers a canvas half, and stop after
frame_cap frames; it hands ReCoCreateVideo the source's size so the edit is enlarged back frame by frame on saving.
"""

from __future__ import annotations

import logging
import os

import folder_paths
from comfy_api.latest import io

from ..reco_core.video_io import read_audio, read_window
from .safe_paths import resolve_inside
from .input_checks import check_inputs

log = logging.getLogger(__name__)


def video_files() -> list[str]:
    """The combo's choices: videos in input/, and stills, which are edited as one-frame clips."""
    folder = folder_paths.get_input_directory()
    files = [name for name in os.listdir(folder) if os.path.isfile(os.path.join(folder, name))]
    return sorted(folder_paths.filter_files_content_types(files, ["video", "image"]))


class ReCoLoadVideo(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoLoadVideo",
            display_name="ReCo Load Video",
            category="ReCo",
            description="Loads the span of a video one ReCo edit uses (frame cap from start_frame), decoded at the "
            "working size, with its audio cut to that span. Memory does not grow with the clip's resolution or "
            "length. Feed frames to ReCoCanvas and fps, audio, width and height to ReCoCreateVideo.",
            inputs=[
                io.Combo.Input("file", options=video_files(), upload=io.UploadType.video,
                               tooltip="A video in ComfyUI's input folder."),
                io.Int.Input("start_frame", default=0, min=0, max=10_000_000,
                             tooltip="First frame to load. To edit a long clip in windows, load each window here "
                             "(and keep ReCoCanvas start_frame at 0)."),
                io.Int.Input("frame_cap", default=81, min=0, max=100_000,
                             tooltip="Frames to load from start_frame: ReCoCanvas's length (81). Frames after them "
                             "are not loaded and not edited; 0 loads to the end (memory grows with the clip)."),
                io.Int.Input("cover_width", default=832, min=0, max=16384,
                             tooltip="Decode frames just large enough to cover a canvas half this wide (ReCoCanvas "
                             "width), keeping the aspect; never enlarged. 0 = full size."),
                io.Int.Input("cover_height", default=480, min=0, max=16384,
                             tooltip="Decode frames just large enough to cover a canvas half this high (ReCoCanvas "
                             "height). 0 = full size."),
            ],
            outputs=[
                io.Image.Output(display_name="frames", tooltip="The span's frames at the working size."),
                io.Audio.Output(display_name="audio", tooltip="The audio of exactly that span (None if the file has "
                                "none)."),
                io.Float.Output(display_name="fps", tooltip="The source's average frame rate; writing the edit at "
                                "it keeps the span's duration (variable frame rates are evened out)."),
                io.Int.Output(display_name="width", tooltip="The source's width, for ReCoCreateVideo."),
                io.Int.Output(display_name="height", tooltip="The source's height, for ReCoCreateVideo."),
                io.String.Output(display_name="report", tooltip="Which frames were loaded, how they map onto the "
                                 "canvas and what was left out."),
            ],
        )

    @classmethod
    def validate_inputs(cls, file: str | None = None) -> bool | str:
        """Redoes the combo check ComfyUI skips for a named input: the file must be in the input folder."""
        if file is None:  # linked: execute checks it for real
            return True
        try:
            path = resolve_inside(folder_paths.get_input_directory(), file, "file")
        except ValueError as error:
            return str(error)
        return True if path.is_file() else f"file: '{file}' is not in ComfyUI's input folder; upload it there."

    @classmethod
    def fingerprint_inputs(cls, file: str, start_frame: int, frame_cap: int, cover_width: int,
                           cover_height: int) -> float:
        path = resolve_inside(folder_paths.get_input_directory(), file, "file")
        return path.stat().st_mtime if path.is_file() else 0.0

    @classmethod
    def execute(cls, file: str, start_frame: int, frame_cap: int, cover_width: int,
                cover_height: int) -> io.NodeOutput:
        check_inputs(cls, locals())
        path = resolve_inside(folder_paths.get_input_directory(), file, "file")
        window = read_window(path, start_frame, frame_cap or None, cover=(cover_width, cover_height))
        span = window.span
        audio = read_audio(path, span.start_seconds, span.seconds)
        report = window.report()
        log.info("ReCoLoadVideo %s: %s", file, report.replace("\n", "; "))
        sound = None if audio is None else {"waveform": audio.waveform[None], "sample_rate": audio.sample_rate}
        return io.NodeOutput(window.frames, sound, window.fps, window.width, window.height, report)
