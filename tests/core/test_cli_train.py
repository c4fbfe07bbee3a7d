"""`python -m reco_core train CONFIG.toml` wiring: TOML -> manifest check -> cached items -> trainer -> LoRA + plot.

Runs the command's ``run`` in-process on a real dataset folder (H.264 clips through ffmpeg, the tiny VAE, saved
prompt embeddings) so that the argument handling, the report, the cache fill and the saved files are all real.
"""

from __future__ import annotations

import argparse

import pytest
from PIL import Image

from harness.tiny_dataset import write_tiny_dataset
from reco_core.cli import train as train_cli
from reco_core.weights.checkpoint import load_state_dict
from reco_core.weights.lora_keys import detect_style


pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture
def project(tmp_path, tiny_models):
    write_tiny_dataset(tmp_path / "data", tiny_models.positive)
    config = tmp_path / "train.toml"
    config.write_text(f"""
base_model = "{tiny_models.vace}"
vae = "{tiny_models.vae}"
dataset = "data"
cache_dir = "cache"
output = "out/tiny_reco.safetensors"
buckets = [[32, 32, 9]]
device = "cpu"
rank = 4
steps = 3
grad_accumulation = 1
mixed_precision = "fp32"
gradient_checkpointing = false
learning_rate = 1e-3
checkpoint_every = 2
""")
    return config


def run(config, resume: bool = False) -> int:
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    return train_cli.run(parser.parse_args([str(config), *(["--resume"] if resume else [])]))


def test_train_command_writes_a_comfyui_lora_and_a_loss_plot(project, capsys):
    assert run(project) == 0
    out = capsys.readouterr().out
    assert "2 of 3 manifest rows usable, 1 excluded" in out and "missing.mp4" in out
    lora = project.parent / "out" / "tiny_reco.safetensors"
    assert detect_style(load_state_dict(lora)) == "comfy"
    with Image.open(lora.with_suffix(".loss.png")) as image:
        assert image.format == "PNG"
    assert any((project.parent / "cache").rglob("*.safetensors"))  # the items were cached before training
    assert [p.name for p in (project.parent / "out" / "tiny_reco.checkpoints").iterdir()] == ["step-00000002"]

    assert run(project) == train_cli.EXIT_BAD_INPUT  # checkpoints exist: a second run must say --resume
    assert "set resume" in capsys.readouterr().err
    assert run(project, resume=True) == 0
    assert "resumed from step-00000002" in capsys.readouterr().out


def test_train_command_rejects_unknown_settings(project, capsys):
    project.write_text(project.read_text() + 'learning_rat = 1e-4\n')
    assert run(project) == train_cli.EXIT_BAD_INPUT
    assert "unknown settings ['learning_rat']" in capsys.readouterr().err


def test_train_command_takes_the_base_weight_dtype_and_refuses_an_unknown_one(project, capsys):
    project.write_text(project.read_text() + 'base_weight_dtype = "fp8"\n')
    assert run(project) == train_cli.EXIT_BAD_INPUT
    assert "base_weight_dtype must be one of ['default', 'fp8_e4m3fn'], got 'fp8'" in capsys.readouterr().err
    project.write_text(project.read_text().replace('"fp8"', '"fp8_e4m3fn"').replace("checkpoint_every = 2",
                                                                                     "checkpoint_every = 0"))
    assert run(project) == 0
    assert "saved" in capsys.readouterr().out


def test_train_command_writes_preview_edits_every_n_steps(project):
    from harness.tiny_dataset import FRAMES, SIZE
    from harness.video_probe import probe_video

    project.write_text(project.read_text().replace("checkpoint_every = 2", "checkpoint_every = 0") + "preview_every = 2\n")
    assert run(project) == 0
    previews = sorted((project.parent / "out").glob("tiny_reco.preview-*.mp4"))
    assert [p.name for p in previews] == ["tiny_reco.preview-000002.mp4"]
    facts = probe_video(previews[0])
    assert (facts.frames, facts.width, facts.height) == (FRAMES, SIZE, SIZE)
