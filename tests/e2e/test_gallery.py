"""The gallery page in a real headless Chromium: a sandbox run of 24 images (plus a blocked and a
failed item) renders with every thumbnail loaded, nothing fetched from the network, and pixels
on screen.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: commands
on fd 3, answers on fd 4, each a JSON message ending in NUL), so the test needs no port, no
proxy settings and no Python package beyond the stdlib. CI installs Debian's ``chromium``.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from twat_genai import TwatGenAiCLI
from twat_genai.gallery import write_gallery

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

#: Scroll every image into view (they load lazily), wait for each, report their natural widths.
LOAD_ALL_IMAGES = """(async () => {
  const images = [...document.images];
  for (const img of images) {
    img.scrollIntoView({block: "center"});
    if (!img.complete) {
      await new Promise(done => {
        img.addEventListener("load", done, {once: true});
        img.addEventListener("error", done, {once: true});
      });
    }
  }
  window.scrollTo(0, 0);
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  return images.map(img => img.naturalWidth);
})()"""


def find_chromium() -> str:
    """The browser to use: ``$TWAT_GENAI_CHROMIUM`` or the first of the usual names on PATH."""
    for name in (os.environ.get("TWAT_GENAI_CHROMIUM"), "chromium", "chromium-browser"):
        found = shutil.which(name) if name else None
        if found:
            return found
    pytest.fail(
        "the gallery test needs Chromium: `apt-get install chromium` (Debian/Ubuntu; .ci/run "
        "does this) or set TWAT_GENAI_CHROMIUM to a Chrome/Chromium binary"
    )


class Chromium:
    """A headless browser and one page, driven over the DevTools protocol on a pipe."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900) -> None:
        to_child, self._out = os.pipe()
        self._in, from_child = os.pipe()
        # Above fd 9 so the redirections below cannot clobber one another; bash (not dash)
        # because it accepts fd numbers of two digits.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_child, from_child)]
        os.close(to_child)
        os.close(from_child)
        self._profile = tempfile.mkdtemp(prefix="twat-genai-chromium-")
        script = f'exec "$@" 3<&{high[0]} 4>&{high[1]} {high[0]}<&- {high[1]}>&-'
        argv = [binary, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-pipe"]
        self._proc = subprocess.Popen(
            ["bash", "-c", script, "bash", *argv, "about:blank"],
            pass_fds=high,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for fd in high:
            os.close(fd)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.page(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def send(self, method: str, *, session: str | None = None, **params: Any) -> Any:
        """Send one command and return its result (events that arrive meanwhile are kept)."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        reply = self._read(lambda m: m.get("id") == self._id, f"the answer to {method}")
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def page(self, method: str, **params: Any) -> Any:
        return self.send(method, session=self.session, **params)

    def wait_event(self, method: str, timeout: float = 60) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        return self._read(lambda m: m.get("method") == method, method, timeout, keep=False)

    def evaluate(self, expression: str) -> Any:
        result = self.page(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _read(self, wanted: Any, what: str, timeout: float = 60, keep: bool = True) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                message = json.loads(raw)
                if wanted(message):
                    return message
                if "method" in message:
                    self.events.append(message)
            ready, _, _ = select.select([self._in], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"Chromium sent no {what} within {timeout} s")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited: {self._stderr()}")
            self._buf += chunk

    def _stderr(self) -> str:
        self._proc.kill()
        _, err = self._proc.communicate(timeout=10)
        return err.decode(errors="replace")[-2000:]

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self._proc.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self._proc.kill()
            self._proc.wait(timeout=10)
        finally:
            os.close(self._out)
            os.close(self._in)
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def screenshot_page(page: Path, binary: str) -> tuple[list[int], bytes, list[str], dict[str, int]]:
    """Open ``page``, load every image; (natural widths, PNG of the top of the page, every URL
    requested, cards per status)."""
    with Chromium(binary) as browser:
        browser.page("Network.enable")
        browser.page("Page.enable")
        browser.page("Page.navigate", url=page.resolve().as_uri())
        browser.wait_event("Page.loadEventFired")
        widths = browser.evaluate(LOAD_ALL_IMAGES)
        cards = browser.evaluate(
            "Object.fromEntries(['ok','blocked','failed'].map("
            "s => [s, document.querySelectorAll('article.card.' + s).length]))"
        )
        png = base64.b64decode(browser.page("Page.captureScreenshot", format="png")["data"])
        urls = [
            e["params"]["request"]["url"]
            for e in browser.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
    return widths, png, urls, cards


def test_gallery_renders_in_chromium(fal_env: dict[str, str], tmp_path: Path) -> None:
    """Every one of 24 thumbnails loads in Chromium, the blocked and failed items show as cards,
    nothing outside the folder is requested, and the screenshot is not blank."""
    binary = find_chromium()
    out = tmp_path / "run"
    cli = TwatGenAiCLI(out)
    cli.text(
        "a {red,blue,green,yellow} {car,kite,boat} {at dawn,at night}; "
        "a cat [emulate:blocked]; a dog [emulate:error=422]",
        enable_safety_checker=True,
    )
    assert cli.last_summary is not None and cli.last_summary.line() == (
        "26 items: 24 ok, 1 blocked, 1 failed"
    )
    page = write_gallery(out)

    widths, png, urls, cards = screenshot_page(page, binary)

    assert len(widths) == 24 and all(w > 0 for w in widths), widths
    assert cards == {"ok": 24, "blocked": 1, "failed": 1}
    assert urls and all(u.startswith(out.resolve().as_uri() + "/") for u in urls), urls
    assert not any("/.thumbs/" not in u and u.endswith(".jpg") for u in urls)  # thumbs only
    (tmp_path / "gallery.png").write_bytes(png)
    shot = Image.open(io.BytesIO(png)).convert("RGB")
    assert shot.size == (1280, 900)
    colours = shot.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the page looks blank"


#: A one-second VP8 WebM recorded from a canvas, base64: a real video without ffmpeg.
RECORD_WEBM = """(async () => {
  const canvas = Object.assign(document.createElement("canvas"), {width: 160, height: 120});
  const paint = canvas.getContext("2d");
  const recorder = new MediaRecorder(canvas.captureStream(25), {mimeType: "video/webm"});
  const parts = [];
  recorder.ondataavailable = event => parts.push(event.data);
  recorder.start();
  for (let i = 0; i < 25; i++) {
    paint.fillStyle = `hsl(${i * 14}, 80%, 50%)`;
    paint.fillRect(0, 0, 160, 120);
    await new Promise(done => setTimeout(done, 40));
  }
  recorder.stop();
  await new Promise(done => { recorder.onstop = done; });
  const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
})()"""

WAIT_FOR_VIDEOS = """Promise.all([...document.querySelectorAll("video")].map(v =>
  v.readyState >= 1 ? v.readyState : new Promise(done => {
    v.addEventListener("loadedmetadata", () => done(v.readyState), {once: true});
    v.addEventListener("error", () => done(-1), {once: true});
    setTimeout(() => done(v.readyState), 15000);
  })))"""


def test_gallery_video_plays_under_the_page_policy(tmp_path: Path) -> None:
    """A video card's file loads its metadata: the page's content policy lets media through."""
    binary = find_chromium()
    with Chromium(binary) as browser:
        (tmp_path / "clip.webm").write_bytes(base64.b64decode(browser.evaluate(RECORD_WEBM)))
        page = write_gallery(tmp_path)
        browser.page("Page.enable")
        browser.page("Page.navigate", url=page.resolve().as_uri())
        browser.wait_event("Page.loadEventFired")
        states = browser.evaluate(WAIT_FOR_VIDEOS)
    assert len(states) == 1 and states[0] >= 1, states
