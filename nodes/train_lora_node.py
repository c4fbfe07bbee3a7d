"""ReCoTrainLoRA: trains a ReCo LoRA (L_ic + L_latent + L_attn) on a dataset folder inside ComfyUI's input folder.

The clips are encoded with the graph's own VAE (and the instructions with its CLIP when rows carry no saved
embeddings), cached beside the dataset, then the trainer of reco_core runs on diffusers' Wan VACE transformer loaded
from the chosen base file. The LoRA is written to models/loras in ComfyUI's key form, so ReCoLoRALoader and native
LoraLoaderModelOnly load it as it is.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import comfy.model_management
import comfy.utils
import folder_paths
import numpy as np
import torch
from comfy_api.latest import io
from PIL import Image

from ..reco_core.training.fp8_base import BASE_WEIGHT_DTYPES
from .canvas_checks import canvas_size_problem
from .input_checks import about_input, check_inputs, widget_problem
from .prompt_server import server_instance
from .safe_paths import check_name, resolve_inside

CACHE_FOLDER = ".reco_cache"
CHECKPOINT_FOLDER = "reco_training"


def _weights_digest(module: torch.nn.Module, limit: int = 1 << 20) -> str:
    """A short identity of loaded weights (first bytes of every tensor), so caches never mix two VAEs or encoders."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().flatten()[: limit // max(tensor.element_size(), 1)].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class _ComfyVaeCodec:
    """ComfyUI's VAE.encode already returns the raw (1, 16, T, h, w) latents the dataset expects."""

    def __init__(self, vae):
        self.vae = vae

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(frames).float().cpu()


def _clip_text_encoder(clip):
    def encode(text: str) -> torch.Tensor:
        return clip.encode_from_tokens_scheduled(clip.tokenize(text))[0][0].float().cpu()

    return encode


def _image_tensor(path: Path) -> torch.Tensor:
    return torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0)[None]


