"""Clips as artists shoot them, made by the real ffmpeg: odd sizes, NTSC and 60 fps rates, variable frame rate, audio.

Each is only a few frames long (sizes matter, lengths are kept just past a tiny canvas where the window is the point),
so a whole matrix of edits runs in a couple of minutes on a small CPU.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg


@dataclass(frozen=True)
class Clip:
    name: str
    width: int
    height: int
    frames: int
    fps: float
    audio: bool
    args: tuple[str, ...]  # ffmpeg arguments after the inputs


H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
# A variable-frame-rate clip: the first frames 1/30 s apart, the rest 1/10 s (ffmpeg's own setpts expression).
VFR_TIMES = "setpts='(if(lt(N,4),N/30,4/30+(N-4)/10))/TB'"

CLIPS = (
    # 12 frames: longer than a 9-frame canvas, so the audio must be cut to the edited span.
    Clip("hd_2997_audio.mp4", 1920, 1080, 12, 30000 / 1001, True, H264 + ("-c:a", "aac")),
    Clip("portrait_60.mp4", 720, 1280, 5, 60.0, False, H264),
    # libx264 takes odd sides in 4:4:4 only, which is how such files come out of some cameras and converters.
    Clip("odd_853x481.mp4", 853, 481, 5, 25.0, False, ("-c:v", "libx264", "-preset", "ultrafast",
                                                       "-pix_fmt", "yuv444p")),
    Clip("vfr.mp4", 64, 48, 8, 8 / (4 / 30 + 4 / 10), False, ("-vf", VFR_TIMES, "-fps_mode", "vfr") + H264),
    Clip("three_frames.mp4", 64, 48, 3, 24.0, False, H264),
    Clip("still.png", 64, 48, 1, 25.0, False, ()),  # ffmpeg and PyAV both read an image as one frame at 25 fps
)


def write_clip(clip: Clip, folder: Path) -> Path:
    """Writes ``clip`` into ``folder`` with ffmpeg's test pattern (and a 440 Hz tone when it has audio)."""
    path = folder / clip.name
    size = f"{clip.width + clip.width % 2}x{clip.height + clip.height % 2}"  # testsrc2 itself only makes even sizes
    rate = "30000/1001" if abs(clip.fps - 30000 / 1001) < 1e-6 else "30" if clip.name == "vfr.mp4" else f"{clip.fps:g}"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
               f"testsrc2=size={size}:rate={rate},scale={clip.width}:{clip.height}"]
    if clip.audio:
        command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", f"{clip.frames / clip.fps:.4f}"]
    command += ["-frames:v", str(clip.frames), *clip.args, str(path)]
    subprocess.run(command, check=True, capture_output=True)
    return path
