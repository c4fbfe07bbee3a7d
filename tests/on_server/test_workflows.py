"""The example workflows: the committed files are exactly what tools/build_workflows.py writes, and each one runs.

The generator reads widget order, socket types and defaults from /object_info, so it is checked against the live test
server's answer: a node that gains, drops or reorders an input makes the committed files stale here, before an artist
opens one with shifted widget values. Each API workflow then runs on the real server as committed, except for what a
test machine cannot have: the real model files (swapped for the tiny models), the 11 GB text encoder (each
CLIPTextEncode becomes ReCoLoadConditioning under the same node id, so every link still holds) and full-size sampling.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json
import sys
from itertools import combinations
from pathlib import Path

import pytest
import torch
from PIL import Image

from harness.comfy_server import REPO
from harness.sample_video import FPS, FRAMES, HEIGHT, WIDTH, sample_frames
from harness.video_probe import probe_video

TINY_CANVAS = {"width": 32, "height": 32, "length": 9}
TINY_WINDOWS = {"width": 32, "height": 32}  # window_length and overlap as committed: 81 frames (a clip), or 1 (stills)
TINY_STEPS = 2
TITLE_HEIGHT = 30  # LiteGraph draws the title bar above a node's pos
REGENERATE = ("regenerate them: start ComfyUI with `make run`, then run "
              "`.venv/bin/python tools/build_workflows.py --server http://127.0.0.1:8188` and commit the result")


def load_generator():
    """tools/ is not a package; load the generator from its file."""
    spec = importlib.util.spec_from_file_location("build_workflows", REPO / "tools" / "build_workflows.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


generator = load_generator()
NAMES = [workflow.name for workflow in generator.SPECS]


def test_committed_workflows_are_what_the_generator_writes(comfy_server):
    expected = dict(generator.file_texts(comfy_server.object_info()))
    committed = {*generator.WORKFLOWS.glob("*.json"), *generator.WORKFLOWS.glob("api/*.json")}
    stale = sorted(str(path.relative_to(REPO)) for path, text in expected.items()
                   if not path.is_file() or path.read_text(encoding="utf-8") != text)
    unknown = sorted(str(path.relative_to(REPO)) for path in committed - set(expected))
    assert not stale, f"the workflow files {stale} differ from what tools/build_workflows.py writes; {REGENERATE}"
    assert not unknown, f"{unknown} are not written by tools/build_workflows.py: add a spec there, or delete them"


@pytest.mark.parametrize("name", NAMES)
def test_layout_runs_left_to_right_without_overlaps(name):
    """Links run rightwards, or straight down a column; no node hides another (title bars included)."""
    ui = json.loads((generator.WORKFLOWS / f"{name}.json").read_text(encoding="utf-8"))
    boxes = {node["id"]: (node["pos"][0], node["pos"][1] - TITLE_HEIGHT,
                          node["pos"][0] + node["size"][0], node["pos"][1] + node["size"][1]) for node in ui["nodes"]}
    overlapping = [(a, b) for a, b in combinations(boxes, 2)
                   if boxes[a][0] < boxes[b][2] and boxes[b][0] < boxes[a][2]
                   and boxes[a][1] < boxes[b][3] and boxes[b][1] < boxes[a][3]]

    def runs_forward(source: tuple, target: tuple) -> bool:
        return source[2] < target[0] or (source[0] == target[0] and source[3] < target[1])

    backwards = [link for link in ui["links"] if not runs_forward(boxes[link[1]], boxes[link[3]])]
    assert not overlapping, f"nodes overlap: {overlapping}"
    assert not backwards, f"links that do not run left to right: {backwards}"


def on_tiny_models(graph: dict, tiny_models, video_name: str) -> dict:
    """The API workflow with the test machine's files and sizes; its nodes and links otherwise as committed."""
    graph = copy.deepcopy(graph)
    canvas = next(node["inputs"] for node in graph.values()
                  if node["class_type"] in ("ReCoCanvas", "ReCoWindowedEdit"))
    embeddings = {canvas["positive"][0]: tiny_models.positive.name, canvas["negative"][0]: tiny_models.negative.name}
    for node_id, node in list(graph.items()):
        inputs = node["inputs"]
        match node["class_type"]:
            case "CLIPLoader":
                del graph[node_id]
            case "CLIPTextEncode":
                # An instruction the canvas does not take (a region's, reco_multi_edit) gets the positive one.
                node.update(class_type="ReCoLoadConditioning",
                            inputs={"file": embeddings.get(node_id, tiny_models.positive.name)})
            case "UNETLoader":
                inputs["unet_name"] = tiny_models.vace.name
            case "VAELoader":
                inputs["vae_name"] = tiny_models.vae.name
            case "ReCoLoRALoader":
                inputs["lora_name"] = tiny_models.reco_lora.name
            case "LoadVideo":
                inputs["file"] = video_name
            case "ReCoCanvas":
                inputs.update(TINY_CANVAS)
            case "ReCoSampler":
                inputs["steps"] = TINY_STEPS
            case "ReCoWindowedEdit":
                inputs.update(TINY_WINDOWS, steps=TINY_STEPS)
    return graph


