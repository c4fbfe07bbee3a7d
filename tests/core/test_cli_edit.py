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
    assert abs(facts.fps - 16) < 0.01


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
