"""Session-wide fixtures: the tiny models (made once per run) and one real ComfyUI server shared by server tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fixtures.make_tiny_models import TinyModels, make_tiny_models
from harness.comfy_server import ComfyServer, prepare_base_directory
from harness.sample_video import write_sample_video
from harness.toy_assets import install_toy_assets


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> TinyModels:
    return make_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def headless_pipeline(tiny_models):
    """reco_core's diffusers pipeline on the tiny VACE model and VAE, loaded from the ComfyUI-layout files."""
    from reco_core.pipeline import ReCoPipeline
    from reco_core.wan_models import load_transformer, load_vae

    return ReCoPipeline(load_transformer(tiny_models.vace), load_vae(tiny_models.vae))


@pytest.fixture(scope="session")
def text_embeds(tiny_models) -> tuple[torch.Tensor, torch.Tensor]:
    """The tiny models' saved positive and negative embeddings."""
    from reco_core.text_embeddings import load_text_embeddings

    return load_text_embeddings(tiny_models.positive).embeds, load_text_embeddings(tiny_models.negative).embeds


@pytest.fixture(scope="module")
def single_torch_thread():
    """The tiny models' ops take microseconds; on a two-core machine thread hand-offs cost more than the math."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def source_video(tmp_path_factory) -> Path:
    """A small synthetic clip (a square moving over a gradient), 7 frames of 56x40 at 24 fps, through real ffmpeg."""
    return write_sample_video(tmp_path_factory.mktemp("videos") / "source.mp4")


@pytest.fixture(scope="session")
def comfy_server(tmp_path_factory, tiny_models, source_video) -> ComfyServer:
    base = tmp_path_factory.mktemp("comfy-base")
    prepare_base_directory(base, tiny_models.root, [tiny_models.positive, tiny_models.negative, source_video])
    install_toy_assets(base)  # the shipped toy model, as `make run` installs it
    server = ComfyServer(base, base / "server.log")
    server.start()
    yield server
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing server test shows the end of the server's log beside its own traceback."""
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("comfy_server") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(server, ComfyServer):
        report.sections.append(("ComfyUI server log (tail)", server.log_tail()))
