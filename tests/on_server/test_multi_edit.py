"""Several edits at once through the real server: ReCoRegionInstructions into ReCoSampler, and its bad inputs."""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from harness import graphs
from harness.comfy_server import PromptRejected
from harness.sample_video import HEIGHT, WIDTH

HALF = WIDTH // 2
APART = ((0, HALF), (HALF, WIDTH - HALF))  # left and right halves of the source frame


def multi_edit(tiny_models, video: str, prefix: str, stripes=APART, pairs: int = 2, **sampler_overrides) -> dict:
    return {**graphs.loaders(tiny_models, video), **graphs.canvas(),
            **graphs.region_masks(stripes, WIDTH, HEIGHT), **graphs.region_instructions(pairs),
            **graphs.reco_sampler(region_instructions=["regions", 0], **sampler_overrides),
            **graphs.save_latent(("sampler", 0), prefix)}


def saved_latent(server, result, node: str = "save_latent"):
    entry = result.outputs(node)["latents"][0]
    path = server.base / "output" / entry["subfolder"] / entry["filename"]
    return load_file(path)["latent_tensor"]


def test_two_regions_sample_a_canvas_of_the_plain_shape_that_the_binding_changes(comfy_server, tiny_models,
                                                                                  source_video):
    bound = comfy_server.run(multi_edit(tiny_models, source_video.name, "multi/bound"))
    assert bound.status == "execution_success", bound.error
    plain_graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **graphs.reco_sampler(),
                   **graphs.save_latent(("sampler", 0), "multi/plain")}
    plain = comfy_server.run(plain_graph)
    assert plain.status == "execution_success", plain.error
    bound_latent, plain_latent = saved_latent(comfy_server, bound), saved_latent(comfy_server, plain)
    assert bound_latent.shape == plain_latent.shape
    assert (bound_latent - plain_latent).abs().max() > 1e-4


def refused(server, graph: dict) -> str:
    """The error text of a graph that must not run: the HTTP 400 body or the execution error's message."""
    try:
        result = server.run(graph)
    except PromptRejected as rejected:
        return str(rejected.body)
    assert result.status == "execution_error", "the graph ran"
    return result.error["exception_message"]


def test_region_mode_mask_also_keeps_each_region_from_its_own_source_object(comfy_server, tiny_models,
                                                                            source_video):
    """region_mode mask with region instructions is ReCo's constraint in every region: it runs on the regions' own
    masks (no region_mask) and samples differently from off, where each region still sees its own object."""
    runs = {}
    for mode in ("off", "mask"):
        result = comfy_server.run(multi_edit(tiny_models, source_video.name, f"multi/own_{mode}", region_mode=mode))
        assert result.status == "execution_success", result.error
        runs[mode] = saved_latent(comfy_server, result)
    assert (runs["mask"] - runs["off"]).abs().max() > 1e-4


@pytest.mark.parametrize("case, change, expected", [
    ("a mask without its instruction", lambda graph: graph["regions"]["inputs"].pop("instruction_2"),
     "instruction_2: mask_2 and instruction_2 go together"),
    ("overlapping masks", lambda graph: graph["region_mask_2"]["inputs"].update(x=HALF - 4),
     "mask_2: it overlaps mask_1 in 160 pixels"),
    ("a mask of another size than the source",
     lambda graph: [graph[f"region_blank_{n}"]["inputs"].update(width=WIDTH + 8) for n in (1, 2)],
     "region_instructions: mask_1: region mask is 64x40 but the source is 56x40"),
    ("masks of different sizes", lambda graph: graph["region_blank_2"]["inputs"].update(height=HEIGHT + 8),
     "mask_2: it is 56x48 but mask_1 is 56x40"),
    ("an empty mask", lambda graph: graph["region_patch_1"]["inputs"].update(value=0.0),
     "mask_1: the mask is empty"),
    ("a region constraint mode as well", lambda graph: graph["sampler"]["inputs"].update(region_mode="auto"),
     "region_mode: with region_instructions connected use off"),
    ("a region_mask as well",
     lambda graph: graph["sampler"]["inputs"].update(region_mode="mask", region_mask=["region_mask_1", 0]),
     "region_mask: leave it unconnected when region_instructions is connected"),
])
def test_bad_region_instructions_are_refused_naming_the_input(case, change, expected, comfy_server, tiny_models,
                                                              source_video):
    graph = multi_edit(tiny_models, source_video.name, f"multi/{case.replace(' ', '_')}")
    change(graph)
    assert expected in refused(comfy_server, graph)
    assert not list((comfy_server.base / "output" / "multi").glob(f"{case.replace(' ', '_')}*"))
