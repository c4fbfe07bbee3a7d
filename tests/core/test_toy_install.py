"""Set-up installs the toy model into a ComfyUI tree and never replaces an artist's file of the same name."""

from __future__ import annotations

import pytest

from harness.toy_assets import load_setup_env


@pytest.fixture(scope="module")
def setup_env():
    return load_setup_env()


@pytest.fixture
def assets(tmp_path, setup_env):
    folder = tmp_path / "assets"
    folder.mkdir()
    for name in setup_env.TOY_FILES:
        (folder / name).write_bytes(f"shipped {name}".encode())
    return folder


def test_every_toy_file_lands_in_its_loader_folder_once(setup_env, assets, tmp_path):
    comfy, record = tmp_path / "ComfyUI", tmp_path / "record.json"

    first = setup_env.install_toy_files(assets, comfy, record)
    second = setup_env.install_toy_files(assets, comfy, record)

    assert sorted(first) == sorted(comfy / folder / name for name, folder in setup_env.TOY_FILES.items())
    assert (comfy / "models" / "text_encoders" / "reco_toy_text_encoder.safetensors").read_bytes() == (
        assets / "reco_toy_text_encoder.safetensors").read_bytes()
    assert (comfy / "input" / "demo_source.mp4").is_file()
    assert second == []
    assert not list(comfy.rglob(".*.partial"))


def test_an_artists_file_of_the_same_name_is_kept(setup_env, assets, tmp_path):
    comfy, record = tmp_path / "ComfyUI", tmp_path / "record.json"
    theirs = comfy / "models" / "loras" / "reco_toy_lora.safetensors"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"an artist's own LoRA")

    written = setup_env.install_toy_files(assets, comfy, record)
    (assets / "reco_toy_lora.safetensors").write_bytes(b"a newer shipped LoRA")
    setup_env.install_toy_files(assets, comfy, record)

    assert theirs not in written
    assert theirs.read_bytes() == b"an artist's own LoRA"


def test_a_toy_file_installed_earlier_is_updated_when_the_shipped_one_changes(setup_env, assets, tmp_path):
    comfy, record = tmp_path / "ComfyUI", tmp_path / "record.json"
    setup_env.install_toy_files(assets, comfy, record)
    (assets / "reco_toy_wan2.1_vace.safetensors").write_bytes(b"retrained toy DiT")

    written = setup_env.install_toy_files(assets, comfy, record)

    target = comfy / "models" / "diffusion_models" / "reco_toy_wan2.1_vace.safetensors"
    assert written == [target]
    assert target.read_bytes() == b"retrained toy DiT"
