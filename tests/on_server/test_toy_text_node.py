"""ReCoToyTextEncode on the real server: typed text becomes the encoder's exact embeddings; bad input is named."""

from __future__ import annotations

import pytest

from reco_core.text_embeddings import load_text_embeddings
from reco_core.toy.text_encoder import ToyTextEncoder
from reco_core.toy.world import vocabulary

ENCODER = "test_toy_text_encoder.safetensors"


@pytest.fixture(scope="module")
def encoder_file(comfy_server):
    """A toy encoder of the real vocabulary, made here so the node is tested without the shipped weights."""
    path = comfy_server.base / "models" / "text_encoders" / ENCODER
    path.parent.mkdir(parents=True, exist_ok=True)
    ToyTextEncoder.create(vocabulary()).save(path)
    return path


def encode_and_save(text: str, encoder_name: str = ENCODER, prefix: str = "conditioning/toy") -> dict:
    return {
        "encode": {"class_type": "ReCoToyTextEncode", "inputs": {"encoder_name": encoder_name, "text": text}},
        "save": {"class_type": "ReCoSaveConditioning", "inputs": {
            "conditioning": ["encode", 0], "filename_prefix": prefix, "text": text}},
    }


def test_typed_text_becomes_the_encoders_embeddings(comfy_server, encoder_file):
    text = "Replace the blue square with a green triangle."
    result = comfy_server.run(encode_and_save(text))
    assert result.status == "execution_success", result.error
    saved = load_text_embeddings(comfy_server.base / "output" / result.outputs("save")["text"][0])
    expected = ToyTextEncoder.load(encoder_file).encode(text)
    assert saved.embeds.shape == expected.shape
    assert bool((saved.embeds == expected).all())


@pytest.mark.parametrize(("text", "encoder", "named", "says"), [
    ("Remove the red unicorn.", ENCODER, "text", "unicorn"),
    ("", ENCODER, "text", "empty"),
    ("Remove the red circle.", "tiny_reco_rank4.ckpt", "encoder_name", "tiny_reco_rank4.ckpt"),
], ids=["unknown word", "empty text", "not a toy encoder"])
def test_bad_text_or_encoder_is_named_and_nothing_is_written(comfy_server, encoder_file, tiny_models,
                                                            text, encoder, named, says):
    if encoder != ENCODER:  # a file of another kind in text_encoders
        (encoder_file.parent / encoder).write_bytes(tiny_models.reco_lora.read_bytes())
    result = comfy_server.run(encode_and_save(text, encoder, prefix=f"conditioning/bad_{named}"))
    assert result.status == "execution_error"
    message = result.error["exception_message"]
    assert message.startswith(f"{named}:") and says in message, message
    assert not list((comfy_server.base / "output").glob(f"conditioning/bad_{named}*"))
    assert comfy_server.is_alive()
