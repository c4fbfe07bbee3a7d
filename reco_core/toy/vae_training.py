"""Train the toy Wan 2.1 VAE on toy-world frames, so the toy models use the real VAE architecture and file layout.

The VAE is diffusers' AutoencoderKLWan with a small ``base_dim`` (the real one has 96); saved in the original Wan 2.1
key layout it loads in ComfyUI's native VAELoader.

Three facts shape the recipe:

* **It collapses without an anchor.** Trained on reconstruction alone, this architecture first learns the mean
  frame, and its RMS-normed encoder and decoder both go blind to their input (decode(encode(a)) equals
  decode(encode(b)) to 100+ dB) for hundreds of CPU steps. So the first ``ANCHOR_CHANNELS`` normalised latent
  channels are held to a low-resolution copy of the clip (the mean colour of each latent cell's pixels): the encoder
  is informative from the first steps, and the decoder has an easy signal to start from. It also makes the latents
  read like a small image, which helps the tiny DiT.
* **Images first.** The causal VAE encodes frame 0 alone with the same weights it uses for later frames, so most
  steps train on single frames (five times cheaper); a shorter video phase then trains the temporal layers.
* **ComfyUI normalises Wan latents with the FIXED Wan 2.1 per-channel mean and std**, which a fresh VAE knows
  nothing about; the loss holds the other normalised channels at zero mean and unit variance, so the DiT sees
  unit-scale latents on both paths. The decoder also trains on slightly noised latents: a DiT never lands exactly on
  the encoder's manifold.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..wan_latent import TIME_STRIDE, VAE_STRIDE, denormalize_latent, normalize_latent
from ..weights.checkpoint import save_safetensors
from ..weights.wan_keys import vae_diffusers_to_original
from .world import TASKS, make_clip

VAE_FILE = "reco_toy_wan_2.1_vae.safetensors"
ANCHOR_CHANNELS = 3  # normalised latent channels 0-2 carry the cell's mean RGB
ANCHOR_SCALE = 2.5  # [-1, 1] cell means times this are about unit-variance, like the other channels
BLIND_MARGIN_DB = 3.0  # a decoder whose outputs for two clips are this much closer than the clips is "blind"


@dataclass(frozen=True)
class VaePhase:
    """One stretch of training: single frames (``frames=1``) or clips, random square crops of ``crop`` pixels."""

    steps: int
    batch: int
    frames: int
    learning_rate: float
    latent_noise: float  # std of the noise added to normalised latents before decoding


@dataclass(frozen=True)
class VaeTrainSettings:
    base_dim: int = 16
    crop: int = 48  # the VAE is convolutional, so crops train it for any size
    images: VaePhase = VaePhase(steps=1500, batch=8, frames=1, learning_rate=1e-3, latent_noise=0.0)
    videos: VaePhase = VaePhase(steps=300, batch=2, frames=9, learning_rate=5e-4, latent_noise=0.1)
    anchor_weight: float = 1.0
    stats_weight: float = 0.1  # per-channel mean/variance penalty on the non-anchor normalised channels
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
    blind_gap_db: float  # PSNR(decode a, decode b) - PSNR(a, b) on two test clips; large = ignores its input


def world_frames(split: str, count: int, frames: int = 9, size: int = 96, first: int = 0) -> torch.Tensor:
    """Sources and targets of ``count`` world clips as (2 * count, 3, frames, size, size) in [-1, 1]."""
    videos = []
    for index in range(first, first + count):
        clip = make_clip(split, index, TASKS[index % len(TASKS)], frames=frames, size=size)
        videos += [clip.source, clip.target]
    pixels = torch.from_numpy(np.stack(videos)).float() / 127.5 - 1
    return pixels.permute(0, 4, 1, 2, 3).contiguous()


def anchor_target(pixels: torch.Tensor) -> torch.Tensor:
    """Each latent cell's mean colour, laid out like the latent: frame 0 alone, then groups of TIME_STRIDE frames."""
    leading = pixels[:, :, :1].expand(-1, -1, TIME_STRIDE - 1, -1, -1)
    padded = torch.cat((leading, pixels), dim=2)
    return F.avg_pool3d(padded, (TIME_STRIDE, VAE_STRIDE, VAE_STRIDE)) * ANCHOR_SCALE


def _batch(pool: torch.Tensor, phase: VaePhase, crop: int, generator: torch.Generator) -> torch.Tensor:
    picks = torch.randint(0, pool.shape[0], (phase.batch,), generator=generator)
    out = []
    for pick in picks.tolist():
        t0 = int(torch.randint(0, pool.shape[2] - phase.frames + 1, (), generator=generator))
        y0, x0 = (int(v) for v in torch.randint(0, pool.shape[3] - crop + 1, (2,), generator=generator))
        out.append(pool[pick, :, t0:t0 + phase.frames, y0:y0 + crop, x0:x0 + crop])
    return torch.stack(out)


def _loss(vae, pixels: torch.Tensor, phase: VaePhase, settings: VaeTrainSettings, generator: torch.Generator,
          train_encoder: bool) -> torch.Tensor:
    """Reconstruction (MSE + L1) from noised latents; with the encoder trained, the anchor and statistics terms."""
    with torch.set_grad_enabled(train_encoder):
        normalised = normalize_latent(vae.encode(pixels).latent_dist.mean)
    noise = torch.randn(normalised.shape, generator=generator) * phase.latent_noise
    error = vae.decode(denormalize_latent(normalised + noise)).sample - pixels
    loss = error.pow(2).mean() + 0.2 * error.abs().mean()
    if train_encoder:
        anchor = (normalised[:, :ANCHOR_CHANNELS] - anchor_target(pixels)).pow(2).mean()
        free = normalised[:, ANCHOR_CHANNELS:]
        stats = free.mean(dim=(0, 2, 3, 4)).pow(2).mean() + (free.var(dim=(0, 2, 3, 4)) - 1).pow(2).mean()
        loss = loss + settings.anchor_weight * anchor + settings.stats_weight * stats
    return loss


