"""Side-by-side cost of plain SDPA, region-constrained attention and VideoGrain-style modulated attention.

Run from the repository root: ``python -m benchmarks.bench_region_attention`` (or ``python
benchmarks/bench_region_attention.py`` when reco_core is installed). All methods run in one process on the same inputs,
so the ratios are comparable. Peak memory on CUDA is torch.cuda.max_memory_allocated above the inputs. The CPU has no
allocator statistics, so there the peak counts the bytes of live tensors created by torch ops during the call
(traced at the dispatcher, in a separate untimed run; scratch buffers inside a kernel are not seen).
"""

from __future__ import annotations

import argparse
import time
import weakref
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from reco_core.attention.canvas_tokens import canvas_labels, canvas_token_count
from reco_core.attention.region_attention import (
    modulated_attention,
    region_constrained_attention,
    videograin_lambda,
)

CPU_GRIDS = ((2, 16, 32), (4, 16, 32), (4, 32, 32), (4, 32, 64))
CUDA_GRIDS = ((6, 30, 52), (11, 30, 52), (21, 30, 52))  # the last one is ReCo's full canvas, 65,520 tokens


class LiveTensorBytes(TorchDispatchMode):
    """Peak bytes of storages that ops allocate while the mode is active, released when their last tensor dies.

    Outputs sharing storage with an op's inputs (views, in-place results) are not new memory and are skipped unless
    the storage was itself allocated under the mode.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage address -> [bytes, live tensors]
        self.current = 0
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._track(tensor, inputs)
        return out

    def _track(self, tensor: torch.Tensor, inputs: set[int]) -> None:
        storage = tensor.untyped_storage()
        address = storage.data_ptr()
        if address == 0 or (address in inputs and address not in self.live):
            return
        entry = self.live.get(address)
        if entry is None:
            entry = self.live[address] = [storage.nbytes(), 0]
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        weakref.finalize(tensor, self._release, address)

    def _release(self, address: int) -> None:
        entry = self.live[address]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[address]


def best_times(calls: dict[str, Callable[[], torch.Tensor]], device: torch.device, repeats: int) -> dict[str, float]:
    """Best wall time in ms of each call after one warm-up each.

    The calls take turns round by round, so a busy machine slows all of them alike, and the minimum is the run least
    disturbed by other processes.
    """
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            _synchronize(device)
            start = time.perf_counter()
            call()
            _synchronize(device)
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: min(samples) for name, samples in times.items()}


def peak_mib(call: Callable[[], torch.Tensor], device: torch.device) -> float:
    """Peak memory of one call beyond what was allocated before it, in MiB."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        baseline = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        return (torch.cuda.max_memory_allocated(device) - baseline) / 2**20
    with LiveTensorBytes() as tracker:
        call()
    return tracker.peak / 2**20


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def parse_grid(text: str) -> tuple[int, int, int]:
    frames, height, width = (int(part) for part in text.split(","))
    return frames, height, width


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--grids", nargs="+", type=parse_grid, help="per-half token grids F,H,W")
    parser.add_argument("--heads", type=int, help="default: 12 on CUDA (Wan 1.3B), 2 on CPU")
    parser.add_argument("--head-dim", type=int, help="default: 128 on CUDA (Wan 1.3B), 64 on CPU")
    parser.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), help="default: bfloat16 on CUDA")
    parser.add_argument("--mask-fraction", type=float, default=0.3, help="share of the per-half grid that is edited")
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = torch.device(args.device)
    on_cuda = device.type == "cuda"
    grids = args.grids or (CUDA_GRIDS if on_cuda else CPU_GRIDS)
    heads = args.heads or (12 if on_cuda else 2)
    head_dim = args.head_dim or (128 if on_cuda else 64)
    dtype = getattr(torch, args.dtype or ("bfloat16" if on_cuda else "float32"))
    lam = videograin_lambda(1.0, args.mask_fraction, self_attention=True)

    threads = f"{torch.get_num_threads()} threads"
    print(f"device {device} ({torch.cuda.get_device_name(device) if on_cuda else threads}), torch {torch.__version__}")
    print(f"B=1, heads={heads}, head_dim={head_dim}, {dtype}, mask {args.mask_fraction:.0%}, strength {args.strength}, "
          f"lam {lam:.3f}; time: best of {args.repeats}, methods interleaved")
    print(f"peak memory: {'max_memory_allocated above inputs' if on_cuda else 'live op-created tensors (traced)'}")
    header = f"{'grid F,H,W':>12} {'tokens':>7} | {'method':<20} {'time ms':>10} {'x plain':>8} {'peak MiB':>10}"
    print(header)
    print("-" * len(header))
    generator = torch.Generator().manual_seed(0)
    for grid in grids:
        region = torch.rand(grid, generator=generator) < args.mask_fraction
        tokens = canvas_token_count(region)
        q, k, v = (torch.randn(1, heads, tokens, head_dim, generator=generator).to(device, dtype) for _ in range(3))
        labels = canvas_labels(region, device)
        same = torch.eye(4, dtype=torch.bool, device=device)
        calls = {
            "plain SDPA": lambda: F.scaled_dot_product_attention(q, k, v),
            "region-constrained": lambda: region_constrained_attention(q, k, v, region, args.strength),
            "modulated": lambda: modulated_attention(q, k, v, labels, labels, same, lam),
        }
        with torch.no_grad():
            times = best_times(calls, device, args.repeats)
            for name, call in calls.items():
                print(f"{','.join(map(str, grid)):>12} {tokens:>7} | {name:<20} {times[name]:>10.1f}"
                      f" {times[name] / times['plain SDPA']:>8.2f} {peak_mib(call, device):>10.1f}")


if __name__ == "__main__":
    main()
