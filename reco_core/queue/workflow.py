"""Turning a manifest row into the API-format graph a server runs, and checking it before anything is sent.

Jobs address the workflow by node title (what an artist sees in ComfyUI) and input name. The fixed columns land on
conventional titles: the clip on "Load Video", the instruction or its embeddings file on "Instruction", the mask on
"Region Mask" and the seed on "ReCo Sampler". Every value is checked against the input's spec in `/object_info`
(type, range, choices), so a typo is reported with its row and column instead of as a server error an hour later.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

from .manifest import FILE_COLUMNS, Job
from .paths import escapes_folder

# Fixed manifest column -> (node title, input name) it is written to.
TARGETS = {
    "clip": ("Load Video", "file"),
    "embeddings": ("Instruction", "file"),
    "mask": ("Region Mask", "image"),
    "instruction": ("Instruction", "text"),
    "seed": ("ReCo Sampler", "seed"),
}


class WorkflowError(ValueError):
    """The workflow itself cannot run on these servers (no job could)."""


@dataclass(frozen=True)
class Workflow:
    graph: dict
    titles: dict[str, str]  # node title -> node id

    @classmethod
    def load(cls, path: Path) -> "Workflow":
        """An API-format workflow file (as exported with "Save (API)" or shipped in workflows/api/)."""
        try:
            graph = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise WorkflowError(f"{path}: not a readable JSON workflow ({error})") from None
        if not isinstance(graph, dict) or not all(isinstance(n, dict) and "class_type" in n for n in graph.values()):
            raise WorkflowError(f"{path}: not an API-format workflow (export it with 'Save (API)' in ComfyUI)")
        titles: dict[str, str] = {}
        for node_id, node in graph.items():
            title = node.get("_meta", {}).get("title", node["class_type"])  # as Workflow.title reads it
            titles[title] = node_id if title not in titles else ""  # "" marks a title used twice
        return cls(graph, titles)

    def node_for(self, title: str) -> str:
        """The id of the one node with this title; a ValueError that lists the titles otherwise."""
        node_id = self.titles.get(title)
        if node_id is None:
            raise ValueError(f"the workflow has no node titled '{title}' (titles: {', '.join(sorted(self.titles))})")
        if not node_id:
            raise ValueError(f"more than one node is titled '{title}'; give them distinct titles in ComfyUI")
        return node_id

    def title(self, node_id: str) -> str:
        return self.graph[node_id].get("_meta", {}).get("title", self.graph[node_id]["class_type"])

    def check_servers(self, object_infos: dict[str, dict]) -> None:
        """Every node class exists on every server, every fixed value is valid there (models, files and choices are
        present on each server), and no value in the workflow names a path outside a folder."""
        for url, info in object_infos.items():
            missing = sorted({n["class_type"] for n in self.graph.values()} - set(info))
            if missing:
                raise WorkflowError(f"server {url} does not know the nodes {', '.join(missing)}; install them there")
        uploaded_by_jobs = {(self.titles.get(TARGETS[c][0]), TARGETS[c][1]) for c in FILE_COLUMNS}
        for node_id, node in self.graph.items():
            for name, value in node.get("inputs", {}).items():
                if isinstance(value, str) and escapes_folder(value) and _names_file(node, name, object_infos):
                    raise WorkflowError(f"node {node_id} input '{name}': '{value}' leaves ComfyUI's folders")
                if isinstance(value, list) or (node_id, name) in uploaded_by_jobs:
                    continue  # a link, or a file each job uploads
                for url, info in object_infos.items():
                    try:
                        convert_value(input_spec(info, node["class_type"], name), value)
                    except ValueError as error:
                        raise WorkflowError(f"server {url}, node {node_id} ('{self.title(node_id)}') input "
                                            f"'{name}': {error}") from None

    def bound_inputs(self, job: Job) -> dict[tuple[str, str], tuple[str, object]]:
        """(node id, input) -> (manifest column, value) for everything the job sets; ValueErrors become problems."""
        bound: dict[tuple[str, str], tuple[str, object]] = {}
        for column in (*job.files, *job.values):
            title, input_name = TARGETS[column]
            try:
                node_id = self.node_for(title)
            except ValueError as error:
                job.problems.append((column, str(error)))
                continue
            bound[(node_id, input_name)] = (column, job.files[column].name if column in job.files else
                                            job.values[column])
        for (title, input_name), value in job.overrides.items():
            column = f"{title}.{input_name}"
            try:
                bound[(self.node_for(title), input_name)] = (column, value)
            except ValueError as error:
                job.problems.append((column, str(error)))
        return bound

    def check_job(self, job: Job, object_infos: dict[str, dict]) -> dict[tuple[str, str], object]:
        """The job's values, converted to each input's type; problems are appended to ``job.problems``."""
        converted: dict[tuple[str, str], object] = {}
        for (node_id, input_name), (column, value) in self.bound_inputs(job).items():
            class_type = self.graph[node_id]["class_type"]
            errors = []
            for url, info in object_infos.items():
                try:
                    spec = input_spec(info, class_type, input_name)
                    converted[(node_id, input_name)] = value if column in job.files else convert_value(spec, value)
                except ValueError as error:
                    errors.append(f"{error} (on {url})" if len(object_infos) > 1 else str(error))
            if errors:  # the same words from every server are said once, without the server
                job.problems.append((column, errors[0].rsplit(" (on ", 1)[0] if len(errors) == len(object_infos)
                                     else errors[0]))
        return converted

    def bind(self, values: dict[tuple[str, str], object], uploads: dict[str, str], job: Job) -> dict:
        """The graph for one job: checked values written in, local file names replaced by their uploaded names."""
        graph = copy.deepcopy(self.graph)
        for (node_id, input_name), value in values.items():
            graph[node_id]["inputs"][input_name] = value
        for column, path in job.files.items():
            node_id = self.node_for(TARGETS[column][0])
            graph[node_id]["inputs"][TARGETS[column][1]] = uploads[column]
        return graph


def input_spec(info: dict, class_type: str, input_name: str) -> list:
    """The `/object_info` spec of one input: [type or choices, options]."""
    inputs = info.get(class_type, {}).get("input", {})
    for group in ("required", "optional"):
        if input_name in inputs.get(group, {}):
            return inputs[group][input_name]
    names = [name for group in ("required", "optional") for name in inputs.get(group, {})]
    raise ValueError(f"{class_type} has no input '{input_name}' (inputs: {', '.join(names)})")


def convert_value(spec: list, value: object) -> object:
    """``value`` (a CSV string or a JSON value) as the input's type, inside its range or choices."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if kind == "COMBO":
        kind = options.get("options", [])
    if isinstance(kind, list):
        text = str(value)
        if text not in [str(choice) for choice in kind]:
            shown = ", ".join(map(str, kind[:12])) + (" ..." if len(kind) > 12 else "")
            raise ValueError(f"'{text}' is not one of the choices on the server: {shown}")
        return next(choice for choice in kind if str(choice) == text)
    if kind == "INT":
        converted = _number(value, int)
    elif kind == "FLOAT":
        converted = _number(value, float)
    elif kind == "BOOLEAN":
        converted = _boolean(value)
    elif kind == "STRING":
        converted = str(value)
        if escapes_folder(converted) and not options.get("multiline"):
            raise ValueError(f"'{converted}' leaves ComfyUI's folders; use a name relative to them")
        return converted
    else:
        raise ValueError(f"is a {kind} connection in the graph, not a value a manifest can set")
    low, high = options.get("min"), options.get("max")
    if (low is not None and converted < low) or (high is not None and converted > high):
        raise ValueError(f"{converted} is outside the allowed range [{low}, {high}]")
    return converted


def _number(value: object, kind: type) -> int | float:
    if isinstance(value, bool):
        raise ValueError(f"'{value}' is not a number")
    try:
        number = kind(value) if kind is float or not isinstance(value, float) else None
    except (TypeError, ValueError):
        number = None
    if number is None:
        raise ValueError(f"'{value}' is not {'an integer' if kind is int else 'a number'}")
    return number


def _boolean(value: object) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"'{value}' is not true or false")


def _names_file(node: dict, input_name: str, object_infos: dict[str, dict]) -> bool:
    """Whether an input holds a file name: a combo of choices, or a single-line string such as a filename prefix."""
    for info in object_infos.values():
        try:
            spec = input_spec(info, node["class_type"], input_name)
        except ValueError:
            continue
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        return isinstance(spec[0], list) or spec[0] == "COMBO" or (spec[0] == "STRING" and not options.get("multiline"))
    return False
