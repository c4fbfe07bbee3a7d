"""The generic half of the workflow generator: a workflow spec in, its UI-format and API-format JSON out.

Nothing here knows a particular workflow; `tools/build_workflows.py` holds the specs. Widget order, socket types and
defaults come from a live ComfyUI's /object_info, because the front end hands a saved UI file's `widgets_values` to
the widgets by position: written by hand, a file breaks silently when a node gains or reorders a widget.

The UI files use the form the front end (1.32) itself writes into saved media: sockets that carry no widget, plus
widget inputs only where a link feeds them. On load it adds the other widget sockets and re-derives link slots.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import NamedTuple

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
class InputDef:
    """One input of a node, as /object_info declares it."""

    name: str
    type: str
    options: dict
    optional: bool

    @property
    def is_widget(self) -> bool:
        return self.type in WIDGET_TYPES and not self.options.get("forceInput")


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


def to_json(document: dict) -> str:
    """The exact text of a workflow file, so committed files can be compared byte for byte."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

