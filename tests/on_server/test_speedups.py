"""The native speed-ups artists run on Wan, under ReCoSampler, with the region constraint off and on (README table).

Constraint off: ReCoSampler on the sped-up model gives bit for bit the latents of the same native graph
(ModelSamplingSD3 + KSampler). Constraint on: the graph runs and the constraint changes the result, so it was carried.
"""

from __future__ import annotations

import pytest
from safetensors.torch import load_file

from harness import graphs

MASK = {"mask": {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 56, "height": 40}}}
CACHE = {"reuse_threshold": 3.0, "start_percent": 0.0, "end_percent": 1.0, "verbose": False}  # reuse often


def _cache(kind: str) -> dict:
    return {"speed": {"class_type": kind, "inputs": {"model": ["unet", 0], **CACHE}}}


def _lora_stack(tiny_models) -> dict:
    lora = tiny_models.reco_lora.name
    return {"speed0": {"class_type": "ReCoLoRALoader", "inputs": {"model": ["unet", 0], "lora_name": lora,
                                                                    "strength": 1.0}},
            "speed": {"class_type": "ReCoLoRALoader", "inputs": {"model": ["speed0", 0], "lora_name": lora,
                                                                   "strength": -0.5}}}


# name -> (model nodes ending in "speed", UNETLoader weight_dtype, steps, cfg)
CELLS = {
    "EasyCache": (lambda tiny: _cache("EasyCache"), "default", 6, 5.0),
    "LazyCache": (lambda tiny: _cache("LazyCache"), "default", 6, 5.0),
    "fp8_e4m3fn weights": (lambda tiny: {}, "fp8_e4m3fn", 2, 5.0),
    "fp8_e5m2 weights": (lambda tiny: {}, "fp8_e5m2", 2, 5.0),
    "LoRA stack": (_lora_stack, "default", 2, 5.0),
    "few-step LoRA, 4 steps, CFG 1": (_lora_stack, "default", 4, 1.0),
}


def _graph(tiny_models, source_video, cell: str, constrained: bool) -> dict:
    nodes, weight_dtype, steps, cfg = CELLS[cell]
    speed = nodes(tiny_models)
    model = ("speed", 0) if speed else ("unet", 0)
    overrides = {"region_mode": "mask", "region_mask": ["mask", 0]} if constrained else {}
    graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **MASK, **speed,
             **graphs.reco_sampler(model, seed=31, steps=steps, cfg=cfg, **overrides),
             **graphs.native_sampler(model, seed=31, steps=steps),
             **graphs.save_latent(("sampler", 0), "latents/speedup_reco"),
             **graphs.save_latent(("ksampler", 0), "latents/speedup_native", node="save_native")}
    graph["unet"]["inputs"]["weight_dtype"] = weight_dtype
    graph["ksampler"]["inputs"]["cfg"] = cfg
    return graph


def _latents(server, graph: dict, nodes: tuple[str, ...]) -> list:
    result = server.run(graph)
    assert result.status == "execution_success", result.error
    return [_saved_latent(server, result, node) for node in nodes]


def _saved_latent(server, result, node: str):
    entry = result.outputs(node)["latents"][0]
    return load_file(server.base / "output" / entry["subfolder"] / entry["filename"])["latent_tensor"]


@pytest.mark.parametrize("cell", list(CELLS))
def test_speedup_without_constraint_equals_native_and_carries_the_constraint(comfy_server, tiny_models, source_video,
                                                                            cell):
    reco, native = _latents(comfy_server, _graph(tiny_models, source_video, cell, constrained=False),
                            ("save_latent", "save_native"))
    assert reco.abs().sum() > 0
    assert bool((reco == native).all()), f"{cell}: ReCoSampler without constraint differs from native KSampler"
    (constrained,) = _latents(comfy_server, _graph(tiny_models, source_video, cell, constrained=True),
                              ("save_latent",))
    assert bool(constrained.isfinite().all())
    assert not bool((constrained == reco).all()), f"{cell}: the region constraint had no effect"


def test_torch_compiled_model_runs_the_constraint_uncompiled_and_says_so(comfy_server, tiny_models, source_video):
    """TorchCompileModel under a region constraint: ReCoSampler samples its own clone without the compile wrapper
    (no compile starts: it would take minutes here), carries the constraint and reports the bypass in its text."""
    compiled = {"speed": {"class_type": "TorchCompileModel", "inputs": {"model": ["unet", 0], "backend": "inductor"}}}

    def graph(speed: dict) -> dict:
        model = ("speed", 0) if speed else ("unet", 0)
        return {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **MASK, **speed,
                **graphs.reco_sampler(model, seed=31, region_mode="mask", region_mask=["mask", 0]),
                **graphs.save_latent(("sampler", 0), "latents/speedup_compiled")}

    result = comfy_server.run(graph(compiled))
    assert result.status == "execution_success", result.error
    assert "region constraint runs on the uncompiled model" in " ".join(result.outputs("sampler")["text"])
    on_compiled = _saved_latent(comfy_server, result, "save_latent")
    (on_plain,) = _latents(comfy_server, graph({}), ("save_latent",))
    assert bool((on_compiled == on_plain).all())


def test_torch_compiled_model_without_constraint_equals_native(comfy_server, tiny_models, source_video):
    """TorchCompileModel with the constraint off: ReCoSampler installs nothing, so it runs the compiled model exactly
    as KSampler does, bit for bit. One step at CFG 1 (one model call, one graph) keeps the compile to seconds here;
    the cudagraphs backend, on a CPU, traces with dynamo and runs the captured graphs' kernels eagerly."""
    compiled = {"speed": {"class_type": "TorchCompileModel", "inputs": {"model": ["unet", 0],
                                                                        "backend": "cudagraphs"}}}
    graph = {**graphs.loaders(tiny_models, source_video.name), **graphs.canvas(), **compiled,
             **graphs.reco_sampler(("speed", 0), seed=31, steps=1, cfg=1.0),
             **graphs.native_sampler(("speed", 0), seed=31, steps=1),
             **graphs.save_latent(("sampler", 0), "latents/compiled_reco"),
             **graphs.save_latent(("ksampler", 0), "latents/compiled_native", node="save_native")}
    graph["ksampler"]["inputs"]["cfg"] = 1.0
    reco, native = _latents(comfy_server, graph, ("save_latent", "save_native"))
    assert reco.abs().sum() > 0
    assert bool((reco == native).all()), "ReCoSampler on a compiled model differs from native KSampler"
