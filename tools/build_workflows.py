"""Writes the example workflows: each is one small spec here, rendered in UI format and in API format.

Artists open `workflows/<name>.json` from ComfyUI's Templates browser; headless queues post `workflows/api/<name>.json`
to /prompt. Kept by hand, the two drift apart, and a UI file breaks silently when a node gains or reorders a widget:
the front end hands `widgets_values` to the widgets by position. So both files are written from one spec, with widget
order, socket types and defaults read from a live ComfyUI's /object_info, and a server test checks that the committed
files equal what this script writes from the test server's /object_info.

    python tools/build_workflows.py --server http://127.0.0.1:8188   # a ComfyUI running this package (`make run`)
    python tools/build_workflows.py --object-info object_info.json   # a saved /object_info answer

The UI files use the form the front end (1.32) itself writes into saved media: sockets that carry no widget, plus
widget inputs only where a link feeds them. On load it adds the other widget sockets and re-derives link slots.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / "workflows"

# Input types the front end draws as widgets (a list type is a combo too); anything else is a socket.
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
# The front end adds a "control after generate" widget to these INT inputs even without the flag.
SEED_NAMES = ("seed", "noise_seed")
# The examples keep their seed: a queued example gives the same result every time.
SEED_CONTROL = "fixed"
# A required combo with one of these flags gets an upload button widget, saved (as "image") after the required ones.
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
UPLOAD_VALUE = "image"
OPTIONAL_SHAPE = 7  # LiteGraph's hollow circle, the front end's mark of an optional socket

# Layout, in canvas pixels. LiteGraph draws a node's title bar above its `pos`.
TITLE_HEIGHT = 30
SLOT_HEIGHT = 20
WIDGET_HEIGHT = 24
NODE_PADDING = 12
NODE_WIDTH = 340
COLUMN_GAP = 70
ROW_GAP = 40
NOTE_COLORS = ("#432", "#653")
POSITIVE_COLORS = ("#232", "#353")
NEGATIVE_COLORS = ("#322", "#533")


class Link(NamedTuple):
    """An input fed by output `slot` of node `node`."""

    node: int
    slot: int


@dataclass(frozen=True)
class Node:
    """A ComfyUI node. Widgets left out of `inputs` take the node's declared default."""

    id: int
    class_type: str
    column: int
    inputs: dict[str, object] = field(default_factory=dict)
    title: str | None = None
    size: tuple[int, int] | None = None  # None: fitted to the node's sockets and widgets
    colors: tuple[str, str] | None = None


@dataclass(frozen=True)
class Note:
    """A Markdown note for artists. Front-end only: it is in the UI file and never in the API file."""

    id: int
    column: int
    title: str
    text: str
    size: tuple[int, int]


@dataclass(frozen=True)
class Workflow:
    name: str
    nodes: tuple[Node | Note, ...]


@dataclass(frozen=True)
class ModeImage:
    """The image a ReCoCanvas mode needs: the input it feeds, the file LoadImage opens and what artists are told."""

    canvas_input: str
    file: str
    title: str
    step: str
    note: str


@dataclass(frozen=True)
class InputDef:
    """One input of a node, as /object_info declares it."""

    name: str
    type: str
    options: dict
    optional: bool

    @property
    def is_widget(self) -> bool:
        return self.type in WIDGET_TYPES and not self.options.get("forceInput")


# --- The workflows ---------------------------------------------------------------------------------------------------

INSTRUCTION = "Replace the mallard duck with a majestic white swan."
# Wan's standard negative prompt (Wan2.1's sample_neg_prompt), which ReCo samples with.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，"
    "残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，"
    "三条腿，背景人很多，倒着走"
)
EDIT_LORA = "ReCo_ori_rank128-2025_m12_version.ckpt"
REFERENCE_LORA = "ReCo_ref_rank256-2026_m4_version.ckpt"
SOURCE_VIDEO = "input_video.mp4"
OUTPUT_PREFIX = "video/ReCo"

