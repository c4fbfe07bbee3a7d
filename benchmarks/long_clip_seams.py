"""How well each carry mode holds a ReCo edit across window seams: seam change / in-window change, on toy clips.

Long toy clips (33 frames by default, the toy's windows are 9) are edited whole with each carry mode and overlap, on
the model files given, and the frame-to-frame change across window seams is compared with the change inside windows
(reco_core.windows.seam_change). The source and the true target clips are measured with the same window plan: their
ratio is what the scene's own motion gives, so an edit's ratio reads against it. Prints a table (docs/RESULTS.md,
"Long clips"); run from the repository root:

    python -m benchmarks.long_clip_seams --transformer assets/toy/reco_toy_wan2.1_vace.safetensors \\
        --vae assets/toy/reco_toy_wan_2.1_vae.safetensors --lora assets/toy/reco_toy_lora.safetensors \\
        --text-encoder assets/toy/reco_toy_text_encoder.safetensors
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from reco_core.canvas import CanvasSpec
from reco_core.pipeline import ReCoPipeline, SamplingSettings
from reco_core.toy.text_encoder import ToyTextEncoder
from reco_core.toy.world import TASKS, make_clip
from reco_core.windows import CARRY_MODES, plan_windows, seam_change


def as_frames(pixels) -> torch.Tensor:
    return torch.from_numpy(pixels).float() / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transformer", type=Path, required=True)
    parser.add_argument("--vae", type=Path, required=True)
    parser.add_argument("--lora", type=Path, help="ReCo LoRA merged into the transformer")
    parser.add_argument("--text-encoder", type=Path, required=True, help="the toy text encoder file")
    parser.add_argument("--clips", type=int, default=2, help="test clips per task (default 2)")
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--size", type=int, default=96, help="toy frame size and canvas half (default 96)")
    parser.add_argument("--length", type=int, default=9, help="window length (the toy's canvas, default 9)")
    parser.add_argument("--overlaps", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=1.0)
    parser.add_argument("--shift", type=float, default=3.0)
    args = parser.parse_args()

    torch.manual_seed(0)
    pipeline = ReCoPipeline.from_files(args.transformer, args.vae, args.lora)
    encoder = ToyTextEncoder.load(args.text_encoder)
    spec = CanvasSpec(half_width=args.size, height=args.size, length=args.length)
    settings = SamplingSettings(steps=args.steps, cfg=args.cfg, shift=args.shift)
    clips = [make_clip("test", index, task, frames=args.frames, size=args.size)
             for task in TASKS for index in range(args.clips)]

    ratios: dict[tuple[str, int], list[float]] = {}
    for overlap in args.overlaps:
        plan = plan_windows(args.frames, args.length, overlap)
        for clip in clips:
            for label, frames in (("source clip", clip.source), ("true target", clip.target)):
                ratios.setdefault((label, overlap), []).append(seam_change(as_frames(frames), plan).ratio)
            for carry in CARRY_MODES:
                edit = pipeline.edit_clip(as_frames(clip.source), encoder.encode(clip.instruction),
                                          encoder.unconditional(), spec, settings, overlap=overlap, carry=carry)
                ratios.setdefault((f"edit, carry {carry}", overlap), []).append(seam_change(edit.frames, plan).ratio)
                print(f"{clip.clip_id} overlap {overlap} {carry}: ratio {ratios[(f'edit, carry {carry}', overlap)][-1]:.3f}",
                      flush=True)

    print(f"\nseam change / in-window change, {len(clips)} toy test clips of {args.frames} frames, windows of "
          f"{args.length}, {args.steps} steps, cfg {args.cfg:g}, shift {args.shift:g} (median [min, max])\n")
    print("| clip | overlap | ratio |\n|---|---|---|")
    for (label, overlap), values in ratios.items():
        print(f"| {label} | {overlap} | {statistics.median(values):.2f} [{min(values):.2f}, {max(values):.2f}] |")


if __name__ == "__main__":
    main()
