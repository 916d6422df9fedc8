"""Load an HTML file in headless Chromium over the DevTools protocol and report what happened.

``load_page(path)`` starts ``chromium --headless`` with its own profile, opens ``file://path``,
and returns a :class:`PageReport`: console errors, uncaught exceptions, log errors, every
network request the page made, and the size and marks of every ``svg[data-chart]``.
``chromium_path()`` finds the browser or skips the test — or fails it when
``ONDO_REQUIRE_CHROMIUM=1`` (set in CI by ``.ci/run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

TIMEOUT = 20.0

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--remote-debugging-port=0",
)

# Every chart and whether its marks have a visible size (lines may be flat, so a path needs
# only width or height; rects and circles need both).
_INSPECT = """(() => {
  const charts = [...document.querySelectorAll('svg[data-chart]')].map((svg) => {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('rect, path, circle')].filter((m) => {
      const b = m.getBBox();
      return m.tagName === 'path' ? b.width + b.height > 0 : b.width > 0 && b.height > 0;
    });
    return {kind: svg.dataset.chart, width: box.width, height: box.height, marks: marks.length};
  });
  return {title: document.title, text: document.body ? document.body.innerText : '', charts};
})()"""


_LISTENING = re.compile(r"DevTools listening on ws://[^:/\s]+:(\d+)/")


@dataclass
class PageReport:
    """What a page did while loading, and the charts it shows."""

    url: str
    title: str = ""
    text: str = ""
    charts: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def outside_requests(self) -> list[str]:
        """Requests for anything other than the page itself."""
        return [url for url in self.requests if url != self.url]


def chromium_path() -> str:
    """The Chromium binary, or skip (fail with ``ONDO_REQUIRE_CHROMIUM=1``) when missing."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "chromium is not installed (apt-get install chromium)"
    if os.environ.get("ONDO_REQUIRE_CHROMIUM") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def load_page(path: Path, binary: str | None = None) -> PageReport:
    """Open ``path`` in headless Chromium and report errors, requests and charts."""
    return asyncio.run(asyncio.wait_for(_load(path.resolve(), binary or chromium_path()), TIMEOUT))


async def _load(path: Path, binary: str) -> PageReport:
    with tempfile.TemporaryDirectory(prefix="ondo-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            binary,
            *_FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            port = await _devtools_port(proc)
            return await _drive(port, path)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def _devtools_port(proc: asyncio.subprocess.Process) -> int:
    # The announcement on stderr carries the port; DevToolsActivePort (same port) can appear a
    # moment later, so reading the file on this cue would race.
    assert proc.stderr is not None
    while True:
        line = await proc.stderr.readline()
        if not line:
            raise RuntimeError(f"chromium exited with {await proc.wait()} before DevTools started")
        match = _LISTENING.search(line.decode(errors="replace"))
        if match:
            return int(match.group(1))


async def _drive(port: int, path: Path) -> PageReport:
    url = path.as_uri()
    report = PageReport(url=url)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t.get("type") == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            cdp = _Cdp(ws, report)
            reader = asyncio.create_task(cdp.read())
            try:
                for domain in ("Runtime", "Log", "Network", "Page"):
                    await cdp.call(f"{domain}.enable")
                cdp.loaded.clear()  # a late load event of the initial about:blank is not ours
                await cdp.call("Page.navigate", url=url)
                await cdp.loaded.wait()
                result = await cdp.call("Runtime.evaluate", expression=_INSPECT, returnByValue=True)
                value = result["result"]["value"]
                report.title, report.text, report.charts = (
                    value["title"],
                    value["text"],
                    value["charts"],
                )
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    return report


class _Cdp:
    """A minimal DevTools client: numbered calls, and events recorded into the report."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, report: PageReport) -> None:
        self.ws = ws
        self.report = report
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.loaded = asyncio.Event()
        self.next_id = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return await future

    async def read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self.pending.pop(data["id"])
                if "error" in data:
                    future.set_exception(RuntimeError(f"CDP error: {data['error']}"))
                else:
                    future.set_result(data.get("result", {}))
            else:
                self._event(data["method"], data.get("params", {}))

    def _event(self, method: str, params: dict[str, Any]) -> None:
        errors = self.report.errors
        if method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Network.requestWillBeSent":
            self.report.requests.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append("console: " + " ".join(str(a.get("value")) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            exc = details.get("exception", {})
            errors.append("exception: " + str(exc.get("description") or details.get("text")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(f"log: {params['entry'].get('text')}")