# Node ids: API-format graphs and saved links refer to nodes by these, so they stay fixed.
UNET, CLIP, VAE, VIDEO, LORA, POSITIVE, NEGATIVE, PARTS, CANVAS, SAMPLER = range(1, 11)
DECODE, SPLIT, CREATE, SAVE, IMAGE, PREVIEW = range(11, 17)
OVERVIEW_NOTE, CANVAS_NOTE, SAMPLER_NOTE, MODE_NOTE = range(20, 24)


def overview(lora: str, image_step: str | None) -> str:
    """The first note an artist reads: the files to put in place, then the steps to a saved edit."""
    steps = [
        "**Models**, in ComfyUI's `models/` folders:\n\n"
        "| file | folder |\n|---|---|\n"
        "| `wan2.1_vace_1.3B_fp16.safetensors` | `diffusion_models` |\n"
        "| `umt5_xxl_fp8_e4m3fn_scaled.safetensors` | `text_encoders` |\n"
        "| `wan_2.1_vae.safetensors` | `vae` |\n"
        f"| `{lora}` | `loras` |",
        "**Video**: choose your clip in *Load Video*.",
        *([image_step] if image_step else []),
        f"**Instruction**: write it in the green node as a plain sentence, with no template, e.g. *{INSTRUCTION}* "
        "Leave the red node as it is: it is Wan's standard negative prompt.",
        "**Queue.** The edit is saved to `output/video/ReCo_*.mp4` at the source's size and frame rate.",
    ]
    numbered = "\n\n".join(f"{number}. {step}" for number, step in enumerate(steps, start=1))
    return f"## ReCo: edit a video from an instruction\n\n{numbered}\n"


CANVAS_TEXT = """*ReCo Canvas* puts the source on the left of a canvas twice as wide and leaves the right half to be \
generated: no mask needed. *ReCo Sampler* denoises both halves together, so the right half copies everything from the \
source except what the instruction changes. *ReCo Split* cuts the edited half out and scales it back to the source size.

`width` and `height` are per half: 832 x 480 and 81 frames are what ReCo was trained on. A longer clip is edited in \
a window of `length` frames from `start_frame`.
"""

SAMPLER_TEXT = """ReCo's defaults: 50 steps, CFG 5, euler, simple, shift 5 (uni_pc with 30 steps also works). \
For a quick look, lower `steps` or the canvas `length`.

If the edit keeps copying the object it should change, set `region_mode` to *auto*: the first steps find where the \
halves differ, and the rest keep that region from attending to the source object.
"""

FIRST_FRAME = ModeImage(
    "edited_first_frame", "edited_first_frame.png", "Edited first frame",
    step="**Edited first frame**: load your edit of the clip's first frame there.",
    note="Edit the clip's first frame yourself (any image editor or image model) and load it here. ReCo keeps that "
    "frame and carries the edit through the whole clip; the instruction should describe the same edit.\n",
)
REFERENCE = ModeImage(
    "reference_image", "reference.png", "Reference image",
    step="**Reference image**: load the image whose subject the edit should use.",
    note="Load the image whose subject the edit should use; any size works (it is letterboxed on white). This mode "
    f"needs the rank-256 LoRA `{REFERENCE_LORA}` in the LoRA loader.\n",
)


