"""The full-size figures of docs/BENCHMARKS.md that need a GPU, written as bench records (JSON).

(b) one model call on ReCo's full canvas (480x1664x81: 65,520 tokens) of the 1.3B Wan2.1-VACE through ComfyUI's own
    model, random bf16 weights: plain against the ReCoSampler hook with a region constraint active (block at strength
    1 and 0.5, VideoGrain), time and peak-memory ratios, and the achieved TFLOP/s against the compute floor;
(c) one training step of a rank-128 LoRA at that size with gradient checkpointing (L_ic), time and peak memory,
    the base frozen in bf16 and in float8 (the trainer's base_weight_dtype fp8_e4m3fn), latents and text
    embeddings given (cached), against the 24 GiB budget of issue 13;
(d) low VRAM: the hooked model call with UNETLoader's fp8_e4m3fn weights, all on the card and with ComfyUI's own
    partial loading (what --lowvram does: half the weights stay in RAM and are streamed per layer), peak GPU memory
    (weights included) against the 12 GiB budget.

On a GPU: `bash benchmarks/device/run_gpu.sh` (with COMFYUI_DIR pointing at a ComfyUI). A CPU smoke run of the same
code on a narrow model (seconds; the test suite runs it): `python benchmarks/device/full_size_bench.py --device cpu
--tiny --json OUT`.
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
EDIT_BUDGET_GIB = 12
TRAIN_BUDGET_GIB = 24
TINY_GRID = "2,4,6"


def tiny_config(layers: int) -> dict:
    """Wan2.1-VACE's layout one attention head wide (dim 128), for a smoke run of every code path in seconds."""
    return {**wan_vace_config(layers=layers), "num_attention_heads": 1, "ffn_dim": 256}


def _randomize(module: torch.nn.Module, frozen_only: bool = False) -> None:
    """Random weights in place (the file holds zeros), so attention is not uniform and activations are realistic;
    float8 weights are drawn in bf16 and rounded (torch draws no float8 numbers)."""
    with torch.no_grad():
        for parameter in module.parameters():
            if frozen_only and parameter.requires_grad:
                continue
            if parameter.dim() <= 1:
                parameter.fill_(1.0)
            elif parameter.dtype == torch.float8_e4m3fn:
                parameter.copy_(torch.empty_like(parameter, dtype=torch.bfloat16).normal_(0.0, 0.02))
            else:
                parameter.normal_(0.0, 0.02)


def _latent_shape(grid: tuple[int, int, int], channels: int) -> tuple[int, ...]:
    frames, height, width = grid  # per-half token grid; a token is 2x2 latent pixels, the canvas is two halves wide
    return (1, channels, frames, 2 * height, 4 * width)


def _comfy(device: torch.device):
    """ComfyUI's `comfy.sd` and this package's hook module, imported the way ComfyUI imports the package."""
    from harness.comfy_inprocess import PACKAGE_NAME, import_package

    import_package(cpu=device.type == "cpu")
    import comfy.sd

    return comfy.sd, importlib.import_module(f"{PACKAGE_NAME}.nodes.region_hook")


def _model_call(net, grid, device: torch.device, dtype: torch.dtype):
    """``call(options)``: a closure running one model call of ``net`` on the canvas of ``grid`` with those
    transformer_options; ``hooked(strength, kind)``: such a call with the ReCoSampler hook and a region constraint."""
    _, hook = _comfy(device)
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

    return call, hooked, tokens


def comfy_step_records(device: torch.device, file: Path, grid, dtype, repeats: int, config: dict) -> list[BenchRecord]:
    comfy_sd, _ = _comfy(device)
    net = comfy_sd.load_diffusion_model(str(file), model_options={"dtype": dtype}).model.diffusion_model.to(device)
    _randomize(net)
    call, hooked, tokens = _model_call(net, grid, device, dtype)
    calls = {"plain": call({}), "hooked, block strength 1": hooked(1.0, "block"),
             "hooked, block strength 0.5": hooked(0.5, "block"), "hooked, VideoGrain": hooked(1.0, "videograin")}
    with torch.no_grad():
        timings = interleaved_timings(calls, device, repeats)
        peaks = {name: peak_mib(c, device) for name, c in calls.items()}
    flops = forward_flops(tokens=tokens, dim=config["num_attention_heads"] * config["attention_head_dim"],
                          ffn_dim=config["ffn_dim"], blocks=config["num_layers"] + len(config["vace_layers"]))
    seconds = {name: timings.median(name) for name in calls}
    return [BenchRecord(name=f"comfy step: {name}", device=device.type, tokens=tokens, seconds=seconds[name],
                        ratio=timings.ratio(name, "plain"), peak_mib=peaks[name],
                        memory_ratio=peaks[name] / peaks["plain"], baseline="comfy step: plain",
                        note=f"{flops / seconds[name] / 1e12:.1f} TFLOP/s, {str(dtype).removeprefix('torch.')}")
            for name in calls]


