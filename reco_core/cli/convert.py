"""``python -m reco_core convert IN OUT.safetensors [--to comfy|diffusers|peft]``.

Turns a ReCo LoRA (the released pickled ``.ckpt``, or any accepted layout) into a safetensors file once, so that
ComfyUI's own LoraLoaderModelOnly, diffusers or a trainer can use it without ever unpickling anything again.
The input is read weights-only; a file that would need code to load is refused with exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..weights.checkpoint import SAFETENSORS_SUFFIX, WeightFileError, load_state_dict, save_safetensors
from ..weights.lora_files import PRODUCER, lora_metadata
from ..weights.lora_keys import STYLES, LoraKeyError, convert_lora, summarize_lora

EXIT_BAD_INPUT = 2
EXIT_WRITE_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``convert`` subcommand's arguments."""
    parser.add_argument("input", type=Path, help="LoRA file: .ckpt/.pt/.pth/.bin (read weights-only) or .safetensors")
    parser.add_argument("output", type=Path, help="where to write the converted LoRA (.safetensors)")
    parser.add_argument(
        "--to",
        choices=STYLES,
        default="comfy",
        help="key layout to write: comfy (ComfyUI LoraLoaderModelOnly, default), diffusers, or peft (ReCo's own)",
    )


def run(args: argparse.Namespace) -> int:
    """Convert ``args.input`` to ``args.output``; 0 on success, 2 for a rejected input, 1 if writing fails."""
    source, target = Path(args.input), Path(args.output)
    if target.suffix.lower() != SAFETENSORS_SUFFIX:
        print(f"error: output must be a {SAFETENSORS_SUFFIX} file, got {target}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        state_dict = load_state_dict(source)
        summary = summarize_lora(state_dict)
        converted = convert_lora(state_dict, args.to)
    except (WeightFileError, LoraKeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    metadata = lora_metadata(args.to, summary.ranks, reco_source=source.name, reco_source_key_style=summary.style,
                             reco_converted_by=PRODUCER)
    try:
        save_safetensors(converted, target, metadata)
    except OSError as err:
        message = f"error: cannot write {target}: {err}. Check that the folder exists and is writable."
        print(message, file=sys.stderr)
        return EXIT_WRITE_FAILED
    print(f"{source.name} -> {target} ({args.to}): {summary}, {len(converted)} tensors")
    return 0
