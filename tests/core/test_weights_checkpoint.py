"""Weight files are read without running code from them, and written atomically."""

from __future__ import annotations

import argparse
import os
import pickle
import pickletools
import zipfile
from pathlib import Path

import pytest
import safetensors.torch
import torch

from reco_core.weights.checkpoint import WeightFileError, load_state_dict, save_safetensors


def _tensors() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {"a.weight": torch.randn(4, 8, generator=generator), "b.bias": torch.randn(3, generator=generator)}


def _assert_same(loaded: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert loaded.keys() == expected.keys()
    for key, tensor in expected.items():
        assert torch.equal(loaded[key], tensor)


class _WritesMarker:
    """Unpickling this runs ``exec``, which creates the marker file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def _forge(path: Path, marker: Path, raw_protocol: int | None = None) -> Path:
    payload = {"blocks.0.self_attn.q.lora_A.default.weight": torch.zeros(2, 2), "x": _WritesMarker(marker)}
    if raw_protocol is None:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=raw_protocol))
    return path


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".pth", ".bin", ".CKPT"])
def test_loads_torch_pickles(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"lora{suffix}"
    torch.save(_tensors(), path)
    _assert_same(load_state_dict(path), _tensors())


def test_loads_legacy_torch_format(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save(_tensors(), path, _use_new_zipfile_serialization=False)
    _assert_same(load_state_dict(str(path)), _tensors())


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": sd, "epoch": 3, "global_step": 120},
        lambda sd: {"module": sd, "ds_version": "0.14"},
        lambda sd: {"model": {"state_dict": sd}, "step": 5},
    ],
    ids=["lightning", "deepspeed", "nested"],
)
def test_unwraps_framework_wrappers(tmp_path: Path, wrap) -> None:
    path = tmp_path / "wrapped.ckpt"
    torch.save(wrap(_tensors()), path)
    _assert_same(load_state_dict(path), _tensors())


def test_loads_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "lora.safetensors"
    safetensors.torch.save_file(_tensors(), path)
    _assert_same(load_state_dict(path), _tensors())


def test_forged_checkpoint_carries_a_code_running_payload(tmp_path: Path) -> None:
    """Control for the refusal tests below, read without unpickling: the file's pickle really calls ``exec``, so
    "no marker" there means "the code did not run", not "there was no code"."""
    forged = _forge(tmp_path / "forged.ckpt", tmp_path / "marker")
    with zipfile.ZipFile(forged) as archive:
        program = archive.read(next(name for name in archive.namelist() if name.endswith("data.pkl")))
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(program)]
    called = [arg.split()[-1] for name, arg in ops if name == "GLOBAL"]  # "module name" of each imported callable
    assert "exec" in called and ("REDUCE", None) in ops
    assert any(isinstance(arg, str) and "pwned" in arg for _, arg in ops)


def test_refuses_forged_checkpoint_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = _forge(tmp_path / "forged.ckpt", marker)
    with pytest.raises(WeightFileError) as caught:
        load_state_dict(path)
    message = str(caught.value)
    assert str(path) in message and "refusing" in message and "exec" in message
    assert ".safetensors" in message and "weights_only=False" not in message
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("protocol", [2, 4])
def test_refuses_forged_raw_pickle_without_running_it(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "marker"
    path = _forge(tmp_path / "forged.pt", marker, raw_protocol=protocol)
    with pytest.raises(WeightFileError, match="forged.pt"):
        load_state_dict(path)
    assert not marker.exists()


def test_refuses_checkpoint_with_python_objects(tmp_path: Path) -> None:
    # A Lightning checkpoint that pickled its hyper-parameters: harmless here, but only a trusted load could read it.
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": _tensors(), "hyper_parameters": argparse.Namespace(rank=4)}, path)
    with pytest.raises(WeightFileError, match=r"argparse\.Namespace"):
        load_state_dict(path)


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("garbage.ckpt", lambda p: p.write_bytes(os.urandom(2048))),
        ("empty.ckpt", lambda p: p.write_bytes(b"")),
        ("truncated.ckpt", lambda p: (torch.save(_tensors(), p), p.write_bytes(_truncated(p.read_bytes())))),
        ("garbage.safetensors", lambda p: p.write_bytes(os.urandom(2048))),
        ("empty.safetensors", lambda p: p.write_bytes(b"")),
        (
            "truncated.safetensors",
            lambda p: (safetensors.torch.save_file(_tensors(), p), p.write_bytes(_truncated(p.read_bytes()))),
        ),
    ],
)
def test_corrupt_files_give_clear_errors(tmp_path: Path, name: str, make) -> None:
    path = tmp_path / name
    make(path)
    with pytest.raises(WeightFileError) as caught:
        load_state_dict(path)
    message = str(caught.value)
    assert str(path) in message and "Re-download" in message
    assert "weights_only=False" not in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.ckpt"
    with pytest.raises(WeightFileError, match="not found.*nowhere.ckpt"):
        load_state_dict(path)
    with pytest.raises(WeightFileError, match="not found"):
        load_state_dict(tmp_path)


@pytest.mark.parametrize("name", ["lora.gguf", "lora"])
def test_unsupported_extension(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    torch.save(_tensors(), path)
    with pytest.raises(WeightFileError, match="unsupported weight file type.*Accepted: .safetensors"):
        load_state_dict(path)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"a.weight": torch.zeros(1), "rank": 4, "note": "x"}, "not named tensors.*'rank': int"),
        ({1: torch.zeros(1)}, "not named tensors"),
        (torch.zeros(3), "holds a Tensor"),
        ([torch.zeros(3)], "holds a list"),
        ({}, "holds no tensors"),
        ({"state_dict": {}, "epoch": 1}, "holds no tensors"),
    ],
)
def test_refuses_payloads_that_are_not_tensor_dicts(tmp_path: Path, payload: object, expected: str) -> None:
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(WeightFileError, match=expected):
        load_state_dict(path)


def test_save_safetensors_round_trip_with_metadata(tmp_path: Path) -> None:
    base = torch.arange(24.0).reshape(4, 6)
    state_dict = {"t.weight": base.t(), "first": base[:2], "second": base[2:]}  # strided view, shared storage
    path = tmp_path / "out.safetensors"
    save_safetensors(state_dict, path, {"reco_rank": "4"})
    _assert_same(load_state_dict(path), {k: v.contiguous() for k, v in state_dict.items()})
    with safetensors.safe_open(path, "pt") as opened:
        assert opened.metadata() == {"reco_rank": "4"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors"]
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any other model file, not 0600


def test_save_safetensors_keeps_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "out.safetensors"
    save_safetensors(_tensors(), path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_safetensors({"x": torch.zeros(2)}, path, {"bad": 3})  # type: ignore[dict-item]
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.safetensors"]
