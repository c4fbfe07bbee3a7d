"""A real ComfyUI process for server tests, and a small HTTP/websocket client that talks to it.

The server runs from the ComfyUI folder in COMFYUI_DIR (set by `make test`; else the embedded `.comfyui/`), on a free
loopback port, with its own base folder (models, input, output, temp, user, custom_nodes) so tests never touch an
artist's files. It is started once per test session and stopped by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import websocket

REPO = Path(__file__).resolve().parents[2]
PACKAGE_LINK_NAME = "reco-video-edit"
READY_TIMEOUT_S = 120


def comfyui_dir() -> Path:
    path = Path(os.environ.get("COMFYUI_DIR") or REPO / ".comfyui")
    if not (path / "main.py").is_file():
        raise RuntimeError(f"no ComfyUI at {path}: run the tests through `make test`, which sets it up.")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def has_cuda() -> bool:
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi], capture_output=True).returncode == 0


def prepare_base_directory(base: Path, models: Path, input_files: list[Path]) -> None:
    """Lay out a ComfyUI base folder: the tiny models, this package as a custom node, a user who skips the tour."""
    for sub in ("input", "output", "temp", "custom_nodes", "user/default"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    (base / "models").symlink_to(models, target_is_directory=True)
    (base / "custom_nodes" / PACKAGE_LINK_NAME).symlink_to(REPO, target_is_directory=True)
    (base / "user" / "default" / "comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    for file in input_files:
        shutil.copyfile(file, base / "input" / file.name)


class PromptRejected(Exception):
    """POST /prompt answered 400: the graph failed validation before anything ran."""

    def __init__(self, body: dict):
        super().__init__(json.dumps(body)[:2000])
        self.body = body
        self.node_errors = body.get("node_errors", {})


@dataclass
class RunResult:
    prompt_id: str
    status: str  # execution_success, execution_error or execution_interrupted
    messages: list[dict] = field(default_factory=list)
    history: dict = field(default_factory=dict)

    @property
    def error(self) -> dict | None:
        return next((m["data"] for m in self.messages if m["type"] == "execution_error"), None)

    def outputs(self, node_id: str) -> dict:
        return self.history.get("outputs", {}).get(str(node_id), {})


class ComfyServer:
    def __init__(self, base: Path, log_path: Path):
        self.base = base
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(self.port), "--disable-auto-launch",
            "--base-directory", str(self.base), "--database-url", "sqlite:///:memory:",
        ]
        if not has_cuda():
            command.append("--cpu")
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=comfyui_dir(), stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.get_json("/system_stats")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        raise RuntimeError(f"ComfyUI did not answer within {READY_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        if not self.log_path.exists():
            return "(no server log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # --- HTTP ---------------------------------------------------------------------------------------------------
    def request(self, path: str, body: dict | None = None, timeout: float = 30) -> bytes:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"Content-Type": "application/json"} if data else {})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def get_json(self, path: str) -> dict:
        return json.loads(self.request(path))

    def object_info(self) -> dict:
        return self.get_json("/object_info")

    def view(self, filename: str, subfolder: str = "", folder_type: str = "output") -> bytes:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": folder_type})
        return self.request(f"/view?{query}")

    def queue(self, prompt: dict, client_id: str) -> str:
        try:
            answer = json.loads(self.request("/prompt", {"prompt": prompt, "client_id": client_id}))
        except urllib.error.HTTPError as error:
            if error.code == 400:
                raise PromptRejected(json.loads(error.read())) from None
            raise
        return answer["prompt_id"]

    def history(self, prompt_id: str, timeout: float = 10) -> dict:
        """The prompt's history entry; the server stores it just after sending the final websocket message."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if entry or time.monotonic() > deadline:
                return entry or {}
            time.sleep(0.05)

    def interrupt(self) -> None:
        self.request("/interrupt", {})

    # --- Websocket ----------------------------------------------------------------------------------------------
    def run(self, prompt: dict, timeout: float = 300, on_message=None) -> RunResult:
        """Queue a graph and follow the websocket until it succeeds, fails or is interrupted."""
        client_id = uuid.uuid4().hex
        socket_ = websocket.create_connection(f"ws://127.0.0.1:{self.port}/ws?clientId={client_id}", timeout=timeout)
        try:
            prompt_id = self.queue(prompt, client_id)
            messages: list[dict] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                raw = socket_.recv()
                if isinstance(raw, bytes):  # binary preview frames
                    continue
                message = json.loads(raw)
                if message.get("data", {}).get("prompt_id") not in (None, prompt_id):
                    continue
                messages.append(message)
                if on_message:
                    on_message(message)
                if message["type"] in ("execution_success", "execution_error", "execution_interrupted"):
                    return RunResult(prompt_id, message["type"], messages, self.history(prompt_id))
            raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout}s:\n{self.log_tail()}")
        finally:
            socket_.close()
