#!/usr/bin/env python3
"""Drives tasnif's browser page (GET /) in headless Chromium over the DevTools protocol.

Usage: page.py CHROMIUM ADDR ARTICLE_FILE SCREENSHOT_PNG

Opens http://ADDR/, pastes the article into #text, clicks #classify, waits until
document.body.dataset.state is "done", and prints on stdout, as one JSON object, what
the page shows:

  {"primary": ..., "topics": [...], "shares": [{"label": ..., "share": float}],
   "segments": [{"start": int, "end": int, "label": ..., "text": ...}],
   "error": null or the page's error text, "tooltip": the first sentence's tooltip,
   "tooltip_words": "done" | "error" | "loading" (its lazily fetched top words)}

then hovers the first sentence (a real mouse event) and checks its tooltip with the
probabilities appears, saves a PNG screenshot and closes the browser. Exits non-zero
with a message on stderr on any failure (the JSON is still printed when the page was
read). Needs only the standard library and websocket-client (`import websocket`).
"""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

STATE_TIMEOUT = 20.0  # seconds for the classification to render
STEP_TIMEOUT = 15.0  # seconds for any other step
WIDTH, HEIGHT, MAX_HEIGHT = 1200, 900, 8000  # the window, in CSS pixels


class Failure(Exception):
    pass