class ReCoTrainLoRA(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoTrainLoRA",
            display_name="ReCo Train LoRA",
            category="ReCo",
            description="Trains a ReCo LoRA on your own edit pairs (source video, edited video, instruction, optional "
            "mask) with ReCo's in-context loss and its latent and attention region constraints. Needs a GPU for "
            "real sizes; checkpoints let a stopped run resume.",
            inputs=[
                io.Combo.Input("base_model", options=folder_paths.get_filename_list("diffusion_models"),
                               tooltip="Wan2.1-VACE weights to train on (wan2.1_vace_1.3B_fp16.safetensors)."),
                io.Vae.Input("vae", tooltip="The Wan 2.1 VAE, to encode the clips (cached after the first run)."),
                io.String.Input("dataset", default="reco_dataset",
                                tooltip="Folder inside ComfyUI's input folder holding manifest.json/.jsonl with "
                                "src_video, tar_video, instruction_final_refine (ReCo-Data fields), mask_video."),
                io.String.Input("output_name", default="reco/my_reco_lora",
                                tooltip="LoRA file name under models/loras (.safetensors is added). An existing "
                                "file is never overwritten: the next free name (_2, _3, ...) is used, unless resume "
                                "continues that file's run."),
                io.Int.Input("steps", default=1000, min=1, max=1000000, tooltip="Optimizer steps."),
                io.Float.Input("learning_rate", default=5e-5, min=1e-7, max=1.0, step=1e-6, round=1e-7,
                               tooltip="AdamW learning rate (ReCo: 5e-5)."),
                io.Int.Input("rank", default=128, min=1, max=1024, tooltip="LoRA rank (ReCo: 128; alpha = rank)."),
                io.Float.Input("lambda_latent", default=1e-3, min=0.0, max=10.0, step=1e-4, round=1e-6,
                               tooltip="Weight of the latent-space region loss (ReCo: 1e-3; 0 switches it off)."),
                io.Float.Input("lambda_attn", default=1e-3, min=0.0, max=10.0, step=1e-4, round=1e-6,
                               tooltip="Weight of the attention-space region loss (ReCo: 1e-3; 0 switches it off)."),
                io.Int.Input("width", default=832, min=16, max=4096, step=16, tooltip="Width of each canvas half."),
                io.Int.Input("height", default=480, min=16, max=4096, step=16, tooltip="Canvas height."),
                io.Int.Input("length", default=81, min=1, max=1025, step=4, tooltip="Frames per clip, 4n+1."),
                io.Int.Input("grad_accumulation", default=2, min=1, max=1024,
                             tooltip="Samples per optimizer step (ReCo: batch 1 x accumulation 2)."),
                io.Combo.Input("precision", options=["bf16", "fp32"], default="bf16",
                               tooltip="bf16 as ReCo trains (GPU); fp32 for exactness or CPU."),
                io.Boolean.Input("gradient_checkpointing", default=True,
                                 tooltip="Recompute activations in backward: far less memory, ~30% slower."),
                io.Int.Input("checkpoint_every", default=100, min=0, max=1000000,
                             tooltip="Save a resumable checkpoint every N steps (0: never)."),
                io.Boolean.Input("resume", default=False,
                                 tooltip="Continue from this LoRA's latest checkpoint instead of starting over."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFF, tooltip="Seed of sample order and noise."),
                io.Clip.Input("clip", optional=True,
                              tooltip="UMT5 (CLIPLoader type wan) for rows without saved prompt embeddings."),
                io.Combo.Input("base_weight_dtype", options=list(BASE_WEIGHT_DTYPES), default="default",
                               optional=True,
                               tooltip="How the frozen base is held while training. default: in the precision "
                               "above. fp8_e4m3fn: its block weights in float8, upcast one layer at a time (half "
                               "the base's memory, ~2 GB less at 1.3B; the LoRA itself trains in full precision). "
                               "May change when resuming."),
            ],
            outputs=[
                io.String.Output(display_name="lora_name", tooltip="The saved LoRA, as named in models/loras."),
                io.Image.Output(display_name="loss_plot", tooltip="Loss curves of the run."),
            ],
            hidden=[io.Hidden.unique_id],
            is_output_node=True,
        )

    @classmethod
    def _dataset_folder(cls, dataset: str) -> Path:
        return resolve_inside(folder_paths.get_input_directory(), dataset, "dataset")

    @classmethod
    def validate_inputs(cls, base_model: str | None = None, dataset: str | None = None,
                        output_name: str | None = None, learning_rate: float | None = None,
                        lambda_latent: float | None = None, lambda_attn: float | None = None,
                        width: int | None = None, height: int | None = None, length: int | None = None,
                        precision: str | None = None, base_weight_dtype: str | None = None) -> bool | str:
        problem = widget_problem(cls, base_model=base_model, dataset=dataset, output_name=output_name,
                                 learning_rate=learning_rate, lambda_latent=lambda_latent, lambda_attn=lambda_attn,
                                 width=width, height=height, length=length, precision=precision,
                                 base_weight_dtype=base_weight_dtype)
        if not problem and None not in (width, height, length):
            problem = canvas_size_problem(width, height, length)
        if problem:
            return problem
        try:
            folder = cls._dataset_folder(dataset) if dataset is not None else None
            if output_name is not None:
                check_name(output_name, "output_name")
                resolve_inside(folder_paths.get_folder_paths("loras")[0], f"{output_name}.safetensors", "output_name")
        except ValueError as error:
            return str(error)
        if folder is not None and not folder.is_dir():
            return f"dataset: '{dataset}' is not a folder in ComfyUI's input folder; put the dataset folder there."
        return True

    @classmethod
    def execute(cls, base_model: str, vae, dataset: str, output_name: str, steps: int, learning_rate: float,
                rank: int, lambda_latent: float, lambda_attn: float, width: int, height: int, length: int,
                grad_accumulation: int, precision: str, gradient_checkpointing: bool, checkpoint_every: int,
                resume: bool, seed: int, clip=None, base_weight_dtype: str = "default") -> io.NodeOutput:
        check_inputs(cls, locals())
        # Imported here: the trainer pulls in diffusers and peft (~1 s), which ComfyUI's start-up should not pay.
        from ..reco_core.training.buckets import Bucket
        from ..reco_core.training.prepare import build_training_set
        from ..reco_core.training.trainer import TrainConfig, plot_losses, train

        loras = Path(folder_paths.get_folder_paths("loras")[0]).resolve()
        if not resume:
            output_name = _unused_name(loras, output_name)
        output = resolve_inside(loras, f"{output_name}.safetensors", "output_name")
        folder = cls._dataset_folder(dataset)
        with about_input("dataset"):
            training_set, report = build_training_set(
                folder, folder / CACHE_FOLDER, _ComfyVaeCodec(vae),
                codec_id=f"comfy-vae:{_weights_digest(vae.first_stage_model)}",
                text_encoder=_clip_text_encoder(clip) if clip is not None else None,
                text_encoder_id=f"comfy-clip:{_weights_digest(clip.cond_stage_model)}" if clip is not None else "",
                buckets=[Bucket(width, height, length)],
            )
        for index in range(len(training_set)):  # encode (or read from the cache) before the VAE is unloaded
            training_set[index]
        comfy.model_management.unload_all_models()  # the trainer needs the memory the graph's models held

        checkpoints = Path(folder_paths.get_output_directory()) / CHECKPOINT_FOLDER / output_name
        config = TrainConfig(
            base_model=Path(folder_paths.get_full_path_or_raise("diffusion_models", base_model)), output=output,
            rank=rank, learning_rate=learning_rate, steps=steps, grad_accumulation=grad_accumulation,
            mixed_precision=precision, gradient_checkpointing=gradient_checkpointing, seed=seed,
            lambda_latent=lambda_latent, lambda_attn=lambda_attn, checkpoint_every=checkpoint_every,
            checkpoint_dir=checkpoints, resume=resume, base_weight_dtype=base_weight_dtype,
        )
        progress = comfy.utils.ProgressBar(steps, node_id=cls.hidden.unique_id)

        def on_step(step: int, total: int, losses: dict[str, float]) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            progress.update_absolute(step, total)
            _send_text(cls.hidden.unique_id, f"step {step}/{total}  loss {losses.get('total', float('nan')):.4f}")

        # ComfyUI runs nodes under inference_mode; training needs autograd (and tensors made outside that mode).
        with torch.inference_mode(False), torch.enable_grad():
            result = train(config, training_set, callback=on_step)
        with tempfile.TemporaryDirectory() as scratch:
            plot = Path(scratch) / "loss.png"
            plot_losses(result.history, plot)
            image = _image_tensor(plot)
        name = output.relative_to(loras).as_posix()
        summary = f"{name}: {result.steps} steps, {len(report.ok_rows)} clips, {len(report.bad_rows)} bad rows left out"
        return io.NodeOutput(name, image, ui={"text": [summary, report.format()]})


def _unused_name(loras: Path, output_name: str) -> str:
    """``output_name``, or with the first suffix _2, _3, ... that names no LoRA yet: a new run never replaces a LoRA
    an artist may already use (ComfyUI's own savers count up the same way); resume continues the named file."""
    name, number = output_name, 1
    while resolve_inside(loras, f"{name}.safetensors", "output_name").exists():
        number += 1
        name = f"{output_name}_{number}"
    return name


def _send_text(node_id: str | None, text: str) -> None:
    """Shows the running loss under the node's progress bar; without a server (tests, scripts) it does nothing."""
    server = server_instance()
    if server is not None and node_id is not None:
        server.send_progress_text(text, node_id)
