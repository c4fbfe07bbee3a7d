"""Real headless Chromium on the real ComfyUI front end, driven by Playwright's sync API.

The browser is Debian's `/usr/bin/chromium` (installed by `make test`): Playwright never downloads one here, it only
drives this binary. A `ComfyPage` is one tab on the test server that waits until the front end has finished its set-up
(node definitions fetched from /object_info and registered with LiteGraph), records every page error and console
error so a test can assert on them, and saves screenshots under the artifacts folder (RECO_TEST_ARTIFACTS, by default
`test-artifacts/` in the repository, which git ignores).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright

from harness.comfy_server import REPO

CHROMIUM = Path("/usr/bin/chromium")
# Playwright adds --headless itself and gives every launch a new, empty profile (its own --user-data-dir).
# The network flags stop Chromium calling Google's hosts, which this machine's closed network refuses, and
# --disable-dev-shm-usage keeps it alive in containers with a small /dev/shm (Debian's launcher means to add it then,
# but its size check breaks where /dev/shm shows up twice in findmnt).
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1600, "height": 1000}
READY_TIMEOUT_MS = 60_000

# `window.app` is assigned only after `app.setup()` has registered every node definition, so its presence (with a
# graph and the LiteGraph global) means the front end knows what the server offers.
APP_READY = "() => Boolean(window.app?.graph && window.LiteGraph?.registered_node_types)"

# Loads a UI-format workflow the way the front end's own "Open" does, and reports the node types the front end found
# missing: it passes them to `app.showMissingNodesError` (which opens the missing-nodes dialog), wrapped here to
# record them. Types still unregistered in the loaded graph, subgraphs included, are reported as well.
LOAD_WORKFLOW = """async (workflow) => {
    const app = window.app;
    const reported = [];
    const original = app.showMissingNodesError;
    app.showMissingNodesError = function (missing) {
        reported.push(...missing.map((entry) => (typeof entry === "object" ? entry.type : entry)));
        return original.apply(this, arguments);
    };
    try {
        await app.loadGraphData(workflow);
    } finally {
        app.showMissingNodesError = original;
    }
    const graphs = [app.graph, ...app.graph.subgraphs.values()];
    const unregistered = graphs.flatMap((graph) => graph.nodes)
        .map((node) => node.type)
        .filter((type) => !(type in window.LiteGraph.registered_node_types));
    await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    return {reported, unregistered, nodeCount: app.graph.nodes.length};
}"""


def artifacts_dir() -> Path:
    """Where screenshots go; CI can point RECO_TEST_ARTIFACTS at the folder it uploads."""
    return Path(os.environ.get("RECO_TEST_ARTIFACTS") or REPO / "test-artifacts")


def chromium_missing_reason() -> str | None:
    if CHROMIUM.exists():
        return None
    return (f"{CHROMIUM} not found: `make test` installs Debian's chromium through apt-get when run as root; "
            "otherwise run `sudo apt-get install --no-install-recommends chromium`")


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)


class ComfyPage:
    """One tab on the ComfyUI front end, with the errors it has seen since it opened."""

    def __init__(self, page: Page):
        self.page = page
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", lambda error: self.page_errors.append(f"{error.name}: {error.message}\n{error.stack}"))
        page.on("console", self._on_console)

    @classmethod
    def open(cls, browser: Browser, url: str) -> ComfyPage:
        """A new tab in a fresh context (no shared storage between tests), returned once the app is set up."""
        comfy_page = cls(browser.new_context(viewport=VIEWPORT).new_page())
        comfy_page.page.goto(url)
        comfy_page.page.wait_for_function(APP_READY, timeout=READY_TIMEOUT_MS)
        return comfy_page

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location
            self.console_errors.append(f"{message.text} ({location.get('url', '')}:{location.get('lineNumber', '')})")

    def registered_node_types(self) -> set[str]:
        return set(self.page.evaluate("() => Object.keys(window.LiteGraph.registered_node_types)"))

    def load_workflow(self, workflow: dict) -> dict:
        """Load a UI-format workflow; returns {reported, unregistered, nodeCount} (see LOAD_WORKFLOW)."""
        return self.page.evaluate(LOAD_WORKFLOW, workflow)

    def screenshot(self, name: str) -> Path:
        path = artifacts_dir() / "browser" / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', name)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path))
        return path

    def errors_report(self) -> str:
        """Both error lists as text, for assertion messages."""
        return (f"page errors: {self.page_errors or 'none'}\n"
                f"console errors: {self.console_errors or 'none'}")

    def close(self) -> None:
        self.page.context.close()
