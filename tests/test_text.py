"""The text helpers (runtime_web/src/text.js) as a page uses them: examples/embed, about ten
lines with an import map, computes MiniLM-L6 sentence similarity in headless Chromium (two
threads, a bundle of batch 2 so three sentences take two runs; or one bundle for batches of 1..2
and sequences of 1..64) and matches the same mean pooling over onnxruntime's outputs on the same
tokens; the tokens match Python's tokenizers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import webjit
from webjit.models import export_model, minilm_tokenizer_dir
from webjit.runner import launch_chromium, playwright_api, runtime_dir
from webjit.server import serve_folders

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "examples" / "embed"
SEQ = 16
TEXTS = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]


def onnxruntime_vectors(model: Path, ids: list[list[int]]) -> np.ndarray:
    import onnxruntime
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    vectors = []
    for row in ids:
        input_ids = np.zeros((1, SEQ), np.int64)
        input_ids[0, :len(row)] = row
        mask = (np.arange(SEQ) < len(row)).astype(np.int64)[None]
        hidden = session.run(None, {"input_ids": input_ids, "attention_mask": mask,
                                    "token_type_ids": np.zeros_like(input_ids)})[0][0].astype(np.float64)
        mean = (hidden * mask[0][:, None]).sum(0) / mask.sum()
        vectors.append(mean / np.linalg.norm(mean))
    return np.array(vectors)


def run_page(base: str, page: str, tmp_path: Path) -> dict:
    sync_playwright, PlaywrightError = playwright_api()
    with sync_playwright() as playwright:
        context = launch_chromium(playwright, tmp_path / "profile", False, PlaywrightError)
        try:
            tab = context.new_page()
            errors = []
            tab.on("pageerror", lambda err: errors.append(str(err)))
            tab.goto(f"{base}{page}")
            tab.wait_for_function("() => window.result !== undefined || document.getElementById('out')"
                                  ".textContent.startsWith('error')", timeout=120_000)
            result = tab.evaluate("() => window.result")
            assert result is not None, errors
            return result
        finally:
            context.close()


@pytest.fixture(scope="module")
def model():
    return Path(export_model("minilm", size="small", seq=SEQ))


@pytest.mark.parametrize("dims", [{"batch": 2, "seq": SEQ}, {"batch": (1, 2), "seq": (1, 64)}],
                         ids=["fixed", "symbolic"])
def test_the_ten_line_page_matches_onnxruntime(model, tmp_path, dims):
    """With a fixed bundle every batch is padded to its [2, 16]; with a symbolic one
    (docs/symbolic.md) to the batch's longest text, and the last batch holds one text."""
    bundle = tmp_path / "bundle"
    webjit.compile(model, dims=dims, options=webjit.Options(backends=("wasm",))).save(bundle)
    page = PAGE / "index.html"
    script = page.read_text().split('<script type="module">')[1].split("</script>")[0]
    assert len([line for line in script.strip().splitlines() if line.strip()]) <= 10
    # the page's texts are its own; the test's three texts go in through a copy of it
    (tmp_path / "page").mkdir()
    quoted = ", ".join(repr(t) for t in TEXTS)
    (tmp_path / "page" / "index.html").write_text(page.read_text().replace(
        "const texts = ['A man is eating food.', 'A man is eating a piece of bread.'];", f"const texts = [{quoted}];"))
    mounts = {"/runtime/": runtime_dir(), "/bundle/": bundle, "/page/": tmp_path / "page",
              "/tokenizer/": minilm_tokenizer_dir()}
    with serve_folders(mounts) as base:
        result = run_page(base, "/page/", tmp_path)
    assert result["threads"] == 2
    from tokenizers import Tokenizer
    tokenizer = Tokenizer.from_file(str(Path(minilm_tokenizer_dir()) / "tokenizer.json"))
    tokenizer.no_padding()
    assert result["ids"] == [tokenizer.encode(t).ids for t in TEXTS]
    vectors = onnxruntime_vectors(model, result["ids"])
    np.testing.assert_allclose(np.array(result["vectors"]), vectors, atol=1e-4)
    assert abs(result["similarity"] - float(vectors[0] @ vectors[1])) < 1e-4
