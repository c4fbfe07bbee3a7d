"""Train the toy Wan 2.1 VAE on toy-world frames, so the toy models use the real VAE architecture and file layout.

The VAE is diffusers' AutoencoderKLWan with a small ``base_dim`` (the real one has 96); saved in the original Wan 2.1
key layout it loads in ComfyUI's native VAELoader. ComfyUI (and reco_core's pipeline) normalise Wan latents with the
FIXED Wan 2.1 per-channel mean and std, which a freshly trained VAE knows nothing about; so the training loss holds
the normalised latents of every batch at zero mean and unit variance per channel. Then the DiT sees unit-scale
latents on both paths without any extra scaling that native ComfyUI would not apply.

The decoder is also trained on slightly noised latents: a DiT never lands exactly on the encoder's manifold, and a
decoder that has only seen clean latents turns small latent errors into large pixel errors.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..wan_latent import denormalize_latent, normalize_latent
from ..weights.checkpoint import save_safetensors
from ..weights.wan_keys import vae_diffusers_to_original
from .world import TASKS, make_clip

VAE_FILE = "reco_toy_wan_2.1_vae.safetensors"


@dataclass(frozen=True)
class VaeTrainSettings:
    base_dim: int = 16
    steps: int = 700
    batch: int = 4
    crop: int = 48  # random square crops: the VAE is convolutional, so crops train it for any size
    frames: int = 5  # one latent frame for frame 0, one for the next 4: exercises the temporal down/upsampling
    learning_rate: float = 2e-3
    latent_noise: float = 0.1  # std of the noise added to normalised latents before decoding
    stats_weight: float = 0.1  # weight of the per-channel mean/variance penalty on normalised latents
    clips: int = 240  # train-split clips rendered once; sources and targets both used
    seed: int = 0


@dataclass(frozen=True)
class VaeReport:
    path: Path
    steps: int
    seconds: float
    psnr_db: float  # reconstruction PSNR on held-out test clips at full size and length
    latent_mean: float  # mean and std of normalised latents on those clips (target: 0 and 1)
    latent_std: float


def world_frames(split: str, count: int, frames: int = 9, size: int = 96, first: int = 0) -> torch.Tensor:
    """Sources and targets of ``count`` world clips as (2 * count, 3, frames, size, size) in [-1, 1]."""
    videos = []
    for index in range(first, first + count):
        clip = make_clip(split, index, TASKS[index % len(TASKS)], frames=frames, size=size)
        videos += [clip.source, clip.target]
    pixels = torch.from_numpy(np.stack(videos)).float() / 127.5 - 1
    return pixels.permute(0, 4, 1, 2, 3).contiguous()


def _batch(pool: torch.Tensor, settings: VaeTrainSettings, generator: torch.Generator) -> torch.Tensor:
    picks = torch.randint(0, pool.shape[0], (settings.batch,), generator=generator)
    out = []
    for pick in picks.tolist():
        t0 = int(torch.randint(0, pool.shape[2] - settings.frames + 1, (), generator=generator))
        y0, x0 = (int(v) for v in torch.randint(0, pool.shape[3] - settings.crop + 1, (2,), generator=generator))
        out.append(pool[pick, :, t0:t0 + settings.frames, y0:y0 + settings.crop, x0:x0 + settings.crop])
    return torch.stack(out)


def _loss(vae, pixels: torch.Tensor, settings: VaeTrainSettings, generator: torch.Generator) -> torch.Tensor:
    """Reconstruction (MSE + L1) from noised latents, plus the normalised-latent statistics penalty."""
    normalised = normalize_latent(vae.encode(pixels).latent_dist.mean)
    channel_mean = normalised.mean(dim=(0, 2, 3, 4))
    channel_var = normalised.var(dim=(0, 2, 3, 4))
    stats = channel_mean.pow(2).mean() + (channel_var - 1).pow(2).mean()
    noise = torch.randn(normalised.shape, generator=generator) * settings.latent_noise
    decoded = vae.decode(denormalize_latent(normalised + noise)).sample
    error = decoded - pixels
    return error.pow(2).mean() + 0.2 * error.abs().mean() + settings.stats_weight * stats


@torch.no_grad()
def evaluate_vae(vae, pixels: torch.Tensor) -> tuple[float, float, float]:
    """(PSNR in dB over [0, 1] pixels, normalised latent mean, normalised latent std) for full-size clips."""
    errors, latents = [], []
    for video in pixels.split(2):
        latent = vae.encode(video).latent_dist.mode()
        latents.append(normalize_latent(latent).flatten())
        decoded = vae.decode(latent).sample.clamp(-1, 1)
        errors.append(((decoded - video) / 2).pow(2).mean().item())
    normalised = torch.cat(latents)
    psnr = -10 * math.log10(sum(errors) / len(errors))
    return psnr, float(normalised.mean()), float(normalised.std())


def save_vae(vae, path: Path) -> Path:
    """Original Wan 2.1 layout, float16 (ComfyUI's VAELoader and reco_core's load_vae both read it)."""
    original = {key: value.half() for key, value in vae_diffusers_to_original(vae.state_dict()).items()}
    save_safetensors(original, path, {"note": "ReCo-Toy Wan 2.1 VAE (toy world only)"})
    return path


def train_vae(folder: Path, settings: VaeTrainSettings = VaeTrainSettings(), log=print) -> VaeReport:
    """Train from a fixed seed and write ``folder / VAE_FILE``; returns what it measured on held-out clips."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    vae = AutoencoderKLWan(base_dim=settings.base_dim)
    pool = world_frames("train", settings.clips)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, settings.learning_rate, total_steps=settings.steps,
                                                   pct_start=0.05)
    started = time.perf_counter()
    vae.train()
    for step in range(1, settings.steps + 1):
        loss = _loss(vae, _batch(pool, settings, generator), settings, generator)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 25 == 0 or step == settings.steps:
            log(f"vae step {step}/{settings.steps} loss {loss.item():.5f} ({time.perf_counter() - started:.0f} s)")
    seconds = time.perf_counter() - started
    vae.eval()
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = save_vae(vae, Path(folder) / VAE_FILE)
    psnr, latent_mean, latent_std = evaluate_vae(vae.half().float(), world_frames("test", 8))
    log(f"vae: held-out PSNR {psnr:.2f} dB, normalised latents mean {latent_mean:.3f} std {latent_std:.3f}")
    return VaeReport(path, settings.steps, seconds, psnr, latent_mean, latent_std)


