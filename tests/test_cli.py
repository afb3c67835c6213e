import base64
import json
from pathlib import Path

import numpy as np
import pytest

from webjit.cli import main, parse_shape
from webjit.cli_report import compare
from webjit.errors import RunError
from webjit.feeds import load_npy_inputs, make_inputs
from webjit.runner import decode_outputs, page_url

MANIFEST = {
    "inputs": [
        {"name": "input_ids", "dtype": "int64", "shape": [2, 16], "valid_range": [0, 1000]},
        {"name": "attention_mask", "dtype": "int64", "shape": [2, 16]},
        {"name": "pixels", "dtype": "float32", "shape": [2, 3, 8, 8]},
        {"name": "flag", "dtype": "bool", "shape": [1]},
        {"name": "positions", "dtype": "int32", "shape": [16], "valid_range": [-3, 4]},
    ],
    "outputs": [{"name": "y", "dtype": "float32", "shape": [2, 4]}],
}


# --- feeds -------------------------------------------------------------------------------

def test_generated_inputs_are_valid_and_typed_as_the_manifest():
    feeds = make_inputs(MANIFEST, {})
    assert list(feeds) == [spec["name"] for spec in MANIFEST["inputs"]]
    for spec in MANIFEST["inputs"]:
        array = feeds[spec["name"]]
        assert array.dtype == np.dtype(spec["dtype"])
        assert array.shape == tuple(spec["shape"])
    ids = feeds["input_ids"]
    assert ids.min() >= 0 and ids.max() < 1000 and len(np.unique(ids)) > 10
    positions = feeds["positions"]
    assert positions.min() >= -3 and positions.max() <= 3
    assert np.all(feeds["attention_mask"] == 1)
    assert np.all(feeds["flag"])
    pixels = feeds["pixels"]
    assert abs(pixels.mean()) < 0.3 and 0.7 < pixels.std() < 1.3


def test_generated_inputs_are_deterministic_and_seeded():
    first, again = make_inputs(MANIFEST, {}), make_inputs(MANIFEST, {})
    other = make_inputs(MANIFEST, {}, seed=1)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["pixels"], other["pixels"])
    assert not np.array_equal(first["input_ids"], other["input_ids"])


def test_giving_one_input_does_not_change_the_generated_others():
    pixels = np.zeros((2, 3, 8, 8), np.float32)
    feeds = make_inputs(MANIFEST, {"pixels": pixels})
    np.testing.assert_array_equal(feeds["pixels"], pixels)
    np.testing.assert_array_equal(feeds["input_ids"], make_inputs(MANIFEST, {})["input_ids"])


def test_given_int32_is_widened_to_the_manifests_int64():
    ids = np.arange(32, dtype=np.int32).reshape(2, 16)
    feeds = make_inputs(MANIFEST, {"input_ids": ids})
    assert feeds["input_ids"].dtype == np.int64
    np.testing.assert_array_equal(feeds["input_ids"], ids)


@pytest.mark.parametrize("given,words", [
    ({"nope": np.zeros(3)}, ["no input named 'nope'", "input_ids"]),
    ({"pixels": np.zeros((1, 3, 8, 8), np.float32)}, ["shape 1x3x8x8", "2x3x8x8", "--shape"]),
    ({"pixels": np.zeros((2, 3, 8, 8))}, ["dtype float64", "float32"]),
    ({"input_ids": np.zeros((2, 16), np.float32)}, ["dtype float32", "int64"]),
    ({"positions": np.full(16, 2**40, np.int64)}, ["outside the int32 range"]),
    ({"input_ids": np.full((2, 16), 1000, np.int64)}, ["[-1000, 1000)"]),
])
def test_given_inputs_that_do_not_fit_are_one_sentence(given, words):
    with pytest.raises(RunError) as info:
        make_inputs(MANIFEST, given)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_load_npy_inputs(tmp_path):
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.save(tmp_path / "a.npy", array)
    loaded = load_npy_inputs([f"x={tmp_path / 'a.npy'}"])
    np.testing.assert_array_equal(loaded["x"], array)
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    cases = [("x", "NAME=FILE.npy"), ("=a.npy", "NAME=FILE.npy"), ("x=", "NAME=FILE.npy"),
             (f"x={tmp_path / 'missing.npy'}", "does not exist"),
             (f"x={tmp_path / 'bad.npy'}", "not a readable .npy")]
    for text, words in cases:
        with pytest.raises(RunError, match=words.replace(".", r"\.")):
            load_npy_inputs([text])
    with pytest.raises(RunError, match="twice"):
        load_npy_inputs([f"x={tmp_path / 'a.npy'}", f"x={tmp_path / 'a.npy'}"])


