"""The checks every ReCo node makes on its inputs, so that bad input ends as an error naming the input, never a crash.

ComfyUI leaves gaps that a shared workflow or an API client can walk through:
- It checks a widget value's type and min/max only when the node's `validate_inputs` does not name that input, never
  checks finiteness ("nan" passes both bounds), and in 0.3.75 never checks V3 combo membership. A `validate_inputs`
  therefore names the widgets it must vouch for and calls `widget_problem`, which repeats ComfyUI's checks from the
  node's own schema and adds finiteness and membership.
- It never checks a linked value: a literal where an IMAGE or a VAE is expected reaches `execute` as it is, and so
  does a widget value that arrives through a link. `check_inputs`, the first statement of every node's `execute`,
  checks every input against its declared type and re-runs the node's `validate_inputs` on the real values.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import comfy.model_patcher
import comfy.sd
import torch
from comfy_api.latest import io

from .canvas_type import LATENT_KEY, CanvasLayout
from .region_instructions_type import RegionInstructions

WIDGET_KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")
# Combo lists longer than this (file lists) are summarized in messages instead of spelled out.
SHOWN_CHOICES = 8
SHOWN_TEXT = 60


@dataclass(frozen=True)
class DeclaredInput:
    kind: str
    options: Mapping[str, object]
    optional: bool


def declared_inputs(node: type[io.ComfyNode]) -> dict[str, DeclaredInput]:
    """The node's inputs as ComfyUI sees them now (combo lists of files are re-read, as ComfyUI re-reads them)."""
    schema = node.INPUT_TYPES(include_hidden=False)
    return {
        name: DeclaredInput(spec[0], spec[1] if len(spec) > 1 else {}, category == "optional")
        for category in ("required", "optional") for name, spec in schema.get(category, {}).items()
    }


def widget_problem(node: type[io.ComfyNode], **values: object) -> str | None:
    """For validate_inputs: the first named widget value ComfyUI's checks (plus finiteness) refuse, as "name: why".

    None stands for a linked value, which ComfyUI passes as None while validating; execute checks it for real.
    """
    declared = declared_inputs(node)
    for name, value in values.items():
        problem = None if value is None else _value_problem(declared[name], value)
        if problem:
            return f"{name}: {problem}"
    return None


def check_inputs(node: type[io.ComfyNode], inputs: Mapping[str, object]) -> None:
    """Raise a ValueError naming the first bad input; call as `check_inputs(cls, locals())` first thing in execute.

    Every declared input is checked against its type, then the node's own validate_inputs runs on the real values,
    since ComfyUI ran it with None for every linked value. None is skipped only for an optional input whose default
    in execute is None (nothing connected); elsewhere it is a null sent in the prompt.
    """
    defaults = {name: parameter.default for name, parameter in inspect.signature(node.execute).parameters.items()}
    for name, declared in declared_inputs(node).items():
        value = inputs.get(name)
        if value is None and declared.optional and defaults.get(name) is None:
            continue
        problem = "missing (nothing connected or entered)" if value is None else _value_problem(declared, value)
        if problem:
            raise ValueError(f"{name}: {problem}")
    if "validate_inputs" in vars(node):  # the node's own, not ComfyUI's placeholder
        validate = node.validate_inputs
        result = validate(**{name: inputs.get(name) for name in inspect.signature(validate).parameters})
        if result is not True:
            raise ValueError(str(result))


@contextmanager
def about_input(name: str) -> Iterator[None]:
    """ValueErrors raised inside say that input `name` is at fault (reco_core's messages speak of "mask", "frames")."""
    try:
        yield
    except ValueError as error:
        if str(error).startswith(f"{name}:"):
            raise
        raise ValueError(f"{name}: {error}") from None


def _value_problem(declared: DeclaredInput, value: object) -> str | None:
    if declared.kind in WIDGET_KINDS:
        return _WIDGET_CHECKS[declared.kind](value, declared.options)
    check = _LINKED_CHECKS.get(declared.kind)
    if check is None:
        raise TypeError(f"input_checks has no check for the input type {declared.kind}; add one to _LINKED_CHECKS.")
    return check(value)


# --- widgets ------------------------------------------------------------------------------------------------------

def _int_problem(value: object, options: Mapping[str, object]) -> str | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return f"expected a whole number, got {_shown(value)}."
    return _range_problem(value, options)


def _float_problem(value: object, options: Mapping[str, object]) -> str | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return f"expected a number, got {_shown(value)}."
    if not math.isfinite(value):
        return f"expected a finite number, got {value}."
    return _range_problem(value, options)


def _range_problem(value: numbers.Real, options: Mapping[str, object]) -> str | None:
    low, high = options.get("min"), options.get("max")
    if low is not None and value < low:
        return f"{value} is below the minimum {low}; use a value from {low} to {high}."
    if high is not None and value > high:
        return f"{value} is above the maximum {high}; use a value from {low} to {high}."
    return None


def _string_problem(value: object, options: Mapping[str, object]) -> str | None:
    if not isinstance(value, str):
        return f"expected text, got {_shown(value)}."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "the text is not valid Unicode (it holds a lone surrogate); retype it."
    return None


