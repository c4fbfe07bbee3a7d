"""The shipped toy model really edits: its workflow, as committed, on the real server, scored against exact truth.

This is the test that fails when a change breaks editing (a node, a hook, a loader, a key conversion, the LoRA): the
committed `reco_toy_edit` API workflow runs on the shipped toy files with only its clip and instruction swapped, on
held-out test clips, and the edit is scored against the toy world's exact ground truth beside "copy the source".
The bars are the issue's evidence figures minus a margin (MARGIN_DB, IOU_MARGIN) for CPU/codec noise.
"""

from __future__ import annotations

import json

import pytest
import torch

from harness.comfy_server import REPO
from harness.toy_assets import require_toy_assets
from reco_core.toy.demo import COPY_LABEL, EDIT_LABEL, demo_clip, score_edit
from reco_core.video_io import write_video

WORKFLOW = REPO / "workflows" / "api" / "reco_toy_edit.json"
FPS = 16
# The figures: target PSNR >= copy + 6 dB, background PSNR >= 30 dB, IoU >= 0.6; style beats copying.
TARGET_GAIN_DB, BACKGROUND_DB, IOU = 6.0, 30.0, 0.6
MARGIN_DB, IOU_MARGIN = 2.0, 0.1
CLIPS = {"demo": demo_clip()}


def run_toy_workflow(server, clip, folder):
    """The committed API workflow on `clip`: its source written to input/, its instruction typed; returns the edit."""
    source = server.base / "input" / f"{clip.clip_id}.mp4"
    write_video(source, torch.from_numpy(clip.source).float() / 255, FPS)
    graph = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    for node in graph.values():
        if node["class_type"] == "LoadVideo":
            node["inputs"]["file"] = source.name
        elif node["class_type"] == "ReCoToyTextEncode":
            node["inputs"]["text"] = clip.instruction
    result = server.run(graph, timeout=600)
    assert result.status == "execution_success", result.error
    save = next(node_id for node_id, node in graph.items() if node["class_type"] == "SaveVideo"
                and not node["inputs"]["filename_prefix"].endswith("_region"))
    entry = result.outputs(save)["images"][0]
    edit = folder / f"{clip.clip_id}.mp4"
    edit.write_bytes(server.view(entry["filename"], entry["subfolder"], entry["type"]))
    return edit, source


@pytest.mark.parametrize("clip", CLIPS.values(), ids=CLIPS.keys())
def test_toy_workflow_edits_a_held_out_clip(comfy_server, clip, tmp_path):
    require_toy_assets()
    edit, source = run_toy_workflow(comfy_server, clip, tmp_path)
    scores = score_edit(edit, source, clip)
    ours, copy = scores[EDIT_LABEL], scores[COPY_LABEL]
    report = f"{clip.clip_id} '{clip.instruction}': {json.dumps(scores, indent=1)}"

    if clip.task == "style":
        assert ours["frame_psnr"] >= copy["frame_psnr"] + TARGET_GAIN_DB - MARGIN_DB, report
        return
    assert ours["target_psnr"] >= copy["target_psnr"] + TARGET_GAIN_DB - MARGIN_DB, report
    assert ours["background_psnr"] >= BACKGROUND_DB - MARGIN_DB, report
    assert ours["iou"] >= IOU - IOU_MARGIN, report
