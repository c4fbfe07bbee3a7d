"""Read and write video files for the headless path and the nodes, through the ffmpeg binary imageio-ffmpeg ships.

Frames are float32 tensors in [0, 1] shaped (F, H, W, 3), the layout the canvas and ComfyUI use. Output is H.264 in
MP4 with yuv420p, which every player accepts, with the source's audio as AAC when there is any. Reading keeps memory
bounded: ffmpeg skips the frames before the window, shrinks frames to the working size and stops after the window,
so Python only ever holds the small frames; writing enlarges one frame at a time (`reco_core.footage` has the rule).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch

from .footage import EditSpan, decode_size, even_size
from .interruption import check_interrupted

# libx264's constant-rate factor: 17-18 is visually lossless, so an edit is judged, not the encoder.
H264_CRF = 17
AAC_BITRATE = "192k"
# Lines of ffmpeg's log quoted in an error: the last lines say why it failed, the first ones are its banner.
LOG_TAIL_LINES = 4
# "Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s"
AUDIO_STREAM = re.compile(r"Stream #\d+:\d+\S*: Audio: [^\n]*?, (\d+) Hz, ([^,\n]+)")


@dataclass(frozen=True)
class Audio:
    """A sound track: waveform (channels, samples) float32 in [-1, 1] at ``sample_rate`` Hz."""

    waveform: torch.Tensor
    sample_rate: int


@dataclass(frozen=True)
class VideoWindow:
    """The frames of one edit span, decoded at the working size, and what the file says about the rest.

    ``frames`` (F, h, w, 3) float32; ``width`` x ``height`` is the source's own (upright) size; ``span`` the frames
    taken and the source's average rate; ``has_audio`` whether the file has a sound track.
    """

    frames: torch.Tensor
    width: int
    height: int
    span: EditSpan
    has_audio: bool

    @property
    def fps(self) -> float:
        return self.span.fps

    def report(self) -> str:
        return self.span.report(self.width, self.height, (self.frames.shape[2], self.frames.shape[1]))


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[torch.Tensor, float]:
    """Decode a video into (frames, fps): frames (F, H, W, 3) float32 in [0, 1], fps the file's average rate.

    ``max_frames`` stops decoding early, which bounds memory for long clips (a canvas uses 81 frames). ffmpeg applies
    rotation metadata, so phone videos come out upright. fps is 0.0 when the file does not state one.
    """
    window = read_window(path, count=max_frames)
    return window.frames, window.fps


def read_window(path: str | Path, start: int = 0, count: int | None = None,
                cover: tuple[int, int] | None = None) -> VideoWindow:
    """Decode ``count`` frames from frame ``start`` (all when None), shrunk to cover ``cover`` = (width, height).

    Frames are counted as stored: a variable-frame-rate file gives its own frames, none duplicated or dropped.
    ffmpeg discards the frames before ``start`` and shrinks the rest (area averaging) before they reach Python, and
    decoding stops one frame after the window (that frame only tells whether the source goes on).
    """
    path = _existing_file(path)
    for name, value, least in (("start", start, 0), ("count", count, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}.")
    source_width, source_height, has_audio = _probe(path)
    width, height = decode_size(source_width, source_height, *(cover or (0, 0)))
    filters = [f"trim=start_frame={start}"] if start else []
    if (width, height) != (source_width, source_height):
        filters.append(f"scale={width}:{height}:flags=area")
    output_params = ["-fps_mode", "passthrough", *(["-vf", ",".join(filters)] if filters else []),
                     *(["-frames:v", str(count + 1)] if count is not None else [])]
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24", output_params=output_params)
    try:
        with _quiet_size_warning():
            meta = _first(reader, path)
        width, height = meta["size"]
        frames = []
        try:
            for raw in reader:
                check_interrupted()
                frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
        except RuntimeError as error:
            raise ValueError(
                f"{path.name} is corrupt: decoding stopped after {start + len(frames)} frames "
                f"(ffmpeg: {_last_lines(str(error))})."
            ) from error
    finally:
        reader.close()

    if not frames:
        if start:
            raise ValueError(f"{path.name} has no frames from frame {start} on: choose a start inside the clip.")
        raise ValueError(f"{path.name} holds no video frames: pass a file with a video stream.")
    more = count is not None and len(frames) > count
    frames = frames[:count]
    pixels = torch.from_numpy(np.stack(frames)).to(torch.float32) / 255.0
    span = EditSpan(start=start, frames=len(frames), fps=float(meta.get("fps") or 0.0), more=more)
    return VideoWindow(pixels, source_width, source_height, span, has_audio)


def read_audio(path: str | Path, start_seconds: float = 0.0, seconds: float | None = None) -> Audio | None:
    """The file's first sound track from ``start_seconds`` for ``seconds`` (to the end when None); None if it has none.

    Mono stays mono; anything with more channels comes as stereo (what MP4 players and ComfyUI's SaveVideo take).
    """
    path = _existing_file(path)
    found = AUDIO_STREAM.search(_ffmpeg_info(path))
    if not found or (seconds is not None and seconds <= 0):
        return None
    rate, channels = int(found.group(1)), 1 if found.group(2).strip() == "mono" else 2
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-ss", f"{max(0.0, start_seconds):.6f}",
               *(["-t", f"{seconds:.6f}"] if seconds is not None else []), "-i", str(path),
               "-map", "0:a:0", "-vn", "-f", "f32le", "-ac", str(channels), "-ar", str(rate), "-"]
    done = subprocess.run(command, capture_output=True)
    if done.returncode != 0:
        raise ValueError(f"{path.name}: its audio could not be read (ffmpeg: {_last_lines(done.stderr.decode())}).")
    samples = np.frombuffer(done.stdout, dtype=np.float32)
    waveform = torch.from_numpy(samples.copy()).view(-1, channels).T.contiguous()
    return Audio(waveform, rate)


def write_video(path: str | Path, frames: torch.Tensor, fps: float, size: tuple[int, int] | None = None,
                audio: Audio | None = None, metadata: dict[str, str] | None = None) -> Path:
    """Write (F, H, W, 3) frames in [0, 1] as an H.264/yuv420p MP4 at ``fps``; returns the path.

    ``size`` = (width, height) has ffmpeg enlarge (or shrink) the frames to that size while encoding, so a small
    working-size edit becomes a full-size file without a full-size frame in this process. yuv420p stores color at
    half resolution, so both sides must be even: an odd side is padded by repeating its last row or column (the file
    is then one pixel larger there). ``audio`` is muxed as AAC, cut to the video's duration; ``metadata`` becomes
    the file's tags. Values outside [0, 1] are clipped. The file is written under a temporary name in the same folder
    and renamed into place only once ffmpeg has succeeded, so a failure never leaves a partial file or destroys an
    existing one.
    """
    path = Path(path)
    _check_frames(frames)
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}; ReCo's output rate is the source's.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist; create it first.")
    width, height = size or (frames.shape[2], frames.shape[1])
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive (width, height), got {size!r}.")

    # A fresh name that ffmpeg itself creates, so the file gets the usual permissions (mkstemp's would be 0600).
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.partial.mp4")
    try:
        with tempfile.TemporaryDirectory(prefix="reco-mux-") as scratch:
            sound = _audio_input(audio, frames.shape[0] / fps, Path(scratch)) if audio is not None else []
            tags = _metadata_input(metadata, Path(scratch), index=1 + bool(sound)) if metadata else []
            _encode_h264(frames, _size_filters(frames, width, height), fps, sound, tags, temporary, shown_as=path)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _size_filters(frames: torch.Tensor, width: int, height: int) -> list[str]:
    """ffmpeg filters that bring the frames to width x height and pad odd sides by repeating the edge.

    ffmpeg resizes as it encodes, so no full-size frame ever exists in this process.
    """
    filters = [] if (frames.shape[2], frames.shape[1]) == (width, height) else [f"scale={width}:{height}:flags=bicubic"]
    padded_width, padded_height = even_size(width, height)
    if (padded_width, padded_height) != (width, height):
        filters += [f"pad={padded_width}:{padded_height}:0:0",
                    f"fillborders=right={padded_width - width}:bottom={padded_height - height}:mode=smear"]
    return filters


def _audio_input(audio: Audio, seconds: float, scratch: Path) -> list[str]:
    """ffmpeg input arguments for ``audio`` cut to ``seconds`` (raw float samples in a scratch file)."""
    waveform = audio.waveform
    if waveform.ndim != 2 or waveform.shape[0] not in (1, 2) or not isinstance(audio.sample_rate, int) \
            or audio.sample_rate < 1:
        raise ValueError(f"audio must be a (channels, samples) waveform with 1 or 2 channels and an int sample rate, "
                         f"got {tuple(waveform.shape)} at {audio.sample_rate!r}.")
    samples = waveform[:, :math.ceil(audio.sample_rate * seconds)]
    if samples.shape[1] == 0:
        return []
    raw = scratch / "audio.f32"
    samples.T.contiguous().float().cpu().numpy().tofile(raw)
    return ["-f", "f32le", "-ar", str(audio.sample_rate), "-ac", str(samples.shape[0]), "-i", str(raw)]


def _metadata_input(metadata: dict[str, str], scratch: Path, index: int) -> list[str]:
    """ffmpeg arguments that read ``metadata`` from an FFMETADATA file (a workflow is too long for a command line)."""
    def escape(text: str) -> str:
        return re.sub(r"([=;#\\\n])", r"\\\1", text)

    lines = [";FFMETADATA1", *(f"{escape(str(key))}={escape(str(value))}" for key, value in metadata.items())]
    file = scratch / "metadata.txt"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["-f", "ffmetadata", "-i", str(file), "-map_metadata", str(index)]


def _encode_h264(frames: torch.Tensor, filters: list[str], fps: float, sound: list[str], tags: list[str],
                 path: Path, shown_as: Path) -> None:
    """Pipe raw RGB frames into ffmpeg (``sound`` and ``tags``: inputs for audio and metadata, may be empty) and
    raise with ffmpeg's own reason if it fails.

    ffmpeg runs directly rather than through imageio-ffmpeg's writer because that writer ignores ffmpeg's exit status
    and rescales sizes that are not multiples of 16. Its log goes to a temporary file, which cannot fill up and block
    ffmpeg the way an unread pipe can.
    """
    _, height, width, _ = frames.shape
    rate = str(Fraction(fps).limit_denominator(1001))  # 29.97002997 -> 30000/1001, as the NTSC rates are defined
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", rate, "-i", "-", *sound, *tags,
        "-map", "0:v:0", *(["-map", "1:a:0", "-c:a", "aac", "-b:a", AAC_BITRATE] if sound else []),
        *(["-vf", ",".join(filters)] if filters else []),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(H264_CRF), "-movflags", "+faststart+use_metadata_tags",
        "-f", "mp4", str(path),
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        try:
            for frame in frames:  # one frame at a time: no uint8 copy of the whole clip
                process.stdin.write(frame.clamp(0, 1).mul(255).round().to(torch.uint8).cpu().numpy().tobytes())
        except BrokenPipeError:
            pass  # ffmpeg quit early; its exit status and log below say why.
        except BaseException:
            process.kill()
            raise
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
            status = process.wait()
        if status != 0:
            log.seek(0)
            reason = _last_lines(log.read().decode("utf-8", "replace")) or f"exit status {status}"
            raise RuntimeError(f"ffmpeg could not write {shown_as}: {reason}")


def _check_frames(frames: torch.Tensor) -> None:
    """Refuses frame tensors ffmpeg would misread, naming the fix."""
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[-1] != 3:
        got = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f"frames must be a tensor shaped (F, H, W, 3), got {got}; drop alpha with frames[..., :3].")
    if 0 in frames.shape:
        raise ValueError(f"frames has an empty dimension {tuple(frames.shape)}: a video needs at least one frame.")
    if not frames.is_floating_point():
        raise ValueError(f"frames has dtype {frames.dtype}; pass floats in [0, 1], e.g. x.float() / 255.")
    if not torch.isfinite(frames).all():
        raise ValueError("frames contains NaN or infinite values; a decoded video has none, check the sampler output.")


def _existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"video file {path} {where}: pass the path of a video file.")
    return path


def _ffmpeg_info(path: Path) -> str:
    """ffmpeg's description of a file's streams (what `ffmpeg -i FILE` prints), for its size, rotation and audio."""
    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True, errors="replace")
    return done.stderr


def _probe(path: Path) -> tuple[int, int, bool]:
    """(width, height, has_audio) of the first video stream, upright (rotation metadata applied, as decoding does)."""
    info = _ffmpeg_info(path)
    video = re.search(r"Stream #\d+:\d+\S*: Video: [^\n]*?, (\d+)x(\d+)[ ,\n]", info)
    if video is None:
        raise ValueError(f"{path.name} is not a readable video (ffmpeg: {_last_lines(info)}); "
                         "pass a video file such as an .mp4 or .mov.")
    width, height = int(video.group(1)), int(video.group(2))
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", info)
    if rotation and round(abs(float(rotation.group(1)))) % 180 == 90:
        width, height = height, width
    return width, height, AUDIO_STREAM.search(info) is not None


@contextlib.contextmanager
def _quiet_size_warning() -> Iterator[None]:
    """imageio-ffmpeg logs a warning whenever the frames it reads are scaled; here that is the point."""
    logger = logging.getLogger("imageio_ffmpeg")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _first(reader, path: Path) -> dict:
    try:
        return next(reader)
    except Exception as error:
        raise ValueError(
            f"{path.name} is not a readable video (ffmpeg: {_last_lines(str(error))}); "
            "pass a video file such as an .mp4 or .mov."
        ) from error


def _last_lines(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return " | ".join(lines[-LOG_TAIL_LINES:])
