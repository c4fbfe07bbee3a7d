"""Read and write video files for the headless path, through the ffmpeg binary that imageio-ffmpeg ships.

Frames are float32 tensors in [0, 1] shaped (F, H, W, 3), the layout the canvas and ComfyUI use. Output is H.264 in
MP4 with yuv420p, which every player accepts.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch

from .interruption import check_interrupted

# libx264's constant-rate factor: 17-18 is visually lossless, so an edit is judged, not the encoder.
H264_CRF = 17
# Lines of ffmpeg's log quoted in an error: the last lines say why it failed, the first ones are its banner.
LOG_TAIL_LINES = 4


def read_video(path: str | Path, max_frames: int | None = None) -> tuple[torch.Tensor, float]:
    """Decode a video into (frames, fps): frames (F, H, W, 3) float32 in [0, 1], fps as the container states it.

    ``max_frames`` stops decoding early, which bounds memory for long clips (a canvas uses 81 frames). ffmpeg applies
    rotation metadata, so phone videos come out upright. fps is 0.0 when the file does not state one.
    """
    path = Path(path)
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"video file {path} {where}: pass the path of a video file.")
    if max_frames is not None and (not isinstance(max_frames, int) or max_frames < 1):
        raise ValueError(f"max_frames must be a positive int or None (all frames), got {max_frames!r}.")

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        try:
            meta = next(reader)
        except Exception as error:
            raise ValueError(
                f"{path.name} is not a readable video (ffmpeg: {_last_lines(str(error))}); "
                "pass a video file such as an .mp4 or .mov."
            ) from error
        width, height = meta["size"]
        frames = []
        try:
            for raw in reader:
                check_interrupted()
                frames.append(np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3))
                if max_frames is not None and len(frames) == max_frames:
                    break
        except RuntimeError as error:
            raise ValueError(
                f"{path.name} is corrupt: decoding stopped after {len(frames)} frames "
                f"(ffmpeg: {_last_lines(str(error))})."
            ) from error
    finally:
        reader.close()

    if not frames:
        raise ValueError(f"{path.name} holds no video frames: pass a file with a video stream.")
    pixels = torch.from_numpy(np.stack(frames))
    return pixels.to(torch.float32) / 255.0, float(meta.get("fps") or 0.0)


def write_video(path: str | Path, frames: torch.Tensor, fps: float) -> Path:
    """Write (F, H, W, 3) frames in [0, 1] as an H.264/yuv420p MP4 at ``fps``; returns the path.

    yuv420p stores color at half resolution, so both sides must be even: an odd side is padded by repeating its last
    row or column (the file is then one pixel larger there); even sizes are written unchanged. Values outside [0, 1]
    are clipped. The file is written under a temporary name in the same folder and renamed into place only once
    ffmpeg has succeeded, so a failure never leaves a partial file or destroys an existing one.
    """
    path = Path(path)
    pixels = _to_uint8(frames)
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}; ReCo's output rate is 16.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist; create it first.")
    pixels = np.pad(pixels, ((0, 0), (0, pixels.shape[1] % 2), (0, pixels.shape[2] % 2), (0, 0)), mode="edge")

    # A fresh name that ffmpeg itself creates, so the file gets the usual permissions (mkstemp's would be 0600).
    temporary = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.partial.mp4")
    try:
        _encode_h264(pixels, fps, temporary, shown_as=path)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _encode_h264(pixels: np.ndarray, fps: float, path: Path, shown_as: Path) -> None:
    """Pipe raw RGB frames into ffmpeg and raise with ffmpeg's own reason if it fails.

    ffmpeg runs directly rather than through imageio-ffmpeg's writer because that writer ignores ffmpeg's exit status
    and rescales sizes that are not multiples of 16. Its log goes to a temporary file, which cannot fill up and block
    ffmpeg the way an unread pipe can.
    """
    _, height, width, _ = pixels.shape
    rate = str(Fraction(fps).limit_denominator(1001))  # 29.97002997 -> 30000/1001, as the NTSC rates are defined
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", rate, "-i", "-",
        "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(H264_CRF), "-movflags", "+faststart",
        "-f", "mp4", str(path),
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
        try:
            for frame in pixels:
                process.stdin.write(frame.tobytes())
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


def _to_uint8(frames: torch.Tensor) -> np.ndarray:
    """(F, H, W, 3) floats in [0, 1] -> uint8 numpy frames, rounded; refuses shapes ffmpeg would misread."""
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[-1] != 3:
        got = tuple(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__
        raise ValueError(f"frames must be a tensor shaped (F, H, W, 3), got {got}; drop alpha with frames[..., :3].")
    if 0 in frames.shape:
        raise ValueError(f"frames has an empty dimension {tuple(frames.shape)}: a video needs at least one frame.")
    if not frames.is_floating_point():
        raise ValueError(f"frames has dtype {frames.dtype}; pass floats in [0, 1], e.g. x.float() / 255.")
    if not torch.isfinite(frames).all():
        raise ValueError("frames contains NaN or infinite values; a decoded video has none, check the sampler output.")
    return (frames.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def _last_lines(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    return " | ".join(lines[-LOG_TAIL_LINES:])
