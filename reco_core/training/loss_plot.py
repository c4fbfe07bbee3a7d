"""Loss curves as a PNG, drawn with Pillow.

Pillow is a ComfyUI requirement, so the plot works in every install; matplotlib is not one and is not needed. Each loss
term gets its own panel with its own y range, because L_ic (~1), L_latent and L_attn (small, possibly negative)
share no useful common scale. Each panel shows the raw per-step values and a moving average.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

__all__ = ["plot_losses"]

_TERMS = ("total", "ic", "latent", "attn")
_WIDTH, _PANEL_HEIGHT, _MARGIN = 960, 220, 56
_RAW, _SMOOTH, _AXES, _TEXT = (170, 200, 235), (25, 80, 170), (120, 120, 120), (20, 20, 20)


def _moving_average(values: Sequence[float], window: int) -> list[float]:
    out, running = [], 0.0
    for i, value in enumerate(values):
        running += value
        if i >= window:
            running -= values[i - window]
        out.append(running / min(i + 1, window))
    return out


def _draw_panel(draw: ImageDraw.ImageDraw, top: int, name: str, points: list[tuple[int, float]], font) -> None:
    left, right, bottom = _MARGIN, _WIDTH - 16, top + _PANEL_HEIGHT - 28
    upper = top + 24
    steps = [step for step, _ in points]
    values = [value for _, value in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    first, last = steps[0], steps[-1]
    width = (last - first) or 1

    def xy(step: int, value: float) -> tuple[float, float]:
        return left + (right - left) * (step - first) / width, bottom - (bottom - upper) * (value - low) / span

    draw.rectangle((left, upper, right, bottom), outline=_AXES)
    draw.text((left, top + 4), f"{name}   last {values[-1]:.5g}   min {low:.5g}", fill=_TEXT, font=font)
    draw.text((4, upper), f"{high:.3g}", fill=_AXES, font=font)
    draw.text((4, bottom - 10), f"{low:.3g}", fill=_AXES, font=font)
    draw.text((left, bottom + 4), f"step {first}", fill=_AXES, font=font)
    draw.text((right - 70, bottom + 4), f"step {last}", fill=_AXES, font=font)
    smooth = _moving_average(values, max(1, len(values) // 20))
    for series, colour in ((values, _RAW), (smooth, _SMOOTH)):
        line = [xy(step, value) for step, value in zip(steps, series)]
        if len(line) == 1:
            draw.ellipse((line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2), fill=colour)
        else:
            draw.line(line, fill=colour, width=1 if colour == _RAW else 2)


def plot_losses(history: Sequence[Mapping[str, float]], path: str | os.PathLike[str]) -> None:
    """Write one panel per loss term found in ``history`` (entries as the trainer records: step, total, ic, ...)."""
    series = {
        term: [(int(entry["step"]), float(entry[term])) for entry in history if term in entry] for term in _TERMS
    }
    series = {term: points for term, points in series.items() if points}
    if not series:
        raise ValueError("the loss history is empty; there is nothing to plot")
    image = Image.new("RGB", (_WIDTH, _PANEL_HEIGHT * len(series)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    for index, (term, points) in enumerate(series.items()):
        _draw_panel(draw, index * _PANEL_HEIGHT, term, points, font)
    image.save(os.fspath(path), format="PNG")
