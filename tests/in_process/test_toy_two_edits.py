"""Several edits in one pass on the shipped toy model: two removals, each region with its own instruction.

The toy world knows the right answer (`make_two_removals`: three objects, two to remove), so "both edits appear" is
measured, not looked at: each region's target PSNR against copying the source. The graph is the one an artist wires
(ComfyUI's loaders, ReCoCanvas, ReCoRegionInstructions, ReCoSampler, VAEDecode, ReCoSplit), called in process by
benchmarks/toy_two_edits.py, which also runs the other ways of asking (docs/RESULTS.md, "Several edits at once").
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.toy_two_edits import APPEARS_DB, CASES, ToyGraph, run_case, scores, through_mp4
from harness.toy_assets import require_toy_assets
from reco_core.toy.world import make_two_removals

REGIONS_MASK = CASES[3]  # region instructions with region_mode mask
CLIP = 1
# Measured on this clip (fourth build, benchmarks/results/toy_two_edits.json): the two regions gain 11.3 and 14.1 dB
# over copying, background 22.8 dB; over the 8 clips, region_mode off misses a removal in 2 (the third build: in 8).
KEEPS_SCENE_DB = 18.0


@pytest.fixture(scope="module")
def toy_graph() -> ToyGraph:
    require_toy_assets()
    return ToyGraph()


def test_region_instructions_make_both_removals_in_one_pass(toy_graph, tmp_path):
    edits = make_two_removals("test", CLIP)
    source = through_mp4(edits.clip.source, tmp_path, "source")
    given = source.numpy()
    with torch.inference_mode():
        edited = run_case(toy_graph, REGIONS_MASK, source, edits)
    assert edited.shape == source.shape
    result = scores(through_mp4((edited.numpy() * 255).round().astype(np.uint8), tmp_path, "edit").numpy(), given,
                    edits)
    copied = scores(given, given, edits)
    for region in (1, 2):
        gain = result[f"region {region} target_psnr"] - copied[f"region {region} target_psnr"]
        assert gain >= APPEARS_DB, f"removal {region} ({edits.instructions[region - 1]!r}) did not appear: {result}"
    assert result["background_psnr"] >= KEEPS_SCENE_DB, result
