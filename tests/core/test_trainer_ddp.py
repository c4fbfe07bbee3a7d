"""Two DDP processes (torchrun and accelerate launch, gloo on CPU) train the same LoRA as one process with twice the
accumulation.

Each optimizer step consumes processes x accumulation consecutive sample positions in both runs, and every sample's
noise and sigma depend only on its position, so the runs differ only in the order floating-point gradients are
summed (all-reduce vs accumulation). After 3 Adam steps at lr 1e-2 the adapters agree to 1e-4 absolute (measured
~1e-5), against changes of order 1e-2 per step; the loss histories agree to 1e-5 relative (1e-6 absolute for the
small region terms).

`accelerate launch --cpu --num_processes 2` starts a single process; `--multi_gpu --num_processes 2` is its
multi-process switch and, without CUDA, each process joins a gloo group (the trainer passes cpu=True then).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reco_core.weights.checkpoint import load_state_dict

WORKER = Path(__file__).resolve().parents[1] / "harness" / "train_worker.py"


def run_worker(launcher: list[str], tiny_models, output: Path, accumulation: int,
               base_weight_dtype: str = "default") -> list[dict]:
    history = output.with_suffix(".json")
    command = [*launcher, str(WORKER), str(tiny_models.vace), str(output), "--accumulation", str(accumulation),
               "--history", str(history), "--base-weight-dtype", base_weight_dtype]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(history.read_text())


LAUNCHERS = {
    "torchrun": ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    # accelerate's own launcher; --multi_gpu is its multi-process switch, and each process picks gloo on CPU.
    "accelerate": ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no"],
}


@pytest.mark.parametrize("base_weight_dtype, launchers", [("default", tuple(LAUNCHERS)), ("fp8_e4m3fn", ("torchrun",))])
def test_two_processes_equal_one_process_with_double_accumulation(tiny_models, tmp_path, base_weight_dtype,
                                                                   launchers):
    """Also with the frozen base in float8, which DDP must not try to broadcast (gloo has no float8)."""
    single = run_worker([sys.executable], tiny_models, tmp_path / "single.safetensors", accumulation=4,
                        base_weight_dtype=base_weight_dtype)
    a = load_state_dict(tmp_path / "single.safetensors")
    for name in launchers:
        ddp = run_worker([sys.executable, *LAUNCHERS[name]], tiny_models, tmp_path / f"{name}.safetensors",
                         accumulation=2, base_weight_dtype=base_weight_dtype)
        assert [e["step"] for e in ddp] == [e["step"] for e in single] == [1, 2, 3], name
        for mine, theirs in zip(ddp, single):
            assert mine.keys() == theirs.keys()
            assert all(mine[k] == pytest.approx(theirs[k], rel=1e-5, abs=1e-6) for k in mine), name
        b = load_state_dict(tmp_path / f"{name}.safetensors")
        assert a.keys() == b.keys()
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-4)
