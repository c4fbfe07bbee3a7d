"""Saving CONDITIONING to a file and loading it back, through the real server."""

from __future__ import annotations

import shutil

from harness.comfy_server import PromptRejected
import pytest

from reco_core.text_embeddings import load_text_embeddings


def test_saved_conditioning_loads_back_identically(comfy_server, tiny_models):
    graph = {
        "load": {"class_type": "ReCoLoadConditioning", "inputs": {"file": tiny_models.positive.name}},
        "save": {"class_type": "ReCoSaveConditioning", "inputs": {
            "conditioning": ["load", 0], "filename_prefix": "conditioning/roundtrip", "text": "Make it a watercolor."}},
    }
    result = comfy_server.run(graph)
    assert result.status == "execution_success", result.error
    written = result.outputs("save")["text"][0]
    saved = load_text_embeddings(comfy_server.base / "output" / written)
    original = load_text_embeddings(tiny_models.positive)
    assert saved.text == "Make it a watercolor."
    assert saved.embeds.shape == original.embeds.shape
    assert bool((saved.embeds == original.embeds).all())

    # The written file feeds the loader again once copied into input/.
    shutil.copyfile(comfy_server.base / "output" / written, comfy_server.base / "input" / "roundtrip.safetensors")
    again = comfy_server.run({"load": {"class_type": "ReCoLoadConditioning",
                                       "inputs": {"file": "roundtrip.safetensors"}},
                              "save": {"class_type": "ReCoSaveConditioning", "inputs": {
                                  "conditioning": ["load", 0], "filename_prefix": "conditioning/again", "text": ""}}})
    assert again.status == "execution_success", again.error


@pytest.mark.parametrize("name", ["../../outside.safetensors", "/etc/passwd", "missing.safetensors"])
def test_loader_refuses_files_outside_input_or_missing(comfy_server, name):
    graph = {
        "load": {"class_type": "ReCoLoadConditioning", "inputs": {"file": name}},
        "save": {"class_type": "ReCoSaveConditioning", "inputs": {
            "conditioning": ["load", 0], "filename_prefix": "conditioning/never", "text": ""}},
    }
    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(graph, client_id="refusal")
    assert "load" in rejected.value.node_errors
    assert comfy_server.is_alive()
