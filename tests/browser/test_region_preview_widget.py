"""The region previewer in the real front end: a graph queued from the page plays in ReCoRegionPreview's widget,
ReCoSampler shows its live region map while it runs, and text from a workflow is never turned into markup.

The graph is the server tests' API-format edit graph, renumbered (the front end gives loaded nodes numeric ids) and
opened with the front end's own `app.loadApiJson`, then queued with `app.queuePrompt` as the Queue button does.
"""

from __future__ import annotations

import pytest

from harness import graphs
from harness.comfy_server import PACKAGE_LINK_NAME
from harness.sample_video import FRAMES

XSS = '<img src=x onerror="window.__recoXss=1">'
RUN_TIMEOUT_MS = 180_000

# Queues the loaded graph and resolves with the outcome; records every live region-map step the page receives.
QUEUE_AND_WAIT = """async (timeoutMs) => {
    const api = window.comfyAPI.api.api;
    window.__recoLiveSteps = [];
    api.addEventListener("reco.region_map", ({detail}) => window.__recoLiveSteps.push(detail.step));
    const outcome = new Promise((resolve) => {
        api.addEventListener("execution_success", () => resolve("execution_success"));
        api.addEventListener("execution_error", ({detail}) => resolve(`execution_error: ${detail.exception_message}`));
        setTimeout(() => resolve("timeout"), timeoutMs);
    });
    await window.app.queuePrompt(0);
    return await outcome;
}"""

WIDGET = """(id) => window.app.graph.getNodeById(id).widgets.find((widget) => widget.name === "reco_preview").element"""

# The pixels of one panel's canvas after moving the scrubber (or the opacity slider) the way a user does.
PANEL_PIXELS = f"""([id, panel, control, value]) => {{
    const element = ({WIDGET})(id);
    const input = element.querySelector(`.reco-preview-${{control}}`);
    input.value = String(value);
    input.dispatchEvent(new Event("input"));
    const canvas = element.querySelector(`canvas.reco-preview-${{panel}}`);
    return Array.from(canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data);
}}"""

CENTER_ON_NODE = """async (id) => {
    const canvas = window.app.canvas;
    canvas.ds.scale = 1;
    canvas.centerOnNode(window.app.graph.getNodeById(id));
    canvas.setDirty(true, true);
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
}"""


def numbered(graph: dict) -> tuple[dict, dict[str, str]]:
    """An API graph with numeric node ids, links renamed to match; and the old name -> new id map."""
    ids = {name: str(index) for index, name in enumerate(graph, start=1)}
    return {ids[name]: {"class_type": node["class_type"],
                        "inputs": {key: [ids[value[0]], value[1]] if isinstance(value, list) else value
                                   for key, value in node["inputs"].items()}}
            for name, node in graph.items()}, ids


def preview_graph(tiny_models, video: str, caption: str, seed: int) -> dict:
    return {
        **graphs.loaders(tiny_models, video), **graphs.canvas(), **graphs.reco_sampler(seed=seed),
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sampler", 0], "vae": ["vae", 0]}},
        "split": {"class_type": "ReCoSplit", "inputs": {
            "canvas_frames": ["decode", 0], "canvas": ["canvas", 3], "region_map": ["sampler", 1]}},
        "preview": {"class_type": "ReCoRegionPreview", "inputs": {
            "frames": ["split", 0], "region_map": ["split", 2], "source": ["parts", 0], "opacity": 0.6,
            "colormap": "inferno", "threshold": 0.0, "fps": ["parts", 2], "caption": caption}},
    }


def run_in_page(comfy_page, graph: dict) -> None:
    comfy_page.page.evaluate("(graph) => window.app.loadApiJson(graph, 'reco_region_preview_test')", graph)
    outcome = comfy_page.page.evaluate(QUEUE_AND_WAIT, RUN_TIMEOUT_MS)
    assert outcome == "execution_success", outcome


def wait_for_player(comfy_page, node_id: str) -> None:
    comfy_page.page.wait_for_function(f"(id) => ({WIDGET})(id).dataset.state === 'ready'", arg=node_id,
                                      timeout=30_000)


