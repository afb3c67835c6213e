"""The npm package as web developers load it: a tiny app (runtime_web/test/bundlers/app) built
with Vite, with esbuild, and served as it is with an import map, each run in headless Chromium on
two WASM threads; a second visit reads its payloads from the Cache API; a worker the bundler
dropped is named in the note; index.d.ts passes a strict TypeScript check."""
from __future__ import annotations

import contextlib
import functools
import http.server
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import webjit
from onnx_builders import mlp_model, onnxruntime_outputs
from webjit.runner import launch_chromium, playwright_api
from webjit.server import serve_folders

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "runtime_web"
FIXTURE = RUNTIME / "test" / "bundlers"
BIN = FIXTURE / "node_modules" / ".bin"
M, D, HIDDEN = 64, 1024, 4096  # 32 MiB of weights: enough for the cache to show


def tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{path} is missing: run npm install in {FIXTURE} (scripts/setup.sh does)"
    return str(path)


def build(args: list[str]) -> None:
    done = subprocess.run(args, cwd=FIXTURE, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """{bundle, model, out}: a compiled MLP bundle, and the app built by Vite and by esbuild."""
    out = tmp_path_factory.mktemp("bundlers")
    model = mlp_model(out / "mlp.onnx", m=M, d=D, hidden=HIDDEN)
    webjit.compile(model, {"x": (M, D)}).save(out / "bundle")
    build([tool("vite"), "build", "--outDir", str(out / "vite")])
    esbuild = [tool("esbuild"), "main=app/main.js", "--bundle", "--format=esm", "--log-level=warning"]
    build(esbuild + ["worker=webjit/worker", f"--outdir={out / 'esbuild'}"])
    build(esbuild + [f"--outdir={out / 'dropped'}"])  # the mistake of the issue: no worker entry
    for folder in ("esbuild", "dropped"):
        shutil.copy(FIXTURE / "app" / "index.html", out / folder / "index.html")
    for script in [*out.glob("vite/**/*.js"), *out.glob("esbuild/*.js")]:  # the browser entry only
        named = re.findall(r"""["'`]node:[a-z_/]+["'`]""", script.read_text())
        assert not named, f"{script} imports {named}"
    return {"out": out, "model": model}


def visit(page, url: str) -> dict:
    page.goto(url)
    deadline = time.monotonic() + 60
    while not page.evaluate("window.app?.done === true") and time.monotonic() < deadline:
        time.sleep(0.05)
    return page.evaluate("window.app ?? {done: false, error: 'the app did not start'}")


def open_browser(playwright, profile: Path):
    _, error_type = playwright_api()
    context = launch_chromium(playwright, profile, False, error_type)
    page = context.pages[0] if context.pages else context.new_page()
    messages = []
    page.on("console", lambda msg: messages.append(msg.text))
    page.on("pageerror", lambda err: messages.append(f"page error: {err}"))
    return context, page, messages


def mounts(site) -> dict:
    out = site["out"]
    return {"/webjit/": RUNTIME, "/app/": FIXTURE / "app", "/vite/": out / "vite", "/esbuild/": out / "esbuild",
            "/dropped/": out / "dropped", "/bundle/": out / "bundle"}


class StaticHost(http.server.SimpleHTTPRequestHandler):
    """An ordinary static host with COOP/COEP and no CSP: webjit serve's CSP (script-src 'self')
    forbids inline scripts, an import map among them."""
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        super().end_headers()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def static_host(folder: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(StaticHost, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def expected(site) -> np.ndarray:
    x = (np.arange(M * D) % 7 / 7).astype(np.float32).reshape(M, D)
    return onnxruntime_outputs(site["model"], {"x": x})["y"]


@pytest.fixture(scope="module")
def browser(site, tmp_path_factory):
    """One headless Chromium for the pages below: {webjit: base URL of webjit serve, static:
    base URL of a plain static host (the import map page, the package in node_modules/webjit),
    page, messages, playwright (for a browser with a profile of its own)}."""
    sync_playwright, _ = playwright_api()
    root = tmp_path_factory.mktemp("static")
    (root / "node_modules").mkdir()
    (root / "node_modules" / "webjit").symlink_to(RUNTIME)
    (root / "app").symlink_to(FIXTURE / "app")
    (root / "bundle").symlink_to(site["out"] / "bundle")
    with serve_folders(mounts(site)) as base, static_host(root) as static, sync_playwright() as playwright:
        context, page, messages = open_browser(playwright, tmp_path_factory.mktemp("profile"))
        try:
            yield {"webjit": base, "static": static, "page": page, "messages": messages, "playwright": playwright}
        finally:
            context.close()


@pytest.mark.parametrize("way", ["importmap", "vite", "esbuild"])
def test_each_way_of_loading_the_package_runs_on_two_threads(site, browser, way):
    url = {"importmap": f"{browser['static']}/app/importmap.html", "vite": f"{browser['webjit']}/vite/index.html",
           "esbuild": f"{browser['webjit']}/esbuild/index.html"}[way]
    app = visit(browser["page"], f"{url}?bundle=/bundle/")
    assert app["done"] and app["error"] is None, (app, browser["messages"])
    assert app["threads"] == 2 and app["threadNote"] is None, app
    got = np.array(app["output"], dtype=np.float32).reshape(M, D)
    np.testing.assert_allclose(got, expected(site), rtol=1e-4, atol=1e-6)


def test_a_second_load_reads_the_payloads_from_the_cache_and_is_faster(site, browser, tmp_path):
    fetched = []
    with serve_folders(mounts(site), log=fetched.append) as base:
        context, page, messages = open_browser(browser["playwright"], tmp_path / "profile")  # a fresh profile
        try:
            first = visit(page, f"{base}/vite/index.html?bundle=/bundle/")
            requests_first = len(fetched)
            second = visit(page, f"{base}/vite/index.html?bundle=/bundle/")
            later = [line for line in fetched[requests_first:] if "GET /bundle/" in line]
            cleared = visit(page, f"{base}/vite/index.html?bundle=/bundle/&clear")
        finally:
            context.close()
    for app in (first, second, cleared):
        assert app["error"] is None and app["threads"] == 2, (app, messages)
    files = lambda app, cached: {e["file"] for e in app["events"] if e.get("file") and e["fromCache"] is cached}
    assert files(first, False) and not files(first, True), first["events"]
    assert files(second, True) == files(first, False) and not files(second, False), second["events"]
    assert files(cleared, False) == files(first, False) and not files(cleared, True)
    assert [line for line in later if "manifest.json" not in line] == [], later  # payloads: none fetched
    np.testing.assert_array_equal(second["output"], first["output"])
    # Reported, not asserted: times are a benchmark's business on a shared machine (docs/web.md has them).
    print(f"first load {first['loadMs']:.0f} ms, second (from the cache) {second['loadMs']:.0f} ms, "
          f"{len(files(second, True))} payloads from the cache")


def test_a_worker_the_bundler_dropped_is_named_in_the_thread_note(browser):
    base = browser["webjit"]
    app = visit(browser["page"], f"{base}/dropped/index.html?bundle=/bundle/")
    assert app["error"] is None and app["threads"] == 1, (app, browser["messages"])
    assert f"the worker script {base}/dropped/worker.js did not load" in app["threadNote"], app["threadNote"]


def test_the_typescript_declarations_pass_a_strict_check():
    done = subprocess.run([tool("tsc"), "-p", "tsconfig.json"], cwd=FIXTURE, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
