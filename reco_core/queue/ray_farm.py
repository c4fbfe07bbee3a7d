"""ComfyUI servers as Ray actors, for farms that outgrow a handful of hand-started servers.

Ray does the placement (one actor per GPU with ``num_gpus=1``; Ray sets CUDA_VISIBLE_DEVICES for it) and the
lifetime: each actor starts one ComfyUI process on its node and hands back its URL. The jobs themselves still go
through the same HTTP client, state file and exactly-once bookkeeping as with ``--servers``; Ray only replaces the
person who starts the servers. Every worker gets its own input/output/temp folders (sharing models/ and
custom_nodes/ through symlinks, starting with a copy of the base's input files), so two workers on one machine never
write over each other, and its ComfyUI process dies with the actor (parent-death signal), so nothing outlives a
killed farm.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import ray

READY_TIMEOUT_S = 180
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the ComfyUI child before exec: the kernel sends it SIGTERM when the actor process dies."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ComfyWorker:
    """One ComfyUI server owned by one Ray actor."""

    def __init__(self, comfyui_dir: str, base: str):
        self.comfyui_dir, self.base = Path(comfyui_dir), Path(base)
        self.process: subprocess.Popen | None = None
        self.own_base = Path(tempfile.mkdtemp(prefix="reco-ray-worker-"))

    def start(self) -> str:
        """Start ComfyUI on this node and return its URL once it answers."""
        for sub in ("input", "output", "temp", "user/default"):
            (self.own_base / sub).mkdir(parents=True, exist_ok=True)
        for shared in ("models", "custom_nodes"):
            (self.own_base / shared).symlink_to((self.base / shared).resolve(), target_is_directory=True)
        for file in (self.base / "input").glob("*"):  # files the workflow names itself, e.g. a negative prompt
            if file.is_file():
                shutil.copyfile(file, self.own_base / "input" / file.name)
        (self.own_base / "user/default/comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
        host = ray.util.get_node_ip_address()
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        command = [sys.executable, "main.py", "--listen", host, "--port", str(port), "--disable-auto-launch",
                   "--base-directory", str(self.own_base), "--database-url", "sqlite:///:memory:"]
        if not ray.get_gpu_ids():
            command.append("--cpu")
        # Ray pins OMP_NUM_THREADS to the actor's CPUs; ComfyUI sizes its own threads like any other server, so a
        # job gives the same numbers on a Ray worker as on a hand-started server (CPU sums depend on thread count).
        env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
        log = open(self.own_base / "server.log", "wb")
        self.process = subprocess.Popen(command, cwd=self.comfyui_dir, stdout=log, stderr=subprocess.STDOUT,
                                        env=env, preexec_fn=_die_with_parent)
        url = f"http://{host}:{port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with code {self.process.returncode}; see {log.name}")
            try:
                urllib.request.urlopen(url + "/system_stats", timeout=2).read()
                return url
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"ComfyUI on {url} did not answer within {READY_TIMEOUT_S}s; see {log.name}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.own_base, ignore_errors=True)


class RayFarm:
    """``workers`` ComfyUI servers placed by Ray on the cluster at ``address`` ('local' starts one here)."""

    def __init__(self, address: str, workers: int, gpus: float, comfyui_dir: Path | None, base: Path | None):
        if comfyui_dir is None:
            raise ValueError("--ray needs the ComfyUI folder on the workers: --ray-comfyui DIR or $COMFYUI_DIR")
        self.address, self.workers, self.gpus = address, workers, gpus
        self.comfyui_dir, self.base = comfyui_dir, base or comfyui_dir
        self.actors: list = []

    def start(self) -> list[str]:
        """Connect (or start a local cluster), start the actors, and return their servers' URLs."""
        if not ray.is_initialized():
            ray.init(address=None if self.address == "local" else self.address, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        actor = ray.remote(num_cpus=1, num_gpus=self.gpus)(ComfyWorker)
        self.actors = [actor.remote(str(self.comfyui_dir), str(self.base)) for _ in range(self.workers)]
        return ray.get([worker.start.remote() for worker in self.actors])

    def stop(self) -> None:
        """Stop every server and actor; a cluster this farm started goes with it."""
        if self.actors:
            ray.get([worker.stop.remote() for worker in self.actors])
            for worker in self.actors:
                ray.kill(worker)
        if self.address == "local":
            ray.shutdown()
