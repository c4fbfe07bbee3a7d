"""From a dataset folder to training items: validate every row, bucket the good ones, wrap them in the cached set.

Shared by `python -m reco_core train` and the ReCoTrainLoRA node, which differ only in where the VAE and the text
encoder come from (files loaded lazily vs ComfyUI's loaded VAE and CLIP).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .buckets import DEFAULT_BUCKETS, Bucket, assign_buckets
from .dataset import LatentEncoder, ReCoTrainingSet, TextEncoder
from .manifest import ValidationReport, validate_manifest


def build_training_set(
    folder: str | Path,
    cache_dir: str | Path,
    codec: LatentEncoder,
    codec_id: str,
    text_encoder: TextEncoder | None = None,
    text_encoder_id: str = "",
    buckets: Sequence[Bucket] = DEFAULT_BUCKETS,
    dilate_masks: bool = False,
) -> tuple[ReCoTrainingSet, ValidationReport]:
    """The training set of the folder's good rows and the report naming every bad one (never silently dropped)."""
    shortest = min(buckets, key=lambda bucket: bucket.frames)
    report = validate_manifest(folder, shortest.spec())
    if not report.ok_rows:
        raise ValueError(f"no usable rows in {folder}:\n{report.format()}")
    assignment = assign_buckets(report.source_sizes, buckets)
    dataset = ReCoTrainingSet(
        folder, report.ok_rows, lambda i: buckets[assignment[i]].spec(), codec, text_encoder,
        cache_dir=cache_dir, codec_id=codec_id, text_encoder_id=text_encoder_id, dilate_masks=dilate_masks,
    )
    return dataset, report
