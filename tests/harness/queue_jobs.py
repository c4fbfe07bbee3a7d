"""Jobs for the batch-queue tests: the tiny edit workflow with the titles a manifest addresses, its input files, and
manifests that mix valid jobs with every kind of invalid one."""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from harness import graphs
from harness.sample_video import HEIGHT, WIDTH

TITLES = {"unet": "Load Diffusion Model", "vae": "Load VAE", "pos": "Instruction", "neg": "Negative",
          "load": "Load Video", "parts": "Get Video Components", "canvas": "ReCo Canvas", "sampler": "ReCo Sampler",
          "mask": "Region Mask", "save": "Save Latent"}


def queue_workflow(tiny_models) -> dict:
    """LoadVideo -> ReCoCanvas -> ReCoSampler (1 step, region from a mask image) -> SaveLatent, every node titled."""
    graph = {**graphs.loaders(tiny_models, "placeholder.mp4"), **graphs.canvas(),
             **graphs.reco_sampler(steps=1, region_mode="mask", region_mask=["mask", 0]),
             "mask": {"class_type": "LoadImageMask", "inputs": {"image": "placeholder.png", "channel": "red"}},
             **graphs.save_latent(("sampler", 0), "latents/queue", node="save")}
    for node_id, node in graph.items():
        node["_meta"] = {"title": TITLES[node_id]}
    return graph


def write_mask(path: Path, width: int = WIDTH, height: int = HEIGHT) -> Path:
    image = Image.new("RGB", (width, height))
    image.paste((255, 255, 255), (width // 4, height // 4, width // 2, height // 2))
    image.save(path)
    return path


@dataclass
class Expected:
    valid: bool
    seed: int
    steps: int | None = None  # override of ReCo Sampler.steps
    reason: str = ""  # for invalid jobs: a phrase the reported reason must contain


def write_job_folder(folder: Path, tiny_models, source_video: Path, valid: int, invalid_rounds: int = 1
                     ) -> dict[str, Expected]:
    """Input files and ``jobs.jsonl`` in ``folder``: ``valid`` good jobs and ``invalid_rounds`` x 10 bad ones."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source_video, folder / "clip.mp4")
    shutil.copyfile(tiny_models.positive, folder / "swan.safetensors")
    write_mask(folder / "mask.png")
    write_mask(folder / "small_mask.png", 16, 16)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (folder.parent / "outside.mp4").write_bytes(source_video.read_bytes())
    rows, expected = [], {}
    good = {"clip": "clip.mp4", "embeddings": "swan.safetensors", "mask": "mask.png"}
    for index in range(valid):
        job_id, seed = f"ok{index:03d}", 1000 + index
        row = {"id": job_id, **good, "seed": seed}
        steps = 2 if index % 5 == 4 else None
        if steps:
            row["overrides"] = {"ReCo Sampler.steps": steps}
        rows.append(row)
        expected[job_id] = Expected(True, seed, steps)
    for round_ in range(invalid_rounds):
        bad = {
            "missing-clip-a": ({"clip": "no_such_clip.mp4"}, "does not exist"),
            "missing-clip-b": ({"clip": "clips/gone.mp4"}, "does not exist"),
            "traversal": ({"clip": "../outside.mp4"}, "outside the manifest's folder"),
            "bad-input-name": ({"ReCo Sampler.stepz": 3}, "no input 'stepz'"),
            "bad-range": ({"ReCo Sampler.steps": 0}, "outside the allowed range"),
            "bad-title": ({"Sampler.seed": 3}, "no node titled 'Sampler'"),
            "corrupt-video-a": ({"clip": "corrupt.mp4"}, "Invalid data"),
            "corrupt-video-b": ({"clip": "corrupt.mp4", "ReCo Sampler.steps": 2}, "Invalid data"),
            "wrong-mask-a": ({"mask": "small_mask.png"}, "region mask is 16x16"),
            "wrong-mask-b": ({"mask": "small_mask.png", "ReCo Sampler.steps": 2}, "region mask is 16x16"),
        }
        for name, (change, reason) in bad.items():
            job_id, seed = f"bad{round_}-{name}", 5000 + len(expected)
            row = {"id": job_id, **good, "seed": seed}
            overrides = {key: value for key, value in change.items() if "." in key}
            row.update({key: value for key, value in change.items() if "." not in key})
            if overrides:
                row["overrides"] = overrides
            rows.append(row)
            expected[job_id] = Expected(False, seed, reason=reason)
    order = sorted(range(len(rows)), key=lambda i: (i * 7919) % len(rows))  # interleave good and bad rows
    (folder / "jobs.jsonl").write_text("".join(json.dumps(rows[i]) + "\n" for i in order))
    return expected


def reference_graph(workflow: dict, expected: Expected, clip: str, mask: str, embeddings: str) -> dict:
    """The job's graph as a test would write it by hand, with the files under their plain names."""
    graph = copy.deepcopy(workflow)
    graph["load"]["inputs"]["file"] = clip
    graph["mask"]["inputs"]["image"] = mask
    graph["pos"]["inputs"]["file"] = embeddings
    graph["sampler"]["inputs"]["seed"] = expected.seed
    if expected.steps:
        graph["sampler"]["inputs"]["steps"] = expected.steps
    graph["save"]["inputs"]["filename_prefix"] = "latents/reference"
    return graph