# --- small pieces of the runner and the command line ---------------------------------------

def test_decode_outputs_from_the_page():
    y = np.array([[1.5, -2, 0, 3], [4, 5, 6, 7]], np.float32)
    encoded = {"y": {"dtype": "float32", "shape": [2, 4],
                     "base64": base64.b64encode(y.tobytes()).decode()}}
    np.testing.assert_array_equal(decode_outputs(encoded, MANIFEST)["y"], y)
    with pytest.raises(RunError, match="no output 'y'"):
        decode_outputs({}, MANIFEST)


def test_page_url_names_bundle_inputs_and_options():
    url = page_url("http://127.0.0.1:9", "wasm", 2, 3)
    assert url.startswith("http://127.0.0.1:9/runtime/page/run.html?")
    assert "bundle=http%3A%2F%2F127.0.0.1%3A9%2Fbundle%2F" in url
    assert "threads=2" in url and "repeat=3" in url and "backend=wasm" in url


def test_parse_shape():
    assert parse_shape("input_ids=1x128") == ("input_ids", (1, 128))
    assert parse_shape("a=b=7") == ("a=b", (7,))


def test_compare_is_relative_to_the_largest_magnitude():
    want = np.array([100.0, -200.0, 1.0])
    abs_err, rel_err = compare(want + [0, 0.02, 0], want)
    assert abs_err == pytest.approx(0.02) and rel_err == pytest.approx(1e-4)
    assert compare(np.zeros(2), np.zeros(3)) == (float("inf"), float("inf"))
    assert not compare(np.array([np.nan]), np.array([1.0]))[1] <= 1.0


