"""Peak memory of one ReCo edit against the source's resolution: 480p, 1080p and 4K clips of the same length.

Run from the repository root: ``python -m benchmarks.bench_footage_memory [--seconds 10]``. It writes the clips
(30 fps, with an AAC tone) with ffmpeg, makes the tiny test models, and edits each clip twice on the same small
canvas: with ``python -m reco_core edit`` and through a real ComfyUI server running the bounded graph (ReCoLoadVideo ->
ReCoCanvas -> ReCoSampler -> VAEDecode -> ReCoSplit -> ReCoCreateVideo -> SaveVideo), a fresh server per clip.
Peak RSS is the process's own high-water mark (getrusage for the CLI, VmHWM for the server); the CLI row also gives
its largest child process (the ffmpeg decoder or encoder), an upper bound: a child counts the memory it shared with
the CLI when it was started.
The tiny models on a tiny canvas (a few seconds of compute on a small CPU) keep the canvas's share small, so the
ratios are a strict test of what the source's size and length add: the full 832x480x81 canvas adds the same fixed
amount to every row.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio_ffmpeg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from fixtures.make_tiny_models import make_tiny_models  # noqa: E402
from harness import comfy_server, graphs  # noqa: E402
from harness.comfy_server import ComfyServer, prepare_base_directory  # noqa: E402

comfy_server.READY_TIMEOUT_S = 1800  # a benchmark may run on a busy machine, where ComfyUI starts slowly

SOURCES = (("480p", 854, 480), ("1080p", 1920, 1080), ("4K", 3840, 2160))
CANVAS = dict(width=32, height=32, length=9)
STEPS = 2
FPS = 30
CLI_PEAK = ("import resource, sys; from reco_core.__main__ import main; code = main(sys.argv[1:]); "
            "print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def write_clip(folder: Path, name: str, width: int, height: int, seconds: float) -> Path:
    path = folder / f"{name}.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate={FPS},scale={width}:{height}:flags=neighbor",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
                   check=True)
    return path


def cli_peak(models, clip: Path, out: Path) -> tuple[float, float, float]:
    """(peak RSS MiB of the CLI process, of its largest ffmpeg child, seconds)."""
    command = [sys.executable, "-c", CLI_PEAK, "edit", str(clip), str(out), "--transformer", str(models.vace),
               "--vae", str(models.vae), "--prompt-embeds", str(models.positive), "--negative-embeds",
               str(models.negative), "--width", str(CANVAS["width"]), "--height", str(CANVAS["height"]),
               "--length", str(CANVAS["length"]), "--steps", str(STEPS)]
    start = time.monotonic()
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"CLI failed on {clip.name}:\n{done.stderr[-2000:]}")
    own, child = next(line.split()[1:] for line in done.stdout.splitlines() if line.startswith("PEAK_KB"))
    return int(own) / 1024, int(child) / 1024, time.monotonic() - start


def server_graph(models, clip: Path) -> dict:
    return {
        "unet": {"class_type": "UNETLoader", "inputs": {"unet_name": models.vace.name, "weight_dtype": "default"}},
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": models.vae.name}},
        "pos": {"class_type": "ReCoLoadConditioning", "inputs": {"file": models.positive.name}},
        "neg": {"class_type": "ReCoLoadConditioning", "inputs": {"file": models.negative.name}},
        "load": {"class_type": "ReCoLoadVideo", "inputs": {
            "file": clip.name, "start_frame": 0, "frame_cap": CANVAS["length"], "cover_width": CANVAS["width"],
            "cover_height": CANVAS["height"]}},
        "canvas": {"class_type": "ReCoCanvas", "inputs": {
            "source_frames": ["load", 0], "vae": ["vae", 0], "positive": ["pos", 0], "negative": ["neg", 0],
            **CANVAS, "fit": "stretch", "mode": "edit", "start_frame": 0}},
        **graphs.reco_sampler(seed=0, steps=STEPS),
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sampler", 0], "vae": ["vae", 0]}},
        "split": {"class_type": "ReCoSplit", "inputs": {"canvas_frames": ["decode", 0], "canvas": ["canvas", 3]}},
        "video": {"class_type": "ReCoCreateVideo", "inputs": {
            "images": ["split", 0], "fps": ["load", 2], "width": ["load", 3], "height": ["load", 4],
            "audio": ["load", 1]}},
        "save": {"class_type": "SaveVideo", "inputs": {
            "video": ["video", 0], "filename_prefix": "bench/edit", "format": "auto", "codec": "auto"}},
    }


def server_peak(models, clip: Path, scratch: Path) -> tuple[float, float]:
    """(peak RSS MiB of a fresh ComfyUI server that ran one edit of ``clip``, seconds of that edit)."""
    base = scratch / f"server-{clip.stem}"
    prepare_base_directory(base, models.root, [models.positive, models.negative, clip])
    server = ComfyServer(base, base / "server.log")
    server.start()
    try:
        start = time.monotonic()
        result = server.run(server_graph(models, clip), timeout=1800)
        if result.status != "execution_success":
            raise RuntimeError(f"server failed on {clip.name}: {json.dumps(result.error)[:2000]}")
        seconds = time.monotonic() - start
        status = Path(f"/proc/{server.process.pid}/status").read_text()
        peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    finally:
        server.stop()
    return peak_kb / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each generated clip")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reco-bench-footage-") as folder:
        scratch = Path(folder)
        models = make_tiny_models(scratch / "models")
        rows = []
        for name, width, height in SOURCES:
            clip = write_clip(scratch, name, width, height, args.seconds)
            cli, child, cli_s = cli_peak(models, clip, scratch / f"{name}-edit.mp4")
            server, server_s = server_peak(models, clip, scratch)
            rows.append((name, width, height, cli, child, cli_s, server, server_s))
    base_cli, base_server = rows[0][3], rows[0][6]
    lines = [f"peak RSS of one edit, {args.seconds:g} s clips at {FPS} fps with audio; canvas {CANVAS['width']}x"
             f"{CANVAS['height']} per half, {CANVAS['length']} frames, tiny models, {STEPS} steps; ratio to 480p",
             "source          | CLI MiB  ratio   child MiB  time s | server MiB  ratio  time s",
             "-" * 84]
    for name, width, height, cli, child, cli_s, server, server_s in rows:
        lines.append(f"{name:>5} {width:>4}x{height:<4} | {cli:7.0f}  {cli / base_cli:5.2f}  {child:10.0f}  "
                     f"{cli_s:6.1f} | {server:10.0f}  {server / base_server:5.2f}  {server_s:6.1f}")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
