"""A terminal progress bar for sampling steps (tqdm), shared by the headless commands; one bar per window."""

from __future__ import annotations

import torch
from tqdm import tqdm


class StepProgress:
    def __init__(self, label: str):
        self.label = label
        self.bar: tqdm | None = None

    def __enter__(self) -> "StepProgress":
        return self

    def update(self, step: int, total: int, _region_map: torch.Tensor) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.label, unit="step")
        self.bar.update(1)

    def window(self, index: int, count: int) -> None:
        """A clip edited in windows: close this window's bar; the next step opens one labelled "window i/n"."""
        self.__exit__()
        self.bar = None
        if count > 1:
            self.label = f"{self.label.split(',')[0]}, window {index + 1}/{count}"

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
