"""Bad inputs for every ReCo node, derived from the server's own /object_info, and the graphs that carry them.

Each ReCo node has a base graph in which it runs correctly as node "target". A case replaces (or removes) one input
of that node with a bad value, or points a file input at a crafted file. What a case must end as is part of it:
refused (HTTP 400 naming the node and input, or an execution error naming the input or file), or, for values that
are legitimately accepted (free text, a Unicode name for a file the node writes), run like the base graph.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path

from harness import graphs
from harness.tiny_dataset import FRAMES, SIZE
from harness.sample_video import HEIGHT as VIDEO_HEIGHT, WIDTH as VIDEO_WIDTH

TARGET = "target"
OMIT = object()  # the input is left out of the prompt
LINK_TYPES = ("IMAGE", "MASK", "LATENT", "VAE", "MODEL", "CONDITIONING", "CLIP", "RECO_CANVAS", "AUDIO",
              "RECO_REGIONS")
# Inputs that hold free text: any valid Unicode text is a valid value for them (the node must just run).
FREE_TEXT = ("text", "caption")
# Text inputs of a closed vocabulary: (node, input). Every hostile text there must be refused, naming the input.
CLOSED_VOCABULARY = (("ReCoToyTextEncode", "text"),)
# The toy text encoder the shipped toy model installs into every test server (tests/harness/toy_assets.py).
TOY_TEXT_ENCODER = "reco_toy_text_encoder.safetensors"
# STRING inputs naming a file the node creates: there a Unicode name is valid and must run. ReCoTrainLoRA's
# output_name gets no such case because a valid name starts a real training run; filename_prefix covers it.
CREATED_NAMES = ("filename_prefix",)
SKIPPED_UNICODE = ("output_name",)
UNICODE_NAME = "unicode name of nothing"
# Extra nodes every base graph carries, so a link input can be pointed at an output of the wrong type.
WRONG_SOURCES = {
    "wrong_mask": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 16, "height": 16}},
    "wrong_image": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1,
                                                           "color": 0}},
}


@dataclass
class Case:
    node: str  # class type of the node under test
    input: str  # the input the case is about
    label: str
    graph: dict
    runs: bool = False  # True: the value is valid and the graph must run; False: it must be refused
    names: tuple[str, ...] = ()  # an error must contain one of these (default: the input's name)

    @property
    def title(self) -> str:
        return f"{self.node}.{self.input} <- {self.label}"


def base_graphs(tiny_models, video: str, dataset: str) -> dict[str, dict]:
    """A graph per ReCo node in which that node, as "target", runs successfully on the tiny models.

    Every graph also holds the loaders and the canvas, connected or not: ComfyUI keeps cached outputs only for nodes
    of the current prompt, so this way they are computed once for all cases instead of once per node's cases.
    """
    loaders = graphs.loaders(tiny_models, video)
    canvas = graphs.canvas()
    sampler_inputs = graphs.reco_sampler(steps=1)["sampler"]["inputs"]
    sampled = {**loaders, **canvas, **graphs.reco_sampler(steps=1), **graphs.save_latent(("sampler", 0), "fuzz/l")}
    lora = {**sampled, TARGET: {"class_type": "ReCoLoRALoader", "inputs": {
        "model": ["unet", 0], "lora_name": tiny_models.reco_lora.name, "strength": 1.0}}}
    lora["sampler"] = {"class_type": "ReCoSampler", "inputs": {**sampler_inputs, "model": [TARGET, 0]}}
    graphs_by_node = {
        "ReCoCanvas": {**loaders, TARGET: canvas["canvas"],
                       "show": {"class_type": "PreviewImage", "inputs": {"images": [TARGET, 4]}}},
        "ReCoSampler": {**loaders, **canvas, TARGET: {"class_type": "ReCoSampler", "inputs": sampler_inputs},
                        **graphs.save_latent((TARGET, 0), "fuzz/latent")},
        "ReCoLoRALoader": lora,
        "ReCoSplit": {**loaders, **canvas, TARGET: {"class_type": "ReCoSplit", "inputs": {
            "canvas_frames": ["canvas", 4], "canvas": ["canvas", 3]}},
            "show": {"class_type": "PreviewImage", "inputs": {"images": [TARGET, 0]}}},
        "ReCoRegionPreview": {**loaders, "map": WRONG_SOURCES["wrong_mask"], TARGET: {
            "class_type": "ReCoRegionPreview", "inputs": {
                "frames": ["parts", 0], "region_map": ["map", 0], "opacity": 0.5, "colormap": "inferno",
                "threshold": 0.0, "fps": 16.0, "caption": "fuzz"}}},
        "ReCoTrainLoRA": {"vae": loaders["vae"], TARGET: {"class_type": "ReCoTrainLoRA", "inputs": {
            "base_model": tiny_models.vace.name, "vae": ["vae", 0], "dataset": dataset, "output_name": "fuzz/never",
            "steps": 1, "learning_rate": 1e-3, "rank": 4, "lambda_latent": 1e-3, "lambda_attn": 1e-3,
            "width": SIZE, "height": SIZE, "length": FRAMES, "grad_accumulation": 1, "precision": "fp32",
            "gradient_checkpointing": False, "checkpoint_every": 0, "resume": False, "seed": 0}},
            "plot": {"class_type": "PreviewImage", "inputs": {"images": [TARGET, 1]}}},
        "ReCoSaveConditioning": {"pos": loaders["pos"], TARGET: {"class_type": "ReCoSaveConditioning", "inputs": {
            "conditioning": ["pos", 0], "filename_prefix": "fuzz/conditioning", "text": "fuzz"}}},
        "ReCoLoadConditioning": {TARGET: {"class_type": "ReCoLoadConditioning", "inputs": {
            "file": tiny_models.positive.name}}, "save": {"class_type": "ReCoSaveConditioning", "inputs": {
                "conditioning": [TARGET, 0], "filename_prefix": "fuzz/reloaded", "text": ""}}},
        "ReCoLoadVideo": {TARGET: {"class_type": "ReCoLoadVideo", "inputs": {
            "file": video, "start_frame": 0, "frame_cap": FRAMES, "cover_width": SIZE, "cover_height": SIZE}},
            "show": {"class_type": "PreviewImage", "inputs": {"images": [TARGET, 0]}}},
        "ReCoCreateVideo": {TARGET: {"class_type": "ReCoCreateVideo", "inputs": {
            "images": ["parts", 0], "fps": 16.0, "width": 0, "height": 0}},
            "save": {"class_type": "SaveVideo", "inputs": {
                "video": [TARGET, 0], "filename_prefix": "fuzz/video", "format": "mp4", "codec": "h264"}}},
        "ReCoToyTextEncode": {TARGET: {"class_type": "ReCoToyTextEncode", "inputs": {
            "encoder_name": TOY_TEXT_ENCODER, "text": "Remove the red circle."}},
            "save": {"class_type": "ReCoSaveConditioning", "inputs": {
                "conditioning": [TARGET, 0], "filename_prefix": "fuzz/toy_text", "text": ""}}},
        "ReCoWindowedEdit": {TARGET: graphs.windowed_edit()["windowed"],
                             "show": {"class_type": "PreviewImage", "inputs": {"images": [TARGET, 0]}}},
    }
    halves = ((0, VIDEO_WIDTH // 2), (VIDEO_WIDTH // 2, VIDEO_WIDTH - VIDEO_WIDTH // 2))
    graphs_by_node["ReCoRegionInstructions"] = {
        **graphs.region_masks(halves, VIDEO_WIDTH, VIDEO_HEIGHT), **graphs.region_instructions(node=TARGET),
        **graphs.reco_sampler(steps=1, region_instructions=[TARGET, 0]), **graphs.save_latent(("sampler", 0),
                                                                                              "fuzz/regions")}
    return {node: {**loaders, **canvas, **graph} for node, graph in graphs_by_node.items()}


def names_input(errors: list[dict], names: tuple[str, ...]) -> bool:
    """True when one of ComfyUI's validation errors is about one of `names`.

    ComfyUI lists a failed validate_inputs once per input that function names, with the same message, so for those
    the message itself must name the input; its own checks carry the input in extra_info.
    """
    for error in errors:
        if error["type"] == "custom_validation_failed":
            if any(name in error["details"].split(" - ", 1)[-1] for name in names):
                return True
        elif error.get("extra_info", {}).get("input_name") in names:
            return True
    return False


def with_input(graph: dict, name: str, value: object) -> dict:
    """A copy of the graph with the target's input replaced (or removed, for OMIT)."""
    changed = copy.deepcopy(graph)
    changed.update(copy.deepcopy(WRONG_SOURCES))
    inputs = changed[TARGET]["inputs"]
    if value is OMIT:
        inputs.pop(name, None)
    else:
        inputs[name] = value
    return changed


