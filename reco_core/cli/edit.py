"""`python -m reco_core edit`: one ReCo edit of a video file, headless, on diffusers.

The instruction comes as saved embeddings (`--prompt-embeds`, written by ReCoSaveConditioning or
`reco_core.text_embeddings.save_text_embeddings`), or as text with `--prompt` and a UMT5 folder in `--text-encoder`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from ..attention.constraint import CONSTRAINT_KINDS, REGION_MODES, ConstraintSettings
from ..canvas import FITS, MODES, CanvasSpec
from ..footage import RECO_TRAINING_FPS
from ..pipeline import ReCoPipeline, SamplingSettings
from ..preview.overlay import render_overlay
from ..sampling import SAMPLERS
from ..schedule import RECO_CFG, RECO_SHIFT, RECO_STEPS
from ..stills import is_image_path, write_still
from ..text_embeddings import load_text_embeddings
from ..windows import CARRY_MODES, DEFAULT_CARRY, default_overlap
from ..video_io import read_audio, read_video, read_window, write_video
from ..wan_models import ModelFileError
from ..weights.checkpoint import WeightFileError
from .progress import StepProgress

EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="source video file")
    parser.add_argument("output", type=Path, help="where to write the edited video (.mp4)")
    parser.add_argument("--transformer", type=Path, required=True,
                        help="Wan2.1-VACE weights: a ComfyUI single file or a diffusers folder")
    parser.add_argument("--vae", type=Path, required=True, help="Wan 2.1 VAE: original single file or diffusers folder")
    parser.add_argument("--prompt-embeds", type=Path, help="saved embeddings of the instruction (.safetensors)")
    parser.add_argument("--negative-embeds", type=Path, help="saved embeddings of the negative prompt")
    parser.add_argument("--prompt", help="the instruction as text (needs --text-encoder)")
    parser.add_argument("--negative-prompt", help="negative prompt as text (needs --text-encoder)")
    parser.add_argument("--text-encoder", type=Path, help="UMT5 folder (transformers format with tokenizer)")
    parser.add_argument("--lora", type=Path, help="ReCo LoRA: .ckpt (read weights-only) or .safetensors")
    parser.add_argument("--lora-strength", type=float, default=1.0)
    parser.add_argument("--width", type=int, default=832, help="width of each canvas half (multiple of 16)")
    parser.add_argument("--height", type=int, default=480, help="canvas height (multiple of 16)")
    parser.add_argument("--length", type=int, default=81,
                        help="canvas frames, 4n+1: the window a longer clip is edited in, window by window")
    parser.add_argument("--start", type=int, default=0, help="first source frame to edit")
    parser.add_argument("--frames", type=positive_int, default=None,
                        help="edit only this many frames from --start (default: the whole clip, in windows)")
    parser.add_argument("--overlap", type=int, default=None,
                        help="frames each window shares with the one before (default: about a ninth of --length "
                        "as 4n+1, 9 for 81; 4n+1 fills whole latent frames)")
    parser.add_argument("--carry", choices=CARRY_MODES, default=DEFAULT_CARRY,
                        help="how the edit crosses window seams: first_frame keeps the previous window's last "
                        "edited frames as the next window's first frames; blend cross-fades independent windows")
    parser.add_argument("--fit", choices=FITS, default="stretch", help="how the source fills a half")
    parser.add_argument("--mode", choices=MODES, default="edit")
    parser.add_argument("--first-frame", type=Path, help="edited first frame (image file) for --mode first_frame")
    parser.add_argument("--reference", type=Path, help="reference image file for --mode reference")
    parser.add_argument("--steps", type=int, default=RECO_STEPS)
    parser.add_argument("--cfg", type=float, default=RECO_CFG)
    parser.add_argument("--shift", type=float, default=RECO_SHIFT)
    parser.add_argument("--sampler", choices=sorted(SAMPLERS), default="euler")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=float, default=None,
                        help="output frame rate (default: the source's average rate, so the edit keeps its duration)")
    parser.add_argument("--no-audio", action="store_true", help="leave the source's audio out of the edit")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32")
    add_region_arguments(parser)


def positive_int(text: str) -> int:
    """An argparse type for counts: argparse names the flag in its message, where a later check could only name
    the function that received it."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def add_region_arguments(parser: argparse.ArgumentParser) -> None:
    """The region constraint, as ReCoSampler offers it (same names, same defaults)."""
    defaults = ConstraintSettings()
    group = parser.add_argument_group("region constraint (as ReCoSampler)")
    group.add_argument("--region-mode", choices=REGION_MODES, default=defaults.mode,
                       help="off: plain ReCo; mask: constrain --region-mask; auto: estimate the region from the "
                       "first steps' region maps and constrain the rest")
    group.add_argument("--region-mask", type=Path,
                       help="--region-mode mask: image or video at the source's size, white = edit region "
                       "(one frame for all, or one per source frame)")
    group.add_argument("--constraint-type", choices=CONSTRAINT_KINDS, default=defaults.kind,
                       help="block: scale edited-region attention to the source object by 1 - strength; "
                       "videograin: VideoGrain's score modulation")
    group.add_argument("--constraint-strength", type=float, default=defaults.strength, help="0..1")
    group.add_argument("--constraint-start", type=float, default=defaults.start, help="fraction of the steps")
    group.add_argument("--constraint-end", type=float, default=defaults.end, help="fraction of the steps")
    group.add_argument("--auto-steps", type=int, default=defaults.auto_steps,
                       help="--region-mode auto: steps whose region maps estimate the region")
    group.add_argument("--auto-threshold", type=float, default=defaults.auto_threshold,
                       help="--region-mode auto: region map level counted as edited")


