"""Several edits at once: ReCoSampler's region instructions against native masked conditioning, on the tiny models.

Run from the repository root: ``python -m benchmarks.bench_multi_edit [--steps 4] [--repeats 2]``. In one process it
imports ComfyUI and this package as ComfyUI would, makes the tiny test models, lays a small clip on a ReCoCanvas and
samples it three ways with the same seed:

* plain ReCo: one instruction, no regions (the reference for cost);
* region instructions: ReCoRegionInstructions (two halves of the frame, one instruction each) into ReCoSampler;
* native masked conditioning: the canvas instruction plus one conditioning per region (the instruction's text with
  the canvas's VACE keys and the region as its mask on the target half, what ConditioningSetMask sets), sampled by
  ComfyUI's own sampler after ModelSamplingSD3, as KSampler would.

It prints model calls and batch rows per step (a row is one pass of the model over the canvas) and the best wall
time of ``--repeats`` runs, interleaved. Rows are the figure to read: on a real model a step's time follows them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fixtures.make_tiny_models import make_tiny_models  # noqa: E402
from harness.comfy_inprocess import import_package  # noqa: E402
from harness.sample_video import HEIGHT, WIDTH, sample_frames  # noqa: E402

CANVAS = dict(width=80, height=48, length=9)  # 90 canvas tokens: not a multiple of the 36 joined text tokens
SEED, CFG, SHIFT = 3, 5.0, 5.0


def region_masks() -> tuple[torch.Tensor, torch.Tensor]:
    left = torch.zeros(1, HEIGHT, WIDTH)
    left[:, :, : WIDTH // 2] = 1.0
    return left, 1.0 - left


def call_counter(counts: list[int]):
    """A model_function_wrapper that adds [model calls, batch rows] into ``counts``.

    A closure, not an object: ModelPatcher clones deep-copy model_options, and a function survives that as itself.
    """

    def wrapper(apply_model, args: dict) -> torch.Tensor:
        counts[0] += 1
        counts[1] += args["input"].shape[0]
        return apply_model(args["input"], args["timestep"], **args["c"])

    return wrapper


def native_masked_sample(model, positive: list, negative: list, latent: dict, layout, masks, instructions,
                         steps: int, cfg: float, shift: float, seed: int) -> torch.Tensor:
    """Native masked conditioning, as a graph of ConditioningSetMask + KSampler samples it: the canvas instruction
    everywhere plus one conditioning per region, the instruction's text with the canvas's VACE keys and the region
    (on the target half of the latent grid) as its mask; sampled by ComfyUI's own sampler after ModelSamplingSD3."""
    import comfy.sample
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3

    from reco_core.attention.constraint import mask_token_region

    masked = []
    for mask, instruction in zip(masks, instructions):
        region = mask_token_region(mask, layout.geometry).float()  # the region on the latent's token grid
        on_canvas = torch.cat([torch.zeros_like(region), region], dim=-1)
        latent_grid = on_canvas.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
        masked.append([instruction[0][0], {**positive[0][1], "mask": latent_grid, "mask_strength": 1.0,
                                           "set_area_to_bounds": False}])
    patched = ModelSamplingSD3().patch(model, shift)[0]
    noise = comfy.sample.prepare_noise(latent["samples"], seed)
    return comfy.sample.sample(patched, noise, steps, cfg, "euler", "simple", positive + masked, negative,
                               latent["samples"], seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    package = import_package()
    import comfy.sd
    import comfy.utils

    from reco_core.text_embeddings import load_text_embeddings

    nodes = package.nodes
    models = make_tiny_models(Path(tempfile.mkdtemp()) / "models")
    model = comfy.sd.load_diffusion_model(str(models.vace))
    vae = comfy.sd.VAE(sd=comfy.utils.load_torch_file(str(models.vae)))
    text = {name: [[load_text_embeddings(path).embeds, {}]] for name, path in
            (("canvas", models.positive), ("first", models.positive), ("second", models.negative))}
    negative = [[load_text_embeddings(models.negative).embeds, {}]]
    positive, negative, latent, layout = nodes.canvas_node.ReCoCanvas.execute(
        sample_frames(), vae, text["canvas"], negative, fit="stretch", mode="edit", start_frame=0, **CANVAS).result[:4]
    masks = region_masks()
    regions = nodes.region_instructions_node.ReCoRegionInstructions.execute(
        masks[0], text["first"], masks[1], text["second"]).result[0]
    sampler = nodes.sampler_node.ReCoSampler

    def reco(with_regions: bool, counted) -> torch.Tensor:
        return sampler.execute(counted, positive, negative, latent, SEED, args.steps, CFG, "euler", "simple", SHIFT,
                               1.0, "off", 1.0, 0.0, 1.0, 5, 0.5, "block", None,
                               regions if with_regions else None).result[0]["samples"]

    def native(counted) -> torch.Tensor:
        return native_masked_sample(counted, positive, negative, latent, layout, masks,
                                    (text["first"], text["second"]), args.steps, CFG, SHIFT, SEED)

    cases = {"plain ReCo (one instruction)": lambda m: reco(False, m),
             "region instructions (2 regions)": lambda m: reco(True, m),
             "native masked conditioning (2 regions)": native}
    best = {name: float("inf") for name in cases}
    counts, outputs = {}, {}
    for _ in range(args.repeats):
        for name, run in cases.items():
            counter = [0, 0]
            counted = model.clone()
            counted.set_model_unet_function_wrapper(call_counter(counter))
            started = time.perf_counter()
            outputs[name] = run(counted)
            best[name] = min(best[name], time.perf_counter() - started)
            counts[name] = counter
    plain = best["plain ReCo (one instruction)"]
    print(f"tiny Wan2.1-VACE, canvas {CANVAS['width']}x{CANVAS['height']}x{CANVAS['length']} per half, "
          f"{args.steps} steps, CFG {CFG}, best of {args.repeats}")
    print("| case | model calls / step | canvas passes (rows) / step | seconds | x plain |")
    print("|---|---|---|---|---|")
    for name in cases:
        calls, rows = counts[name][0] / args.steps, counts[name][1] / args.steps
        print(f"| {name} | {calls:g} | {rows:g} | {best[name]:.3f} | {best[name] / plain:.2f} |")
    bound, masked = outputs["region instructions (2 regions)"], outputs["native masked conditioning (2 regions)"]
    print(f"max |region instructions - native masked| over the latent: {float((bound - masked).abs().max()):.4f}")


if __name__ == "__main__":
    main()
