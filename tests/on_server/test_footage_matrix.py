"""Footage as artists shoot it, edited three ways on the tiny models: the shipped graph's native video nodes
(LoadVideo -> ... -> ReCoSplit -> CreateVideo with audio -> SaveVideo), the bounded-memory graph (ReCoLoadVideo ->
... -> ReCoCreateVideo -> SaveVideo) on the real server, and `python -m reco_core edit`.

Every clip must come back playable at its own size (odd sides padded to even), frame count (up to the canvas window)
and average rate, with its audio cut to the edited span where it had audio, and the three must agree.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest

from harness import graphs
from harness.comfy_server import PromptRejected
from harness.footage_clips import CLIPS, Clip, write_clip
from harness.video_probe import probe_video
from reco_core.__main__ import main as reco_cli
from reco_core.footage import even_size
from reco_core.video_io import read_audio, read_window

LENGTH = graphs.SIZE["length"]
AAC_SLACK_SECONDS = 0.05  # AAC works in 1024-sample frames (21 ms at 48 kHz), so a cut lands within about one frame


@dataclass(frozen=True)
class Result:
    frames: int
    width: int
    height: int
    fps: float
    audio_seconds: float | None


def result_of(path) -> Result:
    facts = probe_video(path)
    audio = read_audio(path)
    return Result(facts.frames, facts.width, facts.height, facts.fps,
                  None if audio is None else audio.waveform.shape[1] / audio.sample_rate)


@pytest.fixture(scope="module")
def clips(comfy_server, tmp_path_factory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("footage")
    paths = {clip.name: write_clip(clip, folder) for clip in CLIPS}
    for path in paths.values():
        shutil.copy(path, comfy_server.base / "input" / path.name)
    return paths


def native_graph(tiny_models, name: str, prefix: str) -> dict:
    graph = {**graphs.loaders(tiny_models, name), **graphs.canvas(), **graphs.reco_sampler(),
             **graphs.decode_split_save(("sampler", 0), prefix)}
    graph["video"]["inputs"]["audio"] = ["parts", 1]
    return graph


def bounded_graph(tiny_models, name: str, prefix: str) -> dict:
    graph = native_graph(tiny_models, name, prefix)
    del graph["parts"], graph["video"]["inputs"]["audio"]
    graph["load"] = {"class_type": "ReCoLoadVideo", "inputs": {
        "file": name, "start_frame": 0, "frame_cap": LENGTH, "cover_width": graphs.SIZE["width"],
        "cover_height": graphs.SIZE["height"]}}
    graph["canvas"]["inputs"]["source_frames"] = ["load", 0]
    graph["video"] = {"class_type": "ReCoCreateVideo", "inputs": {
        "images": ["split", 0], "fps": ["load", 2], "width": ["load", 3], "height": ["load", 4],
        "audio": ["load", 1]}}
    return graph


def run_on_server(server, graph: dict, out) -> Result:
    result = server.run(graph)
    assert result.status == "execution_success", result.error
    entry = result.outputs("save")["images"][0]
    out.write_bytes(server.view(entry["filename"], entry["subfolder"], entry["type"]))
    return result_of(out)


def run_cli(tiny_models, source, out) -> Result:
    """The CLI limited to the graphs' one window (--frames): by default it edits the whole clip in windows."""
    code = reco_cli(["edit", str(source), str(out), "--transformer", str(tiny_models.vace), "--vae",
                     str(tiny_models.vae), "--prompt-embeds", str(tiny_models.positive), "--negative-embeds",
                     str(tiny_models.negative), "--width", str(graphs.SIZE["width"]), "--height",
                     str(graphs.SIZE["height"]), "--length", str(LENGTH), "--frames", str(LENGTH), "--steps", "2"])
    assert code == 0
    return result_of(out)


@pytest.mark.parametrize("clip", CLIPS, ids=[clip.name for clip in CLIPS])
def test_each_clip_comes_back_at_its_size_count_rate_and_audio_on_every_path(
        clip: Clip, clips, comfy_server, tiny_models, tmp_path, single_torch_thread):
    source = clips[clip.name]
    stated = read_window(source, count=1)
    stem = clip.name.replace(".", "_")
    results = {
        "native graph": run_on_server(comfy_server, native_graph(tiny_models, clip.name, f"video/native_{stem}"),
                                      tmp_path / "native.mp4"),
        "bounded graph": run_on_server(comfy_server, bounded_graph(tiny_models, clip.name, f"video/bounded_{stem}"),
                                       tmp_path / "bounded.mp4"),
        "cli": run_cli(tiny_models, source, tmp_path / "cli.mp4"),
    }
    frames = min(clip.frames, LENGTH)
    width, height = even_size(clip.width, clip.height)
    for path, got in results.items():
        assert (got.frames, got.width, got.height) == (frames, width, height), path
        assert got.fps == pytest.approx(stated.fps, abs=0.01), path
        assert (got.audio_seconds is not None) == clip.audio, path
        if clip.audio:
            assert got.audio_seconds == pytest.approx(frames / stated.fps, abs=AAC_SLACK_SECONDS), path


def test_bounded_loader_refuses_files_outside_input_and_windows_past_the_end(clips, comfy_server, tiny_models):
    outside = bounded_graph(tiny_models, "../outside.mp4", "video/bounded_bad")
    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(outside, client_id="footage-bad-input")
    assert "outside" in str(rejected.value.node_errors["load"])

    past_end = bounded_graph(tiny_models, "three_frames.mp4", "video/bounded_bad")
    past_end["load"]["inputs"]["start_frame"] = 500
    result = comfy_server.run(past_end)
    assert result.status == "execution_error"
    assert "frame 500" in result.error["exception_message"] and "start" in result.error["exception_message"]
    assert not list((comfy_server.base / "output" / "video").glob("bounded_bad*"))
    assert comfy_server.is_alive()