def low_vram_records(device: torch.device, file: Path, grid, dtype) -> list[BenchRecord]:
    """(d): peak memory of one hooked call (block constraint) on fp8_e4m3fn weights, fully loaded and half offloaded.

    On a GPU the peak is everything allocated (weights, streamed layers, activations), against the edit's budget; on
    a CPU (the smoke run) only the call's own tensors are seen.
    """
    comfy_sd, _ = _comfy(device)
    records = []
    for label, share_on_card in (("fp8 weights, all on the card", 1.0), ("fp8 weights, half offloaded", 0.5)):
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        patcher = comfy_sd.load_diffusion_model(str(file), model_options={"dtype": torch.float8_e4m3fn})
        weights = patcher.model_size()
        # ComfyUI's partial load, as load_models_gpu does it under --lowvram: 0 loads everything.
        on_card = 0 if share_on_card == 1.0 else int(weights * share_on_card)
        patcher.patch_model(device_to=device, lowvram_model_memory=on_card)
        _, hooked, tokens = _model_call(patcher.model.diffusion_model, grid, device, dtype)
        step = hooked(1.0, "block")
        with torch.no_grad():
            seconds = interleaved_timings({"step": step}, device, 1).median("step")
            if device.type == "cuda":
                synchronize(device)
                peak = torch.cuda.max_memory_allocated(device) / 2**20
            else:
                peak = peak_mib(step, device)
        patcher.unpatch_model(device_to=torch.device("cpu"))
        records.append(BenchRecord(
            name=f"low VRAM edit call: {label}", device=device.type, tokens=tokens, seconds=seconds, ratio=None,
            peak_mib=peak, memory_ratio=peak / (EDIT_BUDGET_GIB * 1024), baseline=f"{EDIT_BUDGET_GIB} GiB budget",
            note=f"weights {weights / 2**30:.2f} GiB in fp8, hook on; peak: all GPU memory in use"))
    return records


def train_step_record(device: torch.device, file: Path, grid, rank: int, repeats: int,
                      base_weight_dtype: str) -> BenchRecord:
    """(c), and (d)'s training budget: one step; the frozen base in the run's precision or in float8
    (``base_weight_dtype`` "fp8_e4m3fn", the trainer's option for 24 GB cards)."""
    from reco_core.training.trainer import TrainConfig, _prepare_transformer

    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig(base_model=file, output=Path(folder) / "bench.safetensors", rank=rank,
                             mixed_precision="bf16" if device.type == "cuda" else "fp32",
                             base_weight_dtype=base_weight_dtype)
        model = _prepare_transformer(config)
    model.to(device)
    _randomize(model, frozen_only=True)
    base_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if not p.requires_grad)
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
    base = "fp8 base" if base_weight_dtype == "fp8_e4m3fn" else f"{config.mixed_precision} base"
    name = f"train step: rank {rank} LoRA, gradient checkpointing"
    return BenchRecord(name=name if base_weight_dtype == "default" else f"{name}, {base}", device=device.type,
                       tokens=grid[0] * grid[1] * grid[2] * 2, seconds=seconds, ratio=None, peak_mib=peak,
                       memory_ratio=peak / (TRAIN_BUDGET_GIB * 1024), baseline=f"{TRAIN_BUDGET_GIB} GiB budget",
                       note=f"peak: all memory in use ({base} {base_bytes / 2**30:.2f} GiB, adapter, AdamW state, "
                            "activations)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--layers", type=int, default=30, help="DiT blocks (VACE blocks on every second one)")
    parser.add_argument("--grid", default=None, help=f"per-half token grid F,H,W (default: ReCo's full canvas "
                                                     f"21,30,52; {TINY_GRID} with --tiny)")
    parser.add_argument("--tiny", action="store_true", help="a one-head-wide model: a smoke run of every path")
    parser.add_argument("--rank", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=("step", "train", "low-vram"))
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    device = torch.device(args.device)
    grid = tuple(int(n) for n in (args.grid or (TINY_GRID if args.tiny else "21,30,52")).split(","))
    config = tiny_config(args.layers) if args.tiny else wan_vace_config(layers=args.layers)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    records = []
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / "wan_vace_random.safetensors"
        write_zero_wan_vace(file, config, torch.float16)
        if "step" not in args.skip:
            records += comfy_step_records(device, file, grid, dtype, args.repeats, config)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        if "low-vram" not in args.skip:
            records += low_vram_records(device, file, grid, dtype)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        for base_weight_dtype in ("default", "fp8_e4m3fn"):
            if "train" not in args.skip:
                records.append(train_step_record(device, file, grid, args.rank, max(1, args.repeats - 1),
                                                 base_weight_dtype))
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print_table(records)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    write_json(records, args.json, {"device": name, "torch": torch.__version__})


if __name__ == "__main__":
    main()
