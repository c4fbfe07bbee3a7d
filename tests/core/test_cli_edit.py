"""`python -m reco_core edit` on the tiny models: a real subprocess, real ffmpeg in and out."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from harness.video_probe import probe_video
from reco_core.video_io import write_video

SOURCE_FRAMES, SOURCE_WIDTH, SOURCE_HEIGHT = 7, 56, 40


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "source.mp4"
    write_video(path, torch.rand(SOURCE_FRAMES, SOURCE_HEIGHT, SOURCE_WIDTH, 3,
                                 generator=torch.Generator().manual_seed(0)), fps=24)
    return path


def edit(tiny_models, video, output, *extra, transformer=None):
    command = [
        sys.executable, "-m", "reco_core", "edit", str(video), str(output),
        "--transformer", str(transformer or tiny_models.vace), "--vae", str(tiny_models.vae),
        "--prompt-embeds", str(tiny_models.positive), "--negative-embeds", str(tiny_models.negative),
        "--width", "32", "--height", "32", "--length", "9", "--steps", "3", *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_edit_writes_a_playable_mp4_at_the_source_size_and_length(tiny_models, source_video, tmp_path):
    output = tmp_path / "edited.mp4"
    done = edit(tiny_models, source_video, output)
    assert done.returncode == 0, done.stderr
    facts = probe_video(output)
    assert (facts.frames, facts.width, facts.height) == (SOURCE_FRAMES, SOURCE_WIDTH, SOURCE_HEIGHT)
    assert abs(facts.fps - 24) < 0.01  # the source's rate, so the edit keeps its duration


def test_edit_refuses_a_t2v_model_and_writes_nothing(tiny_models, source_video, tmp_path):
    output = tmp_path / "never.mp4"
    done = edit(tiny_models, source_video, output, transformer=tiny_models.t2v)
    assert done.returncode == 2
    assert "VACE" in done.stderr and tiny_models.t2v.name in done.stderr
    assert not output.exists()


def test_edit_names_a_missing_video(tiny_models, tmp_path):
    done = edit(tiny_models, tmp_path / "nope.mp4", tmp_path / "out.mp4")
    assert done.returncode == 2 and "nope.mp4" in done.stderr


def write_mask(path, width: int = SOURCE_WIDTH, height: int = SOURCE_HEIGHT):
    from PIL import Image

    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (10, 8, 40, 30))
    mask.convert("RGB").save(path)
    return path


@pytest.mark.parametrize("mode", ["mask", "auto"])
def test_region_modes_write_the_edit_and_its_region_map_video(tiny_models, source_video, tmp_path, mode):
    output = tmp_path / "edited.mp4"
    done = edit(tiny_models, source_video, output, "--region-mode", mode, "--region-mask",
                str(write_mask(tmp_path / "mask.png")), "--constraint-type", "videograin", "--auto-steps", "2")
    assert done.returncode == 0, done.stderr
    for path in (output, tmp_path / "edited_region_map.mp4"):
        facts = probe_video(path)
        assert (facts.frames, facts.width, facts.height) == (SOURCE_FRAMES, SOURCE_WIDTH, SOURCE_HEIGHT)


def test_a_region_mask_of_the_wrong_size_is_refused_and_nothing_is_written(tiny_models, source_video, tmp_path):
    output = tmp_path / "never.mp4"
    done = edit(tiny_models, source_video, output, "--region-mode", "mask", "--region-mask",
                str(write_mask(tmp_path / "small.png", 20, 20)))
    assert done.returncode == 2
    assert "region mask is 20x20" in done.stderr
    assert not list(tmp_path.glob("*.mp4"))


def test_region_mode_mask_without_a_mask_names_the_flag(tiny_models, source_video, tmp_path):
    done = edit(tiny_models, source_video, tmp_path / "never.mp4", "--region-mode", "mask")
    assert done.returncode == 2 and "--region-mask" in done.stderr


@pytest.mark.parametrize(("frames", "windows"), [(200, 3), (33, 1)])
def test_a_long_clip_is_edited_whole_in_windows_at_its_own_length_size_and_rate(tiny_models, tmp_path, frames,
                                                                                  windows):
    """No frame limit by default: 200 frames at 24 fps in three 81-frame windows, 33 frames in one canvas."""
    source = write_video(tmp_path / f"clip{frames}.mp4",
                         torch.rand(frames, 24, 40, 3, generator=torch.Generator().manual_seed(frames)), fps=24)
    output = tmp_path / "edited.mp4"
    done = edit(tiny_models, source, output, "--length", "81", "--steps", "1", "--region-mode", "auto",
                "--auto-steps", "1")
    assert done.returncode == 0, done.stderr
    for path in (output, tmp_path / "edited_region_map.mp4"):
        facts = probe_video(path)
        assert (facts.frames, facts.width, facts.height) == (frames, 40, 24)
        assert facts.fps == pytest.approx(24)
    assert ("window 3/3" in done.stderr) == (windows == 3)


def test_frames_limits_the_edit_when_asked(tiny_models, source_video, tmp_path):
    output = tmp_path / "edited.mp4"
    done = edit(tiny_models, source_video, output, "--frames", "3", "--carry", "blend", "--overlap", "0")
    assert done.returncode == 0, done.stderr
    assert probe_video(output).frames == 3


@pytest.mark.parametrize("frames", ["0", "-2", "many"])
def test_a_frame_count_below_one_is_refused_naming_the_flag(tiny_models, source_video, tmp_path, frames):
    output = tmp_path / "edited.mp4"
    done = edit(tiny_models, source_video, output, "--frames", frames)
    assert done.returncode == 2 and "argument --frames: expected a whole number >= 1" in done.stderr
    assert not output.exists()


def test_a_still_comes_back_as_an_image_at_its_own_size(tiny_models, tmp_path):
    from PIL import Image

    still = tmp_path / "in.png"
    Image.new("RGB", (45, 31), (200, 40, 40)).save(still)
    output = tmp_path / "out.png"
    done = edit(tiny_models, still, output)
    assert done.returncode == 0, done.stderr
    with Image.open(output) as image:
        assert (image.format, image.size) == ("PNG", (45, 31))
    with Image.open(tmp_path / "out_region_map.png") as region:
        assert region.size == (45, 31)


def test_an_image_output_for_a_video_is_refused_before_any_work(tiny_models, source_video, tmp_path):
    done = edit(tiny_models, source_video, tmp_path / "out.png")
    assert done.returncode == 2 and "out.png is an image file" in done.stderr and "--frames 1" in done.stderr
    assert not list(tmp_path.iterdir())
