"""The real ComfyUI front end in Chromium: it loads cleanly, knows every ReCo node, and opens every example workflow.

Saved workflows name nodes by id; a workflow whose node ids the front end does not know opens with red "missing"
nodes, which is exactly what an artist sharing our examples must never see.
"""

from __future__ import annotations

import json

import pytest

from harness.comfy_server import PACKAGE_LINK_NAME, REPO

UI_WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))


def test_frontend_loads_and_knows_every_reco_node(comfy_page, comfy_server):
    reco_nodes = {name for name in comfy_server.object_info() if name.startswith("ReCo")}
    assert reco_nodes, "the server lists no ReCo nodes: the package failed to load (see the server log)"

    unknown = reco_nodes - comfy_page.registered_node_types()
    comfy_page.screenshot("frontend_loaded")

    assert not unknown, f"the front end has not registered {sorted(unknown)}"
    assert not comfy_page.page_errors, comfy_page.errors_report()
    # The front end itself logs console errors offline (404s for optional user files, api.comfy.org unreachable);
    # only ours count: a web/ module that fails to import or throws is logged with its /extensions/ URL.
    ours = [error for error in comfy_page.console_errors if f"/extensions/{PACKAGE_LINK_NAME}/" in error]
    assert not ours, comfy_page.errors_report()


@pytest.mark.parametrize("workflow_path", UI_WORKFLOWS, ids=[path.stem for path in UI_WORKFLOWS])
def test_example_workflow_opens_without_missing_nodes(comfy_page, workflow_path):
    workflow = json.loads(workflow_path.read_text())
    assert isinstance(workflow.get("nodes"), list), (
        f"{workflow_path.name} is not in UI format (no 'nodes' list): API-format graphs belong in workflows/api/")

    result = comfy_page.load_workflow(workflow)
    comfy_page.screenshot(f"workflow_{workflow_path.stem}")

    assert not result["reported"], f"the front end reported missing nodes {result['reported']}"
    assert not result["unregistered"], f"unregistered node types in the loaded graph: {result['unregistered']}"
    assert result["nodeCount"] == len(workflow["nodes"])
    assert not comfy_page.page_errors, comfy_page.errors_report()
