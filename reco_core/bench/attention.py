"""Case (a): region-constrained and VideoGrain attention against plain attention on the same canvas tokens.

The region is an ellipse over 30 % of each frame of the half, the shape of an object an artist masks (a salt-and-
pepper mask would only measure gather overhead). CPU runs 4 heads of 64 at 4k and 16k tokens in float32 (what two
cores finish in seconds); CUDA runs Wan 1.3B's 12 heads of 128 in bfloat16 up to ReCo's full canvas, 65,520 tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..attention.canvas_tokens import canvas_token_count
from ..attention.region_attention import region_constrained_attention, videograin_canvas_attention, videograin_lambda
from .measure import interleaved_timings, peak_mib
from .records import BenchRecord

CPU_GRIDS = ((4, 16, 32), (4, 32, 64))  # 4,096 and 16,384 canvas tokens
CUDA_GRIDS = ((4, 32, 64), (21, 30, 52))  # 16,384 and ReCo's full canvas, 65,520 tokens
MASK_FRACTION = 0.3


def ellipse_region(grid: tuple[int, int, int], fraction: float = MASK_FRACTION) -> torch.Tensor:
    """(F, H, W) bool: a centred ellipse covering about ``fraction`` of every frame."""
    frames, height, width = grid
    rows = (torch.arange(height) + 0.5) / height - 0.5
    cols = (torch.arange(width) + 0.5) / width - 0.5
    radius_sq = fraction / torch.pi  # area of an ellipse with semi-axes r*H, r*W is pi r^2 of the unit frame
    inside = rows[:, None] ** 2 + cols[None, :] ** 2 <= radius_sq
    return inside.expand(frames, height, width).clone()


def attention_records(device: torch.device, repeats: int = 3, grids=None,
                      clock: Callable[[], float] = time.perf_counter) -> list[BenchRecord]:
    on_cuda = device.type == "cuda"
    heads, head_dim = (12, 128) if on_cuda else (4, 64)
    dtype = torch.bfloat16 if on_cuda else torch.float32
    lam = videograin_lambda(1.0, MASK_FRACTION, self_attention=True)
    generator = torch.Generator().manual_seed(0)
    records = []
    for grid in grids or (CUDA_GRIDS if on_cuda else CPU_GRIDS):
        region = ellipse_region(grid)
        tokens = canvas_token_count(region)
        q, k, v = (torch.randn(1, heads, tokens, head_dim, generator=generator).to(device, dtype) for _ in range(3))
        calls = {
            "plain SDPA": lambda: F.scaled_dot_product_attention(q, k, v),
            "region-constrained, strength 0.5": lambda: region_constrained_attention(q, k, v, region, 0.5),
            "region-constrained, strength 1 (block)": lambda: region_constrained_attention(q, k, v, region, 1.0),
            f"VideoGrain, lambda {lam:.2f}": lambda: videograin_canvas_attention(q, k, v, region, lam),
        }
        with torch.no_grad():
            timings = interleaved_timings(calls, device, repeats, clock)
            peaks = {name: peak_mib(call, device) for name, call in calls.items()}
        for name in calls:
            per_round = timings.ratios(name, "plain SDPA")
            records.append(BenchRecord(
                name=f"attention: {name}", device=device.type, tokens=tokens, seconds=timings.median(name),
                ratio=timings.ratio(name, "plain SDPA"), peak_mib=peaks[name],
                memory_ratio=peaks[name] / peaks["plain SDPA"], baseline="attention: plain SDPA",
                note=f"{heads}x{head_dim} {str(dtype).removeprefix('torch.')}, mask {MASK_FRACTION:.0%}, "
                     f"{len(per_round)} rounds, x plain per round {min(per_round):.2f}-{max(per_round):.2f}"))
    return records
