"""Training on a frozen base stored in float8 (TrainConfig.base_weight_dtype = "fp8_e4m3fn"), on the tiny model.

The reference is the same model with every converted weight rounded through float8 and stored back in the compute
dtype: the fp8 base must compute exactly that model (same loss, same adapter gradients), in half the bytes.
"""

from __future__ import annotations

import sys

import pytest
import torch

from reco_core.model_call import predict_velocity
from reco_core.training.attention_capture import AttentionCapture
from reco_core.training.fp8_base import FP8, Fp8BaseLinear, base_linears, to_fp8
from reco_core.training.losses import attention_loss, attention_region, in_context_loss, noised_latent
from reco_core.training.trainer import TrainConfig, _prepare_transformer, train
from reco_core.wan_models import load_transformer
from reco_core.weights.checkpoint import load_state_dict
from reco_core.weights.lora_keys import summarize_lora
from reco_core.weights.lora_merge import merge_lora

from test_trainer import batch, config, fixed_noise, make_item

pytestmark = pytest.mark.usefixtures("single_torch_thread")

PRECISION_DTYPE = {"fp32": torch.float32, "bf16": torch.bfloat16}


def prepared(tiny_models, tmp_path, precision: str, base_weight_dtype: str, checkpointing: bool = True):
    """The trainer's model with the same non-zero lora_B in every run, so every adapter matrix gets a gradient."""
    transformer = _prepare_transformer(config(tiny_models, tmp_path, "fp8", mixed_precision=precision,
                                              gradient_checkpointing=checkpointing,
                                              base_weight_dtype=base_weight_dtype))
    with torch.no_grad():
        for name, p in transformer.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
    return transformer


def rounded_through_fp8(transformer: torch.nn.Module) -> torch.nn.Module:
    """The reference: the converted layers' weights rounded to float8 and stored back in their own dtype."""
    with torch.no_grad():
        for module in base_linears(transformer).values():
            module.weight.copy_(to_fp8(module.weight).to(module.weight.dtype))
    return transformer


