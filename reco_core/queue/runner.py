"""The scheduler: sends each job to a server with free capacity, follows it, collects it, and survives everything.

Every decision is made from the journal plus what the servers say now, never from memory of an earlier loop, so a
client started after a crash runs exactly the same code path as one that never stopped:

* a job recorded as submitted is looked up on its server (queue first, then history: ComfyUI moves a prompt from one
  to the other under one lock, so a job is always in at least one of them while it exists);
* on start, the servers' queues and histories are also searched for prompts carrying this queue's id in their extra
  data, so a job that finished while the client was down is collected, not run again;
* a server that stays unreachable has its jobs moved to the others; a node error is final; a lost connection, an
  interrupted prompt or an out-of-memory error is retried with back-off a bounded number of times.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .comfy_http import ComfyHTTP, PromptRejected, ServerUnavailable
from .journal import DONE, FAILED, FINAL, OUTSTANDING, PENDING, QUEUED, SUBMITTING, Journal, JobState
from .manifest import Job
from .outputs import download_outputs
from .progress import QueueProgress
from .workflow import Workflow

EXTRA_KEY = "reco_queue"
# Exception types after which the same prompt may well succeed (on another try or another server).
TRANSIENT_EXCEPTIONS = ("OutOfMemoryError", "InterruptProcessingException")


@dataclass
class RunOptions:
    out_dir: Path
    per_server: int = 2  # prompts kept on a server at once: one running, one waiting
    max_attempts: int = 4
    backoff_s: float = 2.0
    poll_s: float = 0.2
    down_after_s: float = 3.0  # unreachable this long: the server's jobs move to the others
    give_up_after_s: float = 120.0  # no server reachable this long: stop, the state file keeps the rest
    progress: bool = True


@dataclass
class Server:
    http: ComfyHTTP
    unreachable_since: float | None = None
    in_queue: set[str] = field(default_factory=set)
    uploaded: set[str] = field(default_factory=set)

    def poll(self) -> bool:
        """Read the server's queue; False (and the time it started failing) when it does not answer."""
        try:
            self.in_queue = {item[1] for item in self.http.queue()}
            self.unreachable_since = None
            return True
        except ServerUnavailable:
            self.unreachable_since = self.unreachable_since or time.monotonic()
            return False

    def down(self, options: RunOptions) -> bool:
        return self.unreachable_since is not None and time.monotonic() - self.unreachable_since >= options.down_after_s


def upload_name(path: Path) -> str:
    """The name a local file gets in a server's input folder: its content hash, so equal files upload once."""
    return f"rq-{hashlib.sha256(path.read_bytes()).hexdigest()[:20]}{path.suffix.lower()}"


