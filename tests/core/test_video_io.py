"""Video files through the real ffmpeg: round trips keep count, size, rate and content; failures are clear and clean."""

from __future__ import annotations

import math
import os
import stat
import subprocess

import imageio_ffmpeg
import pytest
import torch

from harness.video_probe import probe_video
from reco_core import video_io
from reco_core.video_io import read_video, write_video


def smooth_clip(frames: int, height: int, width: int) -> torch.Tensor:
    """Smooth moving color waves: H.264 at a high quality reproduces them closely, unlike per-pixel noise."""
    t = torch.arange(frames, dtype=torch.float32)[:, None, None, None]
    y = torch.linspace(0, 1, height)[None, :, None, None]
    x = torch.linspace(0, 1, width)[None, None, :, None]
    c = torch.arange(3, dtype=torch.float32)[None, None, None, :]
    return 0.5 + 0.35 * torch.sin(2 * math.pi * (0.8 * x + 0.5 * y) + 0.4 * t + 2 * c)


def test_round_trip_keeps_count_size_rate_and_content(tmp_path):
    clip = smooth_clip(9, 48, 64)
    path = write_video(tmp_path / "clip.mp4", clip, 16)
    facts = probe_video(path)
    assert (facts.frames, facts.width, facts.height, facts.fps) == (9, 64, 48, 16.0)
    frames, fps = read_video(path)
    assert frames.shape == clip.shape and frames.dtype == torch.float32 and fps == 16.0
    assert 0 <= frames.min() and frames.max() <= 1
    assert (frames - clip).abs().mean().item() < 0.02
    # No temporary file is left beside the output, and it has the permissions any new file gets (the umask's).
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_max_frames_and_fractional_rate(tmp_path):
    path = write_video(tmp_path / "ntsc.mp4", smooth_clip(9, 32, 32), 30000 / 1001)
    frames, fps = read_video(path, max_frames=4)
    assert frames.shape == (4, 32, 32, 3)
    assert fps == pytest.approx(29.97, abs=0.01)


def test_odd_sizes_are_padded_to_even(tmp_path):
    clip = smooth_clip(5, 33, 47)
    frames, _ = read_video(write_video(tmp_path / "odd.mp4", clip, 16))
    assert frames.shape == (5, 34, 48, 3)
    assert (frames[:, :33, :47] - clip).abs().mean().item() < 0.03


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_video(tmp_path / "nope.mp4")
    with pytest.raises(FileNotFoundError, match="is a directory"):
        read_video(tmp_path)


def test_corrupt_and_non_video_files(tmp_path):
    good = write_video(tmp_path / "good.mp4", smooth_clip(5, 32, 32), 16).read_bytes()
    (tmp_path / "half.mp4").write_bytes(good[: len(good) // 3])
    (tmp_path / "notes.mp4").write_text("not a video\n" * 50)
    (tmp_path / "empty.mp4").write_bytes(b"")
    for name in ("half.mp4", "notes.mp4", "empty.mp4"):
        with pytest.raises(ValueError, match=f"{name} is not a readable video"):
            read_video(tmp_path / name)


def test_a_file_without_video_frames(tmp_path):
    audio = tmp_path / "silence.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
                    "-t", "0.2", "-c:a", "aac", str(audio)], check=True)
    with pytest.raises(ValueError, match="silence.m4a"):
        read_video(audio)


def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    """An ffmpeg that dies mid-file (as on a full disk) must leave the folder exactly as it was."""
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nfor last; do :; done\nprintf partial > "$last"\n'
                    'echo "Error writing trailer: No space left on device" >&2\nexit 1\n')
    fake.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    (out / "edit.mp4").write_bytes(b"previous result")
    monkeypatch.setattr(video_io.imageio_ffmpeg, "get_ffmpeg_exe", lambda: str(fake))
    with pytest.raises(RuntimeError, match="No space left on device"):
        write_video(out / "edit.mp4", smooth_clip(5, 32, 32), 16)
    with pytest.raises(RuntimeError, match="No space left on device"):
        write_video(out / "new.mp4", smooth_clip(5, 32, 32), 16)
    assert sorted(p.name for p in out.iterdir()) == ["edit.mp4"]
    assert (out / "edit.mp4").read_bytes() == b"previous result"


@pytest.mark.parametrize(("frames", "fps", "error", "words"), [
    (torch.rand(0, 32, 32, 3), 16, ValueError, "at least one frame"),
    (torch.rand(5, 32, 32, 4), 16, ValueError, "frames[..., :3]"),
    (torch.zeros(5, 32, 32, 3, dtype=torch.uint8), 16, ValueError, "/ 255"),
    (torch.full((5, 32, 32, 3), float("nan")), 16, ValueError, "NaN"),
    (torch.rand(5, 32, 32, 3), 0, ValueError, "fps must be a positive number"),
])
def test_write_refuses_bad_input(tmp_path, frames, fps, error, words):
    with pytest.raises(error) as raised:
        write_video(tmp_path / "x.mp4", frames, fps)
    assert words in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_write_into_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="create it first"):
        write_video(tmp_path / "missing" / "x.mp4", smooth_clip(5, 32, 32), 16)