def loss_and_gradients(transformer, precision: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """L_ic + L_attn of one forward on a fixed item, and the adapters' gradients."""
    dtype = PRECISION_DTYPE[precision]
    item = make_item()
    x0, context, prompt = batch(item)
    sigma = torch.tensor(0.6)
    noise = fixed_noise(item)
    capture = AttentionCapture(transformer)
    with capture.region(attention_region(item["latent_mask"])):
        with capture.collect() as scores:
            v_pred = predict_velocity(transformer, noised_latent(x0, noise, sigma).to(dtype), sigma,
                                      context.to(dtype), prompt.to(dtype))
        loss = in_context_loss(v_pred, x0, noise) + attention_loss(scores)
        loss.backward()
    capture.remove()
    return loss.detach(), {n: p.grad for n, p in transformer.named_parameters() if p.requires_grad}


def frozen_bytes(transformer: torch.nn.Module) -> int:
    """Bytes of the frozen base: every parameter that does not train, and every buffer."""
    tensors = [p for p in transformer.parameters() if not p.requires_grad] + list(transformer.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fp8_base_gives_the_loss_and_gradients_of_the_fp8_rounded_model(tiny_models, tmp_path, precision):
    """Same loss and adapter gradients as the reference, under gradient checkpointing and the L_attn capture."""
    fp8 = prepared(tiny_models, tmp_path, precision, "fp8_e4m3fn")
    reference = rounded_through_fp8(prepared(tiny_models, tmp_path, precision, "default"))
    converted = [m for m in fp8.modules() if isinstance(m, Fp8BaseLinear)]
    assert len(converted) == len(base_linears(reference)) > 0
    assert all(m.weight.dtype == FP8 and m.compute_dtype == PRECISION_DTYPE[precision] for m in converted)
    assert all(p.dtype == torch.float32 for p in fp8.parameters() if p.requires_grad)  # adapters stay float32

    loss, grads = loss_and_gradients(fp8, precision)
    reference_loss, reference_grads = loss_and_gradients(reference, precision)
    unrounded_loss, _ = loss_and_gradients(prepared(tiny_models, tmp_path, precision, "default"), precision)
    print(f"{precision}: loss fp8 base {float(loss):.6f}, fp8-rounded reference {float(reference_loss):.6f}, "
          f"unrounded base {float(unrounded_loss):.6f}", file=sys.stderr)
    torch.testing.assert_close(loss, reference_loss, rtol=1e-6, atol=0)
    assert grads.keys() == reference_grads.keys() and len(grads) == 60 * 2
    for name, grad in grads.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(grad, reference_grads[name], rtol=1e-5, atol=1e-7, msg=name)
    assert float(loss) != float(unrounded_loss)  # the rounding is real: the comparison above could fail


def test_fp8_base_halves_the_block_weights_bytes(tiny_models, tmp_path):
    """Against the bf16 base: every converted weight takes half the bytes; the rest of the base is unchanged."""
    bf16 = prepared(tiny_models, tmp_path, "bf16", "default")
    fp8 = prepared(tiny_models, tmp_path, "bf16", "fp8_e4m3fn")
    linear_bf16 = sum(m.weight.numel() * m.weight.element_size() for m in base_linears(bf16).values())
    linear_fp8 = sum(m.weight.numel() * m.weight.element_size()
                     for m in fp8.modules() if isinstance(m, Fp8BaseLinear))
    print(f"frozen base {frozen_bytes(bf16)} -> {frozen_bytes(fp8)} bytes; block Linear weights "
          f"{linear_bf16} -> {linear_fp8}", file=sys.stderr)
    assert 2 * linear_fp8 == linear_bf16 > 0
    assert frozen_bytes(fp8) == frozen_bytes(bf16) - linear_bf16 // 2
    adapters = {n: p.numel() for n, p in bf16.named_parameters() if p.requires_grad}
    assert adapters == {n: p.numel() for n, p in fp8.named_parameters() if p.requires_grad}


def test_lora_trained_on_an_fp8_base_loads_like_any_other(tiny_models, tmp_path):
    """Two steps with L_latent and L_attn on: the file has the keys and form of a default run's, and the inference
    loader merges it into the ordinary (unconverted) base."""
    items = [make_item(0), make_item(1)]
    common = dict(steps=2, lambda_latent=0.1, lambda_attn=0.1, gradient_checkpointing=True)
    fp8 = train(config(tiny_models, tmp_path, "on_fp8", base_weight_dtype="fp8_e4m3fn", **common), items)
    plain = train(config(tiny_models, tmp_path, "on_default", **common), items)
    lora, reference = load_state_dict(fp8.lora_path), load_state_dict(plain.lora_path)
    assert lora.keys() == reference.keys()
    assert all(lora[k].dtype == reference[k].dtype and lora[k].shape == reference[k].shape for k in lora)
    assert summarize_lora(lora) == summarize_lora(reference)
    assert all(torch.isfinite(v).all() for v in lora.values())
    assert all(set(entry) == {"step", "lr", "total", "ic", "latent", "attn"} for entry in fp8.history)

    base = load_transformer(tiny_models.vace)
    before = {n: p.clone() for n, p in base.named_parameters()}
    merge_lora(base, lora)
    changed = [n for n, p in base.named_parameters() if not torch.equal(p, before[n])]
    assert len(changed) == 60  # every LoRA target layer of the 4 DiT and 2 VACE blocks


def test_unknown_base_weight_dtype_is_refused_by_name(tiny_models, tmp_path):
    with pytest.raises(ValueError, match=r"base_weight_dtype must be one of \['default', 'fp8_e4m3fn'\]"):
        TrainConfig(base_model=tiny_models.vace, output=tmp_path / "x.safetensors", base_weight_dtype="fp8_e5m2")
