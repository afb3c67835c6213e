"""session.generate (runtime_web/src/generate.js) on GPT-2 exported with its KV cache
(`export_model('gpt2-past', size='small')`), compiled once for every prompt and cache length
(--dim sequence=1..128 --dim past_sequence=0..127 --dim total_sequence=past_sequence+sequence): greedy
generation in Node and in headless Chromium (WASM) gives onnxruntime's greedy loop over the same
ONNX file token for token, and a prompt or a generation past the compiled ranges is one sentence."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import webjit
from webjit.models import export_model
from webjit.runner import launch_chromium, playwright_api, runtime_dir
from webjit.server import serve_folders

PROMPT = [464, 2068, 7586, 21831, 18045, 625, 262]
NEW_TOKENS = 32
DIMS = {"batch": 1, "sequence": (1, 128), "past_sequence": (0, 127), "total_sequence": "past_sequence+sequence"}


def test_a_dimension_given_as_a_sum_of_others(model):
    import onnx
    from webjit.cli import parse_dim
    from webjit.errors import ShapeError
    from webjit.shapes import CLI, input_shapes
    from webjit.symbolic import Sym
    assert parse_dim("total_sequence=past_sequence+sequence") == ("total_sequence", "past_sequence+sequence")
    proto = onnx.load(model, load_external_data=False)
    shapes = input_shapes(proto, dims=DIMS)
    mask, past = shapes["attention_mask"][1], shapes["past_key_values.0.key"][2]
    assert isinstance(mask, Sym) and mask == past + shapes["input_ids"][1] and mask.bounds() == (1, 255)
    with pytest.raises(ShapeError, match=r"^--dim gives dimension 'total_sequence' the size 'past\+2\*sequence'; a "
                                         r"derived size .* and 'past' is not one$"):
        input_shapes(proto, dims={**DIMS, "total_sequence": "past+2*sequence"}, words=CLI)


def onnxruntime_greedy(model: Path, prompt: list[int], count: int) -> list[int]:
    """The reference: onnxruntime's greedy loop over the same ONNX file (generate_bench's)."""
    import onnxruntime
    from webjit.generate_bench import onnxruntime_greedy as greedy
    return greedy(onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"]), prompt, count)


NODE_SCRIPT = """
import { load } from '%(runtime)s/src/node.js';
const [bundle, request] = process.argv.slice(2);
const { prompt, options } = JSON.parse(request);
const session = await load(bundle, { backend: 'wasm', threads: 1 });
const streamed = [];
try {
  const out = await session.generate(prompt, { ...options, onToken: (token, index) => streamed.push([token, index]) });
  console.log(JSON.stringify({ ...out, streamed }));
} catch (err) {
  console.log(JSON.stringify({ error: err.message, name: err.name }));
} finally {
  session.release();
}
"""


def generate_in_node(bundle: Path, tmp_path: Path, prompt, **options) -> dict:
    script = tmp_path / "generate.mjs"
    script.write_text(NODE_SCRIPT % {"runtime": runtime_dir().as_posix()})
    done = subprocess.run(["node", str(script), str(bundle), json.dumps({"prompt": prompt, "options": options})],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def model():
    return Path(export_model("gpt2-past", size="small"))


@pytest.fixture(scope="module")
def bundle(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2-past") / "bundle"
    webjit.compile(model, dims=DIMS, options=webjit.Options(backends=("wasm",))).save(folder)
    return folder


@pytest.fixture(scope="module")
def reference(model):
    return onnxruntime_greedy(model, PROMPT, NEW_TOKENS)


def test_greedy_generation_in_node_matches_onnxruntime(bundle, reference, tmp_path):
    out = generate_in_node(bundle, tmp_path, PROMPT, maxNewTokens=NEW_TOKENS, temperature=0)
    assert out["tokens"] == reference
    assert out["streamed"] == [[t, i] for i, t in enumerate(reference)]
    assert out["stopped"] == "length"


def test_eos_stops_and_sampling_is_reproducible(bundle, reference, tmp_path):
    eos = reference[3]
    out = generate_in_node(bundle, tmp_path, PROMPT, maxNewTokens=NEW_TOKENS, temperature=0, eosTokenId=eos)
    assert out["tokens"] == reference[:reference.index(eos) + 1] and out["stopped"] == "eos"
    sampled = [generate_in_node(bundle, tmp_path, PROMPT, maxNewTokens=8, temperature=0.8, topK=40, topP=0.9, seed=7)
               for _ in range(2)]
    assert sampled[0]["tokens"] == sampled[1]["tokens"] and len(sampled[0]["tokens"]) == 8


def test_prompt_and_cache_past_the_compiled_ranges_are_one_sentence(bundle, tmp_path):
    out = generate_in_node(bundle, tmp_path, [100] * 129, maxNewTokens=1, temperature=0)
    assert out["name"] == "WebjitError"
    assert out["error"] == ("the prompt has 129 tokens; this bundle was compiled for sequence in 1..128 (recompile "
                            "with a wider --dim sequence range for longer prompts)")
    out = generate_in_node(bundle, tmp_path, PROMPT, maxNewTokens=123, temperature=0)
    assert out["error"] == ("a prompt of 7 tokens and 123 new tokens need a cache of 128 positions; this bundle was "
                            "compiled for past_sequence in 0..127 (ask for at most 122 new tokens, or recompile "
                            "with a wider --dim past_sequence range)")
    out = generate_in_node(bundle, tmp_path, PROMPT, maxNewTokens=122, temperature=0)  # the most that fit
    assert "error" not in out and len(out["tokens"]) == 122


def test_a_bundle_without_a_cache_is_refused(tmp_path):
    plain = tmp_path / "gpt2"
    webjit.compile(export_model("gpt2", size="small"), dims={"batch": 1, "seq": (1, 16)},
                   options=webjit.Options(backends=("wasm",))).save(plain)
    out = generate_in_node(plain, tmp_path, PROMPT, maxNewTokens=2)
    assert out["error"].startswith("session.generate needs a decoder exported with past key/values")


@pytest.fixture(scope="module")
def merged_model():
    return Path(export_model("gpt2-merged", size="small"))


def test_a_merged_decoder_generates_like_onnxruntime(merged_model, reference, tmp_path, capsys):
    """optimum's decoder_model_merged form (an If on use_cache_branch over the no-cache and the
    cache decoder): bound to its cache branch, which runs the first step on an empty past. The
    tokens equal onnxruntime's loop over the merged file (use_cache_branch false, then true), and
    gpt2-past's, which the same seeded weights were exported to."""
    from webjit.errors import UnsupportedError
    dims = {**DIMS, "sequence": (1, 48), "past_sequence": (0, 47)}
    with pytest.raises(UnsupportedError, match=r"this is a merged decoder, so bind --const use_cache_branch=1 "):
        webjit.compile(merged_model, dims=dims, options=webjit.Options(backends=("wasm",)))
    from webjit.cli import main
    assert main(["compile", str(merged_model), "--const", "use_cache_branch=1", "--backends", "wasm", "-q",
                 "--dim", "batch=1", "--dim", "sequence=1..48", "--dim", "past_sequence=0..47",
                 "--dim", "total_sequence=past_sequence+sequence", "-o", str(tmp_path / "bundle")]) == 0
    assert "bound input: use_cache_branch (folded in by --const; not an input of the bundle)" in capsys.readouterr().out
    merged_reference = onnxruntime_greedy(merged_model, PROMPT, NEW_TOKENS)
    assert merged_reference == reference
    out = generate_in_node(tmp_path / "bundle", tmp_path, PROMPT, maxNewTokens=NEW_TOKENS, temperature=0)
    assert out["tokens"] == merged_reference
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert manifest["bound"] == ["use_cache_branch"]
    assert "use_cache_branch" not in [i["name"] for i in manifest["inputs"]]