def write_input_images(graph: dict, input_folder: Path) -> None:
    """Every image a LoadImage node names, written under that name: an edit of the source's first frame."""
    edited = (255 - sample_frames()[0].mul(255).round()).byte().numpy()
    for node in graph.values():
        if node["class_type"] == "LoadImage":
            Image.fromarray(edited).save(input_folder / node["inputs"]["image"])
    write_region_masks(graph, input_folder)


def write_region_masks(graph: dict, input_folder: Path) -> None:
    """Every mask a LoadImageMask node names, at the source's size: the n-th one white on the n-th vertical stripe,
    so the regions of reco_multi_edit are apart from each other."""
    names = sorted(node["inputs"]["image"] for node in graph.values() if node["class_type"] == "LoadImageMask")
    for index, name in enumerate(names):
        mask = Image.new("RGB", (WIDTH, HEIGHT))
        stripe = WIDTH // len(names)
        mask.paste((255, 255, 255), (index * stripe, 0, (index + 1) * stripe, HEIGHT))
        mask.save(input_folder / name)


@pytest.mark.parametrize("name", NAMES)
def test_api_workflow_writes_the_edit_at_the_source_size_length_and_rate(
        name, comfy_server, tiny_models, source_video, tmp_path):
    graph = json.loads((generator.WORKFLOWS / "api" / f"{name}.json").read_text(encoding="utf-8"))
    write_input_images(graph, comfy_server.base / "input")

    result = comfy_server.run(on_tiny_models(graph, tiny_models, source_video.name))

    assert result.status == "execution_success", result.error
    if any(node["class_type"] == "SaveImage" for node in graph.values()):
        assert_saved_images_at(comfy_server, result, graph, (WIDTH, HEIGHT))
        return
    save = next(node_id for node_id, node in graph.items() if node["class_type"] == "SaveVideo")
    entry = result.outputs(save)["images"][0]
    out = tmp_path / f"{name}.mp4"
    out.write_bytes(comfy_server.view(entry["filename"], entry["subfolder"], entry["type"]))
    facts = probe_video(out)
    assert (facts.frames, facts.width, facts.height) == (FRAMES, WIDTH, HEIGHT)
    assert facts.fps == pytest.approx(FPS)


def assert_saved_images_at(server, result, graph: dict, size: tuple[int, int]) -> None:
    """Every image the graph's SaveImage wrote is a PNG of ``size`` (the still's own size, no padding)."""
    save = next(node_id for node_id, node in graph.items() if node["class_type"] == "SaveImage")
    entries = result.outputs(save)["images"]
    assert entries
    for entry in entries:
        with Image.open(io.BytesIO(server.view(entry["filename"], entry["subfolder"], entry["type"]))) as image:
            assert (image.format, image.size) == ("PNG", size)


@pytest.mark.parametrize("frames", [200, 33])
def test_long_clip_workflow_returns_every_frame_at_the_source_size_and_rate(frames, comfy_server, tiny_models,
                                                                          tmp_path):
    """200 frames at 24 fps go through three 81-frame windows (overlap 9), 33 frames through one, as committed."""
    from reco_core.video_io import write_video

    name = f"long_{frames}.mp4"
    write_video(comfy_server.base / "input" / name,
                torch.rand(frames, 24, 40, 3, generator=torch.Generator().manual_seed(frames)), fps=24)
    graph = json.loads((generator.WORKFLOWS / "api" / "reco_edit_long.json").read_text(encoding="utf-8"))
    result = comfy_server.run(on_tiny_models(graph, tiny_models, name), timeout=600)
    assert result.status == "execution_success", result.error
    save = next(node_id for node_id, node in graph.items() if node["class_type"] == "SaveVideo")
    entry = result.outputs(save)["images"][0]
    out = tmp_path / "long.mp4"
    out.write_bytes(comfy_server.view(entry["filename"], entry["subfolder"], entry["type"]))
    facts = probe_video(out)
    assert (facts.frames, facts.width, facts.height) == (frames, 40, 24)
    assert facts.fps == pytest.approx(24)
