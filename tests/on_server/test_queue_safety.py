"""Unattended safety on the server: a graph from a queue that names a file outside ComfyUI's folders (by `..`, by an
absolute path, or through a symlink that leads out) is refused with a message, and the server keeps running."""

from __future__ import annotations

import json
import os

import pytest

from harness.comfy_server import PromptRejected


def load_conditioning(file: str) -> dict:
    return {"pos": {"class_type": "ReCoLoadConditioning", "inputs": {"file": file}},
            "save": {"class_type": "ReCoSaveConditioning",
                     "inputs": {"conditioning": ["pos", 0], "filename_prefix": "conditioning/safety", "text": ""}}}


@pytest.fixture(scope="module")
def escaping_link(comfy_server, tmp_path_factory, tiny_models):
    """A symlink in input/ that leads to a file outside it."""
    outside = tmp_path_factory.mktemp("outside") / "secret.safetensors"
    outside.write_bytes(tiny_models.positive.read_bytes())
    link = comfy_server.base / "input" / "escape.safetensors"
    os.symlink(outside, link)
    yield link.name
    link.unlink()


def test_file_inputs_leaving_the_input_folder_are_refused(comfy_server, tiny_models, escaping_link):
    for file in ("../models/conditioning/x.safetensors", str(tiny_models.positive), escaping_link):
        with pytest.raises(PromptRejected) as rejected:
            comfy_server.queue(load_conditioning(file), "safety")
        assert "points outside" in str(rejected.value) and "file" in str(rejected.value), file
    save_video = {"class_type": "SaveVideo", "inputs": {
        "video": ["load", 0], "filename_prefix": "video/x", "format": "auto", "codec": "auto"}}
    with pytest.raises(PromptRejected, match="Invalid video file: ../../etc/passwd"):
        comfy_server.queue({"load": {"class_type": "LoadVideo", "inputs": {"file": "../../etc/passwd"}},
                            "save": save_video}, "safety")
    assert comfy_server.is_alive()


def test_saves_never_overwrite_and_never_leave_the_output_folder(comfy_server, tiny_models):
    graph = load_conditioning(tiny_models.positive.name)
    names = []
    for run in range(2):
        graph["save"]["inputs"]["text"] = f"run {run}"  # else ComfyUI's cache would skip the second save
        result = comfy_server.run(graph)
        assert result.status == "execution_success", result.error
        names += result.outputs("save")["text"]
    assert len(set(names)) == 2, names  # the same graph twice: two files, nothing overwritten
    graph["save"]["inputs"]["filename_prefix"] = "../../escaped/conditioning"
    with pytest.raises(PromptRejected) as rejected:  # refused before anything runs
        comfy_server.run(graph)
    assert "filename_prefix" in json.dumps(rejected.value.node_errors)
    assert not (comfy_server.base / "escaped").exists()
    assert comfy_server.is_alive()
