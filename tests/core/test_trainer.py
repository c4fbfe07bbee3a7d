"""The ReCo LoRA trainer on the tiny Wan2.1-VACE model with synthetic canvas items.

Items are built with torch directly: 3 latent frames, an 8 x 16 latent canvas (two 8 x 8 halves; 96 tokens), 12 text
tokens, and an edit region of 4 x 4 latent cells (2 x 2 tokens) per frame. Learning rates are far above ReCo's 5e-5
and the region-loss weights far above 1e-3 so that their effect shows within a few dozen steps of a rank-4 LoRA;
each test states what it uses.
"""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from PIL import Image

from reco_core.attention.canvas_tokens import canvas_masks
from reco_core.region_map import latent_region_loss
from reco_core.model_call import predict_velocity
from reco_core.schedule import flow_sigmas, sigma_table
from reco_core.training.attention_capture import AttentionCapture
from reco_core.training.losses import (
    attention_loss,
    attention_region,
    denoised_estimate,
    in_context_loss,
    noised_latent,
    sample_sigma,
)
from reco_core.training.trainer import TrainConfig, TrainResult, plot_losses, train
from reco_core.wan_models import load_transformer
from reco_core.weights.checkpoint import load_state_dict
from reco_core.weights.lora_keys import summarize_lora
from reco_core.weights.lora_merge import merge_lora

