"""The queue's state file: every job's state and every transition, in SQLite.

Each transition is one committed transaction (SQLite's journal makes it atomic on disk), and the prompt id a job will
be submitted under is written *before* the POST. So whenever the client dies, the file says for every job either that
it was never sent, or which server and prompt id to look for; a restarted client finds the job there (still queued,
finished while it was down, or lost with a dead server) instead of running it again.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

PENDING, SUBMITTING, QUEUED, DONE, FAILED, SKIPPED = "pending", "submitting", "queued", "done", "failed", "skipped"
FINAL = (DONE, FAILED, SKIPPED)
OUTSTANDING = (SUBMITTING, QUEUED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY, row INTEGER NOT NULL, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
    server TEXT, prompt_id TEXT, attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL DEFAULT 0,
    error TEXT, outputs TEXT);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, job_id TEXT NOT NULL, state TEXT NOT NULL,
    server TEXT, prompt_id TEXT, detail TEXT);
"""


@dataclass(frozen=True)
class JobState:
    job_id: str
    row: int
    fingerprint: str
    state: str
    server: str | None
    prompt_id: str | None
    attempts: int
    not_before: float
    error: str | None
    outputs: list[str]


class Journal:
    """One SQLite state file; ``queue_id`` tags this queue's prompts on the servers (in their extra data)."""

    def __init__(self, path: Path):
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.executescript(SCHEMA)
        row = self.connection.execute("SELECT value FROM meta WHERE key='queue_id'").fetchone()
        if row is None:
            self.connection.execute("INSERT INTO meta VALUES ('queue_id', ?)", (uuid.uuid4().hex,))
            row = self.connection.execute("SELECT value FROM meta WHERE key='queue_id'").fetchone()
        self.queue_id: str = row[0]

    def close(self) -> None:
        self.connection.close()

    def register(self, job_id: str, row: int, fingerprint: str, problem: str | None) -> JobState:
        """Add a manifest row, or reconcile it with what the file already holds about that id.

        A job that changed since it was recorded (other inputs, other workflow) is an error, not silently re-run; a
        row that was skipped as invalid and is now fixed goes back to pending.
        """
        known = self.get(job_id)
        if known is None:
            state = SKIPPED if problem else PENDING
            with self._transaction():
                self.connection.execute(
                    "INSERT INTO jobs (job_id, row, fingerprint, state, error) VALUES (?, ?, ?, ?, ?)",
                    (job_id, row, fingerprint, state, problem))
                self._event(job_id, state, None, None, problem)
            return self.get(job_id)
        if known.state == SKIPPED or problem:
            wanted = SKIPPED if problem else PENDING
            if (known.state, known.error, known.fingerprint) != (wanted, problem, fingerprint):
                self.transition(job_id, wanted, error=problem, fingerprint=fingerprint)
            return self.get(job_id)
        if known.fingerprint != fingerprint:
            raise ValueError(f"job '{job_id}' (row {row}) differs from the run recorded in the state file; "
                             "give it a new id or start a new --state file")
        return known

    def get(self, job_id: str) -> JobState | None:
        row = self.connection.execute(
            "SELECT job_id, row, fingerprint, state, server, prompt_id, attempts, not_before, error, outputs "
            "FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        if row is None:
            return None
        return JobState(*row[:9], outputs=json.loads(row[9]) if row[9] else [])

    def all(self) -> list[JobState]:
        ids = [r[0] for r in self.connection.execute("SELECT job_id FROM jobs ORDER BY row")]
        return [self.get(job_id) for job_id in ids]

    def transition(self, job_id: str, state: str, detail: str | None = None, **fields) -> None:
        """Move a job to ``state``, setting ``fields`` (server, prompt_id, attempts, not_before, error, outputs)."""
        if "outputs" in fields:
            fields["outputs"] = json.dumps(fields["outputs"])
        assignments = ", ".join(f"{name}=?" for name in ("state", *fields))
        with self._transaction():
            self.connection.execute(f"UPDATE jobs SET {assignments} WHERE job_id=?",
                                    (state, *fields.values(), job_id))
            current = self.get(job_id)
            self._event(job_id, state, current.server, current.prompt_id, detail or fields.get("error"))

    def events(self, job_id: str | None = None) -> list[tuple]:
        query = "SELECT at, job_id, state, server, prompt_id, detail FROM events"
        return list(self.connection.execute(query + (" WHERE job_id=? ORDER BY seq" if job_id else " ORDER BY seq"),
                                            (job_id,) if job_id else ()))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One atomic write: a job's new state and its event land together or not at all."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def _event(self, job_id: str, state: str, server: str | None, prompt_id: str | None, detail: str | None) -> None:
        self.connection.execute("INSERT INTO events (at, job_id, state, server, prompt_id, detail) "
                                "VALUES (?, ?, ?, ?, ?, ?)", (time.time(), job_id, state, server, prompt_id, detail))
