"""Train the toy base Wan2.1-VACE DiT on generic VACE tasks over the toy world; editing is left to the ReCo LoRA.

The base must know what Wan-VACE knows before ReCo fine-tunes it, and nothing more: keep the control video where the
VACE mask is 0, and generate content that matches the caption where it is 1. Every sample is a canvas of two 96 x 96
halves (the geometry ReCo edits on), drawn from these generic kinds:

* ``right``: two unrelated clips side by side, the right half to generate from its caption (ReCo's layout, no edit);
* ``left``: the same with the left half to generate;
* ``inpaint``: a box around an object of the right half to regenerate from the right half's caption;
* ``twin``: the same clip on both halves, the right one to generate: the in-context "the other half shows this
  scene" prior a large video model has from its data, never an edit (the caption describes both halves alike);
* ``all``: everything generated from a caption (both halves show the described clip).

The text is the toy text encoder on the caption (dropped to the empty text 10% of the time, for guidance). Half-width
clips are encoded once with the toy VAE (`LatentPool`), canvases are composed from them in latent space with the VACE
context laid out as `vace_context` lays it out, and the DiT trains by flow matching on the ReCo noise table (at the
toy's shift), the objective the LoRA trainer's L_ic uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..wan_latent import latent_shape
from ..wan_latent import normalize_latent
from ..wan_latent import token_grid
from ..schedule import TIMESTEP_SCALE
from ..schedule import sigma_table
from ..training.losses import noised_latent
from ..vace_context import fold_mask
from ..weights.checkpoint import save_safetensors
from ..weights.wan_keys import transformer_diffusers_to_comfy
from .copy_heads import seed_copy_heads
from .text_encoder import ToyTextEncoder
from .world import TASKS, make_clip

DIT_FILE = "reco_toy_wan2.1_vace.safetensors"
LAYERS = 4
# ComfyUI places n VACE blocks at range(0, layers, layers // n); diffusers takes the list, so they must agree.
VACE_LAYERS = [0, 2]
TOY_TRANSFORMER_CONFIG = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=128, in_channels=16, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=768, num_layers=LAYERS, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, vace_layers=VACE_LAYERS, vace_in_channels=96,
)
# The blocks right after each VACE hint (added after blocks 0 and 2) get a head seeded to look across the seam: the
# source the hint just brought in is what the other half copies (see copy_heads).
COPY_HEAD_BLOCKS = (1, 3)
# The canvas the toy trains and samples at: two halves of the world's default 9 frames of 96 x 96.
CLIP_FRAMES, CLIP_SIZE = 9, 96
CANVAS_TOKENS = token_grid(*latent_shape(CLIP_SIZE, 2 * CLIP_SIZE, CLIP_FRAMES)[2:])
KINDS = ("right", "left", "inpaint", "twin", "all")
KIND_WEIGHTS = (0.2, 0.1, 0.3, 0.3, 0.1)
# Later stages lean on the in-context kinds: with "right" (an unrelated left half) common, the model hedges between
# copying the other half and not, and the copy, which every ReCo edit rests on, stays blurred.
IN_CONTEXT_KIND_WEIGHTS = (0.05, 0.05, 0.35, 0.45, 0.1)
CAPTION_DROP = 0.1
INPAINT_MARGIN = 8  # pixels added around an object's box


@dataclass(frozen=True)
class DitTrainSettings:
    scenes: int = 240  # world scenes (96 x 96 clips) encoded once
    inpaint_scenes: int = 96  # object clips encoded once more with a gray box over the object
    steps: int = 1600
    batch: int = 8
    learning_rate: float = 5e-4
    warmup: int = 50
    shift: float = 3.0
    seed: int = 0
    kind_weights: tuple[float, ...] = KIND_WEIGHTS  # in KINDS order


@dataclass(frozen=True)
class DitReport:
    path: Path
    steps: int
    encode_seconds: float
    train_seconds: float
    final_loss: float  # mean flow-matching loss over the last 50 steps


@dataclass
class LatentPool:
    """Normalised latents of half-width clips, (N, 16, T, h, w), encoded once in batches.

    A canvas's latents are composed from its two halves' latents. The encoder's receptive field crosses the seam, so
    this differs from encoding the whole canvas in the latent columns next to it; the base model tolerates that, and
    the LoRA trainer then sees exact canvas encodes. It makes the base's data ~6x cheaper to encode on a CPU.
    """

    scenes: torch.Tensor
    captions: list[str]
    inpaint_targets: torch.Tensor  # the object clip's target
    inpaint_boxed: torch.Tensor  # the same with gray over the box to regenerate
    inpaint_masks: torch.Tensor  # (M, F, H, W) pixel boxes
    inpaint_captions: list[str]
    gray: torch.Tensor  # (16, T, h, w): a neutral gray half


def _encode_batched(vae, videos: np.ndarray | torch.Tensor, batch: int = 8) -> torch.Tensor:
    """(N, F, H, W, 3) uint8 or [0, 1] floats -> normalised latents (N, 16, T, h, w)."""
    pixels = torch.as_tensor(videos)
    pixels = pixels.float() / 255 if pixels.dtype == torch.uint8 else pixels.float()
    out = []
    with torch.no_grad():
        for chunk in pixels.split(batch):
            latent = vae.encode((chunk * 2 - 1).permute(0, 4, 1, 2, 3)).latent_dist.mode()
            out.append(normalize_latent(latent))
    return torch.cat(out)


def _object_box(mask: np.ndarray) -> tuple[slice, slice]:
    rows, columns = np.nonzero(mask.any(axis=0))
    height, width = mask.shape[1:]
    return (slice(max(0, rows.min() - INPAINT_MARGIN), min(height, rows.max() + 1 + INPAINT_MARGIN)),
            slice(max(0, columns.min() - INPAINT_MARGIN), min(width, columns.max() + 1 + INPAINT_MARGIN)))


def encode_pool(vae, settings: DitTrainSettings) -> LatentPool:
    """Scenes are train clips' sources and targets; inpaint clips are later train clips with an object edit."""
    videos, captions = [], []
    for index in range(settings.scenes):
        clip = make_clip("train", index, frames=CLIP_FRAMES, size=CLIP_SIZE)
        pick_source = index % 2 == 0
        videos.append(clip.source if pick_source else clip.target)
        captions.append(clip.source_caption if pick_source else clip.target_caption)
    targets, boxed, masks, inpaint_captions = [], [], [], []
    for index in range(settings.scenes, settings.scenes + settings.inpaint_scenes):
        # add, remove or replace: one object's region
        clip = make_clip("train", index, TASKS[index % 3], frames=CLIP_FRAMES, size=CLIP_SIZE)
        rows, columns = _object_box(clip.mask)
        box = np.zeros(clip.mask.shape, dtype=bool)
        box[:, rows, columns] = True
        grayed = clip.target.copy()
        grayed[box] = 128
        targets.append(clip.target)
        boxed.append(grayed)
        masks.append(box)
        inpaint_captions.append(clip.target_caption)
    frames, size = videos[0].shape[:2]
    gray = torch.full((1, frames, size, size, 3), 0.5)
    return LatentPool(
        scenes=_encode_batched(vae, np.stack(videos)), captions=captions,
        inpaint_targets=_encode_batched(vae, np.stack(targets)), inpaint_boxed=_encode_batched(vae, np.stack(boxed)),
        inpaint_masks=torch.from_numpy(np.stack(masks)).float(), inpaint_captions=inpaint_captions,
        gray=_encode_batched(vae, gray)[0],
    )