def refine_decoder(path: Path, settings: VaeTrainSettings = VaeTrainSettings(), steps: int = 600,
                   learning_rate: float = 5e-4, log=print) -> VaeReport:
    """Train only the decoder of the VAE at ``path`` further (encoder frozen) and write it back in place.

    The DiT and the LoRA data depend only on the encoder, so this stage can run beside them: the latents they were
    trained on stay exactly the same, and only the decoding of the final edit improves.
    """
    from ..wan_models import load_vae

    generator = torch.Generator().manual_seed(settings.seed + 1)
    vae = load_vae(path)
    vae.encoder.requires_grad_(False)
    vae.quant_conv.requires_grad_(False)
    trained = [p for p in vae.parameters() if p.requires_grad]
    pool = world_frames("train", settings.clips)
    optimizer = torch.optim.AdamW(trained, lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, learning_rate, total_steps=steps, pct_start=0.05)
    started = time.perf_counter()
    for step in range(1, steps + 1):
        pixels = _batch(pool, settings, generator)
        with torch.no_grad():
            normalised = normalize_latent(vae.encode(pixels).latent_dist.mean)
        noise = torch.randn(normalised.shape, generator=generator) * settings.latent_noise
        error = vae.decode(denormalize_latent(normalised + noise)).sample - pixels
        loss = error.pow(2).mean() + 0.2 * error.abs().mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 25 == 0 or step == steps:
            log(f"decoder step {step}/{steps} loss {loss.item():.5f} ({time.perf_counter() - started:.0f} s)")
    seconds = time.perf_counter() - started
    vae.eval()
    save_vae(vae, path)
    psnr, latent_mean, latent_std = evaluate_vae(vae.half().float(), world_frames("test", 8))
    log(f"decoder refined: held-out PSNR {psnr:.2f} dB")
    return VaeReport(path, steps, seconds, psnr, latent_mean, latent_std)
