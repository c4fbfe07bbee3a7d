"""The dataset folder's manifest: which clip pairs to train on, and a check of every row before any training starts.

A folder holds ``manifest.json`` (a JSON list of rows) or ``manifest.jsonl`` (one JSON object per line) in the
layout of ReCo-Data: ``src_video``, ``tar_video`` and the instruction (``instruction_final_refine``, falling back to
``instruction``), plus the optional ``mask_video`` (per-frame object mask of the edited region, ReCo-Data keeps them in
a side folder), ``task`` (add / remove / replace / style) and ``prompt_embeds`` (a saved embeddings file, used instead
of encoding the instruction). Paths are relative to the folder.

Datasets of thousands of scraped pairs always hold some broken rows. Failing at row 4,031 hours into a run wastes the
run, and silently skipping rows hides the problem, so `validate_manifest` decodes every referenced video up front and
reports each bad row with its index and reason; only the rows it passes go to training, and the caller prints the
report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg

from ..canvas import CanvasSpec
from ..interruption import check_interrupted
from ..paths import resolve_inside
from ..text_embeddings import UMT5_DIM, load_text_embeddings
from ..video_io import read_video

MANIFEST_NAMES = ("manifest.json", "manifest.jsonl")
TASKS = ("add", "remove", "replace", "style")
PATH_FIELDS = ("src_video", "tar_video", "mask_video", "prompt_embeds")
VIDEO_FIELDS = ("src_video", "tar_video", "mask_video")
INSTRUCTION_FIELDS = ("instruction_final_refine", "instruction")


class ManifestError(ValueError):
    """The manifest file itself is unusable (absent, ambiguous, or not JSON at all), so no row can be judged."""


@dataclass(frozen=True)
class Row:
    """One manifest row as written: paths relative to the dataset folder, or None where the row leaves a field out.

    ``index`` is the row's 0-based position: its list index in manifest.json, its line number minus one in
    manifest.jsonl, so a report points at the line to fix. ``problems`` holds (field, reason) for values the row has
    but that cannot be read as the field (a number where a path belongs, a line that is not JSON).
    """

    index: int
    src_video: str | None = None
    tar_video: str | None = None
    instruction: str | None = None
    mask_video: str | None = None
    task: str | None = None
    prompt_embeds: str | None = None
    problems: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _VideoFacts:
    width: int
    height: int
    frames: int


@dataclass
class ValidationReport:
    """Rows fit for training, with their sources' (width, height, frames) for bucketing, and every bad row's reasons.

    ``bad_rows`` holds (index, field, reason); a row may appear more than once when several fields are wrong.
    """

    ok_rows: list[Row] = field(default_factory=list)
    source_sizes: list[tuple[int, int, int]] = field(default_factory=list)
    bad_rows: list[tuple[int, str, str]] = field(default_factory=list)

    def format(self) -> str:
        """A text table of the bad rows under a one-line summary, for the console and the training log."""
        excluded = len({index for index, _, _ in self.bad_rows})
        summary = f"{len(self.ok_rows)} of {len(self.ok_rows) + excluded} manifest rows usable, {excluded} excluded"
        if not self.bad_rows:
            return summary + "."
        header = ("row", "field", "reason")
        lines = [(str(index), name, reason) for index, name, reason in self.bad_rows]
        widths = [max(len(line[column]) for line in (header, *lines)) for column in range(2)]
        table = [f"{a:>{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in (header, *lines)]
        return "\n".join([summary + ":", *table])


def manifest_path(folder: str | os.PathLike[str]) -> Path:
    """The folder's manifest.json or manifest.jsonl; exactly one must exist."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(f"dataset folder {folder} does not exist or is not a folder.")
    found = [folder / name for name in MANIFEST_NAMES if (folder / name).is_file()]
    if not found:
        raise ManifestError(
            f"{folder} has no manifest: add manifest.json (a JSON list of rows) or manifest.jsonl (one JSON object "
            "per line) with src_video, tar_video and instruction fields."
        )
    if len(found) > 1:
        raise ManifestError(f"{folder} has both manifest.json and manifest.jsonl: keep the one that should count.")
    return found[0]


def load_manifest(folder: str | os.PathLike[str]) -> list[Row]:
    """Every row of the folder's manifest, as written; problems inside a row are recorded on it, not raised.

    Raises ManifestError only when the file as a whole cannot be read (no manifest, both kinds, manifest.json not a
    JSON list), since then there are no rows to judge one by one.
    """
    path = manifest_path(folder)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read {path} as UTF-8 text ({error}).") from error
    if path.suffix == ".jsonl":
        return [_parse_line(index, line) for index, line in enumerate(text.splitlines()) if line.strip()]
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise ManifestError(f"{path} is not valid JSON ({error}); fix it or write rows as manifest.jsonl.") from None
    if not isinstance(records, list):
        raise ManifestError(f"{path} must hold a JSON list of rows, got a {type(records).__name__}.")
    return [_parse_record(index, record) for index, record in enumerate(records)]


