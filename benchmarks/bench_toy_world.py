"""What the toy benchmark costs: rendering a clip, writing a dataset folder, scoring a clip.

Run from the repository root: ``python -m benchmarks.bench_toy_world``. Times are per clip at the toy's shipped size
(9 frames of 96x96): wall time, and this process's CPU time, which a busy shared machine inflates far less. The
dataset and eval figures also spend time in ffmpeg subprocesses, which only the wall time shows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from reco_core.toy.dataset import write_split
from reco_core.toy.metrics import evaluate
from reco_core.toy.world import TASKS, make_clip


def per_clip_ms(run, clips: int) -> tuple[float, float]:
    """(wall, CPU) milliseconds per clip of one call of `run` that handles `clips` clips."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return 1000 * (time.perf_counter() - wall) / clips, 1000 * (time.process_time() - cpu) / clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clips", type=int, default=16, help="clips written and scored (default 16)")
    args = parser.parse_args()
    rows = []
    for task in TASKS:
        render = per_clip_ms(lambda task=task: [make_clip("test", index, task) for index in range(20)], 20)
        rows.append((f"render, {task}", render))
    with tempfile.TemporaryDirectory() as folder:
        written = per_clip_ms(lambda: write_split(Path(folder), "test", args.clips), args.clips)
        rows.append(("write_split (3 mp4s)", written))
        rows.append(("evaluate (2 reference rows)", per_clip_ms(lambda: evaluate(folder, {}), args.clips)))
    width = max(len(name) for name, _ in rows)
    print(f"{'per clip':<{width}}  wall ms   CPU ms")
    for name, (wall, cpu) in rows:
        print(f"{name:<{width}}  {wall:7.1f}  {cpu:7.1f}")


if __name__ == "__main__":
    main()
