"""Long work in reco_core stops when the host asks, and no schedule grows without bound."""

from __future__ import annotations

import json

import pytest

from harness.sample_video import FRAMES, write_sample_video
from harness.tiny_dataset import square_clip
from reco_core.canvas import CanvasSpec
from reco_core.interruption import check_interrupted, install_check
from reco_core.schedule import MAX_SCHEDULE_STEPS, flow_sigmas
from reco_core.training.manifest import validate_manifest
from reco_core.video_io import read_video, write_video


class Stop(Exception):
    pass


class CountingCheck:
    """Raises Stop on its `limit`-th call, like ComfyUI's check once the cancel button was pressed."""

    def __init__(self, limit: int):
        self.calls, self.limit = 0, limit

    def __call__(self) -> None:
        self.calls += 1
        if self.calls >= self.limit:
            raise Stop


@pytest.fixture
def host_check():
    """Installs a CountingCheck as the host's check; removes it after the test."""

    def install(limit: int) -> CountingCheck:
        check = CountingCheck(limit)
        install_check(check)
        return check

    yield install
    install_check(None)


def test_without_a_host_nothing_is_checked():
    check_interrupted()


def test_video_decoding_stops_between_frames(host_check, tmp_path):
    video = write_sample_video(tmp_path / "clip.mp4")
    check = host_check(limit=3)
    with pytest.raises(Stop):
        read_video(video)
    assert check.calls == 3 < FRAMES


def test_dataset_checks_stop_between_rows(host_check, tmp_path):
    write_video(tmp_path / "a.mp4", square_clip((0.9, 0.1, 0.1)), 16)
    rows = [{"src_video": "a.mp4", "tar_video": "a.mp4", "instruction": "x"}] * 3
    (tmp_path / "manifest.json").write_text(json.dumps(rows))
    check = host_check(limit=1)
    with pytest.raises(Stop):
        validate_manifest(tmp_path, CanvasSpec(half_width=32, height=32, length=9))
    assert check.calls == 1


def test_a_tiny_denoise_cannot_ask_for_an_unbounded_schedule():
    assert len(flow_sigmas(steps=50, denoise=50 / MAX_SCHEDULE_STEPS)) == 51
    with pytest.raises(ValueError, match="lower steps or raise denoise"):
        flow_sigmas(steps=50, denoise=1e-300)
