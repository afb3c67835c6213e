"""Drives runtime sessions from Python: a Node process (runtime_web/bin/webjit-driver-node.mjs)
or a page in headless Chromium (runtime_web/page/driver.html), both speaking the JSON
commands of runtime_web/src/driver.js. `webjit tune` and `webjit run --profile` use it.
"""
from __future__ import annotations

import json
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from webjit.errors import RunError
from webjit.runner import (compiler_mounts, first_line, launch_chromium, node_env, playwright_api, record_console, runtime_dir,
                           with_console)
from webjit.server import serve_folders

BROWSERS = ("chromium", "node")


class Driver:
    """A host of runtime sessions: `call(command, **fields)` returns the command's result.

    `folders` are the local folders the sessions read (bundles, inputs, candidates);
    `location(path)` turns a path inside one of them into what the runtime opens there
    (the path itself in Node, a URL of the local server in Chromium)."""

    def __init__(self, browser: str, backend: str, folders: list[Path], timeout_s: float = 300.0,
                 page: str = "page/driver.html", chromium: str | None = None):
        if browser not in BROWSERS:
            raise RunError(f"unknown browser {browser!r}; choose one of {', '.join(BROWSERS)}")
        self.browser, self.backend, self.timeout_s = browser, backend, timeout_s
        self.folders = [Path(f).resolve() for f in folders]
        self.page = page  # under runtime_web/, in Chromium: a page exposing window.webjitDriver.call
        self.chromium = chromium  # the browser's executable; found on PATH when None
        self._stack = []
        self._base = None

    def __enter__(self) -> "Driver":
        try:
            if self.browser == "node":
                self._start_node()
            else:
                self._start_chromium()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def location(self, path) -> str:
        path = Path(path).resolve()
        if self.browser == "node":
            return str(path)
        for i, folder in enumerate(self.folders):
            if path == folder or folder in path.parents:
                return f"{self._base}/f{i}/{path.relative_to(folder).as_posix()}".rstrip("/") + (
                    "/" if path.is_dir() else "")
        raise RunError(f"internal error: {path} is outside the folders the driver serves")

    def call(self, command: str, **fields) -> dict:
        reply = self._send({"command": command, **fields})
        if not reply.get("ok"):
            raise RunError(reply.get("error", "the runtime failed without a message"))
        return reply["result"]

    def reload(self) -> None:
        """A fresh runtime: the page reloaded in the same browser profile (what a page keeps,
        such as IndexedDB, stays), or a new Node process. Every session is gone."""
        if self.browser == "node":
            self._stop_node()
            self._start_node()
            return
        try:
            self._page.reload()
            self._page.wait_for_selector("html[data-webjit=ready]", state="attached")
        except self._error_type as err:
            raise RunError(with_console(f"the driver page did not reload ({first_line(str(err))})",
                                        self._messages)) from None

    def chart(self, data: dict, path, page: str = "page/chart.html") -> None:
        """Draws a chart (runtime_web/page/chart.js, or the page given, which defines
        window.webjitChart) in a page of its own and saves it as a PNG at `path` (Chromium only)."""
        if self.browser != "chromium":
            raise RunError("charts are drawn in Chromium; use --browser chromium")
        tab = self._page.context.new_page()
        try:
            tab.goto(f"{self._base}/runtime/{page}")
            tab.wait_for_selector("html[data-webjit=ready]", state="attached")
            tab.evaluate("(data) => window.webjitChart(data)", data)
            tab.locator("#chart").screenshot(path=str(path))
        except self._error_type as err:
            raise RunError(f"the chart could not be drawn ({first_line(str(err))})") from None
        finally:
            tab.close()

    # ---- Node --------------------------------------------------------------------------
    def _start_node(self) -> None:
        node = shutil.which("node")
        if node is None:
            raise RunError("node is not on PATH; install Node.js 20 or use --browser chromium")
        script = runtime_dir() / "bin" / "webjit-driver-node.mjs"
        gpu = ["--webgpu"] if self.backend in ("webgpu", "auto") else []
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen([node, "--experimental-wasm-relaxed-simd", str(script), *gpu],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                         text=True, env=node_env(self.backend), bufsize=1)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read_lines, daemon=True).start()
        self._send = self._send_node

    def _read_lines(self) -> None:
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _send_node(self, command: dict) -> dict:
        try:
            self._process.stdin.write(json.dumps(command) + "\n")
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise RunError(f"the Node runtime exited early:\n{self._stderr_tail()}") from None
        while True:
            try:
                line = self._lines.get(timeout=self.timeout_s)
            except queue.Empty:
                raise RunError(f"the Node runtime did not answer {command['command']} within "
                               f"{self.timeout_s:g} s; raise the timeout") from None
            if line is None:
                raise RunError(f"the Node runtime exited during {command['command']}:\n{self._stderr_tail()}")
            if line.startswith("{"):
                return json.loads(line)

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return "\n".join(self._stderr.read().strip().splitlines()[-20:])

    # ---- Chromium ----------------------------------------------------------------------
    def _start_chromium(self) -> None:
        sync_playwright, PlaywrightError = playwright_api()
        self._error_type = PlaywrightError
        compiler = tempfile.TemporaryDirectory(prefix="webjit-compiler-")  # the in-browser compiler's wheel
        self._stack.append(compiler.cleanup)
        mounts = {"/runtime/": runtime_dir(), **compiler_mounts(Path(compiler.name)),
                  **{f"/f{i}/": f for i, f in enumerate(self.folders)}}
        server = serve_folders(mounts)
        self._base = server.__enter__()
        self._stack.append(lambda: server.__exit__(None, None, None))
        playwright = sync_playwright().start()
        self._stack.append(playwright.stop)
        self._profile = tempfile.TemporaryDirectory(prefix="webjit-driver-")
        self._stack.append(self._profile.cleanup)
        context = launch_chromium(playwright, Path(self._profile.name), self.backend in ("webgpu", "auto"),
                                  PlaywrightError, self.chromium)
        self._stack.append(context.close)
        self._messages: list[str] = []
        page = context.pages[0] if context.pages else context.new_page()
        page.on("console", lambda msg: record_console(self._messages, msg))
        page.on("pageerror", lambda err: self._messages.append(f"page error: {err}"))
        page.on("crash", lambda _page: self._messages.append("the page crashed"))
        page.set_default_timeout(self.timeout_s * 1000)
        try:
            page.goto(f"{self._base}/runtime/{self.page}")
            page.wait_for_selector("html[data-webjit=ready]", state="attached")
        except PlaywrightError as err:
            raise RunError(with_console(f"the driver page did not start ({first_line(str(err))})",
                                        self._messages)) from None
        self._page = page
        self._send = self._send_chromium

    def _send_chromium(self, command: dict) -> dict:
        try:
            return self._page.evaluate("(command) => window.webjitDriver.call(command)", command)
        except self._error_type as err:
            raise RunError(with_console(f"the browser failed during {command['command']} "
                                        f"({first_line(str(err))})", self._messages)) from None

    def _stop_node(self) -> None:
        if getattr(self, "_process", None) is not None:
            try:
                self._process.stdin.write(json.dumps({"command": "quit"}) + "\n")
                self._process.stdin.close()
                self._process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self._process.kill()
            self._process = None

    def close(self) -> None:
        self._stop_node()
        while self._stack:
            try:
                self._stack.pop()()
            except Exception:  # noqa: BLE001 (closing must go on whatever one part raised)
                pass