def _constraint(args: argparse.Namespace) -> tuple[ConstraintSettings, torch.Tensor | None]:
    """The constraint settings and the source-aligned mask (F, H, W) in [0, 1], or None."""
    settings = ConstraintSettings(mode=args.region_mode, kind=args.constraint_type,
                                  strength=args.constraint_strength, start=args.constraint_start,
                                  end=args.constraint_end, auto_steps=args.auto_steps,
                                  auto_threshold=args.auto_threshold)
    if settings.mode == "mask" and args.region_mask is None:
        raise ValueError("--region-mode mask needs --region-mask FILE (white = edit region); or use --region-mode "
                         "auto.")
    if args.region_mask is None:
        return settings, None
    # Decoded and shrunk exactly as the source is, so a mask drawn at the source's size lines up with it.
    count = None if args.frames is None else args.start + args.frames
    mask = read_window(args.region_mask, 0, count, cover=(args.width, args.height)).frames
    return settings, (mask if len(mask) == 1 else mask[args.start:]).mean(dim=-1)


def region_map_path(output: Path) -> Path:
    """Where the region map of an edit goes: beside it, e.g. out.mp4 -> out_region_map.mp4 (a still: .png)."""
    return output.with_name(f"{output.stem}_region_map{'.png' if is_image_path(output) else '.mp4'}")


def _embeddings(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor | None]:
    if args.prompt_embeds:
        positive = load_text_embeddings(args.prompt_embeds).embeds
        negative = load_text_embeddings(args.negative_embeds).embeds if args.negative_embeds else None
        return positive, negative
    if args.prompt and args.text_encoder:
        from ..text_encoder import UMT5TextEncoder

        encoder = UMT5TextEncoder(args.text_encoder, args.device)
        return encoder.encode(args.prompt), encoder.encode(args.negative_prompt or "")
    raise ValueError("give the instruction as --prompt-embeds FILE, or as --prompt TEXT with --text-encoder DIR.")


def _image(path: Path | None) -> torch.Tensor | None:
    return None if path is None else read_video(path, max_frames=1)[0]


def run(args: argparse.Namespace) -> int:
    dtype = getattr(torch, args.dtype)
    try:
        # Decoded already shrunk to cover a canvas half, so the clip in memory is no larger than the canvases need.
        window = read_window(args.video, args.start, args.frames, cover=(args.width, args.height))
        print(f"reco_core edit: {window.report()}".replace("\n", "\nreco_core edit: "))
        if is_image_path(args.output) and window.frames.shape[0] != 1:
            raise ValueError(f"{args.output.name} is an image file, which holds one frame, but the source has "
                             f"{window.frames.shape[0]} to edit: write a video (.mp4), or pass --frames 1.")
        # A still is a one-frame clip: a one-frame canvas, not the window's length of repeats of it.
        length = 1 if window.frames.shape[0] == 1 else args.length
        spec = CanvasSpec(half_width=args.width, height=args.height, length=length, fit=args.fit)
        settings = SamplingSettings(steps=args.steps, cfg=args.cfg, shift=args.shift, sampler=args.sampler,
                                    seed=args.seed)
        overlap = default_overlap(length) if args.overlap is None else args.overlap
        constraint, region_mask = _constraint(args)
        positive, negative = _embeddings(args)
        pipeline = ReCoPipeline.from_files(args.transformer, args.vae, args.lora, args.lora_strength, dtype,
                                           args.device)
        with StepProgress("ReCo edit") as progress:
            result = pipeline.edit_clip(window.frames, positive, negative, spec, settings, args.mode,
                                        _image(args.first_frame), _image(args.reference), overlap, args.carry,
                                        on_step=progress.update, constraint=constraint, region_mask=region_mask,
                                        on_window=progress.window)
        span = window.span
        audio = None if args.no_audio else read_audio(args.video, span.start_seconds, span.seconds)
        fps = args.fps or window.fps or RECO_TRAINING_FPS
        size = (window.width, window.height)
        overlay = render_overlay(result.frames, result.region_map)
        if is_image_path(args.output):
            write_still(args.output, result.frames, size)
            write_still(region_map_path(args.output), overlay, size)
        else:
            write_video(args.output, result.frames, fps, size=size, audio=audio)
            write_video(region_map_path(args.output), overlay, fps, size=size)
    except (ValueError, FileNotFoundError, ModelFileError, WeightFileError) as error:
        print(f"reco_core edit: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    sound = "with the source's audio" if audio is not None else "no audio"
    print(f"wrote {args.output} ({result.frames.shape[0]} frames, {window.width}x{window.height}, {fps:g} fps, "
          f"{sound}) and its region map {region_map_path(args.output)}")
    return 0
