"""Two edits in one pass on the toy model: do both removals appear, and what does each way of asking cost?

Run from the repository root (about a minute a clip on 2 CPU cores):

    python -m benchmarks.toy_two_edits [--clips 8] [--json OUT]

Each clip is a held-out toy scene of three objects of which two are to be removed (`make_two_removals`), so the
right answer is known pixel for pixel. In one process, ComfyUI and this package imported as ComfyUI imports them, on
the shipped toy files (assets/toy: DiT through ComfyUI's loader, the ReCo LoRA through its native LoRA loader, the
toy VAE and text encoder), the clip's source (through an mp4, as a workflow reads it) is edited five ways, all at
the toy's sampling settings (20 steps, CFG 1, shift 3, seed 0):

* one instruction naming both objects, no region ("Remove the blue circle and the white star.");
* the same instruction, constrained to the union of the two true masks (region_mode mask, block);
* region instructions: each true mask with its own instruction (ReCoRegionInstructions into ReCoSampler), the
  joined instruction as the canvas instruction; one pass, with region_mode off (each region is kept from the other
  region's source object only) and with region_mode mask (from its own as well: ReCo's constraint per region);
* native masked conditioning: the joined instruction plus one masked conditioning per region (ConditioningSetMask's
  layout) sampled by ComfyUI's own sampler; one pass of 1 + 2 canvas rows a step;
* two passes, one removal each with its own mask (region_mode mask), the second editing the first's output.

Scores, against the exact target: each region's target PSNR (did that removal happen), the background PSNR outside
both regions (was the rest kept), and IoU of the changed pixels with the union; "copy the source" beside them. A
removal "appears" when its region's target PSNR beats copying by APPEARS_DB.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from harness.comfy_inprocess import import_package  # noqa: E402

from benchmarks.bench_multi_edit import native_masked_sample  # noqa: E402
from reco_core.toy.metrics import changed_pixels, iou, psnr  # noqa: E402
from reco_core.toy.text_encoder import ToyTextEncoder  # noqa: E402
from reco_core.toy.world import SeveralEdits, make_two_removals  # noqa: E402
from reco_core.video_io import read_video, write_video  # noqa: E402

ASSETS = REPO / "assets" / "toy"
STEPS, CFG, SHIFT, SEED = 20, 1.0, 3.0, 0  # the toy's sampling settings (tools/build_toy.py)
APPEARS_DB = 3.0
COPY = "copy the source"
CASES = ("one instruction, no region", "one instruction, union of the masks",
         "region instructions, region_mode off (one pass)", "region instructions, region_mode mask (one pass)",
         "native masked conditioning (one pass)", "two passes, one mask each")


class ToyGraph:
    """The toy model loaded once through ComfyUI's loaders, and the node calls a graph would make with it."""

    def __init__(self):
        package = import_package()
        import comfy.sd
        import comfy.utils

        self.nodes = package.nodes
        model = comfy.sd.load_diffusion_model(str(ASSETS / "reco_toy_wan2.1_vace.safetensors"))
        lora = comfy.utils.load_torch_file(str(ASSETS / "reco_toy_lora.safetensors"), safe_load=True)
        self.model = comfy.sd.load_lora_for_models(model, None, lora, 1.0, 0.0)[0]
        self.vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(ASSETS / "reco_toy_wan_2.1_vae.safetensors")))
        self.encoder = ToyTextEncoder.load(ASSETS / "reco_toy_text_encoder.safetensors")

    def text(self, words: str) -> list:
        return [[self.encoder.encode(words), {"pooled_output": None}]]

    def canvas(self, source: torch.Tensor, instruction: str):
        """ReCoCanvas on the whole clip: (positive, negative, latent, layout)."""
        positive = self.text(instruction)
        negative = [[torch.zeros_like(positive[0][0]), {"pooled_output": None}]]
        frames, height, width = source.shape[:3]
        return self.nodes.canvas_node.ReCoCanvas.execute(
            source, self.vae, positive, negative, width=width, height=height, length=frames,
            fit="stretch", mode="edit", start_frame=0).result[:4]

    def sample(self, canvas, region_mode: str = "off", region_mask=None, regions=None) -> torch.Tensor:
        positive, negative, latent, _ = canvas
        return self.nodes.sampler_node.ReCoSampler.execute(
            self.model, positive, negative, latent, SEED, STEPS, CFG, "euler", "simple", SHIFT, 1.0, region_mode,
            1.0, 0.0, 1.0, 5, 0.5, "block", region_mask, regions).result[0]["samples"]

    def edited(self, samples: torch.Tensor, canvas) -> torch.Tensor:
        """VAEDecode then ReCoSplit: the edited half at the source's size, (F, H, W, 3) in [0, 1]."""
        frames = self.vae.decode(samples)
        frames = frames.reshape(-1, *frames.shape[-3:])
        return self.nodes.split_node.ReCoSplit.execute(frames, canvas[3]).result[0]

    def edit(self, source: torch.Tensor, instruction: str, **sampling) -> torch.Tensor:
        canvas = self.canvas(source, instruction)
        return self.edited(self.sample(canvas, **sampling), canvas)

    def regions(self, masks: list[torch.Tensor], edits: SeveralEdits):
        """ReCoRegionInstructions over each region's mask and its own instruction."""
        pairs = [item for mask, words in zip(masks, edits.instructions) for item in (mask, self.text(words))]
        return self.nodes.region_instructions_node.ReCoRegionInstructions.execute(*pairs).result[0]


