"""Headless Chromium for the HTML tests, driven over the DevTools protocol (stdlib only).

Why the DevTools protocol rather than ``--dump-dom``: it reports console messages, uncaught
exceptions, CSP violations and every network request the page makes, and it can click
(run JS) without editing the page, so the page under test is exactly the page we ship.
The websocket client below is the minimum RFC 6455 needs for that: one text message per
command, masked client frames, server fragments reassembled, pings answered.

Chromium is started with a fresh ``--user-data-dir``, no background networking, and a
host-resolver rule that resolves every name to nothing, so even a page bug cannot reach
the network; the only socket is DevTools on 127.0.0.1.  The process is stopped by PID.

:func:`find_chromium` returns the binary or None; tests skip when it is None unless
``LOGCORR_REQUIRE_BROWSER=1`` (then they fail).  Tests never install it:
``tools/system-deps.sh`` (``make test``) does, as root.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tools.screenshot import find_chromium  # one copy: make docs and the tests look alike

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-port=0",
]


def require_chromium() -> str:
    """The binary, or skip the test (fail instead when LOGCORR_REQUIRE_BROWSER=1)."""
    path = find_chromium()
    if path is None:
        if os.environ.get("LOGCORR_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium not found and LOGCORR_REQUIRE_BROWSER=1 (run make system-deps)")
        pytest.skip(reason="Chromium not found (tools/system-deps.sh installs it as root)")
    return path


class WebSocket:
    """A minimal RFC 6455 client: text messages only, enough for DevTools."""

    def __init__(self, url: str, timeout: float = 20.0) -> None:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed during the websocket handshake")
            head += chunk
        status, _, self.buffer = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0] + b" ":
            raise ConnectionError(f"websocket handshake refused: {status[:200]!r}")

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("DevTools websocket closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text: str) -> None:
        self._send_frame(0x1, text.encode())

    def recv(self) -> str:
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", self._read(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", self._read(8))
            mask = self._read(4) if b1 & 0x80 else b""
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x9:  # ping
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if b0 & 0x80:
                    return message.decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._send_frame(0x8, b"")
        self.sock.close()


class Browser:
    """One headless Chromium process and a DevTools connection to it."""

    def __init__(self, binary: str, timeout: float = 30.0) -> None:
        self.tmp = tempfile.mkdtemp(prefix="logcorr-chromium-")
        self.stderr_path = Path(self.tmp) / "stderr.txt"
        self.timeout = timeout
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [binary, *FLAGS, f"--user-data-dir={self.tmp}/profile", "about:blank"],
                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        url = None
        while url is None:
            m = re.search(r"DevTools listening on (ws://\S+)", self.stderr_path.read_text(errors="replace"))
            if m:
                url = m.group(1)
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("Chromium did not start DevTools:\n"
                                   + self.stderr_path.read_text(errors="replace")[-2000:])
            else:
                time.sleep(0.05)
        self.ws = WebSocket(url, timeout=timeout)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None) -> dict[str, Any]:
        """Send one command and wait for its answer; events that arrive meanwhile are kept."""
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})  # type: ignore[no-any-return]
            self.events.append(answer)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        """Wait for an event (already received or next ones) of one page session."""
        deadline = time.monotonic() + self.timeout
        seen = 0
        while time.monotonic() < deadline:
            for ev in self.events[seen:]:
                if ev.get("method") == method and ev.get("sessionId") == session:
                    return ev
            seen = len(self.events)
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def open(self, path: Path) -> Page:
        """Open a local file in a new tab and wait for its load event."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                  session=session)
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        self.wait_event("Page.loadEventFired", session)
        return Page(self, session)

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()  # by PID: only the process this helper started
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Page:
    """One tab: evaluate JS, read what the page logged and fetched, take a screenshot."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def evaluate(self, expression: str) -> Any:
        result = self.browser.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                        "awaitPromise": True}, session=self.session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _events(self, *methods: str) -> list[dict[str, Any]]:
        self.evaluate("0")  # a round trip: events sent before it have arrived
        return [ev for ev in self.browser.events
                if ev.get("sessionId") == self.session and ev.get("method") in methods]

    def errors(self) -> list[str]:
        """Uncaught exceptions, console.error/warn calls, and browser log errors (CSP, loads)."""
        out = []
        for ev in self._events("Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded"):
            p = ev["params"]
            if ev["method"] == "Runtime.exceptionThrown":
                out.append(json.dumps(p["exceptionDetails"])[:500])
            elif ev["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "warning", "assert"):
                out.append(json.dumps(p["args"])[:500])
            elif ev["method"] == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
                out.append(p["entry"]["text"])
        return out

    def requests(self) -> list[str]:
        """URLs of every request the page made (the page itself included)."""
        return [ev["params"]["request"]["url"] for ev in self._events("Network.requestWillBeSent")]

    def screenshot(self) -> bytes:
        """A PNG of the whole page."""
        result = self.browser.call("Page.captureScreenshot",
                                   {"format": "png", "captureBeyondViewport": True},
                                   session=self.session)
        return base64.b64decode(result["data"])