def _train(vae, parameters: list[torch.nn.Parameter], pool: torch.Tensor, phase: VaePhase,
           settings: VaeTrainSettings, generator: torch.Generator, name: str, log) -> None:
    """One phase: AdamW with a one-cycle schedule, gradients clipped at 1."""
    optimizer = torch.optim.AdamW(parameters, lr=phase.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, phase.learning_rate, total_steps=phase.steps,
                                                   pct_start=0.05)
    train_encoder = any(parameter.requires_grad for parameter in vae.encoder.parameters())
    started, recent = time.perf_counter(), []
    vae.train()
    for step in range(1, phase.steps + 1):
        loss = _loss(vae, _batch(pool, phase, settings.crop, generator), phase, settings, generator, train_encoder)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        recent = (recent + [loss.item()])[-25:]
        if step % 25 == 0 or step == phase.steps:
            log(f"{name} step {step}/{phase.steps} loss {sum(recent) / len(recent):.5f} "
                f"({time.perf_counter() - started:.0f} s)")
    vae.eval()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two [-1, 1] tensors, over [0, 1] pixels."""
    return -10 * math.log10(max(((a - b) / 2).pow(2).mean().item(), 1e-20))


@torch.no_grad()
def evaluate_vae(vae, pixels: torch.Tensor) -> tuple[float, float, float, float]:
    """(PSNR in dB, normalised latent mean, std, blind gap in dB) on full-size clips (see VaeReport)."""
    errors, latents, decoded = [], [], []
    for video in pixels.split(2):
        latent = vae.encode(video).latent_dist.mode()
        latents.append(normalize_latent(latent).flatten())
        decoded.append(vae.decode(latent).sample.clamp(-1, 1))
        errors.append(((decoded[-1] - video) / 2).pow(2).mean().item())
    normalised = torch.cat(latents)
    psnr = -10 * math.log10(sum(errors) / len(errors))
    first, second = pixels[0:1], pixels[2:3]  # two different clips' sources
    gap = _psnr(decoded[0][0:1], decoded[1][0:1]) - _psnr(first, second)
    return psnr, float(normalised.mean()), float(normalised.std()), gap


def save_vae(vae, path: Path) -> Path:
    """Original Wan 2.1 layout, float16 (ComfyUI's VAELoader and reco_core's load_vae both read it)."""
    original = {key: value.half() for key, value in vae_diffusers_to_original(vae.state_dict()).items()}
    save_safetensors(original, path, {"note": "ReCo-Toy Wan 2.1 VAE (toy world only)"})
    return path


def _finish(vae, path: Path, steps: int, seconds: float, log) -> VaeReport:
    """Save, measure on held-out clips, and refuse a blind VAE: every later stage would be wasted on it."""
    save_vae(vae, path)
    psnr, latent_mean, latent_std, gap = evaluate_vae(vae.half().float(), world_frames("test", 8))
    log(f"vae: held-out PSNR {psnr:.2f} dB, normalised latents mean {latent_mean:.3f} std {latent_std:.3f}, "
        f"blind gap {gap:.1f} dB")
    if gap > BLIND_MARGIN_DB:
        raise RuntimeError(f"the toy VAE ignores its input (two test clips decode {gap:.1f} dB closer than they "
                           f"are); train longer or lower the learning rate before building on it")
    return VaeReport(path, steps, seconds, psnr, latent_mean, latent_std, gap)


def train_vae(folder: Path, settings: VaeTrainSettings = VaeTrainSettings(), log=print) -> VaeReport:
    """Train from a fixed seed (images, then clips) and write ``folder / VAE_FILE``; returns held-out figures."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    vae = AutoencoderKLWan(base_dim=settings.base_dim)
    pool = world_frames("train", settings.clips)
    started = time.perf_counter()
    parameters = list(vae.parameters())
    _train(vae, parameters, pool, settings.images, settings, generator, "vae images", log)
    _train(vae, parameters, pool, settings.videos, settings, generator, "vae clips", log)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return _finish(vae, Path(folder) / VAE_FILE, settings.images.steps + settings.videos.steps,
                   time.perf_counter() - started, log)


def refine_decoder(path: Path, phase: VaePhase, settings: VaeTrainSettings = VaeTrainSettings(),
                   log=print) -> VaeReport:
    """Train only the decoder of the VAE at ``path`` further (encoder frozen) and write it back in place.

    The DiT and the LoRA data depend only on the encoder, so this stage can run beside them: the latents they were
    trained on stay exactly the same, and only the decoding of the final edit improves.
    """
    from ..wan_models import load_vae

    generator = torch.Generator().manual_seed(settings.seed + 1)
    vae = load_vae(path)
    vae.encoder.requires_grad_(False)
    vae.quant_conv.requires_grad_(False)
    started = time.perf_counter()
    _train(vae, [p for p in vae.parameters() if p.requires_grad], world_frames("train", settings.clips), phase,
           settings, generator, "decoder", log)
    return _finish(vae, path, phase.steps, time.perf_counter() - started, log)
