"""Loading without waste: Wan2.1-VACE files load tensor by tensor on a meta-built model, straight into the dtype.

The peak-RAM checks run each load in a fresh process (peak resident memory belongs to a whole process) on a file of
the real model's full width (dim 1536, ffn 8960) and key layout, with two DiT blocks and one VACE block.
"""

from __future__ import annotations

import pytest
import safetensors.torch
import torch

from reco_core.bench.loading import measure_load
from reco_core.bench.model_files import wan_vace_config, write_zero_wan_vace
from reco_core.wan_models import load_transformer
from reco_core.weights.checkpoint import WeightFileError
from reco_core.weights.safetensors_stream import read_header, read_tensor

PEAK_LIMIT = 1.3  # peak RAM of a load, in units of the weights as loaded


@pytest.fixture(scope="module")
def full_width_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("full_width") / "wan_vace_full_width_2_blocks.safetensors"
    write_zero_wan_vace(path, wan_vace_config(layers=2), torch.float16)
    return path


@pytest.mark.parametrize(("mode", "dtype"), [("edit", torch.float16), ("edit", torch.bfloat16),
                                             ("edit", torch.float32), ("train", torch.bfloat16)])
def test_full_width_load_peaks_within_1_3x_the_loaded_weights(full_width_file, mode, dtype):
    peak = measure_load(mode, full_width_file, dtype)
    assert peak.weight_bytes > 250 * 2**20  # really full width: ~165 M parameters
    assert peak.ratio <= PEAK_LIMIT, f"{mode} {dtype}: peak {peak.peak_bytes / 2**20:.0f} MiB for " \
                                     f"{peak.weight_bytes / 2**20:.0f} MiB of weights"


def test_load_in_bfloat16_keeps_diffusers_float32_modules_and_matches_the_float32_load(tiny_models):
    full = load_transformer(tiny_models.vace, torch.float32)
    half = load_transformer(tiny_models.vace, torch.bfloat16)
    keep = set(half._keep_in_fp32_modules)
    for (name, reference), (_, loaded) in zip(full.state_dict().items(), half.state_dict().items()):
        expected = torch.float32 if keep & set(name.split(".")) else torch.bfloat16
        assert loaded.dtype == expected, name
        assert torch.equal(loaded, reference.to(expected)), name
    assert not any(t.is_meta for t in (*half.parameters(), *half.buffers()))


def test_meta_built_model_has_the_rotary_tables_of_a_normally_built_one(tiny_models):
    from diffusers import WanVACETransformer3DModel

    from fixtures.make_tiny_models import TRANSFORMER_CONFIG

    loaded = load_transformer(tiny_models.vace)
    built = WanVACETransformer3DModel(**TRANSFORMER_CONFIG)
    for name, buffer in built.named_buffers():
        assert torch.equal(dict(loaded.named_buffers())[name], buffer), name


def test_streamed_tensors_equal_safetensors_own_reader(tiny_models):
    reference = safetensors.torch.load_file(tiny_models.vace)
    entries = read_header(tiny_models.vace)
    assert entries.keys() == reference.keys()
    with open(tiny_models.vace, "rb") as handle:
        for name, entry in entries.items():
            assert torch.equal(read_tensor(handle, entry), reference[name]), name
            assert read_tensor(handle, entry, torch.bfloat16).dtype == torch.bfloat16


def test_truncated_model_file_is_refused_naming_it(tiny_models, tmp_path):
    cut = tmp_path / "cut.safetensors"
    data = tiny_models.vace.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFileError, match="cut.safetensors.*truncated"):
        load_transformer(cut)
    cut.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    with pytest.raises(WeightFileError, match="cut.safetensors has a corrupt safetensors header"):
        load_transformer(cut)
