"""ReCoToyTextEncode: type the toy model's instruction in the graph, as an artist types a prompt.

The real Wan text encoder (UMT5-XXL) is 11 GB and its configuration is fixed inside ComfyUI's CLIPLoader, so the toy
ReCo model ships its own frozen word-level encoder: one small safetensors file in `models/text_encoders` that maps
each word of the toy world's vocabulary to a Wan-sized (4096-d) vector. This node loads it and turns typed text into
CONDITIONING that ReCoCanvas takes like CLIPTextEncode's output. The encoding itself lives in reco_core.toy.
"""

from __future__ import annotations

import functools
import os

import folder_paths
from comfy_api.latest import io

from ..reco_core.toy.text_encoder import ToyTextEncoder
from .input_checks import check_inputs, widget_problem

FOLDER = "text_encoders"
DEFAULT_ENCODER = "reco_toy_text_encoder.safetensors"
DEFAULT_TEXT = "Remove the red circle."


@functools.lru_cache(maxsize=1)
def _load(path: str, modified: float) -> ToyTextEncoder:
    """The last encoder used, kept like native loaders keep their last model; a rewritten file is read again."""
    return ToyTextEncoder.load(path)


class ReCoToyTextEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoToyTextEncode",
            display_name="ReCo Toy Text Encode",
            category="ReCo",
            description="Encodes an instruction for the toy ReCo model with its small word-level text encoder "
            f"({DEFAULT_ENCODER} in models/text_encoders). It knows only the toy world's words: shapes, colours, "
            "positions, styles and the verbs add, remove, replace, make, turn.",
            inputs=[
                io.Combo.Input(
                    "encoder_name", options=folder_paths.get_filename_list(FOLDER), default=DEFAULT_ENCODER,
                    tooltip=f"The toy text encoder file in models/text_encoders ({DEFAULT_ENCODER}, installed by "
                    "`make run`). The UMT5 encoder does not go here: load that one with CLIPLoader.",
                ),
                io.String.Input(
                    "text", default=DEFAULT_TEXT, multiline=True,
                    tooltip="The instruction in plain English, e.g. 'Remove the red circle.', 'Replace the blue "
                    "square with a green triangle.' or 'Make it look like a pencil sketch.' Only words of the toy "
                    "world are known; an unknown word is an error that lists it.",
                ),
            ],
            outputs=[io.Conditioning.Output(tooltip="The encoded instruction: connect it to ReCoCanvas.")],
        )

    @classmethod
    def validate_inputs(cls, encoder_name: str | None = None) -> bool | str:
        """ComfyUI 0.3.75 does not check that a V3 combo value is one of its choices; this does."""
        return widget_problem(cls, encoder_name=encoder_name) or True

    @classmethod
    def execute(cls, encoder_name: str, text: str) -> io.NodeOutput:
        check_inputs(cls, locals())
        path = folder_paths.get_full_path_or_raise(FOLDER, encoder_name)
        try:
            encoder = _load(path, os.stat(path).st_mtime)
        except ValueError as error:
            raise ValueError(f"encoder_name: {error}") from error
        try:
            embeds = encoder.encode(text)
        except ValueError as error:
            raise ValueError(f"text: {error}") from error
        return io.NodeOutput([[embeds, {"pooled_output": None}]])
