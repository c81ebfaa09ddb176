"""Drive headless Chromium over the DevTools protocol (a pipe, no extra packages).

:func:`open_tab` starts a browser and gives a :class:`Tab` to navigate, run JavaScript, choose
files in a file input and collect console errors; :func:`load_page` opens a file, waits for its
load event, and returns what a person would notice: every image with its natural width,
console errors and exceptions, failed loads, and a screenshot. The report and the server's page
are tested with them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """The path of a Chromium-like browser, or None."""
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLoad:
    images: list[dict[str, Any]]
    errors: list[str]
    screenshot: bytes
    title: str


class _DevTools:
    """JSON messages separated by NUL bytes over Chromium's --remote-debugging-pipe."""

    def __init__(self, process: subprocess.Popen, to_browser: int, from_browser: int) -> None:
        self.process = process
        self.out = os.fdopen(to_browser, "wb", buffering=0)
        self.inp = os.fdopen(from_browser, "rb", buffering=0)
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            chunk = self.inp.read(65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.out.write(json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout}s")
            self.events.append(self._read())


class Tab:
    """A page in headless Chromium, driven over the DevTools protocol."""

    def __init__(self, tools: _DevTools, session: str, timeout: float) -> None:
        self.tools = tools
        self.session = session
        self.timeout = timeout

    def navigate(self, url: str) -> None:
        """Open ``url`` and wait for its load event."""
        self.tools.events = [e for e in self.tools.events
                             if e.get("method") != "Page.loadEventFired"]
        self.tools.call("Page.navigate", self.session, url=url)
        self.tools.wait_for("Page.loadEventFired", self.timeout)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        reply = self.tools.call("Runtime.evaluate", self.session, expression=expression,
                                returnByValue=True, awaitPromise=True)
        return reply["result"].get("value")

    def wait_until(self, expression: str, timeout: float | None = None) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{expression!r} still false after the timeout")
            time.sleep(0.1)

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Choose ``paths`` in the file input at ``selector``, as a person picking them."""
        root = self.tools.call("DOM.getDocument", self.session)["root"]["nodeId"]
        node = self.tools.call("DOM.querySelector", self.session, nodeId=root,
                               selector=selector)["nodeId"]
        self.tools.call("DOM.setFileInputFiles", self.session, nodeId=node,
                        files=[str(p.resolve()) for p in paths])

    def images(self) -> list[dict[str, Any]]:
        """Every image with its source, whether it loaded, and its natural width."""
        return self.evaluate(
            "Array.from(document.images).map(i => ({src: i.getAttribute('src'), "
            "complete: i.complete, naturalWidth: i.naturalWidth}))")

    def screenshot(self) -> bytes:
        data = self.tools.call("Page.captureScreenshot", self.session, format="png",
                               captureBeyondViewport=True)["data"]
        return base64.b64decode(data)

    def errors(self) -> list[str]:
        """Console errors, exceptions and failed loads so far."""
        return [_error_text(e) for e in self.tools.events if _is_error(e)]


@contextmanager
def open_tab(browser: str, width: int = 1100, height: int = 1400,
             timeout: float = 60.0) -> Iterator[Tab]:
    """A blank tab in a new headless ``browser`` process, closed with it on exit."""
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="img2img-chromium-")
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking",
            "--remote-debugging-pipe", f"--user-data-dir={profile}",
            f"--window-size={width},{height}"]

    def plumb() -> None:  # chromium reads commands on fd 3 and writes replies on fd 4
        reader, writer = os.dup(to_browser_r), os.dup(from_browser_w)  # off 3 and 4 first
        os.dup2(reader, 3)
        os.dup2(writer, 4)

    process = subprocess.Popen(args, pass_fds=(3, 4), preexec_fn=plumb,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_browser_r)
    os.close(from_browser_w)
    tools = _DevTools(process, to_browser_w, from_browser_r)
    try:
        target = tools.call("Target.createTarget", url="about:blank")["targetId"]
        session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "DOM"):
            tools.call(f"{domain}.enable", session)
        if width < 600:  # a phone's width: lay the page out as a phone would
            tools.call("Emulation.setDeviceMetricsOverride", session, width=width,
                       height=height, deviceScaleFactor=1, mobile=True)
        yield Tab(tools, session, timeout)
        tools.call("Browser.close")
    finally:
        process.kill()
        process.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def load_page(browser: str, page: Path, width: int = 1100, height: int = 1400,
              timeout: float = 60.0) -> PageLoad:
    """Open ``page`` in headless ``browser`` and report images, errors and a screenshot."""
    with open_tab(browser, width, height, timeout) as tab:
        tab.navigate(page.resolve().as_uri())
        return PageLoad(tab.images(), tab.errors(), tab.screenshot(),
                        tab.evaluate("document.title"))


def _is_error(event: dict[str, Any]) -> bool:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        return True
    if method == "Runtime.consoleAPICalled":
        return params.get("type") in ("error", "assert")
    if method == "Log.entryAdded":
        return params.get("entry", {}).get("level") == "error"
    return False


def _error_text(event: dict[str, Any]) -> str:
    params = event.get("params", {})
    if "entry" in params:
        return f"{params['entry'].get('source')}: {params['entry'].get('text')}"
    if "exceptionDetails" in params:
        return json.dumps(params["exceptionDetails"])[:500]
    return json.dumps(params)[:500]
