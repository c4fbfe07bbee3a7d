"""The job manifest: a CSV or JSONL file with one edit per row.

Columns (CSV header or JSON keys): ``id`` (optional, default ``row<N>``), ``clip``, ``instruction`` or
``embeddings``, ``mask``, ``seed``, and overrides named ``<node title>.<input name>`` (``ReCo Sampler.steps``). In
JSONL, overrides may also sit in an ``overrides`` object. File columns are paths relative to the manifest's folder.
Reading never fails on one bad row: each row keeps its own list of problems, so a run reports every bad row at once
and still runs the good ones.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .paths import file_in_folder

# Columns whose value is a local file the client uploads into the server's input folder.
FILE_COLUMNS = ("clip", "embeddings", "mask")
# Columns whose value is written into the graph as it is.
VALUE_COLUMNS = ("instruction", "seed")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Job:
    """One manifest row, with its problems (column, message) instead of an exception."""

    row: int
    job_id: str
    files: dict[str, Path] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)
    overrides: dict[tuple[str, str], object] = field(default_factory=dict)
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def problem_text(self) -> str:
        return "; ".join(f"row {self.row}, column '{column}': {message}" for column, message in self.problems)


def read_manifest(path: Path) -> list[Job]:
    """Every row of a ``.csv`` or ``.jsonl`` manifest as a Job; duplicate ids are a problem of the later row."""
    raw_rows = _read_jsonl(path) if path.suffix.lower() in (".jsonl", ".ndjson") else _read_csv(path)
    jobs = [_job_from_row(index, raw, path.parent) for index, raw in enumerate(raw_rows, start=1)]
    seen: set[str] = set()
    for job in jobs:
        if job.job_id in seen:
            job.problems.append(("id", f"'{job.job_id}' is used by an earlier row; ids must be unique"))
        seen.add(job.job_id)
    return jobs


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [{key.strip(): value for key, value in row.items() if key and value not in (None, "")}
                for row in csv.DictReader(handle)]


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            row = {"__error__": f"line {number} is not JSON ({error.msg})"}
        rows.append(row if isinstance(row, dict) else {"__error__": f"line {number} is not a JSON object"})
    return rows


def _job_from_row(index: int, raw: dict, folder: Path) -> Job:
    job = Job(row=index, job_id=str(raw.get("id", f"row{index:04d}")).strip())
    if "__error__" in raw:
        job.problems.append(("row", raw["__error__"]))
        return job
    if not ID_PATTERN.match(job.job_id):
        job.problems.append(("id", f"'{job.job_id}' must be letters, digits, '_', '-' or '.' (64 at most)"))
    overrides = raw.get("overrides", {})
    if not isinstance(overrides, dict):
        job.problems.append(("overrides", "must be an object of 'Node title.input' -> value"))
        overrides = {}
    for column, value in {**{k: v for k, v in raw.items() if k not in ("id", "overrides")}, **overrides}.items():
        if column in FILE_COLUMNS:
            try:
                job.files[column] = file_in_folder(folder, str(value))
            except ValueError as error:
                job.problems.append((column, str(error)))
        elif column in VALUE_COLUMNS:
            job.values[column] = value
        elif "." in column:
            title, _, input_name = column.rpartition(".")
            job.overrides[(title.strip(), input_name.strip())] = value
        else:
            known = ", ".join(("id",) + FILE_COLUMNS + VALUE_COLUMNS)
            job.problems.append((column, f"unknown column; use one of {known} or 'Node title.input'"))
    if "instruction" in job.values and "embeddings" in job.files:
        job.problems.append(("embeddings", "give the instruction as text or as an embeddings file, not both"))
    return job
