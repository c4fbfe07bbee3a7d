"""The full-size figures of docs/BENCHMARKS.md that need a GPU, written as bench records (JSON).

(b) one model call on ReCo's full canvas (480x1664x81: 65,520 tokens) of the 1.3B Wan2.1-VACE through ComfyUI's own
    model, random bf16 weights: plain against the ReCoSampler hook with a region constraint active (block at strength
    1 and 0.5, VideoGrain), time and peak-memory ratios, and the achieved TFLOP/s against the compute floor;
(c) one training step of a rank-128 LoRA at that size with gradient checkpointing (L_ic), time and peak memory.

On a GPU: `bash benchmarks/device/run_gpu.sh` (with COMFYUI_DIR pointing at a ComfyUI). A CPU smoke run of the same
code at toy size: `python benchmarks/device/full_size_bench.py --device cpu --layers 2 --grid 2,4,6 --json OUT`.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from reco_core.bench.attention import ellipse_region  # noqa: E402
from reco_core.bench.flops import forward_flops  # noqa: E402
from reco_core.bench.measure import interleaved_timings, peak_mib, synchronize  # noqa: E402
from reco_core.bench.model_files import wan_vace_config, write_zero_wan_vace  # noqa: E402
from reco_core.bench.records import BenchRecord, print_table, write_json  # noqa: E402

TEXT_TOKENS = 512


def _randomize(module: torch.nn.Module) -> None:
    """Random weights in place (the file holds zeros), so attention is not uniform and activations are realistic."""
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.normal_(0.0, 0.02) if parameter.dim() > 1 else parameter.fill_(1.0)


def _latent_shape(grid: tuple[int, int, int], channels: int) -> tuple[int, ...]:
    frames, height, width = grid  # per-half token grid; a token is 2x2 latent pixels, the canvas is two halves wide
    return (1, channels, frames, 2 * height, 4 * width)


def comfy_step_records(device: torch.device, file: Path, grid, dtype, repeats: int, layers: int) -> list[BenchRecord]:
    from harness.comfy_inprocess import PACKAGE_NAME, import_package

    import_package(cpu=device.type == "cpu")
    import comfy.sd

    hook = importlib.import_module(f"{PACKAGE_NAME}.nodes.region_hook")
    net = comfy.sd.load_diffusion_model(str(file), model_options={"dtype": dtype}).model.diffusion_model.to(device)
    _randomize(net)
    region = ellipse_region(grid)
    tokens = region.numel() * 2
    x = torch.randn(_latent_shape(grid, 16), device=device, dtype=dtype)
    vace = torch.randn((1, *_latent_shape(grid, 96)), device=device, dtype=dtype)
    context = torch.randn(1, TEXT_TOKENS, 4096, device=device, dtype=dtype)
    timestep = torch.tensor([900.0], device=device)

    def call(options: dict):
        return lambda: net(x, timestep, context, vace_context=vace, vace_strength=[1.0], transformer_options=options)

    def hooked(strength: float, kind: str):
        constraint = hook.RegionConstraint(tokens=tokens, strength=strength, first_step=0, end_step=1, region=region,
                                           kind=kind)
        return call({"optimized_attention_override": hook.attention_override(constraint),
                     "sigmas": torch.tensor([0.9], device=device)})

    calls = {"plain": call({}), "hooked, block strength 1": hooked(1.0, "block"),
             "hooked, block strength 0.5": hooked(0.5, "block"), "hooked, VideoGrain": hooked(1.0, "videograin")}
    with torch.no_grad():
        timings = interleaved_timings(calls, device, repeats)
        peaks = {name: peak_mib(c, device) for name, c in calls.items()}
    flops = forward_flops(tokens=tokens, blocks=layers + layers // 2)
    seconds = {name: timings.median(name) for name in calls}
    return [BenchRecord(name=f"comfy step: {name}", device=device.type, tokens=tokens, seconds=seconds[name],
                        ratio=timings.ratio(name, "plain"), peak_mib=peaks[name],
                        memory_ratio=peaks[name] / peaks["plain"], baseline="comfy step: plain",
                        note=f"{flops / seconds[name] / 1e12:.1f} TFLOP/s, {str(dtype).removeprefix('torch.')}")
            for name in calls]


def train_step_record(device: torch.device, file: Path, grid, rank: int, repeats: int) -> BenchRecord:
    from reco_core.training.trainer import TrainConfig, _prepare_transformer

    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(base_model=file, output=Path(folder) / "bench.safetensors", rank=rank,
                             mixed_precision="bf16" if device.type == "cuda" else "fp32")
        model = _prepare_transformer(config).to(device)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                parameter.normal_(0.0, 0.02) if parameter.dim() > 1 else parameter.fill_(1.0)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    x = torch.randn(_latent_shape(grid, 16), device=device, dtype=dtype)
    control = torch.randn(_latent_shape(grid, 96), device=device, dtype=dtype)
    text = torch.randn(1, TEXT_TOKENS, 4096, device=device, dtype=dtype)
    target = torch.randn(_latent_shape(grid, 16), device=device)
    scale = torch.ones(len(model.config.vace_layers), device=device, dtype=dtype)
    adapter = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(adapter, lr=5e-5)

    def step() -> None:
        out = model(hidden_states=x, timestep=torch.tensor([900.0], device=device), encoder_hidden_states=text,
                    control_hidden_states=control, control_hidden_states_scale=scale, return_dict=False)[0]
        torch.nn.functional.mse_loss(out.float(), target).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    seconds = interleaved_timings({"step": step}, device, repeats).median("step")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        step()
        synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = peak_mib(step, device)
    return BenchRecord(name=f"train step: rank {rank} LoRA, gradient checkpointing", device=device.type,
                       tokens=grid[0] * grid[1] * grid[2] * 2, seconds=seconds, ratio=None, peak_mib=peak,
                       memory_ratio=None, note="peak: all memory in use (weights, adapter, AdamW state, activations)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--layers", type=int, default=30, help="DiT blocks (VACE blocks on every second one)")
    parser.add_argument("--grid", default="21,30,52", help="per-half token grid F,H,W (default: ReCo's full canvas)")
    parser.add_argument("--rank", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=("step", "train"))
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    device = torch.device(args.device)
    grid = tuple(int(n) for n in args.grid.split(","))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    records = []
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "wan_vace_random.safetensors"
        write_zero_wan_vace(file, wan_vace_config(layers=args.layers), torch.float16)
        if "step" not in args.skip:
            records += comfy_step_records(device, file, grid, dtype, args.repeats, args.layers)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if "train" not in args.skip:
            records.append(train_step_record(device, file, grid, args.rank, max(1, args.repeats - 1)))
    print_table(records)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    write_json(records, args.json, {"device": name, "torch": torch.__version__})


if __name__ == "__main__":
    main()
