"""The headless edit and ReCoSampler constrain regions identically: same weights, mask, seed and settings, same latent.

Both paths load the same tiny VACE file (diffusers in reco_core, ComfyUI's native model in the node) and sample from
the same VACE context: the headless pipeline encodes it with its VAE, and the node receives those very tensors in
its conditioning, so the comparison is about sampling and the region constraint, not about two VAEs. The node runs
in this process through its own execute, exactly as ComfyUI calls it, on the native model with ComfyUI's samplers.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from harness.comfy_inprocess import PACKAGE_NAME, import_comfy, import_package
from reco_core.attention.constraint import ConstraintSettings
from reco_core.canvas import CanvasSpec, build_canvas
from reco_core.pipeline import SamplingSettings
from reco_core.vace_context import empty_latent_shape, vace_context

SPEC = CanvasSpec(half_width=32, height=32, length=9)
SAMPLING = SamplingSettings(steps=4, cfg=5.0, seed=11)
RELATIVE_TOLERANCE = 1e-4


def source() -> torch.Tensor:
    return torch.rand(9, 40, 56, 3, generator=torch.Generator().manual_seed(2))


def region_mask() -> torch.Tensor:
    """A source-aligned MASK: one rectangle for every frame, as ComfyUI's mask nodes give it."""
    mask = torch.zeros(1, 40, 56)
    mask[:, 2:16, 3:22] = 1.0  # one token of each frame's 2 x 2 token grid: a quarter of the half
    return mask


@pytest.fixture(scope="module")
def node_run(tiny_models, headless_pipeline, text_embeds):
    """ReCoSampler.execute on the native model, fed the headless path's VACE context; returns (latent, region map)."""
    comfy = import_comfy()
    import node_helpers

    import_package()
    sampler = importlib.import_module(f"{PACKAGE_NAME}.nodes.sampler_node").ReCoSampler
    canvas_type = importlib.import_module(f"{PACKAGE_NAME}.nodes.canvas_type")
    model = comfy.sd.load_diffusion_model(str(tiny_models.vace), model_options={"dtype": torch.float32})
    canvas = build_canvas(source(), SPEC)
    context = vace_context(headless_pipeline.codec.encode, canvas.control, canvas.mask)
    values = {"vace_frames": [context.frames], "vace_mask": [context.mask], "vace_strength": [1.0]}
    positive, negative = (node_helpers.conditioning_set_values([[embed, {}]], values, append=True)
                          for embed in text_embeds)

    def run(settings: ConstraintSettings) -> tuple[torch.Tensor, torch.Tensor]:
        latent = {"samples": torch.zeros(empty_latent_shape(SPEC.height, SPEC.width, SPEC.length)),
                  canvas_type.LATENT_KEY: canvas_type.CanvasLayout(canvas.geometry, context.trim)}
        output = sampler.execute(
            model, positive, negative, latent, SAMPLING.seed, SAMPLING.steps, SAMPLING.cfg, "euler", "simple",
            SAMPLING.shift, SAMPLING.denoise, settings.mode, settings.strength, settings.start, settings.end,
            settings.auto_steps, settings.auto_threshold, settings.kind,
            region_mask() if settings.mode == "mask" else None,
        )
        sampled, region = output.args
        return sampled["samples"], region

    return run


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max() / theirs.abs().max())


@pytest.mark.parametrize("settings", [
    ConstraintSettings(mode="mask", kind="block"),
    ConstraintSettings(mode="mask", kind="videograin"),
    ConstraintSettings(mode="auto", kind="block", auto_steps=2),
], ids=["mask-block", "mask-videograin", "auto-block"])
def test_headless_edit_equals_reco_sampler(headless_pipeline, text_embeds, node_run, settings):
    ours = headless_pipeline.edit(source(), *text_embeds, SPEC, SAMPLING, constraint=settings,
                                  region_mask=region_mask())
    theirs, region = node_run(settings)
    assert ours.latent.shape == theirs.shape
    assert relative_difference(ours.latent, theirs) <= RELATIVE_TOLERANCE
    assert len(ours.region_maps) == SAMPLING.steps
    assert region.shape == (SPEC.length, SPEC.height, SPEC.half_width)

    # The constraint really acted, on both paths: without it both land far from here.
    plain = headless_pipeline.edit(source(), *text_embeds, SPEC, SAMPLING).latent
    assert relative_difference(plain, theirs) > 10 * RELATIVE_TOLERANCE
    plain_native, _ = node_run(ConstraintSettings())
    assert relative_difference(plain, plain_native) <= RELATIVE_TOLERANCE
