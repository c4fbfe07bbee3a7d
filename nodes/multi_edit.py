"""ReCoSampler's several-edits path: joins the region instructions to the positive text and installs their binding.

The positive conditioning keeps everything ReCoCanvas put in it (the VACE context, the canvas instruction); only its
text becomes [canvas instruction | instruction 1 | ... | instruction R] along the token axis, so ComfyUI's own
conditioning machinery carries it. The plan (reco_core.attention.multi_region) knows the spans and the regions on the
token grid; the hook (multi_region_hook) applies it on the cloned model only.
"""

from __future__ import annotations

import comfy.model_patcher
import torch

from ..reco_core.attention.constraint import ConstraintSettings, mask_token_region
from ..reco_core.attention.multi_region import MultiRegionPlan, start_multi_region
from .canvas_type import CanvasLayout
from .input_checks import about_input
from .multi_region_hook import multi_region_override
from .region_instructions_type import RegionInstructions


# off: a region still sees its own source object (what a restyle of that object may want); mask: ReCo's region
# constraint in every region, which removals and replacements need (on the toy model removals appear only with it).
REGION_MODES_WITH_INSTRUCTIONS = ("off", "mask")


def install_multi_edit(patched: comfy.model_patcher.ModelPatcher, regions: RegionInstructions, positive: list,
                       layout: CanvasLayout | None, latent_shape: torch.Size, steps: int,
                       settings: ConstraintSettings) -> tuple[list, MultiRegionPlan]:
    """The joined positive conditioning and the run's plan; the hook goes on ``patched`` (a clone) only."""
    if layout is None:
        raise ValueError("latent: region_instructions need the latent output of ReCoCanvas (it carries the canvas "
                         "layout the masks are placed with); connect that latent.")
    if settings.mode not in REGION_MODES_WITH_INSTRUCTIONS:
        raise ValueError("region_mode: with region_instructions connected use off (each region is kept from the "
                         "other regions' source objects) or mask (from its own source object too); every region's "
                         "constraint comes from its own mask, so auto has nothing to find.")
    if settings.kind != "block":
        raise ValueError("constraint_type: region_instructions use the block constraint; set constraint_type to "
                         "block.")
    widths = {text.shape[-1] for text, _ in positive}
    lengths = {text.shape[1] for text, _ in positive}
    if len(lengths) != 1:
        raise ValueError(f"positive: its entries have different text lengths {sorted(lengths)}; region instructions "
                         "join one canvas instruction, so give ReCoCanvas a single encoded instruction.")
    tokens = []
    for index, (mask, instruction) in enumerate(zip(regions.masks, regions.instructions), start=1):
        if {instruction.shape[-1]} != widths:
            raise ValueError(f"region_instructions: instruction_{index} has width {instruction.shape[-1]} but the "
                             f"canvas instruction has {widths.pop()}: encode every instruction with the same text "
                             "encoder.")
        with about_input("region_instructions"), about_input(f"mask_{index}"):
            tokens.append(mask_token_region(mask, layout.geometry, layout.trim))
    with about_input("region_instructions"):
        plan = start_multi_region(tokens, lengths.pop(), [text.shape[1] for text in regions.instructions],
                                  settings.strength, settings.start, settings.end, steps,
                                  keep_own_source=settings.mode == "mask")
    joined = [[torch.cat([text, *(instruction.to(text).expand(text.shape[0], -1, -1)
                                  for instruction in regions.instructions)], dim=1), options]
              for text, options in positive]
    transformer_options = patched.model_options.setdefault("transformer_options", {})
    transformer_options["optimized_attention_override"] = multi_region_override(
        plan, transformer_options.get("optimized_attention_override"))
    return joined, plan
