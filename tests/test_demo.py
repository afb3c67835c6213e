"""The demo page (examples/similarity) as a user meets it: served by `webjit serve`, loaded in
headless Chromium, two sentences typed in, the similarity read off the page and compared
with onnxruntime's on the same tokens (and the page's tokens with the Python tokenizers')."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import webjit
from webjit.models import export_model, minilm_tokenizer_dir
from webjit.runner import launch_chromium, playwright_api

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "examples" / "similarity"
SEQ = 128
FIRST, SECOND = "The weather is lovely today.", "It is a sunny and beautiful day outside!"


def reference_similarity(model: Path, ids: list[list[int]]) -> float:
    import onnxruntime
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    vectors = []
    for row in ids:
        input_ids = np.array([row], dtype=np.int64)
        mask = (input_ids != 0).astype(np.int64)
        hidden = session.run(None, {"input_ids": input_ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(input_ids)})[0][0].astype(np.float64)
        mean = (hidden * mask[0][:, None]).sum(0) / mask.sum()
        vectors.append(mean / np.linalg.norm(mean))
    return float(vectors[0] @ vectors[1])


def python_tokens(text: str) -> list[int]:
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(Path(minilm_tokenizer_dir()) / "tokenizer.json"))
    return tokenizer.encode(text).ids  # padded to 128 by the file's own padding settings


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`webjit serve` of a --jit MiniLM bundle with the demo page: yields the base URL."""
    model = Path(export_model("minilm", size="full", seq=SEQ))
    bundle = tmp_path_factory.mktemp("demo") / "bundle"
    shapes = {name: (1, SEQ) for name in ("input_ids", "attention_mask", "token_type_ids")}
    webjit.compile(model, shapes, webjit.Options(jit=True)).save(bundle)
    server = subprocess.Popen([sys.executable, "-m", "webjit", "serve", str(bundle), "--page", str(PAGE),
                               "--mount", f"/tokenizer/={minilm_tokenizer_dir()}", "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert " at http://127.0.0.1:" in line, line + server.stderr.read()
        base = line.split(" at ", 1)[1].split("/", 3)[:3]
        yield "/".join(base), model
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow
def test_the_demo_page_computes_the_similarity_onnxruntime_does(served, tmp_path):
    base, model = served
    sync_playwright, PlaywrightError = playwright_api()
    messages = []
    with sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path / "profile", False, PlaywrightError)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", lambda msg: messages.append(msg.text))
            page.on("pageerror", lambda err: messages.append(f"page error: {err}"))
            page.set_default_timeout(120_000)
            page.goto(f"{base}/")  # webjit serve redirects to the page
            page.wait_for_selector("html[data-demo=ready]", state="attached")
            assert "wasm" in page.inner_text("#status"), messages
            page.fill("#first", FIRST)
            page.fill("#second", SECOND)
            before = len(page.evaluate("window.demo.runs"))
            page.click("#compare")
            deadline = time.monotonic() + 120
            while page.evaluate("window.demo.runs.length") < before + 2 and time.monotonic() < deadline:
                time.sleep(0.1)  # (no wait_for_function: the page's CSP forbids evaluating strings)
            time.sleep(0.2)
            shown = float(page.inner_text("#similarity"))
            exact = page.evaluate("window.demo.lastSimilarity")
            ids = page.evaluate("window.demo.lastIds")
            page.click("#repeat")  # 50 more runs: the chart and the tuning panel fill in
            deadline = time.monotonic() + 180
            while page.evaluate("window.demo.runs.length") < before + 52 and time.monotonic() < deadline:
                time.sleep(0.2)
            tuning = page.inner_text("#tuning")
            out = ROOT / "out" / "test-results"
            out.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(tmp_path / "demo-similarity.png"), full_page=True)
            page.screenshot(path=str(out / "demo-similarity.png"), full_page=True)
        finally:
            context.close()
    assert ids == [python_tokens(FIRST), python_tokens(SECOND)]
    want = reference_similarity(model, ids)
    assert abs(exact - want) <= 1e-4, (exact, want)
    assert abs(shown - want) <= 1e-4 + 5e-5  # shown with four decimals
    assert tuning.split(",")[0] in ("waiting", "tuning", "done"), tuning
    assert " 0 swaps" not in tuning, tuning
    print(f"similarity {exact:.6f} (onnxruntime {want:.6f}); tuning: {tuning}; screenshot {out / 'demo-similarity.png'}")
