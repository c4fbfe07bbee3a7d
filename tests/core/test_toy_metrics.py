"""The toy metrics on predictions whose right scores are known: perfect, do-nothing, half right, hand-made."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from reco_core.toy.dataset import write_split
from reco_core.toy.eval_sheet import eval_sheet
from reco_core.toy.metrics import (
    CHANGE_THRESHOLD,
    COPY_SOURCE,
    SEEN_LOOKS,
    TRUE_TARGET,
    UNSEEN_LOOKS,
    clip_metrics,
    evaluate,
    format_table,
    psnr,
    ssim_map,
    summarize,
)
from reco_core.toy.world import make_clip, unseen_looks
from reco_core.video_io import write_video

EDITS = ("add", "remove", "replace")


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("toy"), "test", 4, frames=5, size=48)


@pytest.mark.parametrize("task", EDITS)
def test_the_true_target_scores_perfectly(task):
    clip = make_clip("test", 2, task)
    scores = clip_metrics(clip.target / 255, clip)
    assert scores["target_psnr"] == scores["background_psnr"] == scores["frame_psnr"] == math.inf
    assert scores["target_ssim"] == pytest.approx(1.0) and scores["background_ssim"] == pytest.approx(1.0)
    assert scores["iou"] == 1.0 and scores["temporal"] == 0.0


@pytest.mark.parametrize("task", EDITS)
def test_copying_the_source_changes_nothing_and_misses_the_edit(task):
    clip = make_clip("test", 2, task)
    scores = clip_metrics(clip.source / 255, clip)
    assert scores["iou"] == 0.0 and scores["background_psnr"] == math.inf
    assert scores["background_ssim"] == pytest.approx(1.0)  # the edit next to it does not leak into the score
    assert scores["target_psnr"] < 20 and scores["target_ssim"] < 0.9


def test_an_edit_done_on_half_the_frames_scores_in_between():
    clip = make_clip("test", 1, "remove")
    half = len(clip.target) // 2
    prediction = np.concatenate([clip.target[:half], clip.source[half:]]) / 255
    scores = clip_metrics(prediction, clip)
    assert scores["iou"] == pytest.approx(clip.mask[:half].sum() / clip.mask.sum())
    assert 0 < scores["iou"] < 1
    perfect, copied = clip_metrics(clip.target / 255, clip), clip_metrics(clip.source / 255, clip)
    assert copied["target_psnr"] < scores["target_psnr"] < perfect["target_psnr"]
    assert copied["target_ssim"] < scores["target_ssim"] < perfect["target_ssim"]


def test_style_scores_the_whole_frame_and_has_no_background_or_localisation():
    clip = make_clip("test", 3, "style")
    scores = clip_metrics(clip.source / 255, clip)
    assert scores["background_psnr"] is None and scores["background_ssim"] is None and scores["iou"] is None
    assert scores["frame_psnr"] == pytest.approx(scores["target_psnr"])


def test_a_change_counts_only_above_the_threshold_from_the_source_the_editor_was_given():
    clip = make_clip("test", 0, "add")
    faint = np.clip(clip.source / 255 + 0.5 * CHANGE_THRESHOLD, 0, 1)
    assert clip_metrics(faint, clip)["iou"] == 0.0
    given = clip.source / 255
    given[clip.mask] = 1 - given[clip.mask]  # as if the codec had garbled exactly the edit region
    scores = clip_metrics(given, clip, given)
    assert scores["iou"] == 0.0 and scores["background_psnr"] == math.inf
    assert scores["target_psnr"] == clip_metrics(given, clip)["target_psnr"]


def test_psnr_and_temporal_on_hand_made_clips():
    truth = np.zeros((3, 8, 8, 3))
    assert psnr(truth + 0.1, truth) == pytest.approx(20.0)
    assert psnr(truth, truth, np.zeros((3, 8, 8), dtype=bool)) is None
    clip = make_clip("test", 0, "add")
    frozen = np.repeat(clip.target[:1], len(clip.target), axis=0) / 255
    motion = np.abs(np.diff(clip.target / 255, axis=0)).mean()
    assert clip_metrics(frozen, clip)["temporal"] == pytest.approx(motion)
    single = make_clip("test", 0, "add", frames=1)
    assert clip_metrics(single.target / 255, single)["temporal"] is None


def test_ssim_matches_the_formula_on_one_window():
    rng = np.random.default_rng(0)
    a, b = rng.random((1, 32, 32, 3)), rng.random((1, 32, 32, 3))
    b = 0.6 * a + 0.4 * b
    offsets = np.arange(11) - 5
    line = np.exp(-(offsets**2) / (2 * 1.5**2))
    window = np.outer(line, line) / line.sum() ** 2
    expected = []
    for channel in range(3):
        x, y = a[0, 10:21, 10:21, channel], b[0, 10:21, 10:21, channel]
        mx, my = (window * x).sum(), (window * y).sum()
        vx, vy = (window * x * x).sum() - mx**2, (window * y * y).sum() - my**2
        cov = (window * x * y).sum() - mx * my
        expected.append((2 * mx * my + 1e-4) * (2 * cov + 9e-4) / ((mx**2 + my**2 + 1e-4) * (vx + vy + 9e-4)))
    result = ssim_map(a, b)
    assert result.shape == (1, 32, 32)
    assert result[0, 15, 15] == pytest.approx(np.mean(expected), abs=1e-5)
    assert np.allclose(ssim_map(a, a), 1.0, atol=1e-5)
    assert np.allclose(result, ssim_map(b, a), atol=1e-6)


def test_summary_means_each_task_and_skips_missing_values():
    per_clip = {
        "c1": {"target_psnr": 10.0, "iou": 0.5},
        "c2": {"target_psnr": 20.0, "iou": None},
        "c3": {"target_psnr": 30.0, "iou": 1.0},
    }
    per_clip = {clip: {**dict.fromkeys(
        ("target_ssim", "background_psnr", "background_ssim", "temporal", "frame_psnr")), **scores}
        for clip, scores in per_clip.items()}
    summary = summarize(per_clip, {"c1": "add", "c2": "style", "c3": "add"}, {"pair": ["c1", "c2"], "none": []})
    assert summary["add"]["clips"] == 2 and summary["add"]["target_psnr"] == 20.0 and summary["add"]["iou"] == 0.75
    assert summary["style"]["iou"] is None and summary["style"]["background_psnr"] is None
    assert summary["overall"]["clips"] == 3 and summary["overall"]["iou"] == 0.75
    assert summary["pair"]["clips"] == 2 and summary["pair"]["target_psnr"] == 15.0 and summary["pair"]["iou"] == 0.5
    assert "remove" not in summary and "none" not in summary


def test_evaluate_scores_prediction_folders_against_the_references(toy_folder, tmp_path):
    perfect, partial = tmp_path / "perfect", tmp_path / "partial"
    perfect.mkdir(), partial.mkdir()
    for path in (toy_folder / "tar").glob("*.mp4"):
        shutil.copy(path, perfect / path.name)
    shutil.copy(toy_folder / "src/test-000001-remove.mp4", partial / "test-000001-remove.mp4")

    result = evaluate(toy_folder, {"model": perfect})
    assert result["scored"] == result["clips"] == 4 and not result["missing"]
    assert list(result["summary"]) == [COPY_SOURCE, TRUE_TARGET, "model"]
    assert result["summary"]["model"] == result["summary"][TRUE_TARGET]
    model, copied = result["summary"]["model"]["overall"], result["summary"][COPY_SOURCE]["overall"]
    assert model["target_psnr"] > copied["target_psnr"] + 10 and model["iou"] > copied["iou"] + 0.5
    assert set(result["per_clip"]["model"]) == {f"test-{index:06d}-{task}" for index, task in enumerate(
        ("add", "remove", "replace", "style"))}
    unseen = [index for index, task in enumerate(("add", "remove", "replace", "style"))
              if unseen_looks(make_clip("test", index, task, frames=5, size=48))]
    assert result["summary"]["model"].get(UNSEEN_LOOKS, {}).get("clips", 0) == len(unseen)
    assert result["summary"]["model"].get(SEEN_LOOKS, {}).get("clips", 0) == 4 - len(unseen)
    table = format_table(result)
    for needle in ("copy source", "true target (mp4)", "model", "overall", "n/a"):
        assert needle in table

    both = evaluate(toy_folder / "manifest.json", {"model": perfect, "partial": partial})
    assert both["scored"] == 1 and set(both["summary"]["partial"]) - {UNSEEN_LOOKS, SEEN_LOOKS} == {"remove", "overall"}
    assert len(both["missing"]["partial"]) == 3


def test_evaluate_refuses_unusable_predictions_by_name(toy_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="label 'ghost'"):
        evaluate(toy_folder, {"ghost": tmp_path / "absent"})
    with pytest.raises(ValueError, match="reserved"):
        evaluate(toy_folder, {COPY_SOURCE: toy_folder / "tar"})
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no <clip_id>.mp4"):
        evaluate(toy_folder, {"empty": empty})
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for index, task in enumerate(("add", "remove", "replace", "style")):
        write_video(wrong / f"test-{index:06d}-{task}.mp4", torch.zeros(5, 32, 32, 3), 16)
    with pytest.raises(ValueError, match="save the edited half at the source's size"):
        evaluate(toy_folder, {"wrong": wrong})


def test_eval_sheet_lays_out_source_target_and_each_prediction_per_clip(toy_folder, tmp_path):
    perfect = tmp_path / "perfect"
    perfect.mkdir()
    for path in (toy_folder / "tar").glob("*.mp4"):
        shutil.copy(path, perfect / path.name)

    sheet = np.asarray(eval_sheet(toy_folder, {"perfect": perfect, "again": perfect}))

    size = 48  # the fixture's frames; each cell holds the first and last frame side by side
    assert sheet.shape == (4 * size, 4 * 2 * size, 3)
    first = sheet[:size]
    target, prediction = first[:, 2 * size:4 * size], first[:, 4 * size:6 * size]
    assert np.array_equal(target, prediction)  # the same mp4 decodes to the same pixels
    assert not np.array_equal(first[:, :2 * size], target)  # the source is not the edit
