"""ReCo's training examples: the latent of the [source | target] canvas, the VACE context, the prompt and the edit mask.

Training must see exactly what inference sees. The VACE context is therefore computed by the same `build_canvas` and
`vace_context` the edit path uses (control = [source | gray], mask = [0 | 1]), and the target enters the canvas
through the same geometry as the source (window, fit, repeated last frame), so target pixels sit where the model will
later write them. x0 = VAE([source | target]) is normalized like the sampler's latents (RECO_METHOD.md, Training).

The edit mask is the authors' latent mask: the per-frame object mask is placed on the canvas half like the source,
encoded by the same VAE as a video, and its 16-d latent vectors split by 2-means (`kmeans_latent_mask`), the
higher-mean cluster being the edit region. Part of ReCo-Data dilated masks 11 x 11 first (``dilate_masks``). Style
edits, and rows without a mask, change the whole frame: their mask is all ones, which turns the region loss off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

import torch
from torch.utils.data import Dataset

from ..canvas import CanvasGeometry, CanvasSpec, build_canvas, place_source_mask
from ..paths import resolve_inside
from ..regions import dilate_pixel_mask, kmeans_latent_mask
from ..text_embeddings import EMBEDS_KEY, UMT5_DIM, load_text_embeddings
from ..vace_context import VaceContext, vace_context
from ..video_io import read_video
from ..wan_latent import normalize_latent
from .cache import TensorCache, cache_key, file_digest
from .manifest import Row

# The authors' dilation of part of their masks, applied per frame before encoding.
MASK_DILATION = 11
# A task whose edit covers the whole frame, so it has no region to constrain.
WHOLE_FRAME_TASKS = ("style",)


class LatentEncoder(Protocol):
    """What the dataset needs of a VAE: ComfyUI's convention, (F, H, W, 3) in [0, 1] -> raw (1, 16, T, h, w)."""

    def encode(self, frames: torch.Tensor) -> torch.Tensor: ...


# An instruction -> its UMT5 embeddings (1, tokens, 4096).
TextEncoder = Callable[[str], torch.Tensor]


