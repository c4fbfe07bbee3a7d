"""The GPU device script, run on the CPU on a one-head-wide model: every path it takes on a GPU runs and records.

No GPU is lent to most sessions, so this smoke run is what keeps `benchmarks/device/full_size_bench.py` ready to run:
ComfyUI's model with and without the hook, fp8 weights fully loaded and half offloaded, the LoRA training step on a
bf16 (here fp32) and on a float8 base.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from harness.comfy_server import REPO, comfyui_dir


def test_device_script_smoke_run_on_cpu(tmp_path):
    out = tmp_path / "full_size_cpu.json"
    # One thread: the narrow model's kernels take microseconds, a thread-pool hand-off on a busy machine milliseconds.
    env = {**os.environ, "COMFYUI_DIR": str(comfyui_dir()), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "device" / "full_size_bench.py"), "--device",
                           "cpu", "--tiny", "--rank", "4", "--repeats", "1", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    records = {record["name"]: record for record in json.loads(out.read_text())["records"]}
    assert set(records) == {
        "comfy step: plain", "comfy step: hooked, block strength 1", "comfy step: hooked, block strength 0.5",
        "comfy step: hooked, VideoGrain", "low VRAM edit call: fp8 weights, all on the card",
        "low VRAM edit call: fp8 weights, half offloaded", "train step: rank 4 LoRA, gradient checkpointing",
        "train step: rank 4 LoRA, gradient checkpointing, fp8 base"}
    for record in records.values():
        assert record["peak_mib"] > 0 and record["seconds"] > 0, record
    assert records["low VRAM edit call: fp8 weights, half offloaded"]["baseline"] == "12 GiB budget"
    for base in ("", ", fp8 base"):
        assert records[f"train step: rank 4 LoRA, gradient checkpointing{base}"]["baseline"] == "24 GiB budget"
