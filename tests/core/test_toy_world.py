"""The toy world's promises (exact masks, determinism, unseen test combinations, a closed vocabulary) and its
dataset folder, which the trainer's own manifest check accepts."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from reco_core.canvas import CanvasSpec
from reco_core.toy.dataset import read_toy_rows, write_split
from reco_core.toy.world import (
    BACKGROUND_PALETTES,
    HELD_OUT_COMBOS,
    OBJECT_COLOURS,
    SHAPES,
    TASKS,
    make_clip,
    make_two_removals,
    unseen_looks,
    vocabulary,
    words,
)
from reco_core.training.manifest import validate_manifest
from reco_core.video_io import read_video

CLIPS_PER_SPLIT = 80
# sha256 over clips 0-7 of train and test (frames, mask, texts): the shipped toy model was trained on this world.
WORLD_DIGEST = "96b6ec55ccf84ac4e46e0cd80edaa50e279f6654bbaff8d0ca0a27c0a37ad76b"
_OBJECT = re.compile(rf"\b({'|'.join(OBJECT_COLOURS)}) ({'|'.join(SHAPES)})\b")


def _combos(text: str) -> set[tuple[str, str]]:
    return set(_OBJECT.findall(text))


@pytest.fixture(scope="module")
def clips() -> dict[str, list]:
    return {split: [make_clip(split, index) for index in range(CLIPS_PER_SPLIT)] for split in ("train", "test")}


def test_clip_layout_and_default_task_rotation():
    clip = make_clip("train", 6)
    assert clip.task == TASKS[6 % 4] and clip.clip_id == "train-000006-replace"
    assert clip.source.shape == clip.target.shape == (9, 96, 96, 3)
    assert clip.source.dtype == clip.target.dtype == np.uint8
    assert clip.mask.shape == (9, 96, 96) and clip.mask.dtype == bool
    small = make_clip("test", 3, "add", frames=5, size=64)
    assert small.source.shape == (5, 64, 64, 3) and small.clip_id == "test-000003-add"


def test_same_split_and_index_give_the_same_clip_and_others_differ():
    first, again = make_clip("train", 11, "remove"), make_clip("train", 11, "remove")
    for name in ("instruction", "source_caption", "target_caption"):
        assert getattr(first, name) == getattr(again, name)
    for name in ("source", "target", "mask"):
        assert np.array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.source, make_clip("train", 12, "remove").source)
    assert not np.array_equal(first.source, make_clip("test", 11, "remove").source)


def test_the_world_renders_what_the_shipped_model_was_trained_on():
    digest = hashlib.sha256()
    for split in ("train", "test"):
        for index in range(8):
            clip = make_clip(split, index)
            for part in (clip.source, clip.target, clip.mask):
                digest.update(part.tobytes())
            digest.update("|".join((clip.instruction, clip.source_caption, clip.target_caption)).encode())
    assert digest.hexdigest() == WORLD_DIGEST, (
        "the toy world renders different clips now: the shipped toy weights and docs/RESULTS.md were made from the "
        "old ones; rebuild them with the reproduce command, then update WORLD_DIGEST"
    )


@pytest.mark.parametrize("task", ["add", "remove", "replace"])
def test_mask_is_exactly_the_pixels_the_edit_changes(clips, task):
    for clip in [clip for split in clips.values() for clip in split if clip.task == task]:
        changed = np.any(clip.source != clip.target, axis=-1)
        assert np.array_equal(changed, clip.mask), clip.clip_id
        assert clip.mask.any(axis=(1, 2)).all(), f"{clip.clip_id}: an edit missing from some frame"


def test_style_mask_is_the_whole_frame_and_the_look_changes(clips):
    styled = [clip for clip in clips["train"] if clip.task == "style"]
    assert len({clip.instruction for clip in styled}) > 1
    for clip in styled:
        assert clip.mask.all()
        assert np.mean(np.abs(clip.source.astype(int) - clip.target.astype(int))) > 2, clip.clip_id


def test_held_out_combinations_appear_only_in_the_test_split(clips):
    def seen(split: str) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for clip in clips[split]:
            found |= _combos(clip.source_caption) | _combos(clip.target_caption) | _combos(clip.instruction)
        return found

    assert not seen("train") & HELD_OUT_COMBOS
    assert len(seen("test") & HELD_OUT_COMBOS) >= 3
    held_out_edits = [clip for clip in clips["test"] if _combos(clip.instruction) & HELD_OUT_COMBOS]
    assert len(held_out_edits) >= CLIPS_PER_SPLIT // 5
    for clip in clips["test"]:
        named = _combos(clip.instruction) if clip.task != "style" else _combos(clip.source_caption)
        assert named & HELD_OUT_COMBOS <= unseen_looks(clip)
        assert unseen_looks(clip) <= _combos(clip.source_caption + " " + clip.target_caption) & HELD_OUT_COMBOS
    assert 0 < sum(bool(unseen_looks(clip)) for clip in clips["test"]) < CLIPS_PER_SPLIT
    assert not any(unseen_looks(clip) for clip in clips["train"])


def test_instructions_name_the_edit(clips):
    for clip in clips["test"]:
        if clip.task == "remove":
            (gone,) = _combos(clip.instruction)
            assert gone in _combos(clip.source_caption) and gone not in _combos(clip.target_caption)
        elif clip.task == "add":
            (new,) = _combos(clip.instruction)
            assert new in _combos(clip.target_caption) and new not in _combos(clip.source_caption)


def test_every_word_is_in_the_vocabulary(clips):
    table = vocabulary()
    assert list(table) == sorted(set(table)) and all(re.fullmatch(r"[a-z]+", word) for word in table)
    for clip in clips["train"] + clips["test"]:
        used = words(clip.instruction) + words(clip.source_caption) + words(clip.target_caption)
        assert set(used) <= set(table), clip.clip_id


def test_objects_stand_out_from_every_background_tone():
    """Metrics count a pixel as changed above a threshold of 0.1; every object/background pair clears it widely."""
    levels = np.linspace(0, 1, 11)[:, None]
    for dark, light in BACKGROUND_PALETTES.values():
        tones = np.asarray(dark) + (np.asarray(light) - np.asarray(dark)) * levels
        for colour in OBJECT_COLOURS.values():
            assert np.abs(tones - np.asarray(colour)).max(axis=1).min() >= 60


@pytest.mark.parametrize("index", range(4))
def test_two_removals_have_disjoint_regions_that_are_exactly_what_changes(index):
    edits = make_two_removals("test", index)
    clip, (first, second) = edits.clip, edits.masks
    changed = np.any(clip.source != clip.target, axis=-1)
    assert not bool((first & second).any()) and first.any() and second.any()
    assert np.array_equal(changed, first | second) and np.array_equal(clip.mask, first | second)
    assert clip.target_caption.count(" over ") == 1 and " and " not in clip.target_caption  # one object is kept
    for instruction, mask in zip(edits.instructions, edits.masks):
        colour = OBJECT_COLOURS[instruction.split()[2]]
        assert np.all(clip.source[mask] == colour)  # each region is the object its instruction names
        assert set(words(instruction)) <= set(vocabulary())
    assert set(words(clip.instruction)) <= set(vocabulary())
    again = make_two_removals("test", index)
    assert np.array_equal(again.clip.source, clip.source) and again.instructions == edits.instructions


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="split"):
        make_clip("validation", 0)
    with pytest.raises(ValueError, match="task"):
        make_clip("train", 0, "recolour")
    with pytest.raises(ValueError, match="index"):
        make_clip("train", -1)


def test_written_split_is_a_training_folder_whose_rows_regenerate_their_clips(tmp_path):
    folder = write_split(tmp_path / "toy", "test", 4, frames=5, size=48)
    report = validate_manifest(folder, CanvasSpec(half_width=48, height=48, length=5))
    assert len(report.ok_rows) == 4 and not report.bad_rows, report.format()
    assert {row.task for row in report.ok_rows} == set(TASKS)
    rows = read_toy_rows(folder)
    assert [row.clip_id for row in rows] == [make_clip("test", index).clip_id for index in range(4)]
    clip = rows[1].regenerate()
    mask, _ = read_video(folder / f"mask/{clip.clip_id}.mp4")
    assert np.array_equal(mask.numpy().mean(axis=-1) > 0.5, clip.mask)
    source, fps = read_video(rows[1].source_video)
    assert fps == 16 and np.abs(source.numpy() - clip.source / 255).mean() < 0.02


def test_rows_of_another_dataset_are_refused_by_name(tmp_path):
    (tmp_path / "manifest.json").write_text('[{"src_video": "a.mp4", "tar_video": "b.mp4", "instruction": "x"}]')
    with pytest.raises(ValueError, match="row 0 lacks clip_id"):
        read_toy_rows(tmp_path)