def limit_values(kind: str, options: dict) -> list[tuple[str, object]]:
    """Values just outside what the schema allows: below min, above max, not a combo choice."""
    if kind == "COMBO":
        return [("not a choice", "not-a-choice")]
    values = []
    if "min" in options:
        values.append(("below min", options["min"] - 1))
    if "max" in options:
        values.append(("above max", options["max"] + 1))
    return values


def bad_values(node: str, name: str, kind: str, options: dict, optional: bool,
               outside: Path) -> list[tuple[str, object, bool]]:
    """(label, value, valid) for one input: wrong types, out-of-range and non-finite numbers, hostile names."""
    broken_link = ("list that is not a link", [1, 2, 3], False)
    missing = [] if optional else [("omitted", OMIT, False)]
    if kind in LINK_TYPES:
        wrong_source = ["wrong_mask", 0] if kind == "IMAGE" else ["wrong_image", 0]
        nulls = [] if optional else [("null", None, False)]
        return [("text", "abc", False), ("int", 5, False), ("float", 1.5, False), ("dict", {"samples": "x"}, False),
                ("link of the wrong type", wrong_source, False), broken_link, *nulls, *missing]
    if kind == "BOOLEAN":
        return [broken_link, *missing]
    if kind == "STRING" and (node, name) in CLOSED_VOCABULARY:
        return [(label, value, False) for label, value in hostile_names(outside)] + [("empty", "", False),
                                                                                      broken_link]
    if kind == "STRING" and name in FREE_TEXT:
        return [(label, value, label != "lone surrogate") for label, value in hostile_names(outside)] + [broken_link]
    huge = [(label, value, options.get("min", -math.inf) <= value <= options.get("max", math.inf))
            for label, value in (("2**63", 2**63), ("-2**63", -2**63), ("2**200", 2**200))]
    common = [("non-numeric text", "abc", False), ("dict", {"a": 1}, False), broken_link, *missing]
    limits = [(label, value, False) for label, value in limit_values(kind, options)]
    if kind == "INT":
        return [*limits, *huge, ("text 'nan'", "nan", False), ("text '1e400'", "1e400", False), ("null", None, False),
                *common]
    if kind == "FLOAT":
        return [*limits, ("NaN", float("nan"), False), ("text 'nan'", "nan", False), ("text 'inf'", "inf", False),
                ("text '-inf'", "-inf", False), ("1e400 as text", "1e400", False), ("null", None, False), *common]
    names = [(label, value, label == UNICODE_NAME and name in CREATED_NAMES) for label, value in hostile_names(outside)
             if not (label == UNICODE_NAME and name in SKIPPED_UNICODE)]
    if kind == "COMBO":
        return [*limits, *names, ("int", 5, False), ("float", 1.5, False), ("null", None, False), *common[1:],
                ("empty", "", False)]
    return [*names, ("empty", "", False), broken_link, *missing]  # a STRING that names a file or folder


