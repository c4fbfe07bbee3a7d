"""An artist's first minutes: Templates -> reco_toy_edit -> Run, and the edited video plays in the page.

Everything the toy workflow needs is installed as `make run` installs it (the toy model files and the demo clip), so
the template must run exactly as it opens, with no file to pick and no missing-model dialog in between.
"""

from __future__ import annotations

import json

from harness.comfy_server import PACKAGE_LINK_NAME, REPO
from harness.toy_assets import require_toy_assets

WORKFLOW = REPO / "workflows" / "reco_toy_edit.json"
RUN_TIMEOUT_MS = 600_000
# SaveVideo's preview in the node: a <video> whose source is the saved edit (prefix video/ReCo_toy).
EDITED_VIDEO = "video[src*='filename=ReCo_toy_0']"


def test_toy_template_opens_runs_and_shows_the_edited_video(comfy_page):
    require_toy_assets()
    page = comfy_page.page
    page.get_by_role("button", name="Templates").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text(PACKAGE_LINK_NAME, exact=True).click()
    dialog.get_by_test_id("template-workflow-reco_toy_edit").click()
    dialog.wait_for(state="detached")

    loaded = page.evaluate("() => window.app.graph.nodes.map((node) => node.type)")
    assert sorted(loaded) == sorted(node["type"] for node in json.loads(WORKFLOW.read_text())["nodes"])

    page.get_by_role("button", name="Run", exact=True).click()
    video = page.wait_for_selector(EDITED_VIDEO, timeout=RUN_TIMEOUT_MS)
    page.wait_for_function("(video) => video.readyState >= 2 && video.videoWidth > 0", arg=video)
    comfy_page.screenshot("toy_template_after_run")

    assert video.evaluate("(video) => [video.videoWidth, video.videoHeight]") == [96, 96]
    assert not comfy_page.page_errors, comfy_page.errors_report()
