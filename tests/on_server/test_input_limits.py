"""Every ReCo input's limits hold at POST /prompt, and the longest run ReCoSampler accepts still stops on request.

ComfyUI skips its own min/max/combo checks for any input a node's validate_inputs names (and for V3 combos in
0.3.75 altogether), so each limit is tried from /object_info: one above max, one below min, one value outside the
combo list, for every input of every ReCo node. Each must be answered with HTTP 400 naming the node and the input.
"""

from __future__ import annotations

import pytest

from harness import fuzz_cases
from harness.comfy_server import PromptRejected
from harness.fuzz_cases import TARGET, names_input

INTERRUPT_WAIT_S = 60


def test_values_outside_every_limit_are_refused_naming_node_and_input(comfy_server, tiny_models, source_video):
    object_info = comfy_server.object_info()
    bases = fuzz_cases.prepare_bases(comfy_server.base, tiny_models, source_video.name)
    assert set(bases) == fuzz_cases.reco_node_ids(object_info)
    cases = fuzz_cases.limit_cases(object_info, bases)
    unrefused = []
    for case in cases:
        with pytest.raises(PromptRejected) as rejected:
            comfy_server.queue(case.graph, client_id="limits")
        node_errors = rejected.value.node_errors
        if TARGET not in node_errors or node_errors[TARGET]["class_type"] != case.node or not names_input(
                node_errors[TARGET]["errors"], (case.input,)):
            unrefused.append(f"{case.title}: {node_errors}")
    print(f"\nlimits: {len(cases)} values outside a limit tried over {len(bases)} nodes, "
          f"{len(cases) - len(unrefused)} refused naming node and input")
    assert not unrefused, "\n".join(unrefused)
    assert {case.node for case in cases} >= {"ReCoCanvas", "ReCoSampler", "ReCoTrainLoRA", "ReCoLoRALoader"}


def test_the_most_steps_allowed_still_stop_on_interrupt(comfy_server, tiny_models, source_video):
    """Before the limits were enforced, a huge step count hung the server past POST /interrupt."""
    bases = fuzz_cases.prepare_bases(comfy_server.base, tiny_models, source_video.name)
    steps = comfy_server.object_info()["ReCoSampler"]["input"]["required"]["steps"][1]["max"]
    graph = fuzz_cases.with_input(bases["ReCoSampler"], "steps", steps)

    def interrupt_once_sampling(message: dict) -> None:
        if message["type"] == "progress" and message["data"].get("node") == TARGET:
            comfy_server.interrupt()

    result = comfy_server.run(graph, timeout=INTERRUPT_WAIT_S, on_message=interrupt_once_sampling)
    assert result.status == "execution_interrupted"
    after = comfy_server.run(fuzz_cases.with_input(bases["ReCoRegionPreview"], "caption", "after interrupt"))
    assert after.status == "execution_success", after.error


@pytest.mark.parametrize("node", ["ReCoCanvas", "ReCoTrainLoRA"])
def test_a_canvas_that_cannot_fit_in_memory_is_refused_before_allocating(comfy_server, tiny_models, source_video,
                                                                         node):
    """Each of width, height and length at its max is allowed alone; all three together need about a terabyte."""
    bases = fuzz_cases.prepare_bases(comfy_server.base, tiny_models, source_video.name)
    required = comfy_server.object_info()[node]["input"]["required"]
    graph = bases[node]
    for name in ("width", "height", "length"):
        graph = fuzz_cases.with_input(graph, name, required[name][1]["max"])
    with pytest.raises(PromptRejected) as rejected:
        comfy_server.queue(graph, client_id="limits")
    assert names_input(rejected.value.node_errors[TARGET]["errors"], ("width",))
    assert "GiB of memory" in str(rejected.value.node_errors[TARGET])
    assert comfy_server.is_alive()