def compose_sample(pool: LatentPool, rng: np.random.Generator, kind_weights: tuple[float, ...] = KIND_WEIGHTS
                   ) -> tuple[torch.Tensor, torch.Tensor, str, str]:
    """(x0 (16, T, h, 2w), context (96, T, h, 2w), caption, kind) of one random canvas from the pool."""
    kind = KINDS[int(rng.choice(len(KINDS), p=kind_weights))]
    a, b = (int(i) for i in rng.integers(0, len(pool.captions), 2))
    frames, size = pool.inpaint_masks.shape[1:3]
    gray, mask = pool.gray, torch.zeros(frames, size, 2 * size)
    # (left, right) make x0; (kept_left, kept_right) are what the control video keeps (gray where generated).
    scene_a, scene_b, caption = pool.scenes[a], pool.scenes[b], pool.captions[a]
    if kind == "right":
        left, right, kept_left, kept_right, caption = scene_a, scene_b, scene_a, gray, pool.captions[b]
        mask[:, :, size:] = 1
    elif kind == "left":
        left, right, kept_left, kept_right = scene_a, scene_b, gray, scene_b
        mask[:, :, :size] = 1
    elif kind == "inpaint":
        i = int(rng.integers(0, len(pool.inpaint_captions)))
        left, right, caption = scene_a, pool.inpaint_targets[i], pool.inpaint_captions[i]
        kept_left, kept_right = scene_a, pool.inpaint_boxed[i]
        mask[:, :, size:] = pool.inpaint_masks[i]
    elif kind == "twin":
        left, right, kept_left, kept_right = scene_a, scene_a, scene_a, gray
        mask[:, :, size:] = 1
    else:
        left, right, kept_left, kept_right = scene_a, scene_a, gray, gray
        mask[:] = 1
    if rng.random() < CAPTION_DROP:
        caption = ""
    x0 = torch.cat((left, right), dim=-1)
    inactive = torch.cat((kept_left, kept_right), dim=-1)
    reactive = torch.cat((gray, gray), dim=-1)  # generated regions hold gray in the control video, as at inference
    context = torch.cat((inactive, reactive, fold_mask(mask, x0.shape[1])), dim=0)
    return x0, context, caption, kind


