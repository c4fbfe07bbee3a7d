"""``python -m reco_core train CONFIG.toml [--resume]``: train a ReCo LoRA on a dataset folder.

The config is a flat TOML table. Paths are relative to the config file's folder. Besides every field of
:class:`reco_core.training.trainer.TrainConfig` (``base_model`` and ``output`` required) it takes::

    dataset = "my_edits"          # folder with manifest.json / manifest.jsonl (required)
    cache_dir = "my_edits/.cache" # cached latents and prompt embeddings (required)
    vae = "wan_2.1_vae.safetensors"   # Wan 2.1 VAE, to encode clips not yet in the cache (required)
    text_encoder = "umt5-xxl"     # UMT5 folder, for rows without prompt_embeds (optional)
    buckets = [[832, 480, 81], [832, 480, 49]]   # canvas half width, height, frames (optional)
    dilate_masks = false          # dilate edit masks 11 x 11 before encoding, as part of ReCo-Data was
    device = "cuda"               # where the VAE and text encoder run while filling the cache

Before training, every manifest row is validated (bad rows are listed and left out) and every item is encoded into
the cache once, by the main process first when several run; the VAE and text encoder are then released, so training
holds only the transformer. Multi-GPU: ``torchrun --nproc_per_node N -m reco_core train CONFIG.toml`` or
``accelerate launch --multi_gpu -m reco_core train CONFIG.toml``. The loss curve is written beside the LoRA.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
_DATA_KEYS = {"dataset", "cache_dir", "vae", "text_encoder", "buckets", "dilate_masks", "device"}
_REQUIRED = ("base_model", "output", "dataset", "cache_dir", "vae")
_PATH_KEYS = ("base_model", "output", "checkpoint_dir", "dataset", "cache_dir", "vae", "text_encoder")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``train`` subcommand's arguments."""
    parser.add_argument("config", type=Path, help="training config (TOML): TrainConfig fields plus dataset, "
                                                  "cache_dir, vae, text_encoder, buckets, dilate_masks, device")
    parser.add_argument("--resume", action="store_true", help="continue from the latest complete checkpoint")


class _LazyModel:
    """Loads a model on first use and lets go of it on release(), so a warm cache never loads it at all."""

    def __init__(self, load: Callable[[], Any]):
        self._load, self._model = load, None

    def get(self) -> Any:
        if self._model is None:
            self._model = self._load()
        return self._model

    def release(self) -> None:
        self._model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class _LazyCodec(_LazyModel):
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        return self.get().encode(frames)


class _LazyTextEncoder(_LazyModel):
    def __call__(self, text: str) -> torch.Tensor:
        return self.get().encode(text)


