"""Case (e): peak RAM of loading a Wan2.1-VACE file headless and for training, against the loaded weights' size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from .model_files import wan_vace_config, write_zero_wan_vace
from .records import BenchRecord

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LoadPeak:
    peak_bytes: int
    weight_bytes: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.peak_bytes / self.weight_bytes


def measure_load(mode: str, file: Path, dtype: torch.dtype) -> LoadPeak:
    """Peak RAM that loading ``file`` adds to a fresh process (see :mod:`.load_probe`)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH"))))}
    done = subprocess.run([sys.executable, "-m", "reco_core.bench.load_probe", mode, str(file),
                           str(dtype).removeprefix("torch.")], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"load probe failed ({mode}, {file.name}):\n{done.stderr[-2000:]}")
    return LoadPeak(**json.loads(done.stdout.strip().splitlines()[-1]))


def loading_records(folder: str | os.PathLike[str], full_size: bool = True) -> list[BenchRecord]:
    """A 2-block full-width file always; the full 2.15 B-parameter file too when ``full_size`` (not in float32
    there: 8.6 GB of RAM is more than the loads at issue, fp16/bf16, need)."""
    cases = (("edit", torch.float16), ("edit", torch.bfloat16), ("train", torch.bfloat16))
    sizes = {"full width, 2 blocks": (wan_vace_config(layers=2), (*cases, ("edit", torch.float32)))}
    if full_size:
        sizes["full size 1.3B"] = (wan_vace_config(), cases)
    records = []
    for label, (config, loads) in sizes.items():
        file = Path(folder) / f"wan_vace_{config['num_layers']}.safetensors"
        write_zero_wan_vace(file, config, torch.float16)
        for mode, dtype in loads:
            peak = measure_load(mode, file, dtype)
            records.append(BenchRecord(
                name=f"load {mode} {str(dtype).removeprefix('torch.')}: {label}", device="cpu", tokens=0,
                seconds=peak.seconds, ratio=None, peak_mib=peak.peak_bytes / 2**20, memory_ratio=peak.ratio,
                baseline="weights as loaded", note=f"fp16 file, weights {peak.weight_bytes / 2**30:.2f} GiB"))
        file.unlink()
    return records