def reco_workflow(name: str, mode: str, lora: str, image: ModeImage | None = None) -> Workflow:
    """The ReCo edit graph; the first-frame and reference variants add their image and its note."""
    canvas_inputs: dict[str, object] = {
        "source_frames": Link(PARTS, 0), "vae": Link(VAE, 0),
        "positive": Link(POSITIVE, 0), "negative": Link(NEGATIVE, 0), "mode": mode,
    }
    image_nodes: list[Node | Note] = []
    if image is not None:
        canvas_inputs[image.canvas_input] = Link(IMAGE, 0)
        image_nodes = [Node(IMAGE, "LoadImage", 1, {"image": image.file}, title=image.title, size=(NODE_WIDTH, 320)),
                       Note(MODE_NOTE, 1, f"About the {image.title.lower()}", image.note, (420, 110))]
    nodes: list[Node | Note] = [
        Note(OVERVIEW_NOTE, 0, "Start here", overview(lora, image.step if image else None), (NODE_WIDTH + 80, 340)),
        Node(UNET, "UNETLoader", 0,
             {"unet_name": "wan2.1_vace_1.3B_fp16.safetensors", "weight_dtype": "default"}),
        Node(CLIP, "CLIPLoader", 0,
             {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan", "device": "default"}),
        Node(VAE, "VAELoader", 0, {"vae_name": "wan_2.1_vae.safetensors"}),
        Node(VIDEO, "LoadVideo", 0, {"file": SOURCE_VIDEO}, size=(NODE_WIDTH, 360)),
        Node(LORA, "ReCoLoRALoader", 1, {"model": Link(UNET, 0), "lora_name": lora}),
        Node(POSITIVE, "CLIPTextEncode", 1, {"text": INSTRUCTION, "clip": Link(CLIP, 0)},
             title="Instruction", size=(420, 130), colors=POSITIVE_COLORS),
        Node(NEGATIVE, "CLIPTextEncode", 1, {"text": WAN_NEGATIVE_PROMPT, "clip": Link(CLIP, 0)},
             title="Negative prompt (Wan)", size=(420, 160), colors=NEGATIVE_COLORS),
        Node(PARTS, "GetVideoComponents", 1, {"video": Link(VIDEO, 0)}),
        *image_nodes,
        Note(CANVAS_NOTE, 2, "How ReCo edits", CANVAS_TEXT, (NODE_WIDTH + 40, 190)),
        Node(CANVAS, "ReCoCanvas", 2, canvas_inputs),
        Note(SAMPLER_NOTE, 3, "Sampler settings", SAMPLER_TEXT, (NODE_WIDTH + 40, 150)),
        Node(SAMPLER, "ReCoSampler", 3, {
            "model": Link(LORA, 0), "positive": Link(CANVAS, 0), "negative": Link(CANVAS, 1),
            "latent": Link(CANVAS, 2),
        }),
        Node(DECODE, "VAEDecode", 4, {"samples": Link(SAMPLER, 0), "vae": Link(VAE, 0)}),
        Node(SPLIT, "ReCoSplit", 4, {"canvas_frames": Link(DECODE, 0), "canvas": Link(CANVAS, 3)}),
        Node(CREATE, "CreateVideo", 4, {"images": Link(SPLIT, 0), "fps": Link(PARTS, 2)}),
        Node(SAVE, "SaveVideo", 5, {"video": Link(CREATE, 0), "filename_prefix": OUTPUT_PREFIX},
             size=(480, 420)),
    ]
    return Workflow(name, tuple(nodes))


def region_preview_workflow(name: str) -> Workflow:
    """The edit graph plus ReCoRegionPreview: where the edit happened, played beside the source in the node."""
    edit = reco_workflow(name, "edit", EDIT_LORA)
    nodes = [replace(item, inputs={**item.inputs, "region_map": Link(SAMPLER, 1)}) if item.id == SPLIT else item
             for item in edit.nodes]
    preview = Node(PREVIEW, "ReCoRegionPreview", 5, {
        "frames": Link(SPLIT, 0), "region_map": Link(SPLIT, 2), "source": Link(PARTS, 0), "fps": Link(PARTS, 2),
        "caption": INSTRUCTION,
    }, size=(640, 560))
    return Workflow(name, (*nodes, preview))


# The toy ReCo model shipped in assets/toy/ (installed by set-up), so an edit runs with no download.
TOY_DIT = "reco_toy_wan2.1_vace.safetensors"
TOY_VAE = "reco_toy_wan_2.1_vae.safetensors"
TOY_LORA = "reco_toy_lora.safetensors"
TOY_TEXT_ENCODER = "reco_toy_text_encoder.safetensors"
TOY_VIDEO = "demo_source.mp4"
TOY_INSTRUCTION = "Remove the purple circle."  # the demo clip's (reco_core/toy/demo.py)
TOY_CANVAS = {"width": 96, "height": 96, "length": 9}
TOY_SAMPLER = {"seed": 0, "steps": 20, "cfg": 1.0, "shift": 3.0}  # what the toy trained and is measured at
TOY_PREFIX = "video/ReCo_toy"
REGION_VIDEO, REGION_SAVE = 17, 18

TOY_OVERVIEW = f"""## ReCo-Toy: a small model that really edits

Everything is in place after `make run`: the toy Wan2.1-VACE, its VAE, its ReCo LoRA and its word-level text \
encoder in ComfyUI's `models/` folders, and a held-out clip of its synthetic world, `{TOY_VIDEO}`, in `input/`.

1. **Queue.** The edit is saved to `output/{TOY_PREFIX}_*.mp4`, and the region where the halves differ, drawn over \
the edit, to `output/{TOY_PREFIX}_region_*.mp4`.
2. **Change the instruction** in the green node. The toy knows only its world's words: add, remove, replace \
(*Replace the blue square with a green triangle.*), and styles (*Make it look like a pencil sketch.*).

The toy works at 96 x 96 pixels per half and 9 frames. For real videos, open `reco_edit` with the Wan weights.
"""

TOY_CANVAS_TEXT = """*ReCo Canvas* puts the source on the left of a canvas twice as wide and leaves the right half to be \
generated. *ReCo Sampler* denoises both halves together, so the right half copies everything from the source except \
what the instruction changes. *ReCo Split* cuts the edited half out; *ReCo Region Preview* plays source | edit | \
region side by side. The toy was trained at 96 x 96 per half and 9 frames: keep those sizes.
"""

TOY_SAMPLER_TEXT = f"""The toy's settings: {TOY_SAMPLER["steps"]} steps, CFG {TOY_SAMPLER["cfg"]}, euler, simple, \
shift {TOY_SAMPLER["shift"]}. \
The negative is the empty text (all zeros), which is what the toy was trained to drop to.

`region_mode` *auto* finds where the halves differ in the first steps and keeps that region from attending to the \
source object; compare it with *off* on the same seed.
"""


def toy_workflow(name: str) -> Workflow:
    """The region-preview graph on the toy model: its files, its text encoder, its sizes, and the region saved too."""
    notes = {OVERVIEW_NOTE: TOY_OVERVIEW, CANVAS_NOTE: TOY_CANVAS_TEXT, SAMPLER_NOTE: TOY_SAMPLER_TEXT}
    settings = {UNET: {"unet_name": TOY_DIT}, VAE: {"vae_name": TOY_VAE}, LORA: {"lora_name": TOY_LORA},
                VIDEO: {"file": TOY_VIDEO}, CANVAS: TOY_CANVAS, SAMPLER: TOY_SAMPLER,
                SAVE: {"filename_prefix": TOY_PREFIX}, PREVIEW: {"caption": TOY_INSTRUCTION}}
    nodes: list[Node | Note] = []
    for item in region_preview_workflow(name).nodes:
        if item.id == CLIP:
            continue
        if item.id == POSITIVE:
            item = replace(item, class_type="ReCoToyTextEncode", size=(420, 130),
                           inputs={"encoder_name": TOY_TEXT_ENCODER, "text": TOY_INSTRUCTION})
        elif item.id == NEGATIVE:  # the toy was trained with an empty (all-zero) text for guidance
            item = replace(item, class_type="ConditioningZeroOut", title="No text", size=None,
                           inputs={"conditioning": Link(POSITIVE, 0)})
        elif item.id in notes:
            item = replace(item, text=notes[item.id])
        elif item.id in settings:
            item = replace(item, inputs={**item.inputs, **settings[item.id]})
        nodes.append(item)
    nodes += [
        Node(REGION_VIDEO, "CreateVideo", 6, {"images": Link(PREVIEW, 0), "fps": Link(PARTS, 2)},
             title="Region video"),
        Node(REGION_SAVE, "SaveVideo", 6, {"video": Link(REGION_VIDEO, 0), "filename_prefix": f"{TOY_PREFIX}_region"},
             title="Save region video", size=(480, 420)),
    ]
    return Workflow(name, tuple(nodes))


SPECS = (
    reco_workflow("reco_edit", "edit", EDIT_LORA),
    reco_workflow("reco_edit_first_frame", "first_frame", EDIT_LORA, FIRST_FRAME),
    reco_workflow("reco_edit_reference", "reference", REFERENCE_LORA, REFERENCE),
    region_preview_workflow("reco_region_preview"),
    toy_workflow("reco_toy_edit"),
)


# --- Rendering -------------------------------------------------------------------------------------------------------

def input_defs(info: dict) -> list[InputDef]:
    """A node's inputs in the order the front end creates them: required, then optional, each in declared order."""
    defs = []
    for section in ("required", "optional"):
        for name in info["input_order"].get(section, []):
            spec = info["input"][section][name]
            kind = "COMBO" if isinstance(spec[0], list) else spec[0]
            defs.append(InputDef(name, kind, spec[1] if len(spec) > 1 else {}, section == "optional"))
    return defs


def widget_values(node: Node, defs: list[InputDef]) -> list[object]:
    """`widgets_values` in the front end's widget order, with its extra seed-control and upload widgets."""
    values: list[object] = []
    for optional in (False, True):
        section = [spec for spec in defs if spec.optional == optional]
        for spec in section:
            if spec.is_widget:
                values.append(widget_value(node, spec))
                if has_seed_control(spec):
                    values.append(SEED_CONTROL)
        # The upload widget is appended to the required inputs, after their last one.
        if not optional and any(spec.options.get(flag) for spec in section for flag in UPLOAD_FLAGS):
            values.append(UPLOAD_VALUE)
    return values


def has_seed_control(spec: InputDef) -> bool:
    return spec.type == "INT" and bool(spec.options.get("control_after_generate", spec.name in SEED_NAMES))


def widget_value(node: Node, spec: InputDef) -> object:
    """The spec's value, else the declared default; a linked widget keeps its default, as the front end does."""
    value = node.inputs.get(spec.name)
    if isinstance(value, Link):
        return spec.options.get("default")
    if value is None:
        value = spec.options.get("default")
    if value is None:
        raise ValueError(f"{node.class_type} (node {node.id}): '{spec.name}' has no default; give it in the spec.")
    return value


def check_node(node: Node, defs: list[InputDef], object_info: dict, nodes: dict[int, Node | Note]) -> None:
    """Refuse a spec the server would reject, naming the node and the input to fix."""
    where = f"{node.class_type} (node {node.id})"
    unknown = set(node.inputs) - {spec.name for spec in defs}
    if unknown:
        raise ValueError(f"{where}: no input(s) {sorted(unknown)} on this server; check the spec against the node.")
    for spec in defs:
        value = node.inputs.get(spec.name)
        if not isinstance(value, Link):
            if not spec.is_widget and not spec.optional:
                raise ValueError(f"{where}: required socket '{spec.name}' is not linked.")
            continue
        source = nodes.get(value.node)
        if not isinstance(source, Node):
            raise ValueError(f"{where}: '{spec.name}' links to node {value.node}, which is not a ComfyUI node here.")
        outputs = object_info[source.class_type]["output"]
        if not 0 <= value.slot < len(outputs):
            raise ValueError(f"{where}: '{spec.name}' links to output {value.slot} of {source.class_type}, "
                             f"which has {len(outputs)} outputs.")
        if outputs[value.slot] not in (spec.type, "*"):
            raise ValueError(f"{where}: '{spec.name}' takes {spec.type}, but output {value.slot} of "
                             f"{source.class_type} is {outputs[value.slot]}.")


def fitted_size(defs: list[InputDef], outputs: int) -> tuple[int, int]:
    """A node just tall enough for its socket rows and widgets (widget sockets sit beside their widgets)."""
    sockets = sum(not spec.is_widget for spec in defs)
    widgets = sum(spec.is_widget for spec in defs)
    controls = sum(has_seed_control(spec) for spec in defs)
    return NODE_WIDTH, SLOT_HEIGHT * max(sockets, outputs) + WIDGET_HEIGHT * (widgets + controls) + NODE_PADDING


def layout(workflow: Workflow, sizes: dict[int, tuple[int, int]]) -> dict[int, tuple[int, int]]:
    """Columns left to right, each as wide as its widest node; nodes stacked top down in spec order."""
    columns = sorted({item.column for item in workflow.nodes})
    positions: dict[int, tuple[int, int]] = {}
    x = 0
    for column in columns:
        members = [item for item in workflow.nodes if item.column == column]
        y = TITLE_HEIGHT
        for item in members:
            positions[item.id] = (x, y)
            y += sizes[item.id][1] + TITLE_HEIGHT + ROW_GAP
        x += max(sizes[item.id][0] for item in members) + COLUMN_GAP
    return positions


def execution_order(workflow: Workflow) -> dict[int, int]:
    """LiteGraph's `order`: a topological order of the graph, ties kept in spec order."""
    pending = {item.id: {value.node for value in getattr(item, "inputs", {}).values() if isinstance(value, Link)}
               for item in workflow.nodes}
    order: dict[int, int] = {}
    while pending:
        ready = next(item.id for item in workflow.nodes if item.id in pending and not pending[item.id] - set(order))
        order[ready] = len(order)
        del pending[ready]
    return order


def render(workflow: Workflow, object_info: dict) -> tuple[dict, dict]:
    """The workflow as (UI format, API format)."""
    by_id = {item.id: item for item in workflow.nodes}
    nodes = [item for item in workflow.nodes if isinstance(item, Node)]
    missing = sorted({node.class_type for node in nodes} - set(object_info))
    if missing:
        raise ValueError(f"{workflow.name}: the server has no {missing}; is the ReCo package loaded?")
    defs = {node.id: input_defs(object_info[node.class_type]) for node in nodes}
    for node in nodes:
        check_node(node, defs[node.id], object_info, by_id)

    sizes = {item.id: item.size if isinstance(item, Note) else
             item.size or fitted_size(defs[item.id], len(object_info[item.class_type]["output"]))
             for item in workflow.nodes}
    positions = layout(workflow, sizes)
    order = execution_order(workflow)
    links, sockets = wire(nodes, defs, object_info)
    ui_nodes = []
    for item in workflow.nodes:
        entry = {"id": item.id, "type": "MarkdownNote" if isinstance(item, Note) else item.class_type,
                 "pos": list(positions[item.id]), "size": list(sizes[item.id]), "flags": {},
                 "order": order[item.id], "mode": 0}
        entry.update(note_fields(item) if isinstance(item, Note) else
                     node_fields(item, defs[item.id], object_info[item.class_type], sockets[item.id], links))
        ui_nodes.append(entry)
    ui = {
        "last_node_id": max(by_id), "last_link_id": len(links), "nodes": ui_nodes, "links": links,
        "groups": [], "config": {}, "extra": {"ds": {"scale": 0.65, "offset": [100, 130]}}, "version": 0.4,
    }
    api = {str(node.id): {"class_type": node.class_type, "inputs": api_inputs(node, defs[node.id]),
                          "_meta": {"title": node.title or object_info[node.class_type]["display_name"]}}
           for node in sorted(nodes, key=lambda node: node.id)}
    return ui, api


def wire(nodes: list[Node], defs: dict[int, list[InputDef]], object_info: dict) -> tuple[list[list], dict]:
    """LiteGraph links [id, from, from_slot, to, to_slot, type] and each node's input sockets.

    Sockets as the front end saves them for older readers: every input that is not a widget, then the widgets a link
    feeds; `to_slot` counts in that list.
    """
    class_types = {node.id: node.class_type for node in nodes}
    links: list[list] = []
    sockets: dict[int, list[dict]] = {}
    for node in nodes:
        shown = [spec for spec in defs[node.id] if not spec.is_widget]
        shown += [spec for spec in defs[node.id] if spec.is_widget and isinstance(node.inputs.get(spec.name), Link)]
        sockets[node.id] = []
        for slot, spec in enumerate(shown):
            entry: dict[str, object] = {"name": spec.name, "type": spec.type, "link": None}
            if spec.optional:
                entry["shape"] = OPTIONAL_SHAPE
            if spec.is_widget:
                entry["widget"] = {"name": spec.name}
            source = node.inputs.get(spec.name)
            if isinstance(source, Link):
                entry["link"] = len(links) + 1
                output_type = object_info[class_types[source.node]]["output"][source.slot]
                links.append([entry["link"], source.node, source.slot, node.id, slot, output_type])
            sockets[node.id].append(entry)
    return links, sockets


def node_fields(node: Node, defs: list[InputDef], info: dict, sockets: list[dict], links: list[list]) -> dict:
    """A ComfyUI node's LiteGraph fields beyond id, type, place and order."""
    outputs = [{"name": name, "type": kind,
                "links": [link[0] for link in links if (link[1], link[2]) == (node.id, slot)], "slot_index": slot}
               for slot, (name, kind) in enumerate(zip(info["output_name"], info["output"]))]
    fields = {"inputs": sockets, "outputs": outputs, **({"title": node.title} if node.title else {}),
              "properties": {"Node name for S&R": node.class_type}, "widgets_values": widget_values(node, defs)}
    if node.colors:
        fields["color"], fields["bgcolor"] = node.colors
    return fields


def note_fields(note: Note) -> dict:
    return {"inputs": [], "outputs": [], "title": note.title, "properties": {}, "widgets_values": [note.text],
            "color": NOTE_COLORS[0], "bgcolor": NOTE_COLORS[1]}


def api_inputs(node: Node, defs: list[InputDef]) -> dict[str, object]:
    values: dict[str, object] = {}
    for spec in defs:
        value = node.inputs.get(spec.name)
        if isinstance(value, Link):
            values[spec.name] = [str(value.node), value.slot]
        elif spec.is_widget:
            values[spec.name] = widget_value(node, spec)
    return values


def build(object_info: dict) -> dict[str, tuple[dict, dict]]:
    """Every example workflow as {name: (UI format, API format)}, shaped by the given /object_info."""
    return {workflow.name: render(workflow, object_info) for workflow in SPECS}


def to_json(document: dict) -> str:
    """The exact text of a workflow file, so committed files can be compared byte for byte."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def file_texts(object_info: dict) -> Iterable[tuple[Path, str]]:
    """Each workflow file's path and exact text."""
    for name, (ui, api) in build(object_info).items():
        yield WORKFLOWS / f"{name}.json", to_json(ui)
        yield WORKFLOWS / "api" / f"{name}.json", to_json(api)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--object-info", type=Path, help="a saved answer of ComfyUI's /object_info")
    source.add_argument("--server", help="URL of a running ComfyUI with this package, e.g. http://127.0.0.1:8188")
    args = parser.parse_args()
    if args.server:
        with urllib.request.urlopen(args.server.rstrip("/") + "/object_info", timeout=60) as response:
            object_info = json.load(response)
    else:
        object_info = json.loads(args.object_info.read_text())
    for path, text in file_texts(object_info):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path.relative_to(REPO))


if __name__ == "__main__":
    main()
