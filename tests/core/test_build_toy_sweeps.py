"""The toy build's sweep bookkeeping: the tables RESULTS.md quotes, and the train subsets the sweeps train on."""

from __future__ import annotations

import json

import pytest

from harness.toy_assets import load_tool


@pytest.fixture(scope="module")
def build_toy():
    return load_tool("build_toy")


def _record(folder, run, seed, **groups):
    (folder / f"{run}-s{seed}.json").write_text(json.dumps({"run": run, "seed": seed, "summary": groups}))


def test_the_table_gives_mean_and_spread_over_seeds_and_marks_runs_not_scored(build_toy, tmp_path):
    runs = {"a": build_toy.LoraRun(96, 200, 0.0, 0.0), "b": build_toy.LoraRun(480, 4000, 1e-2, 1e-1)}
    _record(tmp_path, "a", 0, overall={"target_psnr": 10.0}, demo={"iou": 0.5})
    _record(tmp_path, "a", 1, overall={"target_psnr": 12.0}, demo={"iou": 0.7})

    table = build_toy.ablation_table(tmp_path, runs, (("overall", "target_psnr"), ("demo", "iou")))

    lines = table.splitlines()
    assert lines[0] == "| run | seeds | target_psnr | demo iou |"
    assert lines[2] == "| a | 0,1 | 11.00 +- 1.41 | 0.60 +- 0.14 |"
    assert lines[3] == "| b | - | n/a | n/a |"


def test_first_rows_copies_a_split_prefix_with_its_files(build_toy, tmp_path):
    split = tmp_path / "train"
    rows = []
    for index in range(3):
        row = {key: f"{folder}/{index}.{suffix}" for key, folder, suffix in (
            ("src_video", "src", "mp4"), ("tar_video", "tar", "mp4"), ("mask_video", "mask", "mp4"),
            ("prompt_embeds", "embeds", "safetensors"))}
        for relative in row.values():
            (split / relative).parent.mkdir(parents=True, exist_ok=True)
            (split / relative).write_text(f"{relative} bytes")
        rows.append({**row, "clip_id": f"train-{index}"})
    (split / "manifest.json").write_text(json.dumps(rows))

    subset = build_toy.first_rows(split, 2)

    assert subset == tmp_path / "train-first2"
    assert json.loads((subset / "manifest.json").read_text()) == rows[:2]
    assert (subset / "src/1.mp4").read_text() == "src/1.mp4 bytes"
    assert not (subset / "src/2.mp4").exists()


def test_first_rows_leaves_a_complete_subset_untouched(build_toy, tmp_path):
    split = tmp_path / "train"
    (split / "src").mkdir(parents=True)
    row = {"src_video": "src/0.mp4", "tar_video": "src/0.mp4", "mask_video": "src/0.mp4",
           "prompt_embeds": "src/0.mp4"}
    (split / "src/0.mp4").write_text("clip")
    (split / "manifest.json").write_text(json.dumps([row, {**row, "clip_id": "train-1"}]))
    subset = build_toy.first_rows(split, 1)
    written = (subset / "src/0.mp4").stat().st_mtime_ns
    (split / "src/0.mp4").write_text("changed")

    assert build_toy.first_rows(split, 1) == subset
    assert (subset / "src/0.mp4").stat().st_mtime_ns == written
    assert (subset / "src/0.mp4").read_text() == "clip"


def test_first_rows_of_a_whole_split_is_the_split_itself(build_toy, tmp_path):
    split = tmp_path / "train"
    split.mkdir()
    (split / "manifest.json").write_text(json.dumps([{"clip_id": "train-0"}]))

    assert build_toy.first_rows(split, 1) == split
    assert build_toy.first_rows(split, 5) == split
    assert not (tmp_path / "train-first1").exists()
