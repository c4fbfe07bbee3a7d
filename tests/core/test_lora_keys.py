"""LoRA key layouts: ReCo/PEFT <-> ComfyUI <-> diffusers, on a tiny LoRA in the released files' exact layout."""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pytest
import safetensors
import torch

from reco_core.cli import convert as convert_cli
from reco_core.weights.checkpoint import load_state_dict
from reco_core.weights.lora_keys import (
    STYLES,
    LoraKeyError,
    convert_lora,
    detect_style,
    lora_rank,
    summarize_lora,
)

DIM, FFN_DIM, RANK = 128, 256, 4
# (in, out) features of every Linear that ReCo adapts, in Wan-native names.
TARGETS = {
    **{f"{attn}.{p}": (DIM, DIM) for attn in ("self_attn", "cross_attn") for p in "qkvo"},
    "ffn.0": (DIM, FFN_DIM),
    "ffn.2": (FFN_DIM, DIM),
}
VACE_PROJECTIONS = {"before_proj": (DIM, DIM), "after_proj": (DIM, DIM)}
TREES = (("blocks", 0), ("blocks", 1), ("vace_blocks", 0))  # 2 DiT blocks + 1 VACE block
# The tiny diffusers model the diffusers-form keys must fit: 2 layers, the VACE block hinting layer 0.
TINY_WAN_VACE = dict(
    num_attention_heads=1, attention_head_dim=DIM, ffn_dim=FFN_DIM, num_layers=2, vace_layers=[0], text_dim=4096,
    freq_dim=256, in_channels=16, out_channels=16, patch_size=(1, 2, 2),
)


def _reco_lora(
    targets: dict[str, tuple[int, int]] = TARGETS, trees: tuple[tuple[str, int], ...] = TREES
) -> dict[str, torch.Tensor]:
    """A LoRA keyed exactly like ReCo's released .ckpt files (PEFT inside the Wan-native model)."""
    generator = torch.Generator().manual_seed(7)
    state_dict = {}
    for (tree, index), (module, (fan_in, fan_out)) in itertools.product(trees, targets.items()):
        base = f"{tree}.{index}.{module}"
        state_dict[f"{base}.lora_A.default.weight"] = torch.randn(RANK, fan_in, generator=generator)
        state_dict[f"{base}.lora_B.default.weight"] = torch.randn(fan_out, RANK, generator=generator)
    return state_dict


