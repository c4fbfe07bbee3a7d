"""Terminal progress for a queue: one bar for the whole manifest and one per running job (its sampling steps).

The websocket thread only records the latest step of each prompt; the scheduler's thread draws, so tqdm is only ever
touched from one thread.
"""

from __future__ import annotations

import threading

from tqdm import tqdm


class QueueProgress:
    def __init__(self, total: int, finished: int, enabled: bool = True):
        self.enabled = enabled
        self.overall = tqdm(total=total, initial=finished, desc="jobs", unit="job", disable=not enabled)
        self.bars: dict[str, tqdm] = {}
        self.steps: dict[str, tuple[int, int]] = {}
        self.lock = threading.Lock()

    def on_message(self, message: dict) -> None:
        """Websocket callback (any thread): remember a prompt's latest (value, max) from `progress` messages."""
        if message.get("type") == "progress":
            data = message.get("data", {})
            with self.lock:
                self.steps[data.get("prompt_id")] = (int(data.get("value", 0)), int(data.get("max", 1)))

    def draw(self, running: dict[str, str], finished: int) -> None:
        """Refresh the bars; ``running`` maps prompt id -> job id of the jobs now on a server."""
        if finished != self.overall.n:
            self.overall.n = finished
            self.overall.refresh()
        with self.lock:
            steps = dict(self.steps)
        for prompt_id, job_id in running.items():
            if prompt_id in steps:
                value, total = steps[prompt_id]
                bar = self.bars.get(prompt_id)
                if bar is None:
                    bar = self.bars[prompt_id] = tqdm(total=total, desc=job_id, unit="step", leave=False,
                                                      disable=not self.enabled)
                bar.total = total
                bar.n = value
                bar.refresh()
        for prompt_id in [p for p in self.bars if p not in running]:
            self.bars.pop(prompt_id).close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.overall.close()
