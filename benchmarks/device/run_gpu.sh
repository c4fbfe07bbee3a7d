#!/usr/bin/env bash
# Every GPU figure of docs/BENCHMARKS.md in one run (about 5 minutes on an H100/H200), for the device tool:
#   run(command="bash benchmarks/device/run_gpu.sh", timeout_s=600)
# Needs python with CUDA torch, diffusers and peft, and a ComfyUI tree in COMFYUI_DIR (default .comfyui/).
# Records land in $OUT (the device tool's return folder) or benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-benchmarks/results}"
mkdir -p "$out"
PY="${PYTHON:-python}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
PYTHONPATH="$PWD" "$PY" -m reco_core bench --device cuda --skip full-size-loading --json "$out/bench_cuda.json"
PYTHONPATH="$PWD" "$PY" benchmarks/device/full_size_bench.py --device cuda --json "$out/full_size_cuda.json"
