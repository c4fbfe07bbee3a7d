"""Train the tiny model on eight synthetic items in a process of its own: alone, as one of several under torchrun,
or dying by SIGKILL in the middle of writing a checkpoint.

Usage: python train_worker.py BASE_MODEL OUT.safetensors [--accumulation N] [--checkpoint-every N]
                              [--history FILE.json] [--kill-while-saving STEP]
The loss history is written by the main process only. Used by tests/core/test_trainer*.py.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reco_core.training import trainer  # noqa: E402
from reco_core.training.trainer import TrainConfig, train  # noqa: E402


def make_item(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    mask = torch.zeros(3, 8, 8)
    mask[:, 2:6, 2:6] = 1.0
    return {"x0": torch.randn(16, 3, 8, 16, generator=g), "context": torch.randn(96, 3, 8, 16, generator=g),
            "prompt_embeds": 0.2 * torch.randn(12, 4096, generator=g), "latent_mask": mask, "task": "replace",
            "index": seed}


def items() -> list[dict]:
    return [make_item(seed) for seed in range(8)]


def worker_config(base: Path, output: Path, accumulation: int = 2, checkpoint_every: int = 0,
                  resume: bool = False, base_weight_dtype: str = "default") -> TrainConfig:
    return TrainConfig(base_model=base, output=output, rank=4, steps=3, learning_rate=1e-2, mixed_precision="fp32",
                       gradient_checkpointing=True, grad_accumulation=accumulation, checkpoint_every=checkpoint_every,
                       lambda_latent=0.1, lambda_attn=0.1, resume=resume, base_weight_dtype=base_weight_dtype)


def die_while_saving(step: int) -> None:
    """SIGKILL this process when checkpoint ``step`` has its weights and optimizer written but is not yet published."""
    write_state = trainer.write_state

    def write_then_die(folder: Path, state: dict) -> None:
        write_state(folder, state)
        if state["step"] == step:
            os.kill(os.getpid(), signal.SIGKILL)

    trainer.write_state = write_then_die


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--accumulation", type=int, default=2)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--history", type=Path)
    parser.add_argument("--kill-while-saving", type=int)
    parser.add_argument("--base-weight-dtype", default="default")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the tiny model's ops are too small to gain from threads
    if args.kill_while_saving is not None:
        die_while_saving(args.kill_while_saving)
    config = worker_config(args.base, args.output, args.accumulation, args.checkpoint_every,
                           base_weight_dtype=args.base_weight_dtype)
    result = train(config, items())
    if args.history is not None and int(os.environ.get("RANK", "0")) == 0:
        args.history.write_text(json.dumps(result.history))


if __name__ == "__main__":
    main()