def _boolean_problem(value: object, options: Mapping[str, object]) -> str | None:
    return None if isinstance(value, bool) else f"expected true or false, got {_shown(value)}."


def _combo_problem(value: object, options: Mapping[str, object]) -> str | None:
    choices = list(options.get("options", []))
    if isinstance(value, str) and value in choices:
        return None
    listed = ", ".join(map(repr, choices)) if len(choices) <= SHOWN_CHOICES else f"{len(choices)} choices"
    return f"{_shown(value)} is not one of the choices ({listed or 'none available'}); pick one from the list."


_WIDGET_CHECKS: dict[str, Callable[[object, Mapping[str, object]], str | None]] = {
    "INT": _int_problem, "FLOAT": _float_problem, "STRING": _string_problem, "BOOLEAN": _boolean_problem,
    "COMBO": _combo_problem,
}


# --- linked values ------------------------------------------------------------------------------------------------

def _tensor_problem(value: object, what: str, ranks: tuple[int, ...], channels: tuple[int, ...] = ()) -> str | None:
    """None when `value` is a finite float tensor of one of `ranks` dims (and a last dim in `channels`, if given)."""
    if not isinstance(value, torch.Tensor):
        return f"expected {what}, got {_shown(value)}."
    if value.ndim not in ranks or (channels and value.shape[-1] not in channels) or 0 in value.shape:
        return f"expected {what}, got a tensor shaped {tuple(value.shape)}."
    if not value.is_floating_point():
        return f"expected {what} of floats, got a {value.dtype} tensor."
    if not torch.isfinite(value).all():
        return f"expected {what}, got values that are NaN or infinite; check the node that made them."
    return None


def _image_problem(value: object) -> str | None:
    return _tensor_problem(value, "IMAGE frames (B, H, W, 3)", ranks=(4,), channels=(3, 4))


def _mask_problem(value: object) -> str | None:
    return _tensor_problem(value, "a MASK (B, H, W) or (H, W)", ranks=(2, 3))


def _latent_problem(value: object) -> str | None:
    if not isinstance(value, dict) or "samples" not in value:
        return f"expected a LATENT (a dict with 'samples'), got {_shown(value)}."
    problem = _tensor_problem(value["samples"], "LATENT samples (B, C, T, H, W) or (B, C, H, W)", ranks=(4, 5))
    if problem:
        return problem
    layout = value.get(LATENT_KEY)
    if layout is not None and not isinstance(layout, CanvasLayout):
        return f"this LATENT's '{LATENT_KEY}' entry is {_shown(layout)}, not a canvas layout from ReCoCanvas."
    return None


def _conditioning_problem(value: object) -> str | None:
    expected = "CONDITIONING (a list of [embeddings (B, tokens, dim), options] pairs)"
    if not isinstance(value, list) or not value:
        return f"expected {expected}, got {_shown(value)}."
    for entry in value:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[1], dict)):
            return f"expected {expected}, got an entry {_shown(entry)}."
        problem = _tensor_problem(entry[0], "CONDITIONING embeddings (B, tokens, dim)", ranks=(3,))
        if problem:
            return problem
    return None


def _audio_problem(value: object) -> str | None:
    expected = "AUDIO (a dict with 'waveform' (B, channels, samples) and 'sample_rate')"
    if not (isinstance(value, Mapping) and "waveform" in value and "sample_rate" in value):
        return f"expected {expected}, got {_shown(value)}."
    return _tensor_problem(value["waveform"], "AUDIO waveform (B, channels, samples)", ranks=(3,))


def _instance_check(kind: type, what: str) -> Callable[[object], str | None]:
    def problem(value: object) -> str | None:
        return None if isinstance(value, kind) else f"expected {what}, got {_shown(value)}."

    return problem


_LINKED_CHECKS: dict[str, Callable[[object], str | None]] = {
    "IMAGE": _image_problem,
    "MASK": _mask_problem,
    "LATENT": _latent_problem,
    "CONDITIONING": _conditioning_problem,
    "VAE": _instance_check(comfy.sd.VAE, "a VAE (VAELoader)"),
    "CLIP": _instance_check(comfy.sd.CLIP, "a CLIP text encoder (CLIPLoader, type wan)"),
    "MODEL": _instance_check(comfy.model_patcher.ModelPatcher, "a MODEL (UNETLoader)"),
    "RECO_CANVAS": _instance_check(CanvasLayout, "the canvas output of ReCoCanvas"),
    "AUDIO": _audio_problem,
    "RECO_REGIONS": _instance_check(RegionInstructions, "the regions output of ReCoRegionInstructions"),
}


def _shown(value: object) -> str:
    """A short description of a wrong value: its type, and the value itself when it is small."""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        text = repr(value)
        text = text if len(text) <= SHOWN_TEXT else f"{text[:SHOWN_TEXT]}... ({len(text)} characters)"
        return f"{type(value).__name__} {text}"
    return type(value).__name__
