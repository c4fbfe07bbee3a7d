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


def ffmpeg(*args: str) -> None:
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *args], check=True, capture_output=True)


def test_variable_frame_rate_is_read_frame_by_frame_at_its_average_rate(tmp_path):
    """ffmpeg's default would duplicate frames to the container's nominal rate: 12 stored frames must stay 12."""
    path = tmp_path / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30", "-frames:v", "12",
           "-vf", "setpts='(if(lt(N,6),N/30,6/30+(N-6)/5))/TB'", "-fps_mode", "vfr", "-pix_fmt", "yuv420p", str(path))
    frames, fps = read_video(path)
    assert frames.shape[0] == 12
    assert 5 < fps < 20  # the average rate (12 frames over about a second), not the nominal 30


def test_window_skips_shrinks_and_says_whether_the_source_goes_on(tmp_path):
    clip = smooth_clip(9, 48, 64)
    path = write_video(tmp_path / "clip.mp4", clip, 16)
    window = video_io.read_window(path, start=2, count=4, cover=(32, 16))
    assert window.frames.shape == (4, 24, 32, 3) and (window.width, window.height) == (64, 48)
    assert window.span.start == 2 and window.span.more
    full = video_io.read_window(path, start=2, count=4)
    shrunk = torch.nn.functional.avg_pool2d(full.frames.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)
    assert (window.frames - shrunk).abs().mean() < 0.02
    assert not video_io.read_window(path, start=5, count=4).span.more
    with pytest.raises(ValueError, match="no frames from frame 9"):
        video_io.read_window(path, start=9)


def test_audio_is_cut_to_the_span_and_carried_into_a_resized_even_file(tmp_path):
    source = tmp_path / "tone.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=8000", "-t", "1", "-pix_fmt", "yuv420p", "-c:a", "aac", str(source))
    audio = video_io.read_audio(source, start_seconds=0.2, seconds=0.5)
    assert audio.sample_rate == 8000 and audio.waveform.shape[0] == 1
    assert audio.waveform.shape[1] == pytest.approx(4000, abs=50)
    assert video_io.read_audio(write_video(tmp_path / "silent.mp4", smooth_clip(3, 16, 16), 10)) is None

    out = write_video(tmp_path / "out.mp4", smooth_clip(3, 16, 16), 10, size=(33, 21), audio=audio,
                      metadata={"prompt": '{"a": "b=c;#\\n"}'})
    facts = probe_video(out)
    assert (facts.frames, facts.width, facts.height) == (3, 34, 22)
    carried = video_io.read_audio(out)
    assert carried.waveform.shape[1] / carried.sample_rate == pytest.approx(0.3, abs=0.05)  # cut to 3 frames at 10 fps
    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(out)],
                          capture_output=True, text=True).stderr
    assert '{"a": "b=c;#' in info