def _assert_identical(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    assert list(actual) == list(expected)
    assert all(actual[key] is expected[key] for key in expected)


@pytest.fixture
def reco_lora() -> dict[str, torch.Tensor]:
    return _reco_lora()


def test_released_layout_is_peft(reco_lora) -> None:
    assert detect_style(reco_lora) == "peft"
    assert detect_style(convert_lora(reco_lora, "comfy")) == "comfy"
    assert detect_style(convert_lora(reco_lora, "diffusers")) == "diffusers"


def test_target_key_names(reco_lora) -> None:
    comfy = convert_lora(reco_lora, "comfy")
    diffusers = convert_lora(reco_lora, "diffusers")
    source = reco_lora["vace_blocks.0.cross_attn.o.lora_B.default.weight"]
    assert comfy["diffusion_model.vace_blocks.0.cross_attn.o.lora_B.weight"] is source
    assert diffusers["transformer.vace_blocks.0.attn2.to_out.0.lora_B.weight"] is source
    source = reco_lora["blocks.1.ffn.0.lora_A.default.weight"]
    assert comfy["diffusion_model.blocks.1.ffn.0.lora_A.weight"] is source
    assert diffusers["transformer.blocks.1.ffn.net.0.proj.lora_A.weight"] is source
    assert len(comfy) == len(diffusers) == len(reco_lora) == 3 * 10 * 2


@pytest.mark.parametrize("path", list(itertools.permutations(STYLES)), ids="->".join)
def test_round_trips_are_exact(reco_lora, path) -> None:
    state_dict = convert_lora(reco_lora, path[0])
    for style in (*path[1:], path[0]):
        state_dict = convert_lora(convert_lora(state_dict, style), style)
    _assert_identical(convert_lora(state_dict, "peft"), reco_lora)


@pytest.mark.parametrize(
    "prefix", ["model.", "module.", "diffusion_model.", "base_model.model.", "module._orig_mod.", "pipe.dit."]
)
def test_accepts_wrapper_prefixes(reco_lora, prefix: str) -> None:
    wrapped = {prefix + key: tensor for key, tensor in reco_lora.items()}
    _assert_identical(convert_lora(wrapped, "peft"), reco_lora)


def test_reads_lora_down_up_as_a_b(reco_lora) -> None:
    kohya_named = {
        key.replace(".default", "").replace("lora_A", "lora_down").replace("lora_B", "lora_up"): tensor
        for key, tensor in reco_lora.items()
    }
    assert detect_style(kohya_named) == "comfy"
    _assert_identical(convert_lora(kohya_named, "peft"), reco_lora)


def test_alpha_kept_in_every_layout(reco_lora) -> None:
    with_alpha = {**reco_lora, "blocks.0.self_attn.q.alpha": torch.tensor(RANK / 2)}
    assert summarize_lora(with_alpha).scales == (0.5, 1.0)
    assert "diffusion_model.blocks.0.self_attn.q.alpha" in convert_lora(with_alpha, "comfy")
    assert "transformer.blocks.0.attn1.to_q.alpha" in convert_lora(with_alpha, "diffusers")
    _assert_identical(convert_lora(convert_lora(with_alpha, "diffusers"), "peft"), with_alpha)


def test_summary_and_rank(reco_lora) -> None:
    summary = summarize_lora(reco_lora)
    assert (summary.style, summary.ranks, summary.scales) == ("peft", (RANK,), (1.0,))
    assert (summary.dit_blocks, summary.vace_blocks, summary.layers) == (2, 1, 30)
    assert summary.targets == tuple(TARGETS)
    assert "rank 4" in str(summary) and "2 DiT + 1 VACE blocks" in str(summary)
    assert lora_rank(convert_lora(reco_lora, "diffusers")) == RANK


def test_mixed_ranks_are_summarised_but_have_no_single_rank(reco_lora) -> None:
    mixed = {
        **reco_lora,
        "blocks.0.self_attn.q.lora_A.default.weight": torch.zeros(8, DIM),
        "blocks.0.self_attn.q.lora_B.default.weight": torch.zeros(DIM, 8),
    }
    assert summarize_lora(mixed).ranks == (4, 8)
    with pytest.raises(LoraKeyError, match="different ranks"):
        lora_rank(mixed)


@pytest.mark.parametrize(
    "extra",
    [
        "blocks.0.norm3.weight",  # a base-model weight: a full checkpoint, not a LoRA
        "patch_embedding.lora_A.default.weight",  # outside the blocks
        "blocks.0.self_attn.norm_q.lora_A.default.weight",  # not a Linear we map
        "blocks.0.before_proj.lora_A.default.weight",  # VACE-only projection on a DiT block
        "unet.blocks.0.self_attn.q.lora_A.default.weight",  # unknown prefix
        "blocks.0.self_attn.q.dora_scale",
    ],
)
def test_unknown_keys_are_listed(reco_lora, extra: str) -> None:
    with pytest.raises(LoraKeyError, match=f"1 of {len(reco_lora) + 1} keys.*{extra}"):
        convert_lora({**reco_lora, extra: torch.zeros(1)}, "comfy")


def test_many_unknown_keys_are_abbreviated() -> None:
    full_model = {f"blocks.{i}.ffn.0.weight": torch.zeros(1) for i in range(30)}
    with pytest.raises(LoraKeyError, match="'blocks.4.ffn.0.weight' and 25 more"):
        detect_style(full_model)


def test_malformed_pairs_are_refused(reco_lora) -> None:
    missing_up = dict(reco_lora)
    del missing_up["vace_blocks.0.ffn.2.lora_B.default.weight"]
    with pytest.raises(LoraKeyError, match="vace_blocks.0.ffn.2 lacks its lora_B"):
        convert_lora(missing_up, "comfy")
    wrong_rank = {**reco_lora, "blocks.0.self_attn.k.lora_B.default.weight": torch.zeros(DIM, RANK + 1)}
    with pytest.raises(LoraKeyError, match="blocks.0.self_attn.k has mismatched shapes"):
        convert_lora(wrong_rank, "comfy")
    vector_alpha = {**reco_lora, "blocks.0.self_attn.k.alpha": torch.ones(2)}
    with pytest.raises(LoraKeyError, match="alpha is not a scalar"):
        convert_lora(vector_alpha, "comfy")


def test_mixed_or_duplicated_layouts_are_refused(reco_lora) -> None:
    diffusers = convert_lora(reco_lora, "diffusers")
    comfy = convert_lora(reco_lora, "comfy")
    half = {k: v for k, v in diffusers.items() if ".blocks.0." in k}
    with pytest.raises(LoraKeyError, match="mix LoRA layouts"):
        detect_style({**half, **{k: v for k, v in comfy.items() if ".blocks.0." not in k}})
    with pytest.raises(LoraKeyError, match="two keys hold the same LoRA tensor"):
        detect_style({**reco_lora, **comfy})


def test_unknown_target_style(reco_lora) -> None:
    with pytest.raises(ValueError, match="unknown LoRA key style 'kohya'"):
        convert_lora(reco_lora, "kohya")  # type: ignore[arg-type]


def test_diffusers_form_names_linear_layers_of_wan_vace() -> None:
    # ComfyUI's names cannot be checked without ComfyUI; diffusers' model is the other side of the same rename.
    from diffusers import WanVACETransformer3DModel
    from peft import LoraConfig, inject_adapter_in_model, set_peft_model_state_dict

    lora = {**_reco_lora(), **_reco_lora(VACE_PROJECTIONS, trees=(("vace_blocks", 0),))}
    diffusers = {k.removeprefix("transformer."): v for k, v in convert_lora(lora, "diffusers").items()}
    model = WanVACETransformer3DModel(**TINY_WAN_VACE)
    layers = sorted({key.rsplit(".lora_", 1)[0] for key in diffusers})
    for layer in layers:
        linear = model.get_submodule(layer)
        assert isinstance(linear, torch.nn.Linear), layer
        assert diffusers[f"{layer}.lora_A.weight"].shape == (RANK, linear.in_features)
        assert diffusers[f"{layer}.lora_B.weight"].shape == (linear.out_features, RANK)

    inject_adapter_in_model(LoraConfig(r=RANK, lora_alpha=RANK, target_modules=layers), model)
    result = set_peft_model_state_dict(model, diffusers)
    assert not result.unexpected_keys
    assert not [key for key in result.missing_keys if "lora_" in key]
    loaded = model.get_submodule("vace_blocks.0.attn1.to_out.0").lora_B["default"].weight
    assert torch.equal(loaded, lora["vace_blocks.0.self_attn.o.lora_B.default.weight"])


def test_dit_keys_agree_with_diffusers_own_wan_converter(reco_lora) -> None:
    # diffusers ships a converter for ComfyUI-style Wan LoRAs (DiT blocks only): an independent check of the map.
    from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_wan_lora_to_diffusers

    dit_only = {k: v for k, v in convert_lora(reco_lora, "comfy").items() if k.startswith("diffusion_model.blocks.")}
    theirs = _convert_non_diffusers_wan_lora_to_diffusers(dict(dit_only))
    ours = convert_lora(dit_only, "diffusers")
    assert theirs.keys() == ours.keys()
    assert all(torch.equal(theirs[key], ours[key]) for key in ours)


def _convert(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    convert_cli.add_arguments(parser)
    return convert_cli.run(parser.parse_args(list(argv)))


def test_cli_converts_released_ckpt_to_comfyui_safetensors(tmp_path: Path, reco_lora, capsys) -> None:
    source, target = tmp_path / "ReCo_rank4.ckpt", tmp_path / "reco_comfy.safetensors"
    torch.save(reco_lora, source)
    assert _convert(str(source), str(target)) == 0
    written = load_state_dict(target)
    assert detect_style(written) == "comfy"
    assert written.keys() == convert_lora(reco_lora, "comfy").keys()
    assert all(key.startswith("diffusion_model.") and ".default." not in key for key in written)
    with safetensors.safe_open(target, "pt") as opened:
        metadata = opened.metadata()
    assert metadata["reco_key_style"] == "comfy" and metadata["reco_rank"] == "4"
    assert metadata["reco_source"] == "ReCo_rank4.ckpt" and metadata["reco_source_key_style"] == "peft"
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "ReCo_rank4.ckpt" in out and "rank 4" in out


def test_cli_writes_diffusers_layout(tmp_path: Path, reco_lora) -> None:
    source, target = tmp_path / "lora.ckpt", tmp_path / "lora_diffusers.safetensors"
    torch.save({"state_dict": reco_lora, "epoch": 1}, source)
    assert _convert(str(source), str(target), "--to", "diffusers") == 0
    assert detect_style(load_state_dict(target)) == "diffusers"


class _WritesMarker:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_cli_refuses_forged_ckpt(tmp_path: Path, reco_lora, capsys) -> None:
    source, target, marker = tmp_path / "forged.ckpt", tmp_path / "out.safetensors", tmp_path / "marker"
    torch.save({**reco_lora, "payload": _WritesMarker(marker)}, source)
    assert _convert(str(source), str(target)) == 2
    assert "refusing to load" in capsys.readouterr().err
    assert not marker.exists() and not target.exists()


@pytest.mark.parametrize(
    ("make", "output", "expected"),
    [
        (None, "out.safetensors", "not found"),
        (lambda p: torch.save({"blocks.0.norm3.weight": torch.zeros(2)}, p), "out.safetensors", "not LoRA tensors"),
        (lambda p: torch.save(_reco_lora(), p), "out.ckpt", "must be a .safetensors file"),
    ],
    ids=["missing", "not-a-lora", "pickle-output"],
)
def test_cli_rejects_bad_input_with_status_2(tmp_path: Path, capsys, make, output: str, expected: str) -> None:
    source = tmp_path / "in.ckpt"
    if make:
        make(source)
    assert _convert(str(source), str(tmp_path / output)) == 2
    assert expected in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == (["in.ckpt"] if make else [])
