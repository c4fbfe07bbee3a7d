"""Judge-free scores of toy edits against the exact ground truth, per task and overall.

Real video editing is scored by a VLM judge because the right answer is unknown; in the toy world it is known pixel
for pixel, so each prediction is measured directly (pixels as floats in [0, 1]):

- target PSNR / SSIM inside the edit mask, against the true target: did the edit happen, and look right?
- background PSNR / SSIM outside the mask, against the source: was everything else left alone?
- localisation IoU of the pixels that changed (largest channel of |prediction - source| above CHANGE_THRESHOLD, the
  source being the decoded video the editor was given) with the true mask: did the edit land there, and only there?
- temporal: | mean frame-to-frame change of the prediction - that of the target |: flicker or frozen motion.
- frame PSNR, the whole frame against the true target: the style metric (a style edit's mask is the whole frame, so
  background and IoU are n/a for style).

SSIM is computed here: an 11 x 11 gaussian window (sigma 1.5) per channel and frame, reflect-padded so the map covers
every pixel, constants for a data range of 1, channels averaged, then the mean of the map over the chosen pixels,
with the other pixels set to the truth's so that only the chosen ones are judged.

A clip's score pools all its frames; a group's score (task, overall, seen or unseen looks) is the mean over its clips
of the scores they define.

Ground truth is regenerated from each manifest row's (split, index, task, frames, size), never read from lossy mp4s.
Two reference rows are always scored from the dataset folder itself: "copy source" (the source video file, what a
graph that changes nothing returns) and "true target (mp4)" (the target video file: the ceiling the codec allows).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from ..video_io import read_video
from .dataset import read_toy_rows
from .world import TASKS, ToyClip, unseen_looks

CHANGE_THRESHOLD = 0.2  # above most of H.264's error at the toy's sharp colour edges, well below any real edit
# (objects differ from backgrounds by >= 60/255 in some channel)
COPY_SOURCE, TRUE_TARGET = "copy source", "true target (mp4)"
METRICS = ("target_psnr", "target_ssim", "background_psnr", "background_ssim", "iou", "temporal", "frame_psnr")
OVERALL = "overall"
UNSEEN_LOOKS = "unseen looks"  # clips whose edit involves a colour/shape combination training never shows
SEEN_LOOKS = "seen looks"  # the other clips, for contrast
_SSIM_WINDOW, _SSIM_SIGMA = 11, 1.5
_SSIM_C1, _SSIM_C2 = 0.01**2, 0.03**2


def psnr(prediction: np.ndarray, truth: np.ndarray, where: np.ndarray | None = None) -> float | None:
    """PSNR in dB over the (F, H, W) pixels `where` (all if None); inf when equal there, None when `where` is empty."""
    where = np.ones(truth.shape[:-1], dtype=bool) if where is None else where
    if not where.any():
        return None
    error = float(np.mean((prediction[where].astype(np.float64) - truth[where]) ** 2))
    return math.inf if error == 0 else 10 * math.log10(1 / error)


def ssim_map(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM (F, H, W) of two (F, H, W, 3) clips in [0, 1], averaged over the colour channels.

    Plain numpy (the gaussian as two 1-D passes of shifted sums): on a busy machine torch's thread pool made these
    small convolutions a hundred times slower.
    """
    a, b = (np.asarray(clip, dtype=np.float32) for clip in (prediction, truth))
    mean_a, mean_b = _gaussian_blur(a), _gaussian_blur(b)
    var_a = _gaussian_blur(a * a) - mean_a**2
    var_b = _gaussian_blur(b * b) - mean_b**2
    covariance = _gaussian_blur(a * b) - mean_a * mean_b
    numerator = (2 * mean_a * mean_b + _SSIM_C1) * (2 * covariance + _SSIM_C2)
    denominator = (mean_a**2 + mean_b**2 + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    return (numerator / denominator).mean(axis=-1, dtype=np.float64)


def _gaussian_blur(planes: np.ndarray) -> np.ndarray:
    """The SSIM window over axes 1 (rows) and 2 (columns) of (F, H, W, C), reflect-padded to keep the size."""
    offsets = np.arange(_SSIM_WINDOW) - _SSIM_WINDOW // 2
    weights = np.exp(-(offsets**2) / (2 * _SSIM_SIGMA**2)).astype(np.float32)
    weights /= weights.sum()
    pad = _SSIM_WINDOW // 2
    for axis in (1, 2):
        padding = [(0, 0)] * planes.ndim
        padding[axis] = (pad, pad)
        padded = np.pad(planes, padding, mode="reflect")
        length = planes.shape[axis]
        planes = sum(weight * padded.take(np.arange(start, start + length), axis=axis)
                     for start, weight in enumerate(weights))
    return planes


def masked_ssim(prediction: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float | None:
    """Mean SSIM over the pixels `where`, judging only those pixels; None when `where` is empty.

    The prediction's other pixels are replaced by the truth's first: otherwise windows at the mask's border would see
    the other region too, and a background left perfectly alone would lose score for an edit made next to it.
    """
    if not where.any():
        return None
    judged = np.where(where[..., None], prediction, truth)
    return float(ssim_map(judged, truth)[where].mean())


def changed_pixels(prediction: np.ndarray, source: np.ndarray) -> np.ndarray:
    """(F, H, W) pixels whose largest channel differs from the source by more than CHANGE_THRESHOLD."""
    return np.abs(prediction.astype(np.float64) - source).max(axis=-1) > CHANGE_THRESHOLD


def iou(predicted: np.ndarray, truth: np.ndarray) -> float | None:
    """Intersection over union of two boolean masks; None when both are empty."""
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else None


def temporal_gap(prediction: np.ndarray, target: np.ndarray) -> float | None:
    """|mean |frame-to-frame change| of the prediction - the same of the target|; None for a single frame."""
    if len(target) < 2:
        return None
    motion = [float(np.abs(np.diff(clip.astype(np.float64), axis=0)).mean()) for clip in (prediction, target)]
    return abs(motion[0] - motion[1])


def clip_metrics(
    prediction: np.ndarray, clip: ToyClip, given_source: np.ndarray | None = None
) -> dict[str, float | None]:
    """Every metric for one predicted clip (F, H, W, 3) in [0, 1] against the clip's exact ground truth.

    `given_source` is the source as the editor received it (the decoded source video), against which changed pixels
    are found for IoU: H.264 moves the toy's sharp colour edges by more than the threshold, and that noise is not an
    edit. It defaults to the exact source, as do the PSNR/SSIM references always (codec loss is lost quality there).
    """
    source, target = clip.source / 255.0, clip.target / 255.0
    inside = clip.mask
    outside = np.zeros_like(inside) if clip.task == "style" else ~inside
    given = source if given_source is None else given_source
    return {
        "target_psnr": psnr(prediction, target, inside),
        "target_ssim": masked_ssim(prediction, target, inside),
        "background_psnr": psnr(prediction, source, outside),
        "background_ssim": masked_ssim(prediction, source, outside),
        "iou": None if clip.task == "style" else iou(changed_pixels(prediction, given), inside),
        "temporal": temporal_gap(prediction, target),
        "frame_psnr": psnr(prediction, target),
    }


def summarize(
    per_clip: dict[str, dict[str, float | None]], tasks: dict[str, str], extra: dict[str, list[str]] | None = None
) -> dict[str, dict]:
    """Mean of each metric over the clips of each task, of all clips ("overall") and of each `extra` group of clip
    ids, n/a values left out, with clip counts; groups without clips are left out."""
    groups = {task: [clip for clip, name in tasks.items() if name == task] for task in TASKS}
    groups[OVERALL] = list(per_clip)
    groups.update(extra or {})
    summary = {}
    for group, clips in groups.items():
        if not clips:
            continue
        row: dict[str, float | int | None] = {"clips": len(clips)}
        for metric in METRICS:
            values = [per_clip[clip][metric] for clip in clips if per_clip[clip][metric] is not None]
            row[metric] = float(np.mean(values)) if values else None
        summary[group] = row
    return summary


def evaluate(manifest: str | os.PathLike[str], predictions: dict[str, str | os.PathLike[str]]) -> dict:
    """Score every prediction folder (label -> folder of ``<clip_id>.mp4``) on the manifest's toy clips.

    Only clips that every folder holds are scored, so the rows of the table compare like with like; the clips left
    out are listed per label under "missing". The result holds "summary" (label -> task, "overall", "unseen looks" or
    "seen looks" -> metric),
    "per_clip" (label -> clip_id -> metric), the clip counts and the change threshold; n/a is None, a perfect PSNR inf.
    """
    rows = read_toy_rows(manifest)
    folders = {label: Path(folder) for label, folder in predictions.items()}
    for label, folder in folders.items():
        if label in (COPY_SOURCE, TRUE_TARGET):
            raise ValueError(f"prediction label {label!r} is reserved for a reference row; choose another label.")
        if not folder.is_dir():
            raise FileNotFoundError(f"prediction folder {folder} (label {label!r}) does not exist.")
    missing = {label: [row.clip_id for row in rows if not (folder / f"{row.clip_id}.mp4").is_file()]
               for label, folder in folders.items()}
    for label, absent in missing.items():
        if len(absent) == len(rows):
            raise ValueError(f"prediction folder {folders[label]} (label {label!r}) holds no <clip_id>.mp4 of the "
                             f"manifest, e.g. {rows[0].clip_id}.mp4.")
    skipped = {clip_id for absent in missing.values() for clip_id in absent}
    scored = [row for row in rows if row.clip_id not in skipped]

    labels = [COPY_SOURCE, TRUE_TARGET, *folders]
    per_clip: dict[str, dict[str, dict]] = {label: {} for label in labels}
    looks: dict[str, list[str]] = {UNSEEN_LOOKS: [], SEEN_LOOKS: []}
    for row in scored:
        clip = row.regenerate()
        looks[UNSEEN_LOOKS if unseen_looks(clip) else SEEN_LOOKS].append(clip.clip_id)
        given = read_prediction(row.source_video, clip)
        files = {TRUE_TARGET: row.target_video,
                 **{label: folder / f"{row.clip_id}.mp4" for label, folder in folders.items()}}
        per_clip[COPY_SOURCE][row.clip_id] = clip_metrics(given, clip, given)
        for label, path in files.items():
            per_clip[label][row.clip_id] = clip_metrics(read_prediction(path, clip), clip, given)
    tasks = {row.clip_id: row.task for row in scored}
    return {
        "change_threshold": CHANGE_THRESHOLD,
        "clips": len(rows),
        "scored": len(scored),
        "missing": {label: absent for label, absent in missing.items() if absent},
        "summary": {label: summarize(per_clip[label], tasks, looks) for label in labels},
        "per_clip": per_clip,
    }


def read_prediction(path: Path, clip: ToyClip) -> np.ndarray:
    """The first F frames of a predicted clip (F, H, W, 3) in [0, 1]; a ValueError naming the file unless it has the
    source's size and at least its frame count."""
    frames, _ = read_video(path)
    want = clip.source.shape
    if frames.shape[1:] != want[1:] or frames.shape[0] < want[0]:
        raise ValueError(
            f"{path} is {frames.shape[0]} frames of {frames.shape[2]}x{frames.shape[1]}, but clip {clip.clip_id} needs "
            f"{want[0]} frames of {want[2]}x{want[1]}: save the edited half at the source's size."
        )
    return frames[: want[0]].numpy()


def format_table(result: dict) -> str:
    """The summary as a text table: a block per group (task, overall, ...), a line per label, n/a where undefined."""
    headers = ("clips", "tgt PSNR", "tgt SSIM", "bg PSNR", "bg SSIM", "IoU", "temporal", "frame PSNR")
    labels = list(result["summary"])
    width = max(len(label) for label in labels) + 2
    lines = [
        f"{result['scored']} of {result['clips']} clips scored; changed = a channel moves by > {CHANGE_THRESHOLD}; "
        "PSNR in dB; temporal: lower is better; frame PSNR is the style metric."
    ]
    groups = dict.fromkeys(group for label in labels for group in result["summary"][label])
    for group in groups:
        present = [label for label in labels if group in result["summary"][label]]
        lines += ["", f"{group:<{width}}" + "".join(f"{header:>11}" for header in headers)]
        for label in present:
            row = result["summary"][label][group]
            cells = [str(row["clips"]), *(_cell(metric, row[metric]) for metric in METRICS)]
            lines.append(f"  {label:<{width - 2}}" + "".join(f"{cell:>11}" for cell in cells))
    return "\n".join(lines)


def _cell(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.2f}" if metric.endswith("psnr") else f"{value:.3f}"