def _parse_line(index: int, line: str) -> Row:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return Row(index, problems=(("row", f"not valid JSON ({error.msg} at column {error.colno})"),))
    return _parse_record(index, record)


def _parse_record(index: int, record: object) -> Row:
    if not isinstance(record, dict):
        return Row(index, problems=(("row", f"must be a JSON object, got {type(record).__name__}"),))
    values: dict[str, str | None] = {}
    problems = []
    for name in (*PATH_FIELDS, "task"):
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            problems.append((name, f"must be a string, got {type(value).__name__}"))
        values[name] = value or None
    instruction = None
    for name in INSTRUCTION_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            instruction = value.strip()
            break
        if value is not None and not isinstance(value, str):
            problems.append((name, f"must be a string, got {type(value).__name__}"))
    if problems:
        return Row(index, problems=tuple(problems))
    task = values.pop("task")
    return Row(index, instruction=instruction, task=task.strip().lower() if task else None, **values)


def _probe_video(path: Path) -> _VideoFacts:
    """Size and frame count of a video; a ValueError when its first frame does not decode.

    The first frame goes through `read_video` (the reader training uses), the count through one ffmpeg pass that
    decodes without converting the frames to Python, so long clips cost little memory.
    """
    first, _ = read_video(path, max_frames=1)
    try:
        frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except RuntimeError as error:
        raise ValueError(f"{path.name} could not be decoded to the end ({str(error).splitlines()[0]})") from None
    return _VideoFacts(width=first.shape[2], height=first.shape[1], frames=frames)


def validate_manifest(folder: str | os.PathLike[str], spec: CanvasSpec) -> ValidationReport:
    """Check every row of the folder's manifest; rows that pass are the training set, the rest are named with reasons.

    ``spec.length`` is the fewest source frames a row may have: pass the spec of the shortest training bucket, since
    buckets take 4n + 1 frames from the clip and never pad it. Each referenced file must lie inside the folder and
    exist; each video must decode; embeddings files must load; source and target must agree in frame count and size,
    and so must a mask with the source.
    """
    report = ValidationReport()
    for row in load_manifest(folder):
        check_interrupted()
        problems, source = _check_row(Path(folder), row, spec)
        if problems:
            report.bad_rows.extend((row.index, name, reason) for name, reason in problems)
        else:
            report.ok_rows.append(row)
            report.source_sizes.append((source.width, source.height, source.frames))
    return report


def _check_row(folder: Path, row: Row, spec: CanvasSpec) -> tuple[list[tuple[str, str]], _VideoFacts | None]:
    """(field, reason) for everything wrong with ``row``, and its source's facts when nothing is."""
    if row.problems:
        return list(row.problems), None
    problems = [(name, "missing") for name in ("src_video", "tar_video") if getattr(row, name) is None]
    if row.instruction is None and row.prompt_embeds is None:
        problems.append(("instruction", "missing: give instruction_final_refine or instruction (or prompt_embeds)"))
    if row.task is not None and row.task not in TASKS:
        problems.append(("task", f"{row.task!r} is not one of {', '.join(TASKS)}"))

    videos: dict[str, _VideoFacts] = {}
    for name in PATH_FIELDS:
        relative = getattr(row, name)
        if relative is None:
            continue
        try:
            path = resolve_inside(folder, relative, folder_label="the dataset folder")
            if not path.is_file():
                raise ValueError(f"file {relative!r} does not exist")
            if name in VIDEO_FIELDS:
                videos[name] = _probe_video(path)
            else:
                _check_embeddings(path)
        except (ValueError, FileNotFoundError) as error:
            problems.append((name, str(error)))
    if problems:
        return problems, None
    return _check_agreement(videos, spec), videos["src_video"]


def _check_embeddings(path: Path) -> None:
    embeds = load_text_embeddings(path).embeds
    if embeds.shape[-1] != UMT5_DIM:
        raise ValueError(f"{path.name} holds {embeds.shape[-1]}-d embeddings; Wan needs UMT5's {UMT5_DIM}")


def _check_agreement(videos: dict[str, _VideoFacts], spec: CanvasSpec) -> list[tuple[str, str]]:
    source = videos["src_video"]
    problems = []
    if source.frames < spec.length:
        problems.append(("src_video", f"too few frames: {source.frames}, training needs at least {spec.length}"))
    for name, what in (("tar_video", "target"), ("mask_video", "mask")):
        other = videos.get(name)
        if other is None:
            continue
        if other.frames != source.frames:
            problems.append((name, f"{what} has {other.frames} frames, the source {source.frames}"))
        if (other.width, other.height) != (source.width, source.height):
            sizes = f"{other.width}x{other.height}, the source {source.width}x{source.height}"
            problems.append((name, f"{what} is {sizes}"))
    return problems
