"""The shipped demo clip (`assets/toy/demo_source.mp4`) and how an edit of it is scored.

`make demo` and the server test edit toy clips through ComfyUI and judge the result against the world's exact ground
truth, which is regenerated from the clip's (split, index, task). Each edit is scored beside "copy the source": the
same metrics on the very source video the workflow read, so the gain is measured on equal footing (same codec, same
frames).
"""

from __future__ import annotations

from pathlib import Path

from ..video_io import read_video
from .metrics import clip_metrics
from .world import ToyClip, make_clip

# A held-out test clip: a held-out colour/shape combination, so the demo shows generalisation, not recall.
DEMO_SPLIT, DEMO_INDEX, DEMO_TASK = "test", 3, "remove"
EDIT_LABEL, COPY_LABEL = "ReCo toy", "copy source"


def demo_clip() -> ToyClip:
    return make_clip(DEMO_SPLIT, DEMO_INDEX, DEMO_TASK)


def score_edit(edit: str | Path, source: str | Path, clip: ToyClip) -> dict[str, dict[str, float | None]]:
    """{label: metrics} for the edited video and for the source video itself, both against `clip`'s ground truth."""
    scores = {}
    for label, path in ((EDIT_LABEL, edit), (COPY_LABEL, source)):
        frames, _ = read_video(path, max_frames=clip.source.shape[0])
        if tuple(frames.shape) != clip.source.shape:
            raise ValueError(f"{Path(path).name} is {tuple(frames.shape)}, but clip {clip.clip_id} is "
                             f"{clip.source.shape}: save the edit at the source's size and frame count.")
        scores[label] = clip_metrics(frames.numpy(), clip)
    return scores