class QueueRunner:
    def __init__(self, workflow: Workflow, journal: Journal, urls: list[str], options: RunOptions):
        self.workflow = workflow
        self.journal = journal
        self.options = options
        self.servers = {url.rstrip("/"): Server(ComfyHTTP(url)) for url in urls}
        self.jobs: dict[str, Job] = {}
        self.graphs: dict[str, dict] = {}
        self.client_id = uuid.uuid4().hex

    # --- preparing --------------------------------------------------------------------------------------------
    def object_infos(self) -> dict[str, dict]:
        """Each server's /object_info; a ServerUnavailable names the one that does not answer."""
        return {url: server.http.object_info() for url, server in self.servers.items()}

    def prepare(self, jobs: list[Job], object_infos: dict[str, dict]) -> list[Job]:
        """Check every job against the workflow and the servers and record it; returns the invalid ones."""
        self.workflow.check_servers(object_infos)
        for job in jobs:
            values = self.workflow.check_job(job, object_infos) if job.valid else {}
            graph = {}
            if job.valid:
                uploads = {column: upload_name(path) for column, path in job.files.items()}
                graph = self.workflow.bind(values, uploads, job)
                self.graphs[job.job_id] = graph
            fingerprint = hashlib.sha256(json.dumps(graph, sort_keys=True).encode()).hexdigest()
            self.jobs[job.job_id] = job
            self.journal.register(job.job_id, job.row, fingerprint, None if job.valid else job.problem_text())
        return [job for job in jobs if not job.valid]

    # --- running ----------------------------------------------------------------------------------------------
    def run(self) -> list[JobState]:
        """Run every recorded job of this manifest to done, failed or skipped; returns the final states."""
        mine = set(self.jobs)
        states = [s for s in self.journal.all() if s.job_id in mine]
        progress = QueueProgress(total=len(states), finished=sum(s.state in FINAL for s in states),
                                 enabled=self.options.progress)
        stop = threading.Event()
        for server in self.servers.values():
            server.http.follow(self.client_id, progress.on_message, stop)
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._adopt()
            no_server_since = None
            while True:
                open_jobs = [s for s in self.journal.all() if s.job_id in mine and s.state not in FINAL]
                if not open_jobs:
                    break
                reachable = [server.poll() for server in self.servers.values()]
                if any(reachable):
                    no_server_since = None
                else:
                    no_server_since = no_server_since or time.monotonic()
                    if time.monotonic() - no_server_since > self.options.give_up_after_s:
                        break
                for state in open_jobs:
                    if state.state in OUTSTANDING:
                        self._reconcile(state)
                self._fill([s for s in self.journal.all() if s.job_id in mine and s.state == PENDING])
                current = [s for s in self.journal.all() if s.job_id in mine]
                progress.draw({s.prompt_id: s.job_id for s in current if s.state == QUEUED},
                              sum(s.state in FINAL for s in current))
                time.sleep(self.options.poll_s)
        finally:
            stop.set()
            progress.close()
        return [s for s in self.journal.all() if s.job_id in mine]

    def _adopt(self) -> None:
        """Attach to prompts of this queue that the servers hold (by the id in their extra data)."""
        found: dict[str, tuple[str, str]] = {}
        for url, server in self.servers.items():
            try:
                items = [(item[1], item[3]) for item in server.http.queue()]
                items += [(pid, entry["prompt"][3]) for pid, entry in server.http.history().items()]
            except ServerUnavailable:
                continue
            for prompt_id, extra in items:
                tag = extra.get(EXTRA_KEY, {}) if isinstance(extra, dict) else {}
                if tag.get("queue") == self.journal.queue_id and tag.get("job") in self.jobs:
                    found.setdefault(tag["job"], (url, prompt_id))
        for job_id, (url, prompt_id) in found.items():
            state = self.journal.get(job_id)
            if state.state in (PENDING, SUBMITTING) or (state.state == QUEUED and state.server not in self.servers):
                self.journal.transition(job_id, QUEUED, "found on the server", server=url, prompt_id=prompt_id)

    def _reconcile(self, state: JobState) -> None:
        """Check one submitted job on its server: still there, finished (collect it), or gone (send it again)."""
        server = self.servers.get(state.server or "")
        if server is None or server.down(self.options):
            self.journal.transition(state.job_id, PENDING, f"server {state.server} unreachable; moved",
                                    server=None, prompt_id=None)
            return
        if server.unreachable_since is not None or state.prompt_id in server.in_queue:
            return
        try:
            entry = server.http.history(state.prompt_id).get(state.prompt_id)
        except ServerUnavailable:
            return
        if entry is None:
            lost = "never reached the server" if state.state == SUBMITTING else "vanished from the server"
            self.journal.transition(state.job_id, PENDING, lost, server=None, prompt_id=None)
            return
        self._collect(state, server, entry)

    def _collect(self, state: JobState, server: Server, entry: dict) -> None:
        status = entry.get("status", {})
        if status.get("status_str") == "success":
            try:
                names = download_outputs(server.http, entry, self.jobs[state.job_id], self.options.out_dir)
            except ServerUnavailable:
                return  # the next loop tries again (or moves the job if the server is gone)
            self.journal.transition(state.job_id, DONE, outputs=names, error=None)
            return
        error = execution_error(status)
        if any(kind in error for kind in TRANSIENT_EXCEPTIONS):
            self._retry(state, error)
            return
        self.journal.transition(state.job_id, FAILED, error=error)

    def _retry(self, state: JobState, reason: str) -> None:
        if state.attempts >= self.options.max_attempts:
            self.journal.transition(state.job_id, FAILED, error=f"gave up after {state.attempts} attempts: {reason}")
            return
        delay = self.options.backoff_s * 2 ** max(state.attempts - 1, 0)
        self.journal.transition(state.job_id, PENDING, reason, server=None, prompt_id=None,
                                not_before=time.time() + delay)

    def _fill(self, pending: list[JobState]) -> None:
        """Send waiting jobs to the reachable servers with the fewest prompts, up to ``per_server`` each."""
        now = time.time()
        for state in sorted(pending, key=lambda s: s.row):
            if state.not_before > now:
                continue
            if state.attempts >= self.options.max_attempts:
                self.journal.transition(state.job_id, FAILED, error=f"gave up after {state.attempts} attempts")
                continue
            open_servers = [(len(s.in_queue), url) for url, s in self.servers.items()
                            if s.unreachable_since is None and len(s.in_queue) < self.options.per_server]
            if not open_servers:
                return
            url = min(open_servers)[1]
            self._submit(state, url, self.servers[url])

    def _submit(self, state: JobState, url: str, server: Server) -> None:
        job, prompt_id = self.jobs[state.job_id], uuid.uuid4().hex
        self.journal.transition(job.job_id, SUBMITTING, server=url, prompt_id=prompt_id, attempts=state.attempts + 1)
        extra = {EXTRA_KEY: {"queue": self.journal.queue_id, "job": job.job_id}}
        try:
            for column, path in job.files.items():
                name = upload_name(path)
                if name not in server.uploaded:
                    server.http.upload(path, name)
                    server.uploaded.add(name)
            server.http.submit(self.graphs[job.job_id], prompt_id, self.client_id, extra)
        except PromptRejected as error:
            self.journal.transition(job.job_id, FAILED, error=f"rejected by {url}: {error}")
            return
        except ServerUnavailable:
            server.unreachable_since = server.unreachable_since or time.monotonic()
            return  # stays SUBMITTING: the next loop finds out whether the prompt arrived
        server.in_queue.add(prompt_id)
        self.journal.transition(job.job_id, QUEUED)


def execution_error(status: dict) -> str:
    """The server's own words for a failed prompt: node, exception type and message."""
    for kind, data in status.get("messages", []):
        if kind == "execution_error":
            return (f"node {data.get('node_id')} ({data.get('node_type')}): "
                    f"{data.get('exception_type')}: {str(data.get('exception_message', '')).strip()}")
        if kind == "execution_interrupted":
            return "InterruptProcessingException: the prompt was interrupted on the server"
    return "the prompt failed without an error message"


def summary_rows(states: list[JobState]) -> list[dict]:
    """The end-of-run table as plain records (also written to the output folder as JSON)."""
    return [{"job": s.job_id, "row": s.row, "state": s.state, "server": s.server, "outputs": s.outputs,
             "error": s.error} for s in states]