class ReCoTrainingSet(Dataset):
    """Item i of ``rows`` (rows that passed `validate_manifest`) as the tensors a training step consumes.

    ``spec_for_row(i)`` is the canvas of item i (its bucket's spec). ``codec_id`` names the VAE (file name and hash,
    dtype) and ``text_encoder_id`` the text encoder, because cache entries are keyed by them: a cache shared between
    two VAEs must never mix their latents. Rows without ``prompt_embeds`` need ``text_encoder``.

    An item is a dict: ``x0`` (16, T, h, 2w) normalized latent of [source | target]; ``context`` (96, T, h, 2w), the
    VACE context inference uses; ``prompt_embeds`` (tokens, 4096); ``latent_mask`` (T, h, w) float {0, 1} on one
    half's latent grid, 1 = edited; ``task`` (the row's task, "" when it names none); ``index`` (the manifest row).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        rows: Sequence[Row],
        spec_for_row: Callable[[int], CanvasSpec],
        codec: LatentEncoder,
        text_encoder: TextEncoder | None = None,
        *,
        cache_dir: str | os.PathLike[str],
        codec_id: str,
        text_encoder_id: str = "",
        dilate_masks: bool = False,
    ):
        if not codec_id:
            raise ValueError("codec_id must name the VAE (e.g. file name and dtype): cache entries are keyed by it.")
        if text_encoder is not None and not text_encoder_id:
            raise ValueError("text_encoder_id must name the text encoder: cached prompt embeddings are keyed by it.")
        unprompted = [row.index for row in rows if row.prompt_embeds is None]
        if unprompted and text_encoder is None:
            raise ValueError(
                f"manifest rows {unprompted} have no prompt_embeds file and no text encoder was given: pass a text "
                "encoder, or give each row prompt_embeds (saved with ReCoSaveConditioning or save_text_embeddings)."
            )
        self.folder, self.rows, self.spec_for_row = Path(folder), list(rows), spec_for_row
        self.codec, self.text_encoder = codec, text_encoder
        self.codec_id, self.text_encoder_id, self.dilate_masks = codec_id, text_encoder_id, dilate_masks
        self.cache = TensorCache(cache_dir)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | str | int]:
        row, spec = self.rows[i], self.spec_for_row(i)
        latents = self._latents(row, spec)
        context = VaceContext(frames=latents["vace_frames"][None], mask=latents["vace_mask"][None],
                              latent_length=latents["x0"].shape[1], trim=0)
        return {
            "x0": latents["x0"],
            "context": context.model_context()[0],
            "prompt_embeds": self._prompt(row),
            "latent_mask": latents["latent_mask"],
            "task": row.task or "",
            "index": row.index,
        }

    def _path(self, relative: str) -> Path:
        return resolve_inside(self.folder, relative, folder_label="the dataset folder")

    def _uses_mask(self, row: Row) -> bool:
        return row.mask_video is not None and row.task not in WHOLE_FRAME_TASKS

    def _latents(self, row: Row, spec: CanvasSpec) -> dict[str, torch.Tensor]:
        """x0, the VACE frames (32 channels) and mask (64, stored as bool), and the latent mask, through the cache.

        The context is cached as native `VaceContext` parts rather than the 96-channel model input: the mask
        channels are exactly 0/1, so storing them as bool halves the context's size without changing a value.
        """
        parts: dict[str, object] = {
            "kind": "row-latents", "src": file_digest(self._path(row.src_video)),
            "tar": file_digest(self._path(row.tar_video)), "spec": asdict(spec), "codec": self.codec_id,
        }
        if self._uses_mask(row):
            parts.update(mask=file_digest(self._path(row.mask_video)), dilate=self.dilate_masks)
        return self.cache.get_or_compute(cache_key(parts), lambda: self._encode_row(row, spec))

    def _encode_row(self, row: Row, spec: CanvasSpec) -> dict[str, torch.Tensor]:
        """The cache miss: four VAE encodes (the pair, VACE's two streams, the mask video; three without a mask).

        The target is laid out by its own `build_canvas`: validated to the source's size and length, it gets the same
        geometry, which is checked, so its left half is exactly where the target belongs in the right half.
        """
        source = self._read(row, "src_video", spec)
        target = self._read(row, "tar_video", spec)
        canvas = build_canvas(source, spec)
        target_canvas = build_canvas(target, spec)
        if target_canvas.geometry != canvas.geometry:
            raise ValueError(
                f"manifest row {row.index}: {row.tar_video} no longer matches {row.src_video} in size or frame count "
                "(changed since validation?); validate the manifest again."
            )
        half = spec.half_width
        pair = torch.cat((canvas.control[:, :, :half], target_canvas.control[:, :, :half]), dim=2)
        x0 = normalize_latent(self.codec.encode(pair))[0]
        context = vace_context(self.codec.encode, canvas.control, canvas.mask)
        if self._uses_mask(row):
            latent_mask = self._latent_mask(row, spec, canvas.geometry)
        else:
            latent_mask = torch.ones(x0.shape[1], x0.shape[2], x0.shape[3] // 2)
        return {"x0": x0, "vace_frames": context.frames[0], "vace_mask": context.mask[0].bool(),
                "latent_mask": latent_mask}

    def _latent_mask(self, row: Row, spec: CanvasSpec, geometry: CanvasGeometry) -> torch.Tensor:
        """The authors' latent mask: pixel mask on the half grid -> VAE latent -> 2-means, higher-mean cluster = 1."""
        pixels = self._read(row, "mask_video", spec).mean(dim=-1)
        if self.dilate_masks:
            pixels = dilate_pixel_mask(pixels, MASK_DILATION)
        placed = place_source_mask(pixels, geometry)
        return kmeans_latent_mask(self.codec.encode(placed.unsqueeze(-1).expand(-1, -1, -1, 3)))

    def _read(self, row: Row, name: str, spec: CanvasSpec) -> torch.Tensor:
        """The first ``spec.length`` frames of the row's video ``name``, the window the canvas takes."""
        frames, _ = read_video(self._path(getattr(row, name)), max_frames=spec.length)
        return frames

    def _prompt(self, row: Row) -> torch.Tensor:
        """(tokens, 4096): the row's saved embeddings, else the instruction through the text encoder (cached)."""
        if row.prompt_embeds is not None:
            embeds = load_text_embeddings(self._path(row.prompt_embeds)).embeds
        else:
            key = cache_key({"kind": "prompt", "text": row.instruction, "encoder": self.text_encoder_id})
            embeds = self.cache.get_or_compute(key, lambda: {EMBEDS_KEY: self._encode_text(row)})[EMBEDS_KEY]
        return embeds[0]

    def _encode_text(self, row: Row) -> torch.Tensor:
        embeds = self.text_encoder(row.instruction)
        shaped = isinstance(embeds, torch.Tensor) and embeds.ndim == 3 and embeds.shape[0] == 1
        if not shaped or embeds.shape[2] != UMT5_DIM:
            got = tuple(embeds.shape) if isinstance(embeds, torch.Tensor) else type(embeds).__name__
            raise ValueError(
                f"the text encoder returned {got} for manifest row {row.index}; it must return one prompt's UMT5 "
                f"embeddings shaped (1, tokens, {UMT5_DIM})."
            )
        return embeds
