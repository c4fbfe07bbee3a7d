"""Resolution and frame-count buckets, and a resumable sampler that draws each batch from one bucket.

Clips come in many sizes and lengths. Stretching all of them to 832 x 480 x 81 would upscale small clips and cannot
lengthen short ones (the Wan VAE needs 4n + 1 real frames; repeating frames would teach frozen motion). Instead each
clip trains at the nearest of a few canvas shapes whose length fits inside it, and a batch holds one shape only, so
its latents stack. The sampler's order is a pure function of (seed, epoch), and its state is (epoch, position), so a
resumed run draws exactly the batches the interrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..canvas import CanvasSpec, Fit


@dataclass(frozen=True)
class Bucket:
    """One canvas shape: the size of a half and the frame count (4n + 1), checked as a CanvasSpec would."""

    width: int
    height: int
    frames: int

    def __post_init__(self) -> None:
        self.spec()

    def spec(self, fit: Fit = "stretch") -> CanvasSpec:
        return CanvasSpec(half_width=self.width, height=self.height, length=self.frames, fit=fit)


# The authors' shape first, then shorter and smaller ones (sides multiples of 16, close to 16:9).
DEFAULT_BUCKETS: tuple[Bucket, ...] = (
    Bucket(832, 480, 81),
    Bucket(832, 480, 49),
    Bucket(640, 368, 49),
    Bucket(480, 272, 33),
)


def bucket_distance(size: tuple[int, int, int], bucket: Bucket) -> float:
    """How far a (width, height, frames) clip is from a bucket: summed |log ratio| of width, height and frames.

    Log ratios make halving and doubling equally far, so a clip is not pushed towards large buckets.
    """
    width, height, frames = size
    return sum(abs(math.log(have / want)) for have, want in
               ((width, bucket.width), (height, bucket.height), (frames, bucket.frames)))


def assign_buckets(sizes: Sequence[tuple[int, int, int]], buckets: Sequence[Bucket] = DEFAULT_BUCKETS) -> list[int]:
    """For each clip's (width, height, frames), the index of the nearest bucket with no more frames than the clip.

    Ties go to the bucket listed first. A clip shorter than every bucket has none, which raises naming those clips:
    validate the manifest with the shortest bucket's spec first and they are reported and excluded there.
    """
    if not buckets:
        raise ValueError("buckets is empty: give at least one Bucket(width, height, frames).")
    assignment, too_short = [], []
    for position, size in enumerate(sizes):
        fitting = [index for index, bucket in enumerate(buckets) if bucket.frames <= size[2]]
        if not fitting:
            too_short.append(position)
            continue
        assignment.append(min(fitting, key=lambda index: bucket_distance(size, buckets[index])))
    if too_short:
        shortest = min(bucket.frames for bucket in buckets)
        raise ValueError(
            f"clips at positions {too_short} have fewer than {shortest} frames, the shortest bucket: "
            "validate the manifest with that bucket's spec to exclude them, or add a shorter bucket."
        )
    return assignment


class BucketBatchSampler:
    """Batches of dataset positions, each from a single bucket, shuffled per epoch from ``seed``; resumable exactly.

    An epoch shuffles each bucket's positions, cuts them into batches (the last one of a bucket may be short unless
    ``drop_last``) and shuffles the batches across buckets. Iterating yields the rest of the current epoch and then
    moves to the next. ``state_dict()`` counts batches handed out, so save it after the step that used the last batch;
    with a DataLoader, use ``num_workers=0`` or a loader that does not pull batches ahead, or the count runs ahead.
    """

    def __init__(self, assignment: Sequence[int], batch_size: int = 1, seed: int = 0, drop_last: bool = False):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.assignment = list(assignment)
        self.batch_size, self.seed, self.drop_last = batch_size, seed, drop_last
        self.epoch, self.position = 0, 0

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Every batch of ``epoch`` in order; the same for the same seed, assignment and batch size."""
        rng = random.Random(f"reco-buckets:{self.seed}:{epoch}")
        members: dict[int, list[int]] = {}
        for position, bucket in enumerate(self.assignment):
            members.setdefault(bucket, []).append(position)
        batches = []
        for bucket in sorted(members):
            positions = members[bucket]
            rng.shuffle(positions)
            for start in range(0, len(positions), self.batch_size):
                batch = positions[start:start + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch)
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.epoch_batches(self.epoch)
        while self.position < len(batches):
            self.position += 1
            yield batches[self.position - 1]
        self.epoch, self.position = self.epoch + 1, 0

    def __len__(self) -> int:
        return len(self.epoch_batches(self.epoch))

    def state_dict(self) -> dict[str, int | str]:
        return {"epoch": self.epoch, "position": self.position, "fingerprint": self._fingerprint()}

    def load_state_dict(self, state: dict[str, int | str]) -> None:
        """Continue where ``state`` was saved; refuses a state from another dataset, bucketing, seed or batch size."""
        if state.get("fingerprint") != self._fingerprint():
            raise ValueError(
                "this sampler state was saved for another dataset, bucket assignment, seed or batch size; resuming "
                "with it would not replay the same batches. Resume with the same manifest and settings."
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def _fingerprint(self) -> str:
        setup = [self.assignment, self.batch_size, self.seed, self.drop_last]
        return hashlib.sha256(json.dumps(setup).encode()).hexdigest()[:16]
