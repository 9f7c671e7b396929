"""Open a page in Debian's headless Chromium and report what a person would see: console errors,
uncaught exceptions, network requests, and the value of a JavaScript expression.

Talks the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (JSON messages separated by
NUL on file descriptors 3 and 4), so it needs no driver, no websocket library and no port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--remote-debugging-pipe",
]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("Chromium not found: `make report-deps` (apt-get install -y chromium)")


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    value: object = None
    loaded: bool = False


class _Pipe:
    def __init__(self, proc, write_fd: int, read_fd: int):
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        return self.next_id

    def read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 1 << 16)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit code {self.proc.poll()})")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60) -> dict:
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self.read_message(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict | None:
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            message = self.read_message(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message


def visit(url: str, expression: str, *, settle_seconds: float = 1.0, timeout: float = 120,
          width: int | None = None, height: int = 900) -> PageVisit:
    """Load `url`, wait for the load event (and `settle_seconds`), evaluate `expression` (its JSON
    value is returned), and collect console errors, exceptions and requested URLs. `width`: the
    viewport's CSS width (a phone's, under 600 px, is emulated as a mobile device)."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="pinterest-chromium-")

    def child_fds():  # runs in the child before exec: the pipe ends become fds 3 and 4
        read_end, write_end = os.dup(to_child_r), os.dup(from_child_w)  # out of the way of 3/4
        os.dup2(read_end, 3)
        os.dup2(write_end, 4)

    proc = subprocess.Popen([chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            pass_fds=(3, 4), preexec_fn=child_fds,  # close_fds spares 3 and 4
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_child_r)
    os.close(from_child_w)
    pipe = _Pipe(proc, to_child_w, from_child_r)
    result = PageVisit()
    try:
        target = pipe.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            pipe.call(domain, session=session)
        if width:
            pipe.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                             "mobile": width < 600}, session=session)
        pipe.events.clear()
        pipe.call("Page.navigate", {"url": url}, session=session, timeout=timeout)
        result.loaded = pipe.wait_for("Page.loadEventFired", timeout=timeout) is not None
        time.sleep(settle_seconds)
        evaluated = pipe.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                              session=session, timeout=timeout)
        if "exceptionDetails" in evaluated:
            raise AssertionError(f"the test expression failed: {evaluated['exceptionDetails']}")
        result.value = evaluated["result"].get("value")
        for event in pipe.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                result.console_errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                                      for a in params.get("args", [])))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                result.console_errors.append(params["entry"].get("text", ""))
            elif event["method"] == "Runtime.exceptionThrown":
                result.exceptions.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif event["method"] == "Network.requestWillBeSent":
                result.requests.append(params.get("request", {}).get("url", ""))
        try:
            pipe.send("Browser.close")
        except OSError:
            pass
        return result
    finally:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        os.close(to_child_w)
        os.close(from_child_r)
        shutil.rmtree(profile, ignore_errors=True)