def new_transformer(seed: int):
    """A fresh toy DiT from `seed`, with the copy heads seeded for the toy's canvas."""
    from diffusers import WanVACETransformer3DModel

    torch.manual_seed(seed)
    transformer = WanVACETransformer3DModel(**TOY_TRANSFORMER_CONFIG)
    seed_copy_heads(transformer, CANVAS_TOKENS, COPY_HEAD_BLOCKS)
    return transformer


def save_transformer(transformer, path: Path) -> Path:
    """ComfyUI single-file layout in float16 (native UNETLoader detects it as WAN21_Vace)."""
    comfy = {key: value.half() for key, value in transformer_diffusers_to_comfy(transformer.state_dict()).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_safetensors(comfy, path, {"note": "ReCo-Toy Wan2.1-VACE base DiT (toy world only)"})
    return path


def train_dit(folder: Path, vae, text_encoder: ToyTextEncoder, settings: DitTrainSettings = DitTrainSettings(),
              log=print, resume: Path | None = None) -> DitReport:
    """Encode the latent pool, train the DiT from a fixed seed on canvases composed from it; writes DIT_FILE.

    With ``resume`` (a DIT_FILE written earlier), training continues from those weights with a fresh optimizer: the
    build runs the DiT in stages, so a longer schedule does not throw away the steps already paid for.
    """
    rng = np.random.default_rng(settings.seed)
    started = time.perf_counter()
    pool = encode_pool(vae.eval(), settings)
    encode_seconds = time.perf_counter() - started
    log(f"dit data: {settings.scenes} scenes, {settings.inpaint_scenes} inpaint clips ({encode_seconds:.0f} s)")

    if resume is None:
        transformer = new_transformer(settings.seed).train()
    else:
        from ..wan_models import load_transformer

        transformer = load_transformer(resume).float().train()
    optimizer = torch.optim.AdamW(transformer.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / settings.warmup))
    sigmas = sigma_table(settings.shift).float()
    generator = torch.Generator().manual_seed(settings.seed)
    losses: list[float] = []
    started = time.perf_counter()
    for step in range(1, settings.steps + 1):
        samples = [compose_sample(pool, rng, settings.kind_weights) for _ in range(settings.batch)]
        x0 = torch.stack([sample[0] for sample in samples])
        contexts = torch.stack([sample[1] for sample in samples])
        prompts = torch.cat([text_encoder.encode(caption) if caption else text_encoder.unconditional()
                             for _, _, caption, _ in samples])
        sigma = sigmas[torch.randint(0, len(sigmas), (settings.batch,), generator=generator)]
        noise = torch.randn(x0.shape, generator=generator)
        x_t = noised_latent(x0, noise, sigma.view(-1, 1, 1, 1, 1))
        velocity = transformer(hidden_states=x_t, timestep=sigma * TIMESTEP_SCALE,
                               encoder_hidden_states=prompts, control_hidden_states=contexts,
                               return_dict=False)[0]
        loss = torch.nn.functional.mse_loss(velocity, noise - x0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(transformer.parameters(), 1.0)
        optimizer.step()
        warmup.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 25 == 0 or step == settings.steps:
            recent = sum(losses[-25:]) / len(losses[-25:])
            log(f"dit step {step}/{settings.steps} loss {recent:.4f} ({time.perf_counter() - started:.0f} s)")
    train_seconds = time.perf_counter() - started
    path = save_transformer(transformer.eval(), Path(folder) / DIT_FILE)
    tail = losses[-50:]
    return DitReport(path, settings.steps, encode_seconds, train_seconds, sum(tail) / len(tail))
