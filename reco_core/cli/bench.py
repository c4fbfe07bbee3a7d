"""`python -m reco_core bench [--json OUT]`: the benchmark records of this machine, measured side by side.

Cases: (a) region-constrained and VideoGrain attention against plain attention; (e) loading a Wan2.1-VACE file
headless and for training, peak RAM against the weights. The full-size ComfyUI step, the training step and the GPU
rows come from the device scripts in benchmarks/device/ (docs/BENCHMARKS.md says which is which).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch

from ..bench.attention import attention_records
from ..bench.loading import loading_records
from ..bench.records import print_table, write_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", metavar="OUT", help="also write the records (and the machine) to this JSON file")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed rounds; the cases take turns each round, the medians are kept")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads for torch (1 on a machine busy with other jobs: a multi-threaded kernel "
                             "there waits for a time slice at every thread-pool barrier)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time attention in this process's CPU seconds, not wall seconds (with --threads 1 on a "
                             "busy machine: the time other jobs hold the core is not counted)")
    parser.add_argument("--skip", nargs="*", default=[], choices=("attention", "loading", "full-size-loading"),
                        help="leave out cases; full-size-loading writes a sparse 4.3 GB file and needs ~6 GB of RAM")


def run(args: argparse.Namespace) -> int:
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    records = []
    if "attention" not in args.skip:
        records += attention_records(device, args.repeats,
                                     clock=time.process_time if args.cpu_time else time.perf_counter)
    if "loading" not in args.skip:
        with tempfile.TemporaryDirectory(prefix="reco_bench_") as folder:
            records += loading_records(folder, full_size="full-size-loading" not in args.skip)
    print_table(records)
    if args.json:
        write_json(records, args.json, {**machine_description(device),
                                         "clock": "process CPU time" if args.cpu_time else "wall time"})
        print(f"wrote {args.json}")
    return 0


def machine_description(device: torch.device) -> dict[str, str]:
    described = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    return {"device": described, "torch": torch.__version__, "threads": str(torch.get_num_threads()),
            "platform": platform.platform(), "python": platform.python_version()}