FRAMES, HEIGHT, HALF = 3, 8, 8


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def make_item(seed: int = 0, style: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(FRAMES, HEIGHT, HALF)
    if not style:
        mask = torch.zeros(FRAMES, HEIGHT, HALF)
        mask[:, 2:6, 2:6] = 1.0
    return {
        "x0": torch.randn(16, FRAMES, HEIGHT, 2 * HALF, generator=g),
        "context": torch.randn(96, FRAMES, HEIGHT, 2 * HALF, generator=g),
        "prompt_embeds": 0.2 * torch.randn(12, 4096, generator=g),
        "latent_mask": mask,
        "task": "style" if style else "replace",
        "index": seed,
    }


def batch(item: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return item["x0"][None], item["context"][None], item["prompt_embeds"][None]


def config(tiny_models, tmp_path, name: str, **overrides) -> TrainConfig:
    settings = dict(base_model=tiny_models.vace, output=tmp_path / f"{name}.safetensors", rank=4, steps=10,
                    learning_rate=1e-3, mixed_precision="fp32", gradient_checkpointing=False, grad_accumulation=1,
                    checkpoint_every=0, log_every=100)
    settings.update(overrides)
    return TrainConfig(**settings)


def trained(tiny_models, result: TrainResult):
    """The base model with the saved LoRA merged through the inference path (so the file itself is what is tested)."""
    transformer = load_transformer(tiny_models.vace)
    merge_lora(transformer, load_state_dict(result.lora_path))
    return transformer


def fixed_noise(item: dict, seed: int = 7) -> torch.Tensor:
    return torch.randn(batch(item)[0].shape, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def eval_ic(transformer, item: dict, sigmas=(0.25, 0.5, 0.75, 0.95)) -> float:
    x0, context, prompt = batch(item)
    noise = fixed_noise(item)
    losses = []
    for s in sigmas:
        sigma = torch.tensor(s)
        v = predict_velocity(transformer, noised_latent(x0, noise, sigma), sigma, context, prompt)
        losses.append(float(torch.nn.functional.mse_loss(v, noise - x0)))
    return sum(losses) / len(losses)


@torch.no_grad()
def region_contrast(transformer, item: dict, sigma: float = 0.75) -> float:
    """mean |D| inside the mask minus outside, on x0_hat at a fixed noise and sigma (= -L_latent)."""
    x0, context, prompt = batch(item)
    noise, sigma = fixed_noise(item), torch.tensor(sigma)
    x_t = noised_latent(x0, noise, sigma)
    x0_hat = denoised_estimate(x_t, predict_velocity(transformer, x_t, sigma, context, prompt), sigma)
    return -float(latent_region_loss(x0_hat, item["latent_mask"]))


def source_object_attention(q: torch.Tensor, k: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Mean over edit-region target queries of p_in = softmax([q.kLin, q.kLout] / sqrt(d))[0] (Score1's p_in)."""
    masks = canvas_masks(region, q.device)
    k_in = k[:, :, masks.source_edit].mean(dim=2, keepdim=True)
    k_out = k[:, :, masks.source_rest].mean(dim=2, keepdim=True)
    queries = q[:, :, masks.target_edit]
    logits = torch.cat((queries @ k_in.transpose(-1, -2), queries @ k_out.transpose(-1, -2)), dim=-1)
    return torch.softmax(logits / math.sqrt(q.shape[-1]), dim=-1)[..., 0].mean()


@torch.no_grad()
def attention_to_source_object(transformer, item: dict, sigma: float = 0.75) -> float:
    x0, context, prompt = batch(item)
    sigma = torch.tensor(sigma)
    capture = AttentionCapture(transformer, score=source_object_attention)
    with capture.region(attention_region(item["latent_mask"])), capture.collect() as scores:
        predict_velocity(transformer, noised_latent(x0, fixed_noise(item), sigma), sigma, context, prompt)
    capture.remove()
    return float(torch.stack(scores).mean())


# ------------------------------------------------------------------------------------------------------- processor


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_capture_processor_output_equals_diffusers(tiny_models, dtype):
    transformer = load_transformer(tiny_models.diffusers_transformer, dtype)
    item = make_item()
    x0, context, prompt = (t.to(dtype) for t in batch(item))
    sigma = torch.tensor(0.6)
    with torch.no_grad():
        reference = predict_velocity(transformer, x0, sigma, context, prompt)
        capture = AttentionCapture(transformer)
        idle = predict_velocity(transformer, x0, sigma, context, prompt)
        with capture.region(attention_region(item["latent_mask"])), capture.collect() as scores:
            scoring = predict_velocity(transformer, x0, sigma, context, prompt)
    assert torch.equal(reference, idle) and torch.equal(reference, scoring)
    assert len(scores) == capture.layer_count == 6  # 4 DiT + 2 VACE self-attention layers
    capture.remove()
    with torch.no_grad():
        assert torch.equal(reference, predict_velocity(transformer, x0, sigma, context, prompt))


def test_attention_score_is_differentiable_and_counted_once_under_checkpointing(tiny_models, tmp_path):
    """Same loss and same LoRA gradients with and without gradient checkpointing; one score per layer either way."""
    from reco_core.training.trainer import _prepare_transformer

    item = make_item()
    x0, context, prompt = batch(item)
    sigma = torch.tensor(0.6)
    noise = fixed_noise(item)
    x_t = noised_latent(x0, noise, sigma)
    results = []
    for checkpointing in (False, True):
        transformer = _prepare_transformer(config(tiny_models, tmp_path, "grad", gradient_checkpointing=checkpointing))
        with torch.no_grad():  # a non-zero lora_B, so that every adapter matrix gets a gradient
            for name, p in transformer.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
        capture = AttentionCapture(transformer)
        with capture.region(attention_region(item["latent_mask"])):
            with capture.collect() as scores:
                v_pred = predict_velocity(transformer, x_t, sigma, context, prompt)
            loss = in_context_loss(v_pred, x0, noise) + attention_loss(scores)
            loss.backward()
            counted = len(scores)  # the recomputation during backward must not add scores
        grads = {n: p.grad.clone() for n, p in transformer.named_parameters() if p.requires_grad}
        assert all(g.abs().sum() > 0 for g in grads.values())
        results.append((float(loss.detach()), counted, grads))
    (loss_plain, n_plain, g_plain), (loss_ckpt, n_ckpt, g_ckpt) = results
    assert n_plain == n_ckpt == 6
    assert loss_plain == loss_ckpt
    for name in g_plain:
        torch.testing.assert_close(g_ckpt[name], g_plain[name], rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------------------- losses


def test_training_sigmas_are_the_samplers_noise_levels():
    """Uniform over the 1000 shifted levels of ComfyUI's table, i.e. those a 1000-step shift-5 schedule visits."""
    table = sigma_table(5.0)
    assert torch.equal(table.float().flip(0), flow_sigmas(1000, 5.0)[:-1])
    assert float(table[-1]) == 1.0 and float(table[0]) == pytest.approx(5 * 0.001 / (1 + 4 * 0.001))
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_sigma(generator, 5.0) for _ in range(2000)])
    assert torch.isin(draws, table.float()).all()
    assert 0.55 < float((draws > 0.5).float().mean()) < 0.95  # shift 5 leans to high noise: P(sigma > 0.5) = 5/6


def test_in_context_loss_falls_on_a_fixed_item(tiny_models, tmp_path):
    """30 steps at lr 1e-2 on one replace item: the L_ic at fixed noise and four sigmas falls clearly."""
    item = make_item()
    before = eval_ic(load_transformer(tiny_models.vace), item)
    result = train(config(tiny_models, tmp_path, "fit", steps=30, learning_rate=1e-2), [item])
    after = eval_ic(trained(tiny_models, result), item)
    print(f"L_ic at fixed noise: {before:.4f} -> {after:.4f}", file=sys.stderr)
    assert after < 0.8 * before
    assert [entry["step"] for entry in result.history] == list(range(1, 31))
    assert all({"total", "ic", "latent", "attn"} <= entry.keys() for entry in result.history)


def test_latent_loss_grows_the_region_contrast_faster(tiny_models, tmp_path):
    """lambda_latent 10 vs 0 (L_attn off in both), 20 steps at lr 1e-2, same seeds.

    At 1e-3 (or even 0.5) the term moves nothing measurable in 20 steps of a rank-4 LoRA whose L_ic is still ~2.5.
    """
    item = make_item()
    start = region_contrast(load_transformer(tiny_models.vace), item)
    gains = {}
    for weight in (0.0, 10.0):
        result = train(config(tiny_models, tmp_path, f"latent{weight}", steps=20, learning_rate=1e-2,
                              lambda_latent=weight, lambda_attn=0.0), [item])
        gains[weight] = region_contrast(trained(tiny_models, result), item) - start
    print(f"region contrast {start:.4f}; gain with L_latent off {gains[0.0]:+.4f}, on {gains[10.0]:+.4f}",
          file=sys.stderr)
    assert gains[10.0] > gains[0.0] + 0.1


def test_attention_loss_turns_edit_queries_away_from_the_source_object(tiny_models, tmp_path):
    """lambda_attn 1.0 vs 0 (L_latent off in both), 20 steps at lr 1e-2, same seeds."""
    item = make_item()
    start = attention_to_source_object(load_transformer(tiny_models.vace), item)
    changes = {}
    for weight in (0.0, 1.0):
        result = train(config(tiny_models, tmp_path, f"attn{weight}", steps=20, learning_rate=1e-2,
                              lambda_latent=0.0, lambda_attn=weight), [item])
        changes[weight] = attention_to_source_object(trained(tiny_models, result), item) - start
    print(f"p_in(source object) {start:.4f}; change with L_attn off {changes[0.0]:+.4f}, on {changes[1.0]:+.4f}",
          file=sys.stderr)
    assert changes[1.0] < changes[0.0] - 0.02


def test_style_items_train_without_region_losses(tiny_models, tmp_path):
    """All-ones masks: L_ic only; a generator (no len) is accepted as the dataset; previews see an eval model."""
    previews = []

    def preview(step, transformer):
        previews.append((step, transformer.training, torch.is_grad_enabled()))

    result = train(config(tiny_models, tmp_path, "style", steps=2, preview_every=1),
                   (make_item(s, style=True) for s in range(2)), preview=preview)
    assert all(entry.keys() == {"step", "lr", "total", "ic"} for entry in result.history)
    assert all(entry["total"] == entry["ic"] for entry in result.history)
    assert previews == [(1, False, False), (2, False, False)]


# ------------------------------------------------------------------------------------------------ resume and files


def test_resume_after_interruption_is_exact(tiny_models, tmp_path):
    """6 steps straight vs 3 steps, stop (state discarded), resume from the step-2 checkpoint, finish: equal bits."""
    items = [make_item(s) for s in range(3)] + [make_item(9, style=True)]
    common = dict(steps=6, grad_accumulation=2, checkpoint_every=2, gradient_checkpointing=True,
                  lambda_latent=0.1, lambda_attn=0.1)
    straight = train(config(tiny_models, tmp_path, "straight", **common), items)

    interrupted = config(tiny_models, tmp_path, "resumed", **common)

    def stop_at_step_3(step, total, losses):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(interrupted, items, callback=stop_at_step_3)
    assert not interrupted.output.exists()  # nothing partial: no final LoRA
    folder = interrupted.checkpoint_folder
    assert sorted(p.name for p in folder.iterdir()) == ["step-00000002"]
    # A save that was killed mid-write leaves its staging folder; resuming must ignore it.
    (folder / ".step-00000004.partial").mkdir()
    (folder / ".step-00000004.partial" / "lora.safetensors").write_bytes(b"truncated")

    with pytest.raises(ValueError, match="set resume"):
        train(interrupted, items)
    resumed = train(replace(interrupted, resume=True), items)

    assert resumed.resumed_from == folder / "step-00000002"
    assert resumed.history == straight.history
    a, b = load_state_dict(straight.lora_path), load_state_dict(resumed.lora_path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in folder.iterdir()) == ["step-00000004", "step-00000006"]  # keep 2, staging gone


def test_sigkill_while_saving_a_checkpoint_loses_only_that_checkpoint(tiny_models, tmp_path):
    """A real process is SIGKILLed inside the step-2 save (weights and optimizer written, not yet published).

    The half-written folder stays under its staging name; resuming takes step 1 and ends bit-equal to a run that was
    never killed.
    """
    from harness import train_worker

    straight = train(train_worker.worker_config(tiny_models.vace, tmp_path / "straight.safetensors"),
                     train_worker.items())
    killed = tmp_path / "killed.safetensors"
    command = [sys.executable, train_worker.__file__, str(tiny_models.vace), str(killed), "--checkpoint-every", "1",
               "--kill-while-saving", "2"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == -signal.SIGKILL, completed.stderr[-3000:]
    folder = killed.with_name("killed.checkpoints")
    assert sorted(p.name for p in folder.iterdir()) == [".step-00000002.partial", "step-00000001"]
    assert not killed.exists()

    resumed = train(train_worker.worker_config(tiny_models.vace, killed, checkpoint_every=1, resume=True),
                    train_worker.items())
    assert resumed.resumed_from == folder / "step-00000001"
    a, b = load_state_dict(straight.lora_path), load_state_dict(resumed.lora_path)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_saved_lora_is_comfyui_form_with_metadata(tiny_models, tmp_path):
    import safetensors

    result = train(config(tiny_models, tmp_path, "keys", steps=2), [make_item()])
    lora = load_state_dict(result.lora_path)
    assert all(key.startswith("diffusion_model.") and ".default." not in key for key in lora)
    assert "diffusion_model.vace_blocks.1.self_attn.q.lora_A.weight" in lora
    assert "diffusion_model.blocks.3.ffn.2.lora_B.weight" in lora
    summary = summarize_lora(lora)
    assert (summary.style, summary.ranks, summary.scales) == ("comfy", (4,), (1.0,))
    assert (summary.dit_blocks, summary.vace_blocks, summary.layers) == (4, 2, 60)
    with safetensors.safe_open(result.lora_path, "pt") as file:
        metadata = file.metadata()
    assert metadata["reco_rank"] == "4" and metadata["reco_alpha"] == "4" and metadata["reco_steps"] == "2"
    assert len(json.loads(metadata["reco_loss_history"])) == 2


def test_plot_losses_writes_a_png(tmp_path):
    history = [{"step": s, "total": 1 / s, "ic": 1 / s, "latent": -0.01 * s, "attn": 0.1} for s in range(1, 40)]
    history.append({"step": 40, "total": 0.02, "ic": 0.02})  # a style step: no region terms
    plot_losses(history, tmp_path / "loss.png")
    with Image.open(tmp_path / "loss.png") as image:
        assert image.format == "PNG" and image.size == (960, 4 * 220)
