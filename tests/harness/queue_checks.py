"""What the batch-queue tests check after a run: the summary against the expected outcome, each output against a
reference run of its job alone, and how often each job was sent."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load as load_safetensors

from harness.comfy_server import REPO, ComfyServer
from harness.queue_jobs import Expected, reference_graph

STATE_FILES = {"queue_state.sqlite", "queue_state.sqlite-wal", "queue_state.sqlite-shm", "queue_summary.json"}


def start_client(workflow: Path, jobs: Path, out: Path, *options: str) -> subprocess.Popen:
    """The CLI as a user runs it, in its own process (so a test can SIGKILL it)."""
    command = [sys.executable, "-m", "reco_core", "queue", str(workflow), str(jobs), "--out", str(out),
               "--no-progress", *options]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def job_states(state_file: Path) -> dict[str, tuple[str, str | None]]:
    """job id -> (state, server), read while a client may be writing (SQLite allows one writer and many readers)."""
    if not state_file.exists():
        return {}
    with sqlite3.connect(f"file:{state_file}?mode=ro", uri=True, timeout=30) as connection:
        try:
            return {job: (state, server) for job, state, server in
                    connection.execute("SELECT job_id, state, server FROM jobs")}
        except sqlite3.OperationalError:  # the first client has not created the tables yet
            return {}


def queue_id_of(state_file: Path) -> str:
    """The id the client tags its prompts with (in their extra data)."""
    with sqlite3.connect(state_file) as connection:
        return connection.execute("SELECT value FROM meta WHERE key='queue_id'").fetchone()[0]


def events(state_file: Path) -> list[tuple]:
    with sqlite3.connect(state_file) as connection:
        return list(connection.execute("SELECT at, job_id, state, server, detail FROM events ORDER BY seq"))


def check_summary(out: Path, expected: dict[str, Expected]) -> dict[str, dict]:
    """Every valid job done with its one predictably named output; every invalid one failed or skipped, with why."""
    rows = {row["job"]: row for row in json.loads((out / "queue_summary.json").read_text())}
    assert set(rows) == set(expected)
    for job_id, want in expected.items():
        row = rows[job_id]
        if want.valid:
            assert row["state"] == "done", row
            assert row["outputs"] == [f"{job_id}_swan_s{want.seed}.latent"], row
        else:
            assert row["state"] in ("failed", "skipped"), row
            assert want.reason in row["error"], (want.reason, row)
    written = {path.name for path in out.iterdir()}
    outputs = {name for row in rows.values() for name in row["outputs"]}
    assert written - STATE_FILES == outputs, "an output is missing, duplicated or left partial"
    return rows


def check_against_references(server: ComfyServer, workflow: dict, expected: dict[str, Expected], out: Path,
                             job_folder: Path) -> None:
    """Each valid job's latent equals the one the same graph gives when run alone, with the files' plain names."""
    for name in ("mask.png", "swan.safetensors", "clip.mp4"):
        shutil.copyfile(job_folder / name, server.base / "input" / f"reference_{name}")
    for job_id, want in expected.items():
        if not want.valid:
            continue
        graph = reference_graph(workflow, want, "reference_clip.mp4", "reference_mask.png",
                                "reference_swan.safetensors")
        result = server.run(graph)
        assert result.status == "execution_success", result.error
        saved = result.outputs("save")["latents"][0]
        reference = load_safetensors(server.view(saved["filename"], saved["subfolder"]))
        queued = load_safetensors((out / f"{job_id}_swan_s{want.seed}.latent").read_bytes())
        assert reference.keys() == queued.keys()
        for key in reference:
            assert reference[key].equal(queued[key]), f"{job_id}: {key} differs from its reference run"


def submissions(state_file: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, job_id, state, _, _ in events(state_file):
        counts[job_id] = counts.get(job_id, 0) + (state == "submitting")
    return counts


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")
