"""Region attention of an earlier commit against this tree's, side by side in one process (CPU, one thread).

Each case runs in turns with plain SDPA (interleaved rounds, medians, process CPU seconds, as `python -m reco_core
bench --threads 1 --cpu-time` measures), so a change to region_attention.py is judged on one machine state:

    python -m benchmarks.attention_before_after REV [--repeats N] [--out FILE]

REV's region_attention.py is loaded beside the current one (it must import only from reco_core.attention).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from reco_core.attention import region_attention as current
from reco_core.attention.canvas_tokens import canvas_token_count
from reco_core.bench.attention import CPU_GRIDS, MASK_FRACTION, ellipse_region
from reco_core.bench.measure import interleaved_timings, peak_mib

REPO = Path(__file__).resolve().parents[1]
MODULE = "reco_core/attention/region_attention.py"


def load_revision(revision: str, folder: Path):
    """REV's region_attention as a module of the reco_core.attention package (its relative imports resolve)."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{revision}:{MODULE}"], capture_output=True,
                            text=True, check=True).stdout
    path = folder / "region_attention_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("reco_core.attention._region_attention_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revision")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lam = current.videograin_lambda(1.0, MASK_FRACTION, self_attention=True)
    generator = torch.Generator().manual_seed(0)
    lines = [f"{args.revision} ('before') against the working tree ('after'); process CPU seconds, 1 thread, "
             f"{args.repeats} interleaved rounds; 4 heads of 64, float32, a {MASK_FRACTION:.0%} ellipse"]
    with tempfile.TemporaryDirectory() as folder:
        before = load_revision(args.revision, Path(folder))
        for grid in CPU_GRIDS:
            region = ellipse_region(grid)
            tokens = canvas_token_count(region)
            q, k, v = (torch.randn(1, 4, tokens, 64, generator=generator) for _ in range(3))
            calls = {"plain SDPA": lambda: F.scaled_dot_product_attention(q, k, v)}
            for label, module in (("before", before), ("after", current)):
                calls[f"block, {label}"] = lambda m=module: m.region_constrained_attention(q, k, v, region, 1.0)
                calls[f"strength 0.5, {label}"] = lambda m=module: m.region_constrained_attention(q, k, v, region,
                                                                                                  0.5)
                calls[f"VideoGrain, {label}"] = lambda m=module: m.videograin_canvas_attention(q, k, v, region, lam)
            with torch.no_grad():
                timings = interleaved_timings(calls, torch.device("cpu"), args.repeats, time.process_time)
                peaks = {name: peak_mib(call, torch.device("cpu")) for name, call in calls.items()}
            for name in calls:
                rounds = timings.ratios(name, "plain SDPA")
                lines.append(f"{tokens:6d}  {name:20s} {timings.median(name):7.3f} s  x plain "
                             f"{timings.ratio(name, 'plain SDPA'):.2f} (rounds {min(rounds):.2f}-{max(rounds):.2f})"
                             f"  peak {peaks[name]:6.2f} MiB  x plain {peaks[name] / peaks['plain SDPA']:.3f}")
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