def run_case(graph: ToyGraph, case: str, source: torch.Tensor, edits: SeveralEdits) -> torch.Tensor:
    joined = edits.clip.instruction
    masks = [torch.from_numpy(mask).float() for mask in edits.masks]
    if case == CASES[0]:
        return graph.edit(source, joined)
    if case == CASES[1]:
        return graph.edit(source, joined, region_mode="mask", region_mask=torch.from_numpy(edits.clip.mask).float())
    if case == CASES[2]:
        return graph.edit(source, joined, regions=graph.regions(masks, edits))
    if case == CASES[3]:
        return graph.edit(source, joined, region_mode="mask", regions=graph.regions(masks, edits))
    if case == CASES[4]:
        canvas = graph.canvas(source, joined)
        samples = native_masked_sample(graph.model, canvas[0], canvas[1], canvas[2], canvas[3], masks,
                                       [graph.text(words) for words in edits.instructions], STEPS, CFG, SHIFT, SEED)
        return graph.edited(samples, canvas)
    result = source
    for mask, words in zip(masks, edits.instructions):
        result = graph.edit(result, words, region_mode="mask", region_mask=mask)
    return result


def scores(prediction: np.ndarray, given: np.ndarray, edits: SeveralEdits) -> dict[str, float | None]:
    """Each region's target PSNR, the background PSNR outside both, and the union's IoU (changed vs the decoded
    source the editor was given)."""
    clip = edits.clip
    source, target = clip.source / 255.0, clip.target / 255.0
    row = {f"region {number} target_psnr": psnr(prediction, target, mask)
           for number, mask in enumerate(edits.masks, start=1)}
    row["background_psnr"] = psnr(prediction, source, ~clip.mask)
    row["iou"] = iou(changed_pixels(prediction, given), clip.mask)
    return row


def through_mp4(pixels: np.ndarray, folder: Path, name: str) -> torch.Tensor:
    """The clip as a workflow's LoadVideo gives it: written to an mp4 and read back, (F, H, W, 3) in [0, 1]."""
    path = folder / f"{name}.mp4"
    write_video(path, torch.from_numpy(pixels).float() / 255, 16.0)
    return read_video(path)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--json", type=Path, help="write per-clip scores and timings here")
    args = parser.parse_args()

    graph, folder = ToyGraph(), Path(tempfile.mkdtemp())
    per_clip: dict[str, dict[str, dict]] = {}
    seconds: dict[str, list[float]] = {case: [] for case in CASES}
    for index in range(args.clips):
        edits = make_two_removals("test", index)
        source = through_mp4(edits.clip.source, folder, edits.clip.clip_id)
        given = source.numpy()
        rows = {COPY: scores(given, given, edits)}
        for case in CASES:
            started = time.process_time()
            with torch.inference_mode():  # as ComfyUI runs every node
                edited = run_case(graph, case, source, edits)
            seconds[case].append(time.process_time() - started)
            rows[case] = scores(through_mp4((edited.numpy() * 255).round().astype(np.uint8), folder, "edit").numpy(),
                                given, edits)
        per_clip[edits.clip.clip_id] = rows
        print(f"{edits.clip.clip_id}: {edits.instructions}", flush=True)
    summary = summarize(per_clip, seconds)
    print(format_summary(summary, args.clips))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "clips": per_clip}, indent=1) + "\n")


def summarize(per_clip: dict[str, dict[str, dict]], seconds: dict[str, list[float]]) -> dict[str, dict]:
    """Per case: the mean of each score, how many clips show each removal and both (region gain >= APPEARS_DB over
    copying), and the median CPU seconds of an edit."""
    summary = {}
    for case in (COPY, *CASES):
        rows = [clip[case] for clip in per_clip.values()]
        copies = [clip[COPY] for clip in per_clip.values()]
        shown = [[row[f"region {n} target_psnr"] - copy[f"region {n} target_psnr"] >= APPEARS_DB for n in (1, 2)]
                 for row, copy in zip(rows, copies)]
        summary[case] = {metric: statistics.fmean(row[metric] for row in rows if row[metric] is not None)
                         for metric in rows[0]}
        summary[case].update({"region 1 appears": sum(a for a, _ in shown),
                              "region 2 appears": sum(b for _, b in shown),
                              "both appear": sum(a and b for a, b in shown),
                              "cpu seconds": statistics.median(seconds[case]) if case in seconds else 0.0})
    return summary


def format_summary(summary: dict[str, dict], clips: int) -> str:
    lines = [f"toy two removals, {clips} held-out clips, {STEPS} steps, CFG {CFG}, shift {SHIFT}, seed {SEED}",
             "| case | region 1 target PSNR | region 2 target PSNR | background PSNR | IoU | clips with both removals "
             f"(gain >= {APPEARS_DB:g} dB) | CPU s / edit |", "|---|---|---|---|---|---|---|"]
    for case, row in summary.items():
        lines.append(f"| {case} | {row['region 1 target_psnr']:.2f} | {row['region 2 target_psnr']:.2f} | "
                     f"{row['background_psnr']:.2f} | {row['iou']:.2f} | {row['both appear']} of {clips} "
                     f"({row['region 1 appears']} / {row['region 2 appears']}) | {row['cpu seconds']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
