"""Nodes that save CONDITIONING to a file and load it back, so an instruction is encoded by UMT5 once.

Mirrors core's SaveLatent/LoadLatent: files are written under the output folder and read from the input folder.
"""

from __future__ import annotations

import os

import folder_paths
from comfy_api.latest import io

from ..reco_core.text_embeddings import UMT5_DIM, load_text_embeddings, save_text_embeddings
from ..reco_core.training.cache import file_digest
from .input_checks import about_input, check_inputs, widget_problem
from .safe_paths import files_with_suffix, resolve_inside

SUFFIX = ".safetensors"


class ReCoSaveConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoSaveConditioning",
            display_name="ReCo Save Conditioning",
            category="ReCo",
            description="Saves an encoded instruction (e.g. from CLIPTextEncode with the UMT5 text encoder) to "
            "output/ as safetensors, so later runs and headless queues can skip the text encoder.",
            inputs=[
                io.Conditioning.Input("conditioning", tooltip="One encoded prompt (CLIPTextEncode output)."),
                io.String.Input(
                    "filename_prefix", default="conditioning/reco",
                    tooltip="Where under the output folder to write; a counter and .safetensors are appended.",
                ),
                io.String.Input(
                    "text", default="", multiline=True,
                    tooltip="The instruction that was encoded, stored in the file's metadata for reference.",
                ),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, filename_prefix: str | None = None) -> bool | str:
        problem = widget_problem(cls, filename_prefix=filename_prefix)
        if problem:
            return problem
        if filename_prefix is not None:
            try:
                resolve_inside(folder_paths.get_output_directory(), filename_prefix, "filename_prefix")
            except ValueError as error:
                return str(error)
        return True

    @classmethod
    def execute(cls, conditioning, filename_prefix: str, text: str) -> io.NodeOutput:
        check_inputs(cls, locals())
        if len(conditioning) != 1:
            raise ValueError(
                f"conditioning: holds {len(conditioning)} entries; save one encoded prompt (not a combined one)."
            )
        output_dir = folder_paths.get_output_directory()
        folder, filename, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, output_dir)
        name = f"{filename}_{counter:05}_{SUFFIX}"
        resolve_inside(output_dir, os.path.join(subfolder, name), "filename_prefix")
        save_text_embeddings(os.path.join(folder, name), conditioning[0][0].float(), text=text)
        return io.NodeOutput(ui={"text": [os.path.join(subfolder, name)]})


class ReCoLoadConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoLoadConditioning",
            display_name="ReCo Load Conditioning",
            category="ReCo",
            description="Loads an instruction encoded earlier (ReCoSaveConditioning) from the input folder as "
            "CONDITIONING, without the text encoder.",
            inputs=[
                io.Combo.Input(
                    "file", options=files_with_suffix(folder_paths.get_input_directory(), SUFFIX),
                    tooltip="A .safetensors file in ComfyUI's input folder written by ReCoSaveConditioning.",
                ),
            ],
            outputs=[io.Conditioning.Output(tooltip="The saved prompt embeddings as CONDITIONING.")],
        )

    @classmethod
    def _path(cls, file: str):
        return resolve_inside(folder_paths.get_input_directory(), file, "file")

    @classmethod
    def validate_inputs(cls, file: str | None = None) -> bool | str:
        if isinstance(file, str):  # a name outside the list gets the fix first, the generic check after
            try:
                path = cls._path(file)
            except ValueError as error:
                return str(error)
            if not path.is_file():
                return f"file: '{file}' is not in the input folder; copy the saved conditioning there."
        return widget_problem(cls, file=file) or True

    @classmethod
    def fingerprint_inputs(cls, file: str) -> str:
        """Re-run when the file changes; read in chunks, so a huge file never sits in memory whole."""
        path = cls._path(file) if isinstance(file, str) else None
        return file_digest(path) if path is not None and path.is_file() else ""

    @classmethod
    def execute(cls, file: str) -> io.NodeOutput:
        check_inputs(cls, locals())
        with about_input("file"):
            saved = load_text_embeddings(cls._path(file))
        width = saved.embeds.shape[-1]
        if width != UMT5_DIM:
            raise ValueError(f"file: '{file}' holds {width}-wide embeddings; Wan's text encoder (UMT5-XXL) gives "
                             f"{UMT5_DIM}. Encode the instruction with CLIPLoader type wan and save it again.")
        return io.NodeOutput([[saved.embeds, {"pooled_output": None}]])
