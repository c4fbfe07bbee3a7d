"""Rename LoRA tensors of a Wan2.1-VACE model between the three key layouts in use.

The same low-rank pair for one Linear layer is spelled differently by each consumer:

* ``peft``      ReCo's release (PEFT inside a Wan-native model):  ``blocks.3.self_attn.q.lora_A.default.weight``
* ``comfy``     ComfyUI's LoraLoaderModelOnly:                    ``diffusion_model.blocks.3.self_attn.q.lora_A.weight``
* ``diffusers`` diffusers' WanVACETransformer3DModel + PEFT:      ``transformer.blocks.3.attn1.to_q.lora_A.weight``

Every key is parsed into one neutral slot (tree, block index, Wan-native module, part) and written back in the
requested layout, so any layout converts to any other and round trips are exact (the tensors are the same objects).
``lora_down`` / ``lora_up`` are read as ``lora_A`` / ``lora_B``. Keys may carry any chain of the wrapper prefixes in
``ACCEPTED_PREFIXES`` (``model.``, ``module.``, ``diffusion_model.``, ``transformer.``, ``base_model.model.``, ...).

Scale: a LoRA adds ``(alpha / rank) * B @ A``. ReCo trains with alpha = rank and ships no alpha tensors. ComfyUI
(0.3.75, ``comfy/weight_adapter/lora.py``, ``LoRAAdapter.calculate_weight``) uses ``alpha / rank`` when a
``<module>.alpha`` tensor is present and exactly 1.0 when it is absent, so no alpha key is needed for ReCo's scale.
When a file does have ``.alpha`` tensors they are kept, under the same module name, in every layout.

Anything that is not a LoRA pair on a known Linear of a DiT or VACE block is refused: silently dropping tensors
would give a LoRA that loads "fine" and edits wrongly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from .wan_keys import comfy_module_to_diffusers

__all__ = [
    "ACCEPTED_PREFIXES",
    "STYLES",
    "LoraKeyError",
    "LoraStyle",
    "LoraSummary",
    "convert_lora",
    "detect_style",
    "lora_rank",
    "summarize_lora",
]

LoraStyle = Literal["peft", "comfy", "diffusers"]
STYLES: tuple[LoraStyle, ...] = ("peft", "comfy", "diffusers")

# Wrapper segments that trainers, loaders and frameworks put in front of ``blocks.N`` / ``vace_blocks.N``; any chain
# of them is ignored on input (``pipe.dit`` / ``vace`` are DiffSynth-Studio's attribute names for the two models).
ACCEPTED_PREFIXES = (
    "diffusion_model", "transformer", "model", "module", "base_model", "_orig_mod", "pipe", "dit", "vace",
)

_OUTPUT_PREFIX: dict[LoraStyle, str] = {"peft": "", "comfy": "diffusion_model.", "diffusers": "transformer."}

# The linear layers a Wan LoRA may target, by their Wan-native names (ComfyUI, original Wan, ReCo); the diffusers names
# come from the one rename table of base weights. VACE blocks also own the projections that feed the control stream in
# and its hint out.
_LINEAR_TARGETS = ("self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
                   "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2")
_VACE_ONLY_TARGETS = ("before_proj", "after_proj")


def _diffusers_names(tree: str, modules: tuple[str, ...]) -> dict[str, str]:
    prefix = f"{tree}.0."
    return {module: comfy_module_to_diffusers(prefix + module)[len(prefix):] for module in modules}


_TREE_MODULES = {
    "blocks": _diffusers_names("blocks", _LINEAR_TARGETS),
    "vace_blocks": _diffusers_names("vace_blocks", _LINEAR_TARGETS + _VACE_ONLY_TARGETS),
}
_FROM_DIFFUSERS = {tree: {d: n for n, d in names.items()} for tree, names in _TREE_MODULES.items()}
_TREE_LABEL = {"blocks": "DiT", "vace_blocks": "VACE"}

_KEY = re.compile(
    r"^(?P<prefix>(?:\w+\.)*?)(?P<tree>vace_blocks|blocks)\.(?P<index>\d+)\.(?P<module>.+?)\."
    r"(?:(?P<part>lora_A|lora_B|lora_down|lora_up)(?P<default>\.default)?\.weight|alpha)$"
)
_PART = {"lora_A": "lora_A", "lora_down": "lora_A", "lora_B": "lora_B", "lora_up": "lora_B"}
_SHOWN = 5


class LoraKeyError(ValueError):
    """A state dict that is not a LoRA of Wan DiT/VACE blocks in a layout this module understands."""


class _Slot(NamedTuple):
    """Layout-neutral address of one LoRA tensor."""

    tree: str  # "blocks" or "vace_blocks"
    index: int
    module: str  # Wan-native name, e.g. "self_attn.q"
    part: str  # "lora_A" (down, rank x in), "lora_B" (up, out x rank) or "alpha"


@dataclass(frozen=True)
class _Parsed:
    style: LoraStyle
    slots: dict[str, _Slot]  # input key -> slot, in input order


@dataclass(frozen=True)
class LoraSummary:
    """What a LoRA covers, for logs, node UIs and file metadata."""

    style: LoraStyle
    ranks: tuple[int, ...]  # distinct ranks, ascending (ReCo: one rank)
    scales: tuple[float, ...]  # distinct alpha / rank multipliers ComfyUI applies (1.0 where there is no alpha)
    dit_blocks: int
    vace_blocks: int
    targets: tuple[str, ...]  # Wan-native module names, e.g. ("self_attn.q", ..., "ffn.2")
    layers: int  # adapted Linear layers

    def __str__(self) -> str:
        ranks = "/".join(str(r) for r in self.ranks)
        scales = "/".join(f"{s:g}" for s in self.scales)
        return (
            f"{self.style} LoRA, rank {ranks}, scale {scales}, {self.layers} layers in {self.dit_blocks} DiT + "
            f"{self.vace_blocks} VACE blocks, targets {' '.join(self.targets)}"
        )


def detect_style(state_dict: Mapping[str, torch.Tensor]) -> LoraStyle:
    """Which of STYLES the keys are written in. Raises LoraKeyError for unknown, mixed or incomplete keys."""
    return _parse(state_dict).style


def convert_lora(state_dict: Mapping[str, torch.Tensor], to: LoraStyle) -> dict[str, torch.Tensor]:
    """The same tensors (not copies) under the key layout ``to``, whatever layout they came in."""
    if to not in STYLES:
        raise ValueError(f"unknown LoRA key style {to!r}; expected one of {', '.join(STYLES)}")
    parsed = _parse(state_dict)
    return {_render(slot, to): state_dict[key] for key, slot in parsed.slots.items()}


def lora_rank(state_dict: Mapping[str, torch.Tensor]) -> int:
    """The rank shared by every adapted layer. Raises LoraKeyError when layers have different ranks."""
    ranks = summarize_lora(state_dict).ranks
    if len(ranks) != 1:
        raise LoraKeyError(f"the LoRA's layers have different ranks ({', '.join(map(str, ranks))}), not one rank")
    return ranks[0]


def summarize_lora(state_dict: Mapping[str, torch.Tensor]) -> LoraSummary:
    """Rank, scale, covered blocks and target modules of a LoRA in any accepted layout."""
    parsed = _parse(state_dict)
    ranks: dict[tuple[str, int, str], int] = {}
    alphas: dict[tuple[str, int, str], float] = {}
    for key, slot in parsed.slots.items():
        layer = (slot.tree, slot.index, slot.module)
        if slot.part == "lora_A":
            ranks[layer] = state_dict[key].shape[0]
        elif slot.part == "alpha":
            alphas[layer] = float(state_dict[key].item())
    scales = {alphas[layer] / rank if layer in alphas else 1.0 for layer, rank in ranks.items()}
    modules = {module for _, _, module in ranks}
    return LoraSummary(
        style=parsed.style,
        ranks=tuple(sorted(set(ranks.values()))),
        scales=tuple(sorted(scales)),
        dit_blocks=len({index for tree, index, _ in ranks if tree == "blocks"}),
        vace_blocks=len({index for tree, index, _ in ranks if tree == "vace_blocks"}),
        targets=tuple(m for m in _TREE_MODULES["vace_blocks"] if m in modules),
        layers=len(ranks),
    )


def _render(slot: _Slot, style: LoraStyle) -> str:
    module = _TREE_MODULES[slot.tree][slot.module] if style == "diffusers" else slot.module
    if slot.part == "alpha":
        tail = "alpha"
    elif style == "peft":
        tail = f"{slot.part}.default.weight"
    else:
        tail = f"{slot.part}.weight"
    return f"{_OUTPUT_PREFIX[style]}{slot.tree}.{slot.index}.{module}.{tail}"


def _parse(state_dict: Mapping[str, torch.Tensor]) -> _Parsed:
    """Map every key to its slot and work out the layout, refusing anything ambiguous."""
    if not state_dict:
        raise LoraKeyError("the LoRA state dict is empty")
    slots: dict[str, _Slot] = {}
    seen: dict[_Slot, str] = {}
    namings: dict[str, str] = {}  # "diffusers" / "native" -> an example key
    adapter_suffix: dict[bool, str] = {}  # has ".default" -> an example key (native lora_A/B keys only)
    unknown: list[str] = []
    for key in state_dict:
        match = _KEY.match(key)
        if match is None or not _known_prefix(match["prefix"]):
            unknown.append(key)
            continue
        tree, module = match["tree"], match["module"]
        if module in _TREE_MODULES[tree]:
            naming = "native"
        elif module in _FROM_DIFFUSERS[tree]:
            naming, module = "diffusers", _FROM_DIFFUSERS[tree][module]
        else:
            unknown.append(key)
            continue
        slot = _Slot(tree, int(match["index"]), module, _PART[match["part"]] if match["part"] else "alpha")
        if slot in seen:
            raise LoraKeyError(f"two keys hold the same LoRA tensor: {seen[slot]!r} and {key!r}")
        seen[slot] = key
        slots[key] = slot
        namings.setdefault(naming, key)
        if naming == "native" and match["part"]:
            adapter_suffix.setdefault(match["default"] is not None, key)
    if unknown:
        raise LoraKeyError(
            f"{len(unknown)} of {len(state_dict)} keys are not LoRA tensors of Wan DiT/VACE blocks, e.g. "
            f"{_examples(unknown)}. Expected keys like 'blocks.N.self_attn.q.lora_A.default.weight' (ReCo/PEFT), "
            "'diffusion_model.blocks.N.self_attn.q.lora_A.weight' (ComfyUI) or "
            "'transformer.blocks.N.attn1.to_q.lora_A.weight' (diffusers); is this a LoRA for Wan2.1-VACE?"
        )
    if len(namings) > 1 or len(adapter_suffix) > 1:
        examples = [*namings.values(), *adapter_suffix.values()]
        raise LoraKeyError(f"the keys mix LoRA layouts, e.g. {_examples(sorted(set(examples)))}; use one layout")
    _check_pairs(state_dict, slots)
    if "diffusers" in namings:
        style: LoraStyle = "diffusers"
    else:
        style = "peft" if True in adapter_suffix else "comfy"
    return _Parsed(style, slots)


def _check_pairs(state_dict: Mapping[str, torch.Tensor], slots: dict[str, _Slot]) -> None:
    """Every layer needs a 2-D down (rank x in) and up (out x rank) matrix of one rank, and a scalar alpha if any."""
    layers: dict[tuple[str, int, str], dict[str, torch.Tensor]] = {}
    for key, slot in slots.items():
        layers.setdefault((slot.tree, slot.index, slot.module), {})[slot.part] = state_dict[key]
    problems = []
    for (tree, index, module), parts in layers.items():
        name = f"{tree}.{index}.{module}"
        down, up, alpha = parts.get("lora_A"), parts.get("lora_B"), parts.get("alpha")
        if down is None or up is None:
            problems.append(f"{name} lacks its {'lora_A (down)' if down is None else 'lora_B (up)'} matrix")
        elif down.ndim != 2 or up.ndim != 2 or down.shape[0] != up.shape[1]:
            problems.append(f"{name} has mismatched shapes A {tuple(down.shape)} / B {tuple(up.shape)}")
        if alpha is not None and alpha.numel() != 1:
            problems.append(f"{name}.alpha is not a scalar (shape {tuple(alpha.shape)})")
    if problems:
        raise LoraKeyError(f"{len(problems)} LoRA layers are malformed: {_examples(problems)}")


def _known_prefix(prefix: str) -> bool:
    return all(segment in ACCEPTED_PREFIXES for segment in prefix.split(".")[:-1])


def _examples(items: list[str]) -> str:
    shown = ", ".join(repr(item) for item in items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
