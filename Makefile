# The README's commands. Each target first runs the idempotent set-up (about a second when nothing changed), which
# prints the ComfyUI folder in use: COMFYUI_DIR when given, else the embedded copy in .comfyui/.
PYTHON_SYSTEM ?= python3.11
PORT ?= 8188
# What `make test` runs; narrow it with e.g. `make test TESTS=tests/core PYTEST_ARGS=-x`.
TESTS ?= tests
PY := $(abspath .venv/bin/python)
SETUP := $(PYTHON_SYSTEM) tools/setup_env.py
# ComfyUI needs --cpu where there is no CUDA.
CPU_FLAG = $$(nvidia-smi >/dev/null 2>&1 || echo --cpu)

.PHONY: setup run test bench demo

setup:
	@$(SETUP) >/dev/null

run:
	@comfy="$$($(SETUP))" && cd "$$comfy" && \
	  exec $(PY) main.py --listen 127.0.0.1 --port $(PORT) --disable-auto-launch $(CPU_FLAG)

test:
	@comfy="$$($(SETUP) --with-browser)" && COMFYUI_DIR="$$comfy" $(PY) -m pytest -c tests/pytest.ini $(PYTEST_ARGS) $(TESTS)

# Prints the benchmark records (side by side on this machine's device; CUDA when present) and writes them as JSON.
BENCH_JSON ?= benchmarks/results/bench_$$(nvidia-smi >/dev/null 2>&1 && echo cuda || echo cpu).json
bench: setup
	@$(PY) -m reco_core bench --json $(BENCH_JSON) $(BENCH_ARGS)
	@$(PY) -m benchmarks.bench_toy_world

# The toy ReCo edit, headless through a real ComfyUI: the edited mp4, the region video, frames and metrics in
# demo-output/ (set-up included; a few seconds of editing on a 2-core CPU once set up).
demo:
	@comfy="$$($(SETUP))" && COMFYUI_DIR="$$comfy" $(PY) tools/toy_demo.py
