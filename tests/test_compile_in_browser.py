"""The in-browser compiler as a user meets it: `webjit serve` of a pre-compiled bundle with the
demo page (examples/compile), headless Chromium with nothing but the project's own files on
127.0.0.1. The page fetches the .onnx file, compiles it in Pyodide (in a worker), runs the
bundle it made, and compares with the pre-compiled one. Here: its outputs against
onnxruntime's on the same inputs, and its bundle (the zip it would save) against the host
compiler's for the same request, byte for byte."""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import webjit
from webjit.browser import compile_for_page
from webjit.feeds import make_inputs
from webjit.models import export_model
from webjit.runner import launch_chromium, playwright_api

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "examples" / "compile"
TOLERANCE = 1e-4


def serve(bundle: Path, model: Path):
    server = subprocess.Popen([sys.executable, "-m", "webjit", "serve", str(bundle), "--page", str(PAGE),
                               "--mount", f"/models/={model.parent}", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    assert " at http://127.0.0.1:" in line, line + server.stderr.read()
    return server, "/".join(line.split(" at ", 1)[1].split("/", 3)[:3])


def compile_in_page(model: Path, dims: dict, backends: str, tmp_path: Path, timeout_s: float = 600) -> dict:
    """The demo page's window.demo after it compiled and ran `model` (its runs' outputs decoded)."""
    bundle = tmp_path / "precompiled"
    webjit.compile(model, dims=dims, options=webjit.Options(backends=("wasm",))).save(bundle)
    server, base = serve(bundle, model)
    sync_playwright, PlaywrightError = playwright_api()
    messages: list[str] = []
    requests: list[str] = []
    try:
        with sync_playwright() as playwright:
            context = launch_chromium(playwright, tmp_path / "profile", "webgpu" in backends, PlaywrightError)
            try:
                page = context.pages[0] if context.pages else context.new_page()
                page.on("console", lambda msg: messages.append(msg.text))
                page.on("pageerror", lambda err: messages.append(f"page error: {err}"))
                page.on("request", lambda request: requests.append(request.url))
                page.goto(f"{base}/page/?model=/models/{model.name}&backends={backends}")
                page.wait_for_selector("html[data-webjit=done]", state="attached", timeout=timeout_s * 1000)
                demo = page.evaluate("window.demo")
                page.screenshot(path=str(tmp_path / "compile-page.png"), full_page=True)
            finally:
                context.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert demo["error"] is None, (demo["error"], messages[-10:])
    assert all(url.startswith(base) or url.startswith(("blob:", "data:")) for url in requests), requests
    manifest = json.loads((bundle / "manifest.json").read_text())
    for run in demo["runs"]:
        run["outputs"] = {name: decode(o) for name, o in run["outputs"].items()}
    demo["inputs"] = make_inputs(manifest, {}, seed=0)  # what webjit serve wrote to /inputs/
    return demo


def decode(output: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(output["base64"]), output["dtype"]).reshape(output["shape"])


def check(demo: dict, model: Path, backends: list[str]) -> None:
    import onnxruntime
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    want = dict(zip(names, session.run(None, demo["inputs"])))
    compiled = [run for run in demo["runs"] if run["bundle"] == "compiled here"]
    assert sorted(run["backend"] for run in compiled) == sorted(backends)
    for run in compiled:
        for name, got in run["outputs"].items():
            scale = max(1.0, float(np.abs(want[name]).max()))
            assert np.abs(got - want[name]).max() <= TOLERANCE * scale, (run["backend"], name)
    request = {**demo["report"]["request"], "jit": False}
    host = compile_for_page(model.read_bytes(), json.dumps(request))
    assert demo["report"]["bundle_sha256"] == hashlib.sha256(host["bundle"]).hexdigest()
    stages = dict(demo["report"]["stages"])
    assert demo["report"]["kernels"] > 0 and "generating kernels" in stages and demo["report"]["python"].startswith("3.")


@pytest.mark.parametrize("name", ["bert", "resnet50"])
def test_the_page_compiles_a_model_and_runs_it_like_onnxruntime(name, tmp_path):
    model = Path(export_model(name, size="small", seq=16))
    dims = {"batch": 1, "seq": 16} if name == "bert" else {"batch": 1}
    demo = compile_in_page(model, dims, "wasm", tmp_path)
    check(demo, model, ["wasm"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["minilm", "resnet50"])
def test_the_page_compiles_the_full_size_models(name, tmp_path):
    """MiniLM-L6 (its real weights) and ResNet-50 from their .onnx bytes, run on WASM and WebGPU."""
    model = Path(export_model(name, size="full"))
    dims = {"batch": 1, "seq": 128} if name == "minilm" else {"batch": 1}
    started = time.monotonic()
    demo = compile_in_page(model, dims, "wasm,webgpu", tmp_path, timeout_s=1200)
    check(demo, model, ["wasm", "webgpu"])
    report = demo["report"]
    print(f"{name}: Pyodide {report['startMs'] / 1000:.1f} s, wheel {report['installMs'] / 1000:.1f} s, compile "
          f"{report['seconds']:.1f} s ({report['kernels']} kernels), page {time.monotonic() - started:.0f} s")


def test_the_browser_compile_bench_runs_and_finds_the_same_bundle_everywhere(tmp_path):
    """`webjit bench browser-compile` on one small model (a smoke test: no timing is asserted)."""
    done = subprocess.run([sys.executable, "-m", "webjit", "bench", "browser-compile", "bert", "--size", "small",
                           "-o", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((tmp_path / "browser-compile-small.json").read_text())
    row = results["rows"][0]
    assert len({row[place]["bundle_sha256"] for place in ("cpython", "cpython_pure", "chromium", "node")}) == 1
    assert results["browsers"]["chromium"]["python"].startswith("3.") and "| bert |" in done.stdout
    assert (tmp_path / "browser-compile-small.md").read_text().count("| yes |") == 1