class DevTools:
    """A minimal CDP client over one target's WebSocket: commands wait for their reply,
    events seen meanwhile are kept (and JavaScript exceptions remembered)."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=STEP_TIMEOUT, suppress_origin=True)
        self.next_id = 0
        self.events = []
        self.exceptions = []

    def call(self, method, timeout=STEP_TIMEOUT, **params):
        self.next_id += 1
        mine = self.next_id
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"no answer to {method} within {timeout} s")
            self.ws.settimeout(left)
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                raise Failure(f"no answer to {method} within {timeout} s") from None
            if msg.get("id") == mine:
                if "error" in msg:
                    raise Failure(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
                if msg["method"] == "Runtime.exceptionThrown":
                    details = msg["params"]["exceptionDetails"]
                    exc = details.get("exception", {})
                    self.exceptions.append(exc.get("description") or details.get("text"))

    def evaluate(self, expression, timeout=STEP_TIMEOUT):
        """The value of a JavaScript expression (promises awaited)."""
        result = self.call(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            exc = details.get("exception", {})
            raise Failure(f"page script failed: {exc.get('description') or details.get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression, what, timeout=STEP_TIMEOUT):
        """Polls until `expression` is truthy and returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise Failure(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.1)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def launch(chromium, profile):
    """Starts headless Chromium; returns the process, its DevTools port and the browser
    endpoint's path. Its stderr goes to a file (a pipe nobody reads could fill up)."""
    log = open(profile + ".log", "w+b")
    proc = subprocess.Popen(
        [
            chromium,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            f"--window-size={WIDTH},{HEIGHT}",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    # Chromium writes "PORT\n/devtools/browser/ID" into the profile once it listens.
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        if proc.poll() is not None:
            log.seek(0)
            err = log.read().decode(errors="replace")
            raise Failure(f"{chromium} exited with {proc.returncode}: {err.strip()[-2000:]}")
        try:
            with open(port_file) as f:
                lines = f.read().split("\n")
            if len(lines) >= 2 and lines[0].strip():
                return proc, int(lines[0]), lines[1].strip()
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise Failure(f"{chromium} wrote no {port_file} within {STEP_TIMEOUT} s")
        time.sleep(0.05)


def page_target(port):
    """The WebSocket URL of the browser's first page (about:blank)."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
            targets = json.load(r)
        pages = [t for t in targets if t.get("type") == "page" and "webSocketDebuggerUrl" in t]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        if time.monotonic() > deadline:
            raise Failure("Chromium has no page target")
        time.sleep(0.05)


# What the page shows, read from the data attributes the page sets for tests.
READ_PAGE = r"""(() => {
  const attr = (e, k) => e.getAttribute(k);
  const err = document.getElementById("error");
  const primary = document.getElementById("primary");
  return {
    state: document.body.dataset.state,
    primary: primary ? (primary.dataset.label ?? null) : null,
    topics: [...document.querySelectorAll("#topics [data-label]")].map(e => attr(e, "data-label")),
    shares: [...document.querySelectorAll("#shares [data-share]")].map(e => ({
      label: attr(e, "data-label"), share: parseFloat(attr(e, "data-share")) })),
    segments: [...document.querySelectorAll("#article span.seg")].map(e => ({
      start: parseInt(attr(e, "data-start"), 10), end: parseInt(attr(e, "data-end"), 10),
      label: attr(e, "data-label"), probability: parseFloat(attr(e, "data-probability")),
      text: e.textContent })),
    error: err && err.textContent.trim() ? err.textContent.trim() : null,
    meta: (document.getElementById("meta") || {}).textContent || "",
  };
})()"""

# The middle of the first sentence's first line: where to point the mouse.
FIRST_SEGMENT_POINT = r"""(() => {
  const s = document.querySelector("#article span.seg");
  if (!s) return null;
  s.scrollIntoView({ block: "nearest", inline: "nearest" });
  const r = s.getClientRects()[0];
  return { x: (r.left + r.right) / 2, y: (r.top + r.bottom) / 2 };
})()"""

# The tooltip once it is visible and lists a probability per label.
TOOLTIP = r"""(() => {
  const t = document.getElementById("tip");
  if (!t || t.hidden || getComputedStyle(t).display === "none") return null;
  if (t.querySelectorAll("[data-prob]").length === 0 || !/%/.test(t.textContent)) return null;
  return { text: t.innerText.trim(), words: t.dataset.words || "" };
})()"""


def drive(chromium, addr, article, screenshot, profile):
    proc, port, browser_path = launch(chromium, profile)
    out = None
    try:
        dt = DevTools(page_target(port))
        try:
            dt.call("Page.enable")
            dt.call("Runtime.enable")
            dt.call(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=HEIGHT,
                deviceScaleFactor=1,
                mobile=False,
            )
            nav = dt.call("Page.navigate", url=f"http://{addr}/")
            if nav.get("errorText"):
                raise Failure(f"cannot open http://{addr}/: {nav['errorText']}")
            dt.wait_for(
                "document.readyState === 'complete' && !!document.getElementById('classify')"
                " && !!document.getElementById('text')",
                "the page to load (#classify and #text)",
            )
            status = dt.evaluate(
                "performance.getEntriesByType('navigation')[0]?.responseStatus ?? 0"
            )
            if status and status != 200:
                raise Failure(f"GET http://{addr}/ answered HTTP {status}")

            # Paste the article and click Classify.
            length = dt.evaluate(
                "(t => { const e = document.getElementById('text'); e.value = t;"
                " e.dispatchEvent(new Event('input', { bubbles: true })); return e.value.length; })"
                f"({json.dumps(article)})"
            )
            if not length:
                raise Failure("the textarea did not take the article")
            dt.evaluate(
                "document.getElementById('classify').dispatchEvent("
                "new MouseEvent('click', { bubbles: true, cancelable: true, view: window })), true"
            )
            state = dt.wait_for(
                "['done', 'error'].includes(document.body.dataset.state)"
                " && document.body.dataset.state",
                "document.body.dataset.state to be done",
                timeout=STATE_TIMEOUT,
            )
            page = dt.evaluate(READ_PAGE)
            out = {k: page[k] for k in ("primary", "topics", "shares", "segments", "error")}
            out["meta"] = page["meta"]
            out["tooltip"] = None
            if state != "done":
                raise Failure(f"the page shows an error: {page['error']}")
            if not page["segments"]:
                raise Failure("the page shows no segments")

            # Make the window as tall as the page (so the screenshot is the whole page,
            # without scrolling), then hover the first sentence with the mouse: its
            # tooltip must appear.
            height = dt.evaluate("document.documentElement.scrollHeight")
            dt.call(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=max(HEIGHT, min(int(height), MAX_HEIGHT)),
                deviceScaleFactor=1,
                mobile=False,
            )
            point = dt.evaluate(FIRST_SEGMENT_POINT)
            dt.call("Input.dispatchMouseEvent", type="mouseMoved", x=point["x"], y=point["y"])
            tip = dt.wait_for(TOOLTIP, "the tooltip with probabilities after hovering")
            # Its top words come from a second call: wait for them (for the screenshot).
            try:
                dt.wait_for(
                    "(document.getElementById('tip').dataset.words || 'loading') !== 'loading'",
                    "the tooltip's top words",
                    timeout=10,
                )
            except Failure:
                pass
            tip = dt.evaluate(TOOLTIP) or tip
            out["tooltip"] = tip["text"]
            out["tooltip_words"] = tip["words"]

            shot = dt.call("Page.captureScreenshot", format="png")
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            if dt.exceptions:
                raise Failure(f"the page threw: {dt.exceptions}")
        finally:
            dt.close()
        close_browser(proc, port, browser_path)
        return out
    except Failure as e:
        e.partial = out
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def close_browser(proc, port, browser_path):
    """Browser.close on the browser's own endpoint, then wait for the process."""
    try:
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}{browser_path}", timeout=5, suppress_origin=True
        )
        ws.send(json.dumps({"id": 1, "method": "Browser.close"}))
        try:
            ws.recv()
        except Exception:
            pass
        ws.close()
        proc.wait(timeout=10)
    except Exception:
        proc.kill()
        proc.wait()


def main(argv):
    if len(argv) != 5:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    chromium, addr, article_file, screenshot = argv[1:]
    with open(article_file, encoding="utf-8") as f:
        article = f.read()
    tmp = tempfile.mkdtemp(prefix="tasnif-page-")
    profile = os.path.join(tmp, "profile")
    try:
        out = drive(chromium, addr, article, screenshot, profile)
    except Failure as e:
        partial = getattr(e, "partial", None)
        if partial is not None:
            print(json.dumps(partial, ensure_ascii=False))
        print(f"page.py: {e}", file=sys.stderr)
        return 1
    except (OSError, websocket.WebSocketException) as e:
        print(f"page.py: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
