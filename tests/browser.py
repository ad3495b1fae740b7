"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: the
browser reads JSON commands on fd 3 and writes replies and events on fd 4, each NUL-terminated).
No port is opened and no client library is needed. Chromium comes from Debian's package
(`make browser`); tests skip with a reason when /usr/bin/chromium is absent."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CHROMIUM = Path(os.environ.get("CLEVERWARD_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio")


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless browser with one page; `events` keeps every protocol event received."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.events: list[dict] = []
        self._next_id = 0
        self._buf = b""
        self._profile = tempfile.mkdtemp(prefix="cw-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire_fds():  # in the child, before exec: fd 3 = commands in, fd 4 = replies out
            r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=wire_fds)
        os.close(to_child_r)
        os.close(from_child_w)
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the pipe (exit {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, session: bool = False, **params) -> dict:
        """Send one command and wait for its reply (events that arrive meanwhile are kept)."""
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def open(self, url: str, width: int = 1280, height: int = 900) -> None:
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", session=True, url=url)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        """Run JS in the page (promises awaited) -> its value; a thrown error raises."""
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params = {"format": "png"}
        if full_page:
            w, h = self.evaluate("[document.documentElement.scrollWidth, "
                                 "document.documentElement.scrollHeight]")
            params |= {"captureBeyondViewport": True,
                       "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}
        data = self.call("Page.captureScreenshot", session=True, **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def console_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                out.append(str(p["exceptionDetails"].get("exception", {}).get("description")))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.call("Browser.close")
        except (BrowserError, OSError):
            self.proc.kill()
        finally:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            for fd in (self._to_child, self._from_child):
                os.close(fd)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# Open every prompt, bring each image into view (so loading="lazy" fetches it) and wait until
# it is decoded; then report what the page holds.
INSPECT_JS = """(async () => {
  const details = [...document.querySelectorAll('details.prompt')];
  details.forEach(d => d.open = true);
  const imgs = [...document.images];
  for (const im of imgs) { im.scrollIntoView(); await im.decode().catch(() => null); }
  window.scrollTo(0, 0);
  return {
    prompts: details.length,
    clip_rows: details.map(d => d.querySelectorAll('tr').length - 1),
    images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    svgs: document.querySelectorAll('svg').length,
    no_preview: document.querySelectorAll('span.err').length,
    title: document.title,
  };
})()"""


def inspect_report(report: Path, shots: Path | None = None) -> dict:
    """Load a report from disk in headless Chromium -> DOM facts, console errors, requested
    URLs; with `shots`, save report-overview.png (the top) and report-prompts.png (the first
    prompts opened, with their keyframe strips)."""
    with Chromium() as browser:
        browser.open(report.resolve().as_uri())
        if shots is not None:
            shots.mkdir(parents=True, exist_ok=True)
            browser.screenshot(shots / "report-overview.png")
        facts = browser.evaluate(INSPECT_JS)
        if shots is not None:
            browser.evaluate("document.querySelectorAll('details.prompt').forEach((d, i) => "
                             "d.open = i < 3); document.getElementById('prompts')"
                             ".scrollIntoView(); 0")
            time.sleep(0.5)  # let the scroll settle before the capture
            browser.screenshot(shots / "report-prompts.png")
        facts["console_errors"] = browser.console_errors()
        facts["urls"] = browser.requested_urls()
    return facts


if __name__ == "__main__":  # python -m tests.browser REPORT.html [SHOTS_DIR]
    import sys

    found = inspect_report(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
    found["urls"] = sorted({u.split(",")[0][:40] for u in found["urls"]})
    print(json.dumps({k: v for k, v in found.items() if k != "clip_rows"}, indent=1))
