"""One benchmark record per measured case, printed as a table and written as JSON.

Records carry their own baseline ratio (time and peak memory against the plain case measured in the same run), because
only ratios measured side by side on one machine are comparable; absolute numbers depend on the machine and its load.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchRecord:
    """name: the case; tokens: attention length (0 where none); seconds: median wall time of interleaved repeats
    (None: not timed); ratio: median of per-round time ratios, and memory_ratio, against the case named in
    ``baseline``; peak_mib: peak memory of the case."""

    name: str
    device: str
    tokens: int
    seconds: float | None
    ratio: float | None
    peak_mib: float | None
    memory_ratio: float | None
    baseline: str = ""
    note: str = ""


def print_table(records: list[BenchRecord]) -> None:
    header = f"{'case':<44} {'device':<8} {'tokens':>7} {'seconds':>9} {'x base':>7} {'peak MiB':>10} {'mem x':>6}"
    print(header)
    print("-" * len(header))
    for record in records:
        print(f"{record.name:<44} {record.device:<8} {record.tokens:>7} {_number(record.seconds, '9.3f')} "
              f"{_number(record.ratio, '7.2f')} {_number(record.peak_mib, '10.1f')} "
              f"{_number(record.memory_ratio, '6.2f')}" + (f"  {record.note}" if record.note else ""))


def write_json(records: list[BenchRecord], path: str | os.PathLike[str], machine: dict[str, str]) -> None:
    """The records and a description of the machine they were measured on, as one JSON document."""
    Path(path).write_text(json.dumps({"machine": machine, "records": [asdict(r) for r in records]}, indent=2) + "\n")


def _number(value: float | None, spec: str) -> str:
    width = int(spec.split(".")[0])
    return f"{value:{spec}}" if value is not None else f"{'-':>{width}}"
