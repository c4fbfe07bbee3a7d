"""`make demo`: the toy ReCo edit, run headless through a real ComfyUI, with its video, region map and metrics.

It runs exactly what an artist opens from the Templates browser, `workflows/api/reco_toy_edit.json`, on the toy model
that set-up installed into ComfyUI's model folders, on a ComfyUI process of its own (a loopback port and a temporary
base folder, so neither a running ComfyUI nor an artist's input and output folders are touched). It writes, into
`demo-output/`:
    reco_toy_edit.mp4      the edited clip (source size, 16 fps)
    reco_toy_region.mp4    where the two halves differ, drawn over the edit
    reco_toy_frames.png    source | edit | region, for a few frames
    metrics.json           the edit scored against the toy world's exact ground truth, beside "copy the source"

    COMFYUI_DIR=.comfyui .venv/bin/python tools/toy_demo.py [--out demo-output]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
# The tests' ComfyUI harness starts and drives the server; the demo reuses it rather than keeping a second copy.
sys.path.insert(0, str(REPO / "tests"))

from harness.comfy_server import ComfyServer, comfyui_dir, prepare_base_directory  # noqa: E402
from reco_core.toy.demo import demo_clip, score_edit  # noqa: E402
from reco_core.toy.metrics import format_table, summarize  # noqa: E402
from reco_core.video_io import read_video  # noqa: E402

WORKFLOW = REPO / "workflows" / "api" / "reco_toy_edit.json"
TOY_ASSETS = REPO / "assets" / "toy"
DEMO_SOURCE = TOY_ASSETS / "demo_source.mp4"
EDIT_NAME, REGION_NAME, FRAMES_NAME, METRICS_NAME = (
    "reco_toy_edit.mp4", "reco_toy_region.mp4", "reco_toy_frames.png", "metrics.json")
SHEET_FRAMES = (0, 4, 8)
SHEET_SCALE = 3  # the toy's 96 px frames, enlarged for a screen (nearest neighbour: the pixels stay honest)
RUN_TIMEOUT_S = 900


def saved_videos(graph: dict) -> dict[str, str]:
    """{SaveVideo node id: output file name here}: the region video is the one whose prefix ends in `_region`."""
    return {node_id: REGION_NAME if node["inputs"]["filename_prefix"].endswith("_region") else EDIT_NAME
            for node_id, node in graph.items() if node["class_type"] == "SaveVideo"}


def run_workflow(comfy: Path, out: Path) -> float:
    """Run the toy workflow on a fresh server over ComfyUI's models; returns the seconds the prompt took."""
    graph = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="reco-toy-demo-") as folder:
        base = Path(folder)
        prepare_base_directory(base, comfy / "models", [DEMO_SOURCE])
        server = ComfyServer(base, base / "server.log")
        print(f"starting ComfyUI from {comfy} on {server.url} ...", flush=True)
        server.start()
        try:
            started = time.monotonic()
            result = server.run(graph, timeout=RUN_TIMEOUT_S)
            seconds = time.monotonic() - started
            if result.status != "execution_success":
                raise SystemExit(f"the toy workflow failed: {result.error or result.status}\n{server.log_tail(30)}")
            for node_id, name in saved_videos(graph).items():
                entry = result.outputs(node_id)["images"][0]
                (out / name).write_bytes(server.view(entry["filename"], entry["subfolder"], entry["type"]))
        finally:
            server.stop()
    return seconds


def frame_sheet(source: Path, edit: Path, region: Path) -> Image.Image:
    """One row per frame of SHEET_FRAMES: source | edit | region, enlarged SHEET_SCALE times."""
    videos = [read_video(path)[0] for path in (source, edit, region)]
    rows = [torch.cat([video[index] for video in videos], dim=1) for index in SHEET_FRAMES]
    sheet = torch.cat(rows, dim=0).repeat_interleave(SHEET_SCALE, 0).repeat_interleave(SHEET_SCALE, 1)
    return Image.fromarray((sheet * 255).round().to(torch.uint8).numpy())


def metrics_report(edit: Path, seconds: float) -> dict:
    """The edit and "copy the source" scored on the demo clip's exact ground truth, in the shape format_table reads."""
    clip = demo_clip()
    scores = score_edit(edit, DEMO_SOURCE, clip)
    return {"clip_id": clip.clip_id, "instruction": clip.instruction, "edit_seconds": round(seconds, 1),
            "clips": 1, "scored": 1,
            "summary": {label: summarize({clip.clip_id: values}, {clip.clip_id: clip.task})
                        for label, values in scores.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "demo-output", help="folder for the results")
    args = parser.parse_args()
    missing = [path.name for path in (WORKFLOW, DEMO_SOURCE) if not path.is_file()]
    if missing:
        raise SystemExit(f"{missing} missing: run the demo from a complete checkout of the repository.")
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = run_workflow(comfyui_dir(), args.out)
    frame_sheet(DEMO_SOURCE, args.out / EDIT_NAME, args.out / REGION_NAME).save(args.out / FRAMES_NAME)
    report = metrics_report(args.out / EDIT_NAME, seconds)
    (args.out / METRICS_NAME).write_text(json.dumps(report, indent=1) + "\n")
    print(f"\n{report['clip_id']}: {report['instruction']}\n{format_table(report)}\n")
    print(f"edited in {seconds:.1f} s; wrote {', '.join(sorted(p.name for p in args.out.iterdir()))} "
          f"to {args.out}")


if __name__ == "__main__":
    main()
