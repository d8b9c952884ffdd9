"""Shared browser-test plumbing: an isolated JupyterLab on 127.0.0.1 and Debian's Chromium that cannot leave it.

`start_lab(root, state)` serves `root` with JupyterLab (settings, runtime
files and the dspex_lab cache under `state`); `chromium(profile)` is a
headless Chromium whose requests to anything but loopback are refused.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("DSPEX_SCREENSHOTS") or ROOT / "tests" / "artifacts" / "screenshots")
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
TOKEN = "dspex-browser-test"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOOPBACK = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "file:")

# The notebook's document, session and kernel are all ready (the toolbar saying "idle" comes sooner).
READY_JS = """() => {
  const app = window.jupyterapp; if (!app) return false;
  const w = app.shell.currentWidget; if (!w || !w.context || !w.sessionContext) return false;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return w.context.isReady && w.sessionContext.isReady && !!k && k.status === 'idle'
    && k.connectionStatus === 'connected';
}"""
STARTED_JS = """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
  .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
ALL_RAN_JS = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def lab_env(state: Path) -> dict[str, str]:
    """Environment for a JupyterLab whose settings, runtime files and dspex_lab cache live under `state`."""
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for relative, values in settings.items():
        path = state / "settings" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(state / "config"),
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(state / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(state / "workspaces"),
        "DSPEX_CACHE_DIR": str(state / "lm-cache"),
    }


@contextmanager
def start_lab(root: Path, state: Path) -> Iterator[str]:
    """JupyterLab serving `root` on a free loopback port; yields its URL."""
    env = lab_env(state)
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly", "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = (state / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server, state / "lab.log")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def wait_for_server(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited:\n{log.read_text()}")
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            return
        except OSError:
            time.sleep(0.25)  # polling a server that is starting; nothing to wait on instead
    raise RuntimeError(f"JupyterLab did not answer within 120 s:\n{log.read_text()}")


@contextmanager
def chromium(profile: Path, viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A page in headless Chromium; requests that would leave the machine are refused (and kept in `page.refused`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROME_ARGS,
            viewport=viewport or {"width": 1400, "height": 2400},
        )
        tab = context.pages[0] if context.pages else context.new_page()
        tab.errors = []
        tab.refused = []

        def route(request: Any) -> None:
            url = request.request.url
            if url.startswith(LOOPBACK):
                request.continue_()
            else:
                tab.refused.append(url)
                request.abort()

        context.route("**/*", route)
        tab.on("pageerror", lambda error: tab.errors.append(str(error)))
        tab.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
        yield tab
        context.close()


def open_notebook(page: Any, lab: str, name: str, frontend: str = "lab") -> None:
    """Open notebook `name` in JupyterLab ("lab") or Notebook 7 ("notebooks") and wait for its kernel."""
    path = f"lab/tree/{name}?token={TOKEN}&reset" if frontend == "lab" else f"notebooks/{name}?token={TOKEN}"
    page.goto(f"{lab}/{path}", wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function(READY_JS, timeout=120_000)


def open_and_run_all(page: Any, lab: str, name: str, frontend: str = "lab") -> None:
    """Open notebook `name` and Run All Cells from the Run menu."""
    open_notebook(page, lab, name, frontend)
    for _ in range(3):
        page.locator("#jp-MainMenu .lm-MenuBar-itemLabel", has_text="Run").first.click()
        item = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel")
        item.get_by_text("Run All Cells", exact=True).first.click(timeout=10_000)
        try:
            page.wait_for_function(STARTED_JS, timeout=15_000)
            return
        except Exception:  # the first click can land before the menu is wired; try again
            page.keyboard.press("Escape")
    raise AssertionError(f"Run All Cells never started {name}")


def screenshot(page: Any, selector: str, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    target = SHOTS / name
    panel = page.locator(selector).first
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=str(target))
    return target


def errors_shown(page: Any) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll(
              '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
            .map(e => e.textContent).filter(t => /Traceback|Error/.test(t))"""
    )