def hostile_names(outside: Path) -> list[tuple[str, str]]:
    return [
        ("path traversal", "../../fuzz_escape"),
        ("absolute path", str(outside / "fuzz_escape")),
        ("NUL in name", "fuzz\x00name"),
        ("newline in name", "fuzz\nname"),
        ("lone surrogate", "fuzz\ud800name"),
        ("very long name", "x" * 5000),
        (UNICODE_NAME, "ünïcødé_nowhere_🎬"),
    ]


def input_cases(object_info: dict, bases: dict[str, dict], outside: Path) -> list[Case]:
    """Every bad value for every input of every node in `bases`, in /object_info's input order."""
    cases = []
    for node, base in bases.items():
        info = object_info[node]
        for category in ("required", "optional"):
            for name, spec in info["input"].get(category, {}).items():
                kind, options = spec[0], spec[1] if len(spec) > 1 else {}
                for label, value, valid in bad_values(node, name, kind, options, category == "optional", outside):
                    cases.append(Case(node, name, label, with_input(base, name, value), runs=valid))
    return cases


def limit_cases(object_info: dict, bases: dict[str, dict]) -> list[Case]:
    """Above max, below min and outside the combo list, for every input of every node in `bases` that has them."""
    cases = []
    for node, base in bases.items():
        for category in ("required", "optional"):
            for name, spec in object_info[node]["input"].get(category, {}).items():
                for label, value in limit_values(spec[0], spec[1] if len(spec) > 1 else {}):
                    cases.append(Case(node, name, label, with_input(base, name, value)))
    return cases


def write_dataset(folder: Path, video_name: str, video_bytes: bytes, embeds: Path) -> Path:
    """A dataset folder whose one row uses the given video as source, target and mask."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / video_name).write_bytes(video_bytes)
    (folder / "embeds.safetensors").write_bytes(embeds.read_bytes())
    row = {"src_video": video_name, "tar_video": video_name, "mask_video": video_name, "task": "replace",
           "instruction": "fuzz", "prompt_embeds": "embeds.safetensors"}
    (folder / "manifest.json").write_text(json.dumps([row]))
    return folder


def reco_node_ids(object_info: dict) -> set[str]:
    return {name for name, info in object_info.items() if info.get("category") == "ReCo"}


def prepare_bases(server_base: Path, tiny_models, video: str) -> dict[str, dict]:
    """The base graphs, with the dataset folder ReCoTrainLoRA's base names: one row whose files are missing, so a
    train graph that gets past every check ends quickly with "no usable rows" instead of training."""
    folder = server_base / "input" / "fuzz_dataset"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.json").write_text(json.dumps([{"src_video": "gone.mp4", "tar_video": "gone.mp4",
                                                       "instruction": "fuzz"}]))
    return base_graphs(tiny_models, video, folder.name)
