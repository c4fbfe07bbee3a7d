"""The frozen base's Linear weights kept in float8 (e4m3fn) while a LoRA trains: training within 24 GB.

Why: the frozen Wan2.1-VACE 1.3B base is 4.3 GB in bf16, about a sixth of a 24 GB card that also holds the adapter,
its AdamW state and the checkpointed activations of a 65,520-token canvas (docs/BENCHMARKS.md (d)). Nearly all of its
bytes are the Linear weights of the DiT and VACE blocks; stored at one byte per weight they take half. Each layer
upcasts its weight to the compute dtype only for its own matrix multiply (forward, and again in backward for the
input's gradient), so at most one layer's weight exists in the compute dtype at a time and autograd keeps only the
float8 tensor. The LoRA adapters stay float32 and train as they do on a bf16 base.

What it changes: every base weight is rounded to e4m3fn (3 mantissa bits), the rounding UNETLoader's fp8_e4m3fn
weight_dtype applies at inference, so the adapter learns against the base an artist running fp8 weights samples
with. Values beyond e4m3fn's range (+-448; Wan's weights are far inside it) saturate instead of becoming NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["BASE_WEIGHT_DTYPES", "FP8", "Fp8BaseLinear", "base_linears", "store_base_in_fp8", "to_fp8"]

FP8 = torch.float8_e4m3fn
BASE_WEIGHT_DTYPES = ("default", "fp8_e4m3fn")
"""How the frozen base's block Linears are stored: "default" in the run's precision, or float8 e4m3fn."""

_BLOCK_TREES = ("blocks.", "vace_blocks.")


def to_fp8(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` rounded to float8 e4m3fn, saturating at its largest finite value (a plain cast overflows to NaN)."""
    limit = torch.finfo(FP8).max
    return weight.detach().clamp(-limit, limit).to(FP8)


class _UpcastLinear(torch.autograd.Function):
    """y = x W^T + b with W stored in float8: upcast for the product, and only the float8 W saved for backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                dtype: torch.dtype) -> torch.Tensor:
        ctx.save_for_backward(weight)
        return F.linear(x, weight.to(dtype), bias)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        # The base is frozen: only the input's gradient is needed (autograd casts it to the input's dtype).
        return grad.matmul(weight.to(grad.dtype)), None, None, None


class Fp8BaseLinear(torch.nn.Linear):
    """A frozen nn.Linear whose weight is float8 e4m3fn; it computes in ``compute_dtype`` (set by the conversion)."""

    compute_dtype: torch.dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _UpcastLinear.apply(x, self.weight, self.bias, self.compute_dtype)


def base_linears(transformer: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    """The frozen plain Linears of the DiT and VACE blocks (LoRA-wrapped ones by their ``base_layer``), by name.

    The embedders, the output head and diffusers' float32 modules stay as they are: they are a few MB, and the
    time embedder's dtype steers the modulation's precision.
    """
    return {name: module for name, module in transformer.named_modules()
            if type(module) is torch.nn.Linear and name.startswith(_BLOCK_TREES) and ".lora_" not in name
            and not module.weight.requires_grad}


def store_base_in_fp8(transformer: torch.nn.Module) -> int:
    """Convert the frozen block Linears to :class:`Fp8BaseLinear` in place; returns the number converted.

    Call it after the adapters are injected: peft moves a new adapter to its base layer's dtype, which would make the
    adapter float8 too. Each layer keeps computing in its weight's dtype before the conversion (the run's precision).
    """
    layers = base_linears(transformer)
    for module in layers.values():
        compute_dtype = module.weight.dtype
        module.weight = torch.nn.Parameter(to_fp8(module.weight), requires_grad=False)
        module.__class__ = Fp8BaseLinear
        module.compute_dtype = compute_dtype
    return len(layers)
