"""The region constraint's core: settings, mask placement, the automatic estimate, and its diffusers adapter."""

from __future__ import annotations

import pytest
import torch

from reco_core.attention.constraint import ConstraintSettings, start_constraint
from reco_core.attention.diffusers_wan import constrained_attention, self_attention_layers
from reco_core.canvas import CanvasSpec, build_canvas


@pytest.mark.parametrize(("kwargs", "words"), [
    (dict(mode="box"), "region mode"),
    (dict(kind="soft"), "constraint type"),
    (dict(start=0.6, end=0.5), "start must not be after"),
    (dict(strength=1.5), "strength"),
])
def test_settings_name_what_is_wrong(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ConstraintSettings(**kwargs)


def test_mask_mode_places_the_source_mask_on_the_token_grid_with_an_empty_reference_row():
    canvas = build_canvas(torch.rand(9, 40, 56, 3), CanvasSpec(half_width=32, height=32, length=9))
    mask = torch.zeros(1, 40, 56)
    mask[:, 2:16, 3:22] = 1.0  # the top-left token of each frame
    run = start_constraint(ConstraintSettings(mode="mask"), (1, 16, 4, 4, 8), steps=10, trim=1, region_mask=mask,
                           geometry=canvas.geometry)
    assert run.tokens == 4 * 2 * 4
    assert run.region.shape == (4, 2, 2)
    assert not run.region[0].any()
    assert run.region[1:, 0, 0].all() and int(run.region.sum()) == 3
    with pytest.raises(ValueError, match="region mask"):
        start_constraint(ConstraintSettings(mode="mask"), (1, 16, 3, 4, 8), steps=10)


def test_auto_mode_estimates_the_region_after_its_steps_and_then_acts():
    run = start_constraint(ConstraintSettings(mode="auto", auto_steps=2, start=0.0, end=1.0), (1, 16, 1, 4, 8), 4)
    x0 = torch.zeros(1, 16, 1, 4, 8)
    x0[..., 0:2, 4:6] = 3.0  # the target half differs from the source in the top-left token
    assert run.observe(0, x0).shape == (1, 4, 4)
    assert run.region is None and not run.active()
    run.observe(1, x0)
    assert run.step == 2 and run.active()
    assert run.region.tolist() == [[[True, False], [False, False]]]


def test_off_mode_records_maps_and_never_constrains():
    run = start_constraint(ConstraintSettings(), (1, 16, 1, 4, 8), 3)
    for step in range(3):
        run.observe(step, torch.randn(1, 16, 1, 4, 8))
    assert len(run.maps) == 3 and not run.active()


def test_the_diffusers_adapter_is_exact_while_idle_and_puts_the_old_processors_back(tiny_models):
    from diffusers import WanVACETransformer3DModel

    model = WanVACETransformer3DModel.from_pretrained(tiny_models.diffusers_transformer).float().eval()
    before = [layer.processor for layer in self_attention_layers(model)]
    inputs = dict(hidden_states=torch.randn(1, 16, 2, 4, 8), timestep=torch.tensor([500.0]),
                  encoder_hidden_states=torch.randn(1, 5, 4096), control_hidden_states=torch.randn(1, 96, 2, 4, 8),
                  return_dict=False)
    run = start_constraint(ConstraintSettings(mode="auto"), (1, 16, 2, 4, 8), 10)
    with torch.no_grad():
        plain = model(**inputs)[0]
        with constrained_attention(model, run):
            idle = model(**inputs)[0]
            run.region = torch.ones(2, 2, 2, dtype=torch.bool)
            constrained = model(**inputs)[0]
    assert torch.equal(idle, plain)
    assert run.calls == len(before)
    assert (constrained - plain).abs().max() > 1e-4
    assert [layer.processor for layer in self_attention_layers(model)] == before
