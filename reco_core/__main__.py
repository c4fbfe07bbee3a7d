"""`python -m reco_core <command>`: the headless entry point. Each command lives in reco_core/cli/<command>.py."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "edit": "edit a video from an instruction with ReCo (headless, diffusers)",
    "train": "train a ReCo LoRA (L_ic + L_latent + L_attn) on a dataset folder, from a TOML config",
    "convert": "convert a ReCo LoRA (.ckpt, weights-only) or any Wan LoRA to a safetensors file ComfyUI loads",
    "bench": "measure region attention and model loading side by side; print the records, optionally as JSON",
    "queue": "run a manifest of edits through a workflow on one or many ComfyUI servers (or Ray), exactly once",
    "eval": "score toy edits (folders of <clip_id>.mp4) against the exact ground truth of a toy dataset manifest",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reco_core", description="ReCo video editing, headless.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f".cli.{name}", __package__)
        module.add_arguments(commands.add_parser(name, help=help_text, description=help_text))
    args = parser.parse_args(argv)
    return importlib.import_module(f".cli.{args.command}", __package__).run(args)


if __name__ == "__main__":
    sys.exit(main())
