"""The shipped demo clip (`assets/toy/demo_source.mp4`) and how an edit of it is scored.

`make demo` and the server test edit toy clips through ComfyUI and judge the result against the world's exact ground
truth, which is regenerated from the clip's (split, index, task). Each edit is scored beside "copy the source": the
same metrics on the very source video the workflow read, so the gain is measured on equal footing (same codec, same
frames).
"""

from __future__ import annotations

from pathlib import Path

from .metrics import clip_metrics, read_prediction
from .world import ToyClip, make_clip

# A held-out test clip: a held-out colour/shape combination, so the demo shows generalisation, not recall.
DEMO_SPLIT, DEMO_INDEX, DEMO_TASK = "test", 3, "remove"
EDIT_LABEL, COPY_LABEL = "ReCo toy", "copy source"


def demo_clip() -> ToyClip:
    return make_clip(DEMO_SPLIT, DEMO_INDEX, DEMO_TASK)


def score_edit(edit: str | Path, source: str | Path, clip: ToyClip) -> dict[str, dict[str, float | None]]:
    """{label: metrics} for the edited video and for the source video itself, both against `clip`'s ground truth.

    Changed pixels (IoU) are found against the decoded source video, the one the editor received.
    """
    given = read_prediction(Path(source), clip)
    return {EDIT_LABEL: clip_metrics(read_prediction(Path(edit), clip), clip, given),
            COPY_LABEL: clip_metrics(given, clip, given)}
