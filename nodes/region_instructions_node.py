"""ReCoRegionInstructions: several edits in one pass, each region of the clip with its own instruction.

An artist draws a mask per region (LoadImageMask, the mask editor, a segmentation node) and encodes an instruction per
region (CLIPTextEncode), and wires them here in pairs; ReCoSampler's region_instructions input takes the result. The
pairs are checked here, where the artist wired them (a mask without its instruction, regions of different sizes or
overlapping regions are errors naming the input); the placement on the canvas, which needs the canvas, happens in
ReCoSampler. Overlaps are refused rather than resolved by order, because a pixel in two regions would have to hear
two instructions and only the artist knows which one is meant.
"""

from __future__ import annotations

import torch
from comfy_api.latest import io

from ..reco_core.attention.multi_region import first_overlap
from .input_checks import check_inputs
from .region_instructions_type import RegionInstructions, RegionInstructionsInfo

MAX_REGIONS = 4


def _pair_inputs(index: int) -> list:
    optional = index > 1
    return [
        io.Mask.Input(f"mask_{index}", optional=optional,
                      tooltip=f"Region {index}: where instruction_{index} applies, drawn on the source video's size "
                      "(one mask for every frame, or one per source frame). Regions must not overlap."),
        io.Conditioning.Input(f"instruction_{index}", optional=optional,
                              tooltip=f"Region {index}'s instruction (CLIPTextEncode), e.g. 'Remove the red car.' "
                              f"Only region {index}'s edited pixels attend to it."),
    ]


class ReCoRegionInstructions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="ReCoRegionInstructions",
            display_name="ReCo Region Instructions",
            category="ReCo",
            description="Several edits in one pass: each mask gets its own instruction. In ReCoSampler, a region's "
            "edited pixels attend only to their own instruction's words and are kept from the other regions' source "
            "objects; everything else follows the canvas instruction (ReCoCanvas positive).",
            inputs=[item for index in range(1, MAX_REGIONS + 1) for item in _pair_inputs(index)],
            outputs=[RegionInstructionsInfo.Output(display_name="regions",
                                                   tooltip="Connect to ReCoSampler's region_instructions.")],
        )

    @classmethod
    def execute(cls, mask_1, instruction_1, mask_2=None, instruction_2=None, mask_3=None, instruction_3=None,
                mask_4=None, instruction_4=None) -> io.NodeOutput:
        check_inputs(cls, locals())
        masks = (mask_1, mask_2, mask_3, mask_4)
        instructions = (instruction_1, instruction_2, instruction_3, instruction_4)
        regions: list[tuple[int, torch.Tensor, torch.Tensor]] = []
        for index, (mask, instruction) in enumerate(zip(masks, instructions), start=1):
            if (mask is None) != (instruction is None):
                missing = f"instruction_{index}" if instruction is None else f"mask_{index}"
                raise ValueError(f"{missing}: mask_{index} and instruction_{index} go together (one instruction per "
                                 f"mask); connect {missing} too, or disconnect both.")
            if mask is not None:
                regions.append((index, _region_mask(mask, index), _instruction_text(instruction, index)))
        _check_agreement(regions)
        return io.NodeOutput(RegionInstructions(masks=tuple(mask for _, mask, _ in regions),
                                                instructions=tuple(text for _, _, text in regions)))


def _region_mask(mask: torch.Tensor, index: int) -> torch.Tensor:
    """(frames, H, W) float of a MASK input; an empty mask is refused, since its instruction would reach nobody."""
    mask = mask.unsqueeze(0) if mask.dim() == 2 else mask
    if not bool((mask > 0.5).any()):
        raise ValueError(f"mask_{index}: the mask is empty (no pixel above 0.5), so instruction_{index} would reach "
                         "nothing; draw the region, or disconnect the pair.")
    return mask.float().cpu()


def _instruction_text(conditioning: list, index: int) -> torch.Tensor:
    """The (1, tokens, dim) embeddings of a one-entry CONDITIONING."""
    if len(conditioning) != 1 or conditioning[0][0].shape[0] != 1:
        raise ValueError(f"instruction_{index}: give one encoded instruction (CLIPTextEncode's output), not a "
                         f"combined or batched conditioning ({len(conditioning)} entries, batch "
                         f"{conditioning[0][0].shape[0]}).")
    return conditioning[0][0]


def _check_agreement(regions: list[tuple[int, torch.Tensor, torch.Tensor]]) -> None:
    """Every mask has the first one's size and a frame count of 1 or the others' count; every text its width; and
    no two regions share a pixel."""
    first, first_mask, first_text = regions[0]
    frame_counts = {mask.shape[0] for _, mask, _ in regions} - {1}
    for index, mask, text in regions[1:]:
        if mask.shape[1:] != first_mask.shape[1:]:
            raise ValueError(f"mask_{index}: it is {mask.shape[2]}x{mask.shape[1]} but mask_{first} is "
                             f"{first_mask.shape[2]}x{first_mask.shape[1]}; draw every region on the source video's "
                             "size.")
        if mask.shape[0] != 1 and len(frame_counts) > 1:
            raise ValueError(f"mask_{index}: it has {mask.shape[0]} frames while another region has "
                             f"{sorted(frame_counts)}; give each region one mask per source frame, or one for all.")
        if text.shape[-1] != first_text.shape[-1]:
            raise ValueError(f"instruction_{index}: its width is {text.shape[-1]} but instruction_{first}'s is "
                             f"{first_text.shape[-1]}; encode every instruction with the same text encoder.")
    overlap = first_overlap([mask for _, mask, _ in regions])
    if overlap:
        earlier, later, shared = overlap
        raise ValueError(f"mask_{regions[later][0]}: it overlaps mask_{regions[earlier][0]} in {shared} pixels; "
                         "regions must not overlap (each pixel follows one instruction): erase the shared part from "
                         "one of them.")