PAGE = """<!doctype html><meta charset="utf-8"><pre id="out"></pre>
<script type="module">
import { load } from '/runtime/src/index.js';
try {
  const session = await load('/bundle/', { backend: '%(backend)s' });
  const out = await session.generate(%(prompt)s, { maxNewTokens: %(count)d, temperature: 0 });
  window.result = { ...out, threads: session.threads, backend: session.backend };
} catch (err) {
  document.getElementById('out').textContent = 'error ' + err.message;
  window.result = { error: err.message };
}
</script>
"""


def generate_in_chromium(bundle: Path, tmp_path: Path, prompt, count: int, backend: str = "wasm") -> dict:
    page = tmp_path / "page"
    page.mkdir(parents=True)
    (page / "index.html").write_text(PAGE % {"prompt": json.dumps(prompt), "count": count, "backend": backend})
    sync_playwright, PlaywrightError = playwright_api()
    with serve_folders({"/runtime/": runtime_dir(), "/bundle/": bundle, "/page/": page}) as base:
        with sync_playwright() as playwright:
            context = launch_chromium(playwright, tmp_path / "profile", backend == "webgpu", PlaywrightError)
            try:
                tab = context.new_page()
                tab.goto(f"{base}/page/")
                tab.wait_for_function("() => window.result !== undefined", timeout=600_000)
                return tab.evaluate("() => window.result")
            finally:
                context.close()


def test_greedy_generation_in_chromium_matches_onnxruntime(bundle, reference, tmp_path):
    result = generate_in_chromium(bundle, tmp_path, PROMPT, NEW_TOKENS)
    assert result.get("error") is None, result
    assert result["tokens"] == reference


@pytest.fixture(scope="module")
def both_backends(model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2-past-both") / "bundle"
    webjit.compile(model, dims={**DIMS, "sequence": (1, 48), "past_sequence": (0, 47)}).save(folder)
    return folder


def test_greedy_generation_on_webgpu_in_chromium_matches_onnxruntime(both_backends, reference, tmp_path):
    """The cache stays in the GPU arena: each present.* is copied onto its past_key_values.* in
    the step's own submission (through a scratch buffer), only the last logits are read."""
    result = generate_in_chromium(both_backends, tmp_path, PROMPT, NEW_TOKENS, backend="webgpu")
    assert result.get("error") is None and result["backend"] == "webgpu", result
    assert result["tokens"] == reference


@pytest.mark.slow
def test_full_size_gpt2_generates_like_onnxruntime_in_chromium(tmp_path):
    """The full-size GPT-2 (12 layers, 124M parameters, random weights) with its KV cache, on
    WASM and on WebGPU (SwiftShader: about 2 s a token here, with the MatMuls' one-row path)."""
    model = Path(export_model("gpt2-past", size="full"))
    webjit.compile(model, dims=DIMS).save(tmp_path / "bundle")
    reference = onnxruntime_greedy(model, PROMPT, NEW_TOKENS)
    for backend in ("wasm", "webgpu"):
        result = generate_in_chromium(tmp_path / "bundle", tmp_path / backend, PROMPT, NEW_TOKENS, backend)
        assert result.get("error") is None and result["backend"] == backend, result
        assert result["tokens"] == reference, backend