@pytest.mark.parametrize("argv,words", [
    (["compile", "m.onnx", "--shape", "x=1xq"], "NAME=1x128"),
    (["compile", "m.onnx", "--shape", "x=1x0"], "zero dimension"),
    (["run", "b", "--threads", "0"], "at least 1"),
    (["run", "b", "--backend", "cuda"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
])
def test_argument_errors_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert words in capsys.readouterr().err


def test_missing_model_and_bundle_are_one_sentence(tmp_path, capsys):
    assert main(["compile", str(tmp_path / "m.onnx"), "--shape", "x=1x2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("webjit: error: model file") and err.count("\n") == 1
    assert main(["run", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("webjit: error: ") and err.count("\n") == 1 and "Traceback" not in err


# --- end to end: compile a tiny model, run it in Node and Chromium, check with onnxruntime ---

RUNTIME = Path(__file__).resolve().parents[1] / "runtime_web"


def tiny_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(7)
    w = numpy_helper.from_array(rng.standard_normal((8, 5)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]),
         helper.make_node("Add", ["xw", "b"], ["xwb"]),
         helper.make_node("Relu", ["xwb"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5])],
        [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=8)  # onnxruntime reads IR versions up to 13
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    model = tiny_model(folder / "tiny.onnx")
    assert main(["compile", str(model), "--shape", "x=3x8", "-o", str(folder / "bundle"),
                 "-q"]) == 0
    return model, folder / "bundle"


def test_compile_prints_a_summary_and_writes_the_bundle(tiny_bundle, tmp_path, capsys):
    model, _ = tiny_bundle
    assert main(["compile", str(model), "--shape", "x=3x8", "-o", str(tmp_path / "b"),
                 "--dump", str(tmp_path / "dump")]) == 0
    captured = capsys.readouterr()
    assert "%]" in captured.err  # progress lines
    assert (tmp_path / "dump" / "graph.txt").is_file()
    assert "kernels:" in captured.out and str(tmp_path / "b") in captured.out
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["inputs"][0]["shape"] == [3, 8]


def test_dump_writes_every_stage_and_the_same_text_twice(tiny_bundle, tmp_path, capsys):
    model, _ = tiny_bundle
    for run in ("one", "two"):
        assert main(["compile", str(model), "--shape", "x=3x8", "-o", str(tmp_path / f"b-{run}"), "-q",
                     "--dump", str(tmp_path / run)]) == 0
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    manifest = json.loads((tmp_path / "b-one" / "manifest.json").read_text())
    kernels = [f"k{k['id']}.{ext}" for k in manifest["kernels"] for ext in ("wat", "wgsl")]
    kernels += [f"k{k['id']}.v{j}.wat" for k in manifest["kernels"] for j in range(1, len(k["wasm"]["variants"]) + 1)]
    assert files == sorted(["graph.txt", "passes.txt", "attention.txt", "lowered.txt", "schedule.txt", "plan.txt",
                            "weights.txt", *kernels])
    for name in files:
        text = (tmp_path / "one" / name).read_text()
        assert text.strip(), name
        assert text == (tmp_path / "two" / name).read_text(), f"{name} differs between two dumps"
    assert "MatMul" in (tmp_path / "one" / "graph.txt").read_text()
    assert "matmul" in (tmp_path / "one" / "lowered.txt").read_text()
    assert "[default]" in (tmp_path / "one" / "schedule.txt").read_text()
    assert "arena" in (tmp_path / "one" / "plan.txt").read_text()
    assert "(module" in (tmp_path / "one" / "k0.wat").read_text()
    assert "@compute" in (tmp_path / "one" / "k0.wgsl").read_text()


def run_checked(bundle, model, browser, tmp_path, capsys, extra=()):
    x = np.random.default_rng(3).standard_normal((3, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = main(["run", str(bundle), "--browser", browser, "--input", f"x={tmp_path / 'x.npy'}",
                 "--check", str(model), "--tol", "1e-5", "--save-outputs", str(tmp_path / "out"),
                 *extra])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "check passed" in out and "y: float32 [3, 5]" in out
    import onnxruntime
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(np.load(tmp_path / "out" / "y.npy"),
                               session.run(["y"], {"x": x})[0], rtol=1e-5, atol=1e-5)
    return out


def test_run_on_node_matches_onnxruntime(tiny_bundle, tmp_path, capsys):
    model, bundle = tiny_bundle
    run_checked(bundle, model, "node", tmp_path, capsys, ["--threads", "2"])


def test_run_in_chromium_matches_onnxruntime(tiny_bundle, tmp_path, capsys):
    model, bundle = tiny_bundle
    out = run_checked(bundle, model, "chromium", tmp_path, capsys)
    assert "chromium wasm" in out


def test_check_fails_with_exit_1_when_the_reference_differs(tiny_bundle, tmp_path, capsys):
    model, bundle = tiny_bundle
    other = tiny_model(tmp_path / "other.onnx")
    import onnx
    changed = onnx.load(other)
    changed.graph.node[2].op_type = "Sigmoid"  # same graph, different answer
    onnx.save(changed, other)
    assert main(["run", str(bundle), "--browser", "node", "--check", str(other)]) == 1
    assert "check FAILED" in capsys.readouterr().out


def test_wrong_input_shape_exits_2_with_one_sentence(tiny_bundle, tmp_path, capsys):
    _, bundle = tiny_bundle
    np.save(tmp_path / "x.npy", np.zeros((4, 8), np.float32))
    assert main(["run", str(bundle), "--browser", "node", "--input",
                 f"x={tmp_path / 'x.npy'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("webjit: error: input 'x' has shape 4x8") and err.count("\n") == 1


def gather_model(path: Path) -> Path:
    """Embedding lookup times a mask: int64 inputs, one of them an index."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    table = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["rows"]),
         helper.make_node("Cast", ["mask"], ["maskf"], to=TensorProto.FLOAT),
         helper.make_node("Unsqueeze", ["maskf", "axes"], ["mask3"]),
         helper.make_node("Mul", ["rows", "mask3"], ["y"])],
        "gather",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [2, 4]),
         helper.make_tensor_value_info("mask", TensorProto.INT64, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 8])],
        [numpy_helper.from_array(table, "table"),
         numpy_helper.from_array(np.array([-1], np.int64), "axes")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                ir_version=8), path)
    return path


def test_generated_index_inputs_run_and_out_of_range_ones_are_refused(tmp_path, capsys):
    model = gather_model(tmp_path / "gather.onnx")
    bundle = tmp_path / "bundle"
    assert main(["compile", str(model), "-o", str(bundle), "-q"]) == 0
    assert main(["run", str(bundle), "--browser", "node", "--check", str(model),
                 "--tol", "0"]) == 0
    assert "check passed" in capsys.readouterr().out
    np.save(tmp_path / "ids.npy", np.full((2, 4), 50, np.int64))
    assert main(["run", str(bundle), "--browser", "node", "--input",
                 f"ids={tmp_path / 'ids.npy'}"]) == 2
    err = capsys.readouterr().err
    assert "input 'ids'" in err and "[-50, 50)" in err and err.count("\n") == 1


def test_serve_prints_the_page_url_and_stops_on_ctrl_c(tiny_bundle):
    import signal
    import subprocess
    import sys
    import urllib.request
    _, bundle = tiny_bundle
    server = subprocess.Popen(
        [sys.executable, "-m", "webjit.cli", "serve", str(bundle), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        url = server.stdout.readline().split()[-1]
        assert "/runtime/page/run.html?bundle=" in url
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert b"run.js" in page.read()
        base = url.split("/runtime/")[0]
        with urllib.request.urlopen(base + "/bundle/manifest.json", timeout=10) as manifest:
            assert json.loads(manifest.read())["format"] == "webjit-bundle"
        with urllib.request.urlopen(base + "/inputs/x.npy", timeout=10) as x:
            assert x.read().startswith(b"\x93NUMPY")
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=10) == 0
    finally:
        if server.poll() is None:
            server.kill()
        server.communicate()


def test_serve_a_page_of_your_own_with_extra_mounts(tiny_bundle, tmp_path, capsys):
    import subprocess
    import sys
    import urllib.request
    _, bundle = tiny_bundle
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "index.html").write_text("<!doctype html><p>my page</p>")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "vocab.json").write_text('{"a": 1}')
    server = subprocess.Popen(
        [sys.executable, "-m", "webjit.cli", "serve", str(bundle), "--page", str(tmp_path / "page"),
         "--mount", f"/assets/={tmp_path / 'assets'}", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[-1]
        assert "/page/?backend=auto&threads=auto" in url
        with urllib.request.urlopen(url.split("/page/")[0] + "/", timeout=10) as page:  # / redirects to it
            assert b"my page" in page.read()
        with urllib.request.urlopen(url.split("/page/")[0] + "/assets/vocab.json", timeout=10) as vocab:
            assert json.loads(vocab.read()) == {"a": 1}
    finally:
        server.kill()
        server.communicate()
    for mount, why in (("assets", "must look like /PREFIX/=DIR"), ("/runtime/=x", "is webjit serve's own")):
        with pytest.raises(SystemExit):
            main(["serve", str(bundle), "--mount", mount])
        assert why in capsys.readouterr().err
    assert main(["serve", str(bundle), "--page", str(tmp_path / "absent")]) == 2
    assert "does not exist" in capsys.readouterr().err


# --- the Chromium plumbing, with a fake runtime page standing in for runtime_web ----------

FAKE_PAGE = """<!doctype html><meta charset="utf-8"><script type="module" src="fake.js"></script>"""
# Doubles every float32 input named in the manifest; fails when the manifest asks it to.
FAKE_JS = r"""
const params = new URLSearchParams(location.search);
function readNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  const headerLength = bytes[8] | (bytes[9] << 8);
  return new Float32Array(buffer.slice(10 + headerLength));
}
function toBase64(array) {
  let text = '';
  for (const b of new Uint8Array(array.buffer)) text += String.fromCharCode(b);
  return btoa(text);
}
async function main() {
  const manifest = await (await fetch(new URL('manifest.json', params.get('bundle')))).json();
  if (manifest.hang) await new Promise(() => {});
  if (manifest.fail) { console.error('kernel k0 exploded'); throw new Error('the fake runtime failed'); }
  const outputs = {};
  for (const [i, spec] of manifest.inputs.entries()) {
    const response = await fetch(new URL(`${spec.name}.npy`, params.get('inputs')));
    const x = readNpy(await response.arrayBuffer());
    const out = manifest.outputs[i];
    outputs[out.name] = { dtype: 'float32', shape: out.shape, base64: toBase64(x.map((v) => 2 * v)) };
  }
  const isolated = globalThis.crossOriginIsolated === true;
  return { backend: params.get('backend'), threads: isolated ? 2 : 1,
           threadNote: isolated ? null : 'not cross-origin isolated',
           latency_ms: 1.5, load_ms: 2.5, outputs };
}
main().then((r) => { window.webjitResult = r; }, (e) => { window.webjitResult = { error: e.message }; });
"""
FAKE_MANIFEST = {"inputs": [{"name": "x", "dtype": "float32", "shape": [2, 3]}],
                 "outputs": [{"name": "y", "dtype": "float32", "shape": [2, 3]}]}


@pytest.fixture()
def fake_runtime(tmp_path, monkeypatch):
    import webjit.runner as runner
    page = tmp_path / "checkout" / "runtime_web" / "page"
    page.mkdir(parents=True)
    (page / "run.html").write_text(FAKE_PAGE)
    (page / "fake.js").write_text(FAKE_JS)
    (page.parent / "src").mkdir()
    (page.parent / "src" / "index.js").write_text("export {};\n")
    monkeypatch.setattr(runner, "CHECKOUT", tmp_path / "checkout")
    monkeypatch.setattr(runner, "load_manifest",
                        lambda folder: json.loads((Path(folder) / "manifest.json").read_text()))
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    return runner, bundle


def test_chromium_run_is_cross_origin_isolated_and_decodes_outputs(fake_runtime):
    runner, bundle = fake_runtime
    (bundle / "manifest.json").write_text(json.dumps(FAKE_MANIFEST))
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5
    result = runner.run_bundle(bundle, {"x": x}, backend="auto", timeout_s=60)
    np.testing.assert_array_equal(result.outputs["y"], 2 * x)
    assert result.threads == 2 and result.thread_note is None  # COOP/COEP took effect
    assert result.backend == "auto" and result.latency_ms == 1.5 and result.load_ms == 2.5


def test_chromium_failure_reports_the_page_error_and_console(fake_runtime):
    runner, bundle = fake_runtime
    (bundle / "manifest.json").write_text(json.dumps({**FAKE_MANIFEST, "fail": True}))
    with pytest.raises(RunError) as info:
        runner.run_bundle(bundle, {}, timeout_s=60)
    message = str(info.value)
    assert message.startswith("the fake runtime failed") and "kernel k0 exploded" in message


def test_chromium_timeout_is_one_sentence(fake_runtime):
    runner, bundle = fake_runtime
    (bundle / "manifest.json").write_text(json.dumps({**FAKE_MANIFEST, "hang": True}))
    with pytest.raises(RunError, match="no result within 2 s"):
        runner.run_bundle(bundle, {}, timeout_s=2)


def test_missing_runtime_is_one_sentence(tmp_path, monkeypatch):
    import webjit.runner as runner
    monkeypatch.setattr(runner, "CHECKOUT", tmp_path)
    with pytest.raises(RunError, match="JS runtime is missing"):
        runner.runtime_dir()


def test_check_agrees_on_equal_nan_and_inf_and_not_on_one_sided_ones():
    from webjit.cli_report import compare
    want = np.array([1, np.nan, np.inf, -np.inf], np.float32)
    assert compare(want.copy(), want) == (0.0, 0.0)
    for wrong in ([1, 0, np.inf, -np.inf], [1, np.nan, -np.inf, -np.inf], [1, np.nan, np.inf, 5]):
        assert compare(np.array(wrong, np.float32), want)[1] == np.inf
    abs_err, rel = compare(np.array([1.5, np.nan, np.inf, -np.inf], np.float32), want)
    assert abs_err == 0.5 and rel == 0.5  # relative to the largest finite |reference|