def _read_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(TrainConfig arguments, data arguments) from the TOML file, paths resolved against its folder."""
    from ..training.trainer import TrainConfig

    with open(path, "rb") as handle:
        table = tomllib.load(handle)
    known = {f.name for f in dataclasses.fields(TrainConfig)} | _DATA_KEYS
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"{path}: unknown settings {unknown}; known: {sorted(known)}")
    missing = [key for key in _REQUIRED if key not in table]
    if missing:
        raise ValueError(f"{path}: required settings missing: {missing}")
    for key in _PATH_KEYS:
        if key in table:
            table[key] = (path.parent / table[key]).resolve()
    data = {key: table.pop(key) for key in _DATA_KEYS if key in table}
    return table, data


def _build_dataset(data: dict[str, Any]):
    """Validate the manifest, bucket the rows, and return (dataset, codec, text encoder, report text)."""
    from ..training.buckets import DEFAULT_BUCKETS, Bucket
    from ..training.cache import file_digest
    from ..training.prepare import build_training_set

    buckets = tuple(Bucket(*size) for size in data["buckets"]) if "buckets" in data else DEFAULT_BUCKETS
    device = data.get("device", "cuda" if torch.cuda.is_available() else "cpu")

    def load_codec():
        from ..pipeline import WanVaceCodec
        from ..wan_models import load_vae

        return WanVaceCodec(load_vae(data["vae"]), torch.device(device), torch.float32)

    vae: Path = data["vae"]
    codec = _LazyCodec(load_codec)
    text_encoder = None
    if "text_encoder" in data:
        from ..text_encoder import UMT5TextEncoder

        text_encoder = _LazyTextEncoder(lambda: UMT5TextEncoder(data["text_encoder"], device))
    dataset, report = build_training_set(
        data["dataset"], data["cache_dir"], codec,
        codec_id=f"{vae.name}:{file_digest(vae) if vae.is_file() else 'folder'}:float32",
        text_encoder=text_encoder,
        text_encoder_id=data["text_encoder"].name if text_encoder is not None else "",
        buckets=buckets, dilate_masks=bool(data.get("dilate_masks", False)),
    )
    return dataset, codec, text_encoder, report.format()


PREVIEW_STEPS = 20


def _preview_writer(dataset, codec: _LazyCodec, output: Path):
    """Every preview_every steps: edit the first training clip with the LoRA as trained so far, write an mp4 beside
    the LoRA, so a run can be judged by eye while it trains."""
    from ..pipeline import ReCoPipeline, SamplingSettings
    from ..video_io import read_video, write_video

    row, spec = dataset.rows[0], dataset.spec_for_row(0)
    source, fps = read_video(dataset.folder / row.src_video, max_frames=spec.length)
    prompt = dataset[0]["prompt_embeds"].unsqueeze(0)

    def preview(step: int, transformer: torch.nn.Module) -> None:
        vae = codec.get().vae
        pipeline = ReCoPipeline(transformer, vae, next(transformer.parameters()).device)
        result = pipeline.edit(source, prompt, None, spec, SamplingSettings(steps=PREVIEW_STEPS, cfg=1.0))
        output.parent.mkdir(parents=True, exist_ok=True)
        write_video(output.with_suffix(f".preview-{step:06d}.mp4"), result.edited, fps or 16.0)

    return preview


def run(args: argparse.Namespace) -> int:
    """Train; 0 on success, 2 for a bad config or dataset, 130 when interrupted (complete checkpoints are kept)."""
    from accelerate import PartialState
    from tqdm import tqdm

    from ..training.trainer import TrainConfig, launched_on_cpu, plot_losses, train

    state = PartialState(cpu=launched_on_cpu())
    say = print if state.is_main_process else (lambda *a, **k: None)
    try:
        settings, data = _read_config(args.config)
        if args.resume:
            settings["resume"] = True
        config = TrainConfig(**settings)
        dataset, codec, text_encoder, report = _build_dataset(data)
    except (ValueError, OSError, tomllib.TOMLDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    say(report)

    with state.main_process_first():  # the main process fills the cache; the others then read it
        for index in tqdm(range(len(dataset)), desc="encoding", unit="clip", disable=not state.is_main_process):
            dataset[index]
    if text_encoder is not None:
        text_encoder.release()
    preview = _preview_writer(dataset, codec, config.output) if config.preview_every else None
    if preview is None:
        codec.release()

    bar = tqdm(total=config.steps, desc="training", unit="step", disable=not state.is_main_process)

    def progress(step: int, total: int, losses: dict[str, float]) -> None:
        bar.n = step
        bar.set_postfix({k: f"{v:.4g}" for k, v in losses.items() if k not in ("step", "lr")})

    try:
        result = train(config, dataset, callback=progress, preview=preview)
    except KeyboardInterrupt:
        say(f"interrupted; continue with --resume from {config.checkpoint_folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ValueError as err:  # settings that do not fit the base model or the checkpoints found
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        bar.close()
    if state.is_main_process and result.history:
        plot_losses(result.history, result.lora_path.with_suffix(".loss.png"))
    say(f"saved {result.lora_path} after {result.steps} steps"
        + (f" (resumed from {result.resumed_from.name})" if result.resumed_from else ""))
    return 0
