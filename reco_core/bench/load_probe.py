"""`python -m reco_core.bench.load_probe MODE FILE DTYPE`: peak RAM of one model load, in a fresh process.

Peak resident memory is a property of the whole process, so each load is measured in a process of its own. After the
imports the kernel's high-water mark is reset (``/proc/self/clear_refs``, Linux), so the peak printed is what the load
alone added. MODE ``edit`` is the headless edit's load; ``train`` is the trainer's (base in bf16 plus the LoRA, rank 4
so the adapter does not hide the base). Prints one JSON line: peak_bytes, weight_bytes, seconds.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def _load(mode: str, file: Path, dtype: torch.dtype) -> torch.nn.Module:
    if mode == "edit":
        from ..wan_models import load_transformer

        return load_transformer(file, dtype)
    from ..training.trainer import TrainConfig, _prepare_transformer

    precision = {torch.float32: "fp32", torch.bfloat16: "bf16"}[dtype]
    with tempfile.TemporaryDirectory() as folder:
        return _prepare_transformer(TrainConfig(base_model=file, output=Path(folder) / "probe.safetensors", rank=4,
                                                mixed_precision=precision))


def main(argv: list[str]) -> None:
    mode, file, dtype_name = argv
    import diffusers  # noqa: F401  (imported before the baseline: its import is not the load's memory)
    import peft  # noqa: F401
    from diffusers import WanVACETransformer3DModel  # noqa: F401

    from ..training import trainer  # noqa: F401  (the package's own modules too)
    from .. import wan_models  # noqa: F401

    Path("/proc/self/clear_refs").write_text("5")
    baseline = _status_bytes("VmRSS")
    start = time.perf_counter()
    model = _load(mode, Path(file), getattr(torch, dtype_name))
    seconds = time.perf_counter() - start
    peak = _status_bytes("VmHWM") - baseline
    weights = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    print(json.dumps({"peak_bytes": peak, "weight_bytes": weights, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])