def our_console_errors(comfy_page) -> list[str]:
    return [error for error in comfy_page.console_errors if f"/extensions/{PACKAGE_LINK_NAME}/" in error]


@pytest.fixture
def preview_run(comfy_page, tiny_models, source_video, request):
    """Loads and queues the preview graph with the caption given by the test's parameter; returns the node ids."""
    caption, seed = request.param
    graph, ids = numbered(preview_graph(tiny_models, source_video.name, caption, seed))
    run_in_page(comfy_page, graph)
    wait_for_player(comfy_page, ids["preview"])
    return ids


# A seed no other test uses: the sampler must run (not come from the server's cache) to stream its live map.
@pytest.mark.parametrize("preview_run", [("Replace the square with a circle.", 5151)], indirect=True)
def test_preview_plays_scrubs_and_blends_and_the_sampler_showed_its_live_map(comfy_page, preview_run):
    page, preview = comfy_page.page, preview_run["preview"]

    first = page.evaluate(PANEL_PIXELS, [preview, "source", "scrubber", 0])
    last = page.evaluate(PANEL_PIXELS, [preview, "source", "scrubber", FRAMES - 1])
    assert first != last, "the source panel did not change when the scrubber moved"
    assert any(value != 0 for value in first), "the source panel drew nothing"
    edit_first = page.evaluate(PANEL_PIXELS, [preview, "edit", "scrubber", 0])
    edit_last = page.evaluate(PANEL_PIXELS, [preview, "edit", "scrubber", FRAMES - 1])
    assert edit_first != edit_last, "the edit panel did not change when the scrubber moved"
    plain = page.evaluate(PANEL_PIXELS, [preview, "edit", "opacity", 0])
    blended = page.evaluate(PANEL_PIXELS, [preview, "edit", "opacity", 1])
    assert plain != blended, "the opacity slider did not change the blend"
    assert page.evaluate(f"(id) => ({WIDGET})(id).querySelector('.reco-preview-frame').textContent",
                         preview) == f"{FRAMES}/{FRAMES}"

    live_steps = page.evaluate("() => window.__recoLiveSteps")
    assert live_steps and live_steps[-1] == 2, live_steps
    live = page.evaluate("""(id) => {
        const widget = window.app.graph.getNodeById(id).widgets.find((w) => w.name === "reco_live_map");
        return widget && {steps: Number(widget.element.dataset.steps),
                          text: widget.element.querySelector(".reco-live-step").textContent,
                          src: widget.element.querySelector("img").getAttribute("src").slice(0, 22)};
    }""", preview_run["sampler"])
    assert live == {"steps": len(live_steps), "text": "region map: step 2/2", "src": "data:image/png;base64,"}

    for name, node in (("region_preview", preview), ("region_preview_live_map", preview_run["sampler"])):
        page.evaluate(CENTER_ON_NODE, node)
        comfy_page.screenshot(name)

    # Removing the node stops the player; the front end then takes the widget's element out of the page.
    state = page.evaluate(f"""(id) => {{
        window.__recoRemovedPlayer = ({WIDGET})(id);
        window.app.graph.remove(window.app.graph.getNodeById(id));
        return window.__recoRemovedPlayer.dataset.state;
    }}""", preview)
    assert state == "destroyed"
    page.wait_for_function("() => !document.contains(window.__recoRemovedPlayer)", timeout=5_000)
    assert not comfy_page.page_errors, comfy_page.errors_report()
    assert not our_console_errors(comfy_page), comfy_page.errors_report()


@pytest.mark.parametrize("preview_run", [(XSS, 5151)], indirect=True)
def test_caption_with_markup_is_shown_as_text(comfy_page, preview_run):
    page = comfy_page.page
    caption = page.evaluate(f"(id) => ({WIDGET})(id).querySelector('.reco-preview-caption').textContent",
                            preview_run["preview"])
    assert caption == XSS
    # Give an injected <img src=x> time to fail loading and run its handler, were there one.
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.__recoXss") is None
    assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert not comfy_page.page_errors, comfy_page.errors_report()
    assert not our_console_errors(comfy_page), comfy_page.errors_report()
