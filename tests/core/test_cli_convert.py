"""`python -m reco_core convert` as a user runs it: a real subprocess, its exit code and its output file."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reco_core", *args], capture_output=True, text=True, timeout=120)


def reco_style_lora(rank: int = 4, dim: int = 128) -> dict[str, torch.Tensor]:
    weights = {}
    for tree, index in (("blocks", 0), ("vace_blocks", 0)):
        for module in ("self_attn.q", "cross_attn.o", "ffn.0"):
            out_features = 256 if module == "ffn.0" else dim
            weights[f"{tree}.{index}.{module}.lora_A.default.weight"] = torch.randn(rank, dim)
            weights[f"{tree}.{index}.{module}.lora_B.default.weight"] = torch.randn(out_features, rank)
    return weights


class _RunsCode:
    def __reduce__(self):
        return (exec, ("open('MARKER', 'w').write('ran')",))


def test_convert_writes_comfy_keys(tmp_path):
    source, target = tmp_path / "reco.ckpt", tmp_path / "reco.safetensors"
    torch.save(reco_style_lora(), source)
    done = run_cli("convert", str(source), str(target))
    assert done.returncode == 0, done.stderr
    keys = load_file(target).keys()
    assert keys and all(k.startswith("diffusion_model.") and ".default." not in k for k in keys)


class _MakesFolder:
    def __reduce__(self):
        import os

        return (os.mkdir, ("MARKER",))


@pytest.mark.parametrize("payload", [_RunsCode, _MakesFolder], ids=["builtins.exec", "os.mkdir"])
def test_convert_refuses_a_pickle_that_would_run_code(tmp_path, payload):
    forged, target = tmp_path / "forged.ckpt", tmp_path / "out.safetensors"
    marker = tmp_path / "MARKER"
    torch.save({"blocks.0.self_attn.q.lora_A.default.weight": payload()}, forged)
    done = subprocess.run([sys.executable, "-m", "reco_core", "convert", str(forged), str(target)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert "forged.ckpt" in done.stderr and "refusing" in done.stderr and "runs" not in done.stdout
    assert not marker.exists() and not target.exists()
