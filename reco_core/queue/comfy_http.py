"""HTTP and websocket access to one ComfyUI server, with the standard library and websocket-client only.

Errors are sorted into the two kinds the scheduler acts on: `PromptRejected` (the server checked the graph and said
no: running it again gives the same answer) and `ServerUnavailable` (connection refused, timeouts, 5xx: try later or
elsewhere).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Callable

import websocket

REQUEST_TIMEOUT_S = 30


class ServerUnavailable(Exception):
    """The server could not be reached or failed in a way that may pass."""


class PromptRejected(Exception):
    """POST /prompt answered 400: the graph failed the server's validation."""

    def __init__(self, body: dict):
        self.body = body
        super().__init__(describe_rejection(body))


def describe_rejection(body: dict) -> str:
    """One line per problem from a 400 answer: the error, then each node's errors with the input they name."""
    error = body.get("error", {})
    lines = [f"{error.get('message', 'rejected')}: {error.get('details', '')}".strip(": ")]
    for node_id, node in (body.get("node_errors") or {}).items():
        for item in node.get("errors", []):
            lines.append(f"node {node_id} ({node.get('class_type')}): {item.get('message')} - {item.get('details')}")
    return " | ".join(lines)


class ComfyHTTP:
    """One server at ``url`` (http://host:port)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def _request(self, path: str, data: bytes | None = None, headers: dict | None = None) -> bytes:
        request = urllib.request.Request(self.url + path, data=data, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code == 400 and path == "/prompt":
                raise PromptRejected(json.loads(error.read() or b"{}")) from None
            raise ServerUnavailable(f"{self.url}{path}: HTTP {error.code}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ServerUnavailable(f"{self.url}{path}: {error}") from None

    def get_json(self, path: str) -> dict:
        return json.loads(self._request(path))

    def object_info(self) -> dict:
        return self.get_json("/object_info")

    def queue(self) -> list[list]:
        """Running and pending prompts: [number, prompt_id, prompt, extra_data, outputs] each."""
        answer = self.get_json("/queue")
        return answer.get("queue_running", []) + answer.get("queue_pending", [])

    def history(self, prompt_id: str | None = None) -> dict:
        return self.get_json(f"/history/{prompt_id}" if prompt_id else "/history")

    def submit(self, graph: dict, prompt_id: str, client_id: str, extra: dict) -> None:
        body = {"prompt": graph, "prompt_id": prompt_id, "client_id": client_id, "extra_data": extra}
        self._request("/prompt", json.dumps(body).encode(), {"Content-Type": "application/json"})

    def upload(self, path: Path, name: str) -> str:
        """Put a local file into the server's input folder as ``name`` (ComfyUI's /upload/image takes any file)."""
        boundary = uuid.uuid4().hex
        parts = [
            _form_field(boundary, "type", "input"),
            _form_field(boundary, "overwrite", "true"),
            (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        answer = json.loads(self._request("/upload/image", b"".join(parts),
                                          {"Content-Type": f"multipart/form-data; boundary={boundary}"}))
        return answer["name"] if not answer.get("subfolder") else f"{answer['subfolder']}/{answer['name']}"

    def view(self, filename: str, subfolder: str, folder_type: str) -> bytes:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": folder_type})
        return self._request(f"/view?{query}")

    def follow(self, client_id: str, on_message: Callable[[dict], None], stop: threading.Event) -> threading.Thread:
        """A daemon thread that passes this client's websocket messages to ``on_message`` until ``stop`` is set."""
        address = self.url.replace("http", "ws", 1) + f"/ws?clientId={client_id}"

        def listen() -> None:
            while not stop.is_set():
                try:
                    connection = websocket.create_connection(address, timeout=1)
                except (OSError, websocket.WebSocketException):
                    stop.wait(1.0)
                    continue
                try:
                    while not stop.is_set():
                        try:
                            raw = connection.recv()
                        except websocket.WebSocketTimeoutException:
                            continue
                        if isinstance(raw, str):
                            on_message(json.loads(raw))
                except (OSError, websocket.WebSocketException, ValueError):
                    stop.wait(1.0)
                finally:
                    connection.close()

        thread = threading.Thread(target=listen, name=f"ws {self.url}", daemon=True)
        thread.start()
        return thread


def _form_field(boundary: str, name: str, value: str) -> bytes:
    return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
