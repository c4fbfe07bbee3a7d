"""``python -m reco_core queue WORKFLOW.json JOBS --servers URL[,URL...] --out DIR``: unattended batch edits.

Runs every row of a CSV/JSONL manifest through an API-format workflow on one or many ComfyUI servers (or on ComfyUI
servers started as Ray actors with ``--ray``), exactly once, resumable from its state file after any crash. Exit
status: 0 every job done, 1 some failed or were skipped, 2 the workflow, manifest or servers are unusable, 3 stopped
with jobs still open (no server reachable; run the same command again to continue).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..queue.comfy_http import ServerUnavailable
from ..queue.journal import DONE, FINAL, Journal
from ..queue.manifest import read_manifest
from ..queue.runner import QueueRunner, RunOptions, summary_rows
from ..queue.workflow import Workflow, WorkflowError

EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE, EXIT_OPEN = 0, 1, 2, 3
SUMMARY_FILE = "queue_summary.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``queue`` subcommand's arguments."""
    parser.add_argument("workflow", type=Path, help="API-format workflow (workflows/api/*.json or 'Save (API)')")
    parser.add_argument("jobs", type=Path, help="manifest: .csv or .jsonl, one job per row (see README)")
    parser.add_argument("--servers", default="", help="comma-separated ComfyUI URLs, e.g. http://10.0.0.5:8188")
    parser.add_argument("--out", type=Path, required=True, help="folder for the outputs and the summary")
    parser.add_argument("--state", type=Path, help="state file (default: OUT/queue_state.sqlite); keep it to resume")
    parser.add_argument("--dry-run", action="store_true", help="check the manifest against the servers, run nothing")
    parser.add_argument("--per-server", type=int, default=2, help="prompts kept on each server at once (default 2)")
    parser.add_argument("--max-attempts", type=int, default=4, help="tries per job for transient failures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    ray = parser.add_argument_group("Ray farm (optional extra [cluster])")
    ray.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster ('auto', 'HOST:PORT', or 'local')")
    ray.add_argument("--ray-workers", type=int, default=1, help="ComfyUI servers to start, one Ray actor each")
    ray.add_argument("--ray-gpus", type=float, default=0, help="GPUs per worker (1 on a GPU farm; 0 on CPUs)")
    ray.add_argument("--ray-comfyui", type=Path, default=os.environ.get("COMFYUI_DIR"),
                     help="ComfyUI folder on the workers (default: $COMFYUI_DIR)")
    ray.add_argument("--ray-base", type=Path,
                     help="ComfyUI base folder whose models/, custom_nodes/ and input files the workers use "
                     "(default: --ray-comfyui)")


def run(args: argparse.Namespace) -> int:
    """Check, then run (or only check, with --dry-run); prints the summary table."""
    urls = [url.strip() for url in args.servers.split(",") if url.strip()]
    if not urls and not args.ray:
        return _fail("give --servers URL[,URL...] or --ray ADDRESS")
    try:
        workflow = Workflow.load(args.workflow)
        jobs = read_manifest(args.jobs)
    except (WorkflowError, OSError) as error:
        return _fail(str(error))
    farm = None
    if args.ray:
        from ..queue.ray_farm import RayFarm  # Ray is an optional extra

        farm = RayFarm(args.ray, args.ray_workers, args.ray_gpus, args.ray_comfyui, args.ray_base)
        urls += farm.start()
    try:
        return _run(args, workflow, jobs, urls)
    finally:
        if farm is not None:
            farm.stop()


def _run(args: argparse.Namespace, workflow: Workflow, jobs: list, urls: list[str]) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    journal = Journal(Path(":memory:") if args.dry_run else (args.state or args.out / "queue_state.sqlite"))
    options = RunOptions(out_dir=args.out, per_server=args.per_server, max_attempts=args.max_attempts,
                         progress=not args.no_progress)
    runner = QueueRunner(workflow, journal, urls, options)
    try:
        invalid = runner.prepare(jobs, runner.object_infos())
    except ServerUnavailable as error:
        return _fail(f"server not reachable: {error}")
    except (WorkflowError, ValueError) as error:
        return _fail(str(error))
    for job in invalid:
        print(f"invalid: {job.problem_text()}", file=sys.stderr)
    if args.dry_run:
        print(f"{len(jobs) - len(invalid)} of {len(jobs)} jobs are valid on {', '.join(urls)}")
        return EXIT_SOME_FAILED if invalid else EXIT_OK
    states = runner.run()
    journal.close()
    rows = summary_rows(states)
    partial = args.out / f".{SUMMARY_FILE}.partial"
    partial.write_text(json.dumps(rows, indent=1))
    os.replace(partial, args.out / SUMMARY_FILE)
    print_summary(rows)
    if any(s.state not in FINAL for s in states):
        return EXIT_OPEN
    return EXIT_OK if all(s.state == DONE for s in states) else EXIT_SOME_FAILED


def print_summary(rows: list[dict]) -> None:
    """done / failed / skipped counts, then one line per job with its outputs or the reason."""
    counts = {state: sum(r["state"] == state for r in rows) for state in ("done", "failed", "skipped")}
    print("summary: " + ", ".join(f"{count} {state}" for state, count in counts.items()))
    for row in rows:
        detail = ", ".join(row["outputs"]) if row["state"] == "done" else (row["error"] or "")
        print(f"  {row['job']:<20} {row['state']:<8} {row['server'] or '-':<26} {detail}")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_UNUSABLE
