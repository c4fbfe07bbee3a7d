"""Wall times of interleaved repeats and peak memory of a call, the same way for every case of a benchmark.

Peak memory on CUDA is torch.cuda.max_memory_allocated above what was allocated before the call. The CPU allocator
keeps no statistics, so there the peak counts the bytes of live tensors created by torch ops during the call (traced
at the dispatcher in a separate untimed run; scratch buffers inside one kernel are not seen, for either side).
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveTensorBytes(TorchDispatchMode):
    """Peak bytes of storages that ops allocate while the mode is active, released when their last tensor dies.

    Outputs sharing storage with an op's inputs (views, in-place results) are not new memory and are skipped unless
    the storage was itself allocated under the mode.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage address -> [bytes, live tensors]
        self.current = 0
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._track(tensor, inputs)
        return out

    def _track(self, tensor: torch.Tensor, inputs: set[int]) -> None:
        storage = tensor.untyped_storage()
        address = storage.data_ptr()
        if address == 0 or (address in inputs and address not in self.live):
            return
        entry = self.live.get(address)
        if entry is None:
            entry = self.live[address] = [storage.nbytes(), 0]
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        weakref.finalize(tensor, self._release, address)

    def _release(self, address: int) -> None:
        entry = self.live[address]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self.live[address]


@dataclass(frozen=True)
class Timings:
    """Wall times in seconds of several calls measured round by round: ``rounds[name][i]`` is round i."""

    rounds: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.rounds[name])

    def ratios(self, name: str, baseline: str) -> list[float]:
        """Per-round ratio against ``baseline``: both ran back to back, so a load that drifts over the run cancels."""
        return [a / b for a, b in zip(self.rounds[name], self.rounds[baseline])]

    def ratio(self, name: str, baseline: str) -> float:
        """Median of the per-round ratios: one disturbed round moves neither it nor the median seconds."""
        return statistics.median(self.ratios(name, baseline))


def interleaved_timings(calls: dict[str, Callable[[], object]], device: torch.device, repeats: int,
                        clock: Callable[[], float] = time.perf_counter) -> Timings:
    """Time each call ``repeats`` times after one warm-up each, the calls taking turns round by round.

    Every other round runs the calls in reverse order, so no case always follows the same neighbour (a cache or a
    thread pool left warm or cold by it). ``clock``: wall time by default; ``time.process_time`` counts only this
    process's CPU seconds, which on a single torch thread is the work done, however often other jobs take the core.
    """
    for call in calls.values():
        call()
    rounds: dict[str, list[float]] = {name: [] for name in calls}
    for index in range(repeats):
        for name in list(calls)[:: -1 if index % 2 else 1]:
            synchronize(device)
            start = clock()
            calls[name]()
            synchronize(device)
            rounds[name].append(clock() - start)
    return Timings(rounds)


def peak_mib(call: Callable[[], object], device: torch.device) -> float:
    """Peak memory of one call beyond what was allocated before it, in MiB."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        baseline = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        return (torch.cuda.max_memory_allocated(device) - baseline) / 2**20
    with LiveTensorBytes() as tracker:
        call()
    return tracker.peak / 2**20


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
