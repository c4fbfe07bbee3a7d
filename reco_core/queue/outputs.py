"""Where a finished job's files go: predictable names in the output folder, each written atomically.

A name is ``<job id>_<instruction slug>_s<seed>`` plus the server file's extension (and ``_<k>`` when a job writes
several files), so a rerun of the client overwrites the same names instead of adding copies, and a crash mid-download
leaves only a hidden ``.partial`` file that the next download replaces.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from .comfy_http import ComfyHTTP
from .manifest import Job

SLUG_LENGTH = 40


def output_stem(job: Job) -> str:
    """``<job id>_<slug>_s<seed>``: the instruction (or the embeddings file's name) as a slug, and the seed."""
    text = str(job.values.get("instruction") or (job.files["embeddings"].stem if "embeddings" in job.files else "edit"))
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:SLUG_LENGTH].rstrip("-") or "edit"
    seed = job.values.get("seed", job.overrides.get(("ReCo Sampler", "seed"), "na"))
    return f"{job.job_id}_{slug}_s{seed}"


def server_files(history_entry: dict) -> list[dict]:
    """The files a finished prompt saved to the output folder (previews in temp/ are left out), in node order."""
    files = []
    outputs = history_entry.get("outputs", {})
    for node_id in sorted(outputs, key=lambda n: (len(n), n)):
        for items in outputs[node_id].values():
            if isinstance(items, list):
                files.extend(i for i in items if isinstance(i, dict) and "filename" in i and i.get("type") == "output")
    return files


def download_outputs(server: ComfyHTTP, history_entry: dict, job: Job, out_dir: Path) -> list[str]:
    """Fetch every output file of the job into ``out_dir``; returns the names written."""
    files = server_files(history_entry)
    stem = output_stem(job)
    names = []
    for index, item in enumerate(files):
        suffix = PurePosixPath(item["filename"]).suffix
        name = f"{stem}{suffix}" if len(files) == 1 else f"{stem}_{index}{suffix}"
        partial = out_dir / f".{name}.partial"
        partial.write_bytes(server.view(item["filename"], item.get("subfolder", ""), "output"))
        os.replace(partial, out_dir / name)
        names.append(name)
    return names
