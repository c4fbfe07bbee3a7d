"""ReCoTrainLoRA in the real server: trains on a dataset in input/, saves a LoRA both loaders accept."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from harness import graphs
from harness.comfy_server import PromptRejected
from harness.tiny_dataset import FRAMES, SIZE, write_tiny_dataset


def train_graph(tiny_models, dataset: str, output_name: str, **extra) -> dict:
    return {
        "vae": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_models.vae.name}},
        "train": {"class_type": "ReCoTrainLoRA", "inputs": {
            "base_model": tiny_models.vace.name, "vae": ["vae", 0], "dataset": dataset, "output_name": output_name,
            "steps": 3, "learning_rate": 1e-3, "rank": 4, "lambda_latent": 1e-3, "lambda_attn": 1e-3,
            "width": SIZE, "height": SIZE, "length": FRAMES, "grad_accumulation": 1, "precision": "fp32",
            "gradient_checkpointing": False, "checkpoint_every": 2, "resume": False, "seed": 0, **extra}},
        "plot": {"class_type": "PreviewImage", "inputs": {"images": ["train", 1]}},
    }


def sampled_with(tiny_models, video: str, loader: dict, prefix: str) -> dict:
    return {**graphs.loaders(tiny_models, video), **loader, **graphs.canvas(),
            **graphs.reco_sampler(model=("lora", 0), seed=11), **graphs.save_latent(("sampler", 0), prefix)}


@pytest.mark.parametrize("base_weight_dtype", ["default", "fp8_e4m3fn"])
def test_trained_lora_loads_in_both_loaders_with_equal_results(comfy_server, tiny_models, source_video,
                                                                base_weight_dtype):
    """Also with the frozen base held in float8 while training: the LoRA file is the same kind either way."""
    write_tiny_dataset(comfy_server.base / "input" / "tiny_dataset", tiny_models.positive)
    name = f"tiny_trained_{base_weight_dtype}"
    result = comfy_server.run(train_graph(tiny_models, "tiny_dataset", f"reco/{name}",
                                          base_weight_dtype=base_weight_dtype), timeout=600)
    assert result.status == "execution_success", result.error
    summary, report = result.outputs("train")["text"]
    assert summary.startswith(f"reco/{name}.safetensors: 3 steps, 2 clips, 1 bad rows")
    assert "missing.mp4" in report
    lora = load_file(comfy_server.base / "models" / "loras" / "reco" / f"{name}.safetensors")
    assert lora and all(key.startswith("diffusion_model.") for key in lora)
    assert result.outputs("plot")["images"]

    ours = sampled_with(tiny_models, source_video.name, {"lora": {"class_type": "ReCoLoRALoader", "inputs": {
        "model": ["unet", 0], "lora_name": f"reco/{name}.safetensors", "strength": 1.0}}}, f"latents/{name}_reco")
    native = sampled_with(tiny_models, source_video.name, {"lora": {"class_type": "LoraLoaderModelOnly", "inputs": {
        "model": ["unet", 0], "lora_name": f"reco/{name}.safetensors", "strength_model": 1.0}}},
        f"latents/{name}_native")
    latents = []
    for graph in (ours, native):
        run = comfy_server.run(graph)
        assert run.status == "execution_success", run.error
        entry = run.outputs("save_latent")["latents"][0]
        latents.append(load_file(comfy_server.base / "output" / entry["subfolder"] / entry["filename"])["latent_tensor"])
    assert bool((latents[0] == latents[1]).all())


def test_a_second_run_with_the_same_name_writes_the_next_free_name(comfy_server, tiny_models):
    """An artist's existing LoRA is never replaced by a new run: the second one is saved as <name>_2."""
    write_tiny_dataset(comfy_server.base / "input" / "tiny_dataset", tiny_models.positive)
    folder = comfy_server.base / "models" / "loras" / "reco"
    summaries = []
    for seed in (0, 1):
        result = comfy_server.run(train_graph(tiny_models, "tiny_dataset", "reco/twice", seed=seed, steps=1),
                                  timeout=600)
        assert result.status == "execution_success", result.error
        summaries.append(result.outputs("train")["text"][0])
        if seed == 0:
            first = (folder / "twice.safetensors").read_bytes()
    assert summaries[0].startswith("reco/twice.safetensors") and summaries[1].startswith("reco/twice_2.safetensors")
    assert (folder / "twice.safetensors").read_bytes() == first
    assert (folder / "twice_2.safetensors").is_file()


@pytest.mark.parametrize("dataset", ["../../etc", "/tmp"])
def test_dataset_outside_the_input_folder_is_refused(comfy_server, tiny_models, dataset):
    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(train_graph(tiny_models, dataset, "reco/never"), client_id="train-refusal")
    assert "outside" in str(rejected.value.node_errors["train"])
    assert comfy_server.is_alive()


def test_unknown_base_weight_dtype_is_refused_naming_the_input(comfy_server, tiny_models):
    """ComfyUI 0.3.75 does not check a V3 combo's value; the node's validate_inputs does, before anything runs."""
    write_tiny_dataset(comfy_server.base / "input" / "tiny_dataset", tiny_models.positive)
    graph = train_graph(tiny_models, "tiny_dataset", "reco/never", base_weight_dtype="fp8_e5m2")
    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(graph, client_id="train-refusal")
    message = str(rejected.value.node_errors["train"])
    assert "base_weight_dtype" in message and "fp8_e4m3fn" in message
    assert not (comfy_server.base / "models" / "loras" / "reco" / "never.safetensors").exists()
    assert comfy_server.is_alive()
