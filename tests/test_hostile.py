"""Hostile models and bundles: tensor names that look like paths stay names, and a mutated
bundle is refused with one sentence before any kernel runs, or runs without hanging."""
from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import webjit
from webjit import cli
from webjit.errors import WebjitError
from webjit.runner import npy_file, run_bundle
from onnx_builders import onnxruntime_outputs

X, Y, HIDDEN = "../../x", "a/../../../y", "../h/./m"


def path_named_model(path):
    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "../w")
    nodes = [helper.make_node("MatMul", [X, "../w"], [HIDDEN], name="../mm"),
             helper.make_node("Relu", [HIDDEN], [Y], name="/relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(X, TensorProto.FLOAT, [3, 8])],
                              [helper.make_tensor_value_info(Y, TensorProto.FLOAT, [3, 16])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_npy_file_names_are_never_paths():
    assert npy_file("input_ids") == "input_ids.npy"
    assert npy_file("../../x") == "~2e~2e~2f~2e~2e~2fx.npy"
    assert npy_file("é/b") == "~c3~a9~2fb.npy"
    assert len({npy_file(n) for n in ("a_b", "a-b", "a.b", "a~2eb", "a/b")}) == 5


@pytest.mark.parametrize("browser", ["node", "chromium"])
def test_path_like_tensor_names_run_and_write_nothing_outside_their_folders(tmp_path, monkeypatch, browser):
    import tempfile
    work, temp = tmp_path / "work" / "deep", tmp_path / "temp"
    work.mkdir(parents=True)
    temp.mkdir()
    model = path_named_model(work / "m.onnx")
    webjit.compile(model, None).save(work / "bundle")
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(work)
    before = files_under(tmp_path)
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    result = run_bundle(work / "bundle", {X: x}, backend="wasm", browser=browser)
    np.testing.assert_allclose(result.outputs[Y], onnxruntime_outputs(model, {X: x})[Y], rtol=1e-5, atol=1e-6)
    assert files_under(tmp_path) == before  # the temporary folders are gone, nothing was added
    np.save(work / "x.npy", x)
    assert cli.main(["run", str(work / "bundle"), "--browser", "node", "--input", f"{X}={work / 'x.npy'}",
                     "--save-outputs", str(work / "out")]) == 0
    assert files_under(tmp_path) == sorted(before + ["work/deep/x.npy", "work/deep/out", f"work/deep/out/{npy_file(Y)}"])


# ---- mutated bundles ----------------------------------------------------------------

def mlp(path):
    from onnx_builders import mlp_model
    return mlp_model(path, m=4, d=64, hidden=1024)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pristine")
    webjit.compile(mlp(folder / "mlp.onnx"), None, webjit.Options(shard_bytes=64 << 10)).save(folder / "b")
    return folder / "b"


def rehash(bundle, entry):
    entry["sha256"] = hashlib.sha256((bundle / entry["file"]).read_bytes()).hexdigest()
    entry["bytes"] = (bundle / entry["file"]).stat().st_size


def set_path(obj, path, value):
    for key in path[:-1]:
        obj = obj[key]
    if value is DELETE:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


DELETE = object()
WEIGHT = lambda m: next(i for i, t in enumerate(m["tensors"]) if t["region"] == "weights")
ARENA = lambda m: next(i for i, t in enumerate(m["tensors"]) if t["region"] == "arena")

# (name, manifest path, value): a field removed, retyped, negative, out of range, ...
FIELD_EDITS = [
    ("no format", ["format"], DELETE), ("format_version string", ["format_version"], "3"),
    ("inputs not a list", ["inputs"], {}), ("outputs missing", ["outputs"], DELETE),
    ("tensors null", ["tensors"], None), ("kernels a string", ["kernels"], "k"), ("steps missing", ["steps"], DELETE),
    ("memory missing", ["memory"], DELETE), ("arena_bytes negative", ["memory", "arena_bytes"], -256),
    ("total_bytes too small", ["memory", "total_bytes"], 300), ("control_bytes 0", ["memory", "control_bytes"], 0),
    ("weights_base inside control", ["memory", "weights_base"], 8), ("weights_bytes huge", ["memory", "weights_bytes"], 2**40),
    ("arena_base string", ["memory", "arena_base"], "768"), ("input shape wrong", ["inputs", 0, "shape"], [5, 64]),
    ("input shape strings", ["inputs", 0, "shape"], ["4", "64"]), ("input dtype unknown", ["inputs", 0, "dtype"], "float64"),
    ("input tensor unknown", ["inputs", 0, "tensor"], 10 ** 6), ("input tensor negative", ["inputs", 0, "tensor"], -1),
    ("input name missing", ["inputs", 0, "name"], DELETE), ("output tensor string", ["outputs", 0, "tensor"], "0"),
    ("weights list a dict", ["weights"], {}), ("shard file missing", ["weights", 0, "file"], DELETE),
    ("shard bytes wrong", ["weights", 0, "bytes"], 7), ("shard sha256 wrong", ["weights", 0, "sha256"], "00" * 32),
    ("shard path traversal", ["weights", 0, "file"], "../../etc/hostname"),
    ("shard absolute path", ["weights", 0, "file"], "/etc/hostname"),
    ("shard backslash path", ["weights", 0, "file"], "..\\weights-0.bin"),
    ("kernel file traversal", ["kernels", 0, "wasm", "file"], "../b/kernels/k0.wasm"),
    ("kernel file dot segment", ["kernels", 0, "wasm", "file"], "kernels/./k0.wasm"),
    ("kernel file missing", ["kernels", 0, "wasm", "file"], DELETE), ("kernel nargs negative", ["kernels", 0, "nargs"], -1),
    ("kernel nargs string", ["kernels", 0, "nargs"], "4"), ("kernel id wrong", ["kernels", 0, "id"], 5),
    ("kernel args missing", ["kernels", 0, "args"], DELETE), ("kernel wasm part null", ["kernels", 0, "wasm"], None),
    ("kernel variants a dict", ["kernels", 0, "wasm", "variants"], {}), ("step kernel unknown", ["steps", 0, "kernel"], 99),
    ("step kernel string", ["steps", 0, "kernel"], "0"), ("step args fewer", ["steps", 0, "args"], [0]),
    ("step args unknown tensor", ["steps", 0, "args", 0], 10 ** 6), ("step args negative", ["steps", 0, "args", 0], -1),
    ("step args null", ["steps", 0, "args"], None), ("step source forward", ["steps", 0, "source"], 3),
]


def tensor_edits(m):
    w, a = WEIGHT(m), ARENA(m)
    out = m["outputs"][0]["tensor"]
    return [
        ("tensor id wrong", ["tensors", a, "id"], 7), ("tensor offset missing", ["tensors", a, "offset"], DELETE),
        ("tensor offset null", ["tensors", a, "offset"], None), ("tensor offset negative", ["tensors", a, "offset"], -256),
        ("tensor offset unaligned", ["tensors", a, "offset"], 2), ("tensor offset float", ["tensors", a, "offset"], 0.5),
        ("tensor size zero", ["tensors", a, "size"], 0), ("tensor size huge", ["tensors", a, "size"], 2**40),
        ("tensor region unknown", ["tensors", a, "region"], "control"), ("tensor dtype f64", ["tensors", a, "dtype"], "f64"),
        ("output moved onto the weights", ["tensors", out, "region"], "weights"),
        ("weights stored missing", ["tensors", w, "stored"], DELETE),
        ("weights stored beyond the shards", ["tensors", w, "stored", "at"], 10 ** 9),
        ("weights encoding unknown", ["tensors", w, "stored", "encoding"], "bf16"),
        ("weights count negative", ["tensors", w, "stored", "count"], -4),
        ("status on the weights", ["status"], w), ("status a string", ["status"], "0"),
        ("status unknown tensor", ["status"], 10 ** 6),
    ]


def overlap_edits(m):
    """An arena tensor moved onto another that is live at the same step (a step's arena
    input onto its output, or the other way), where it still fits in the arena: for the
    first three steps that have such a pair."""
    arena = {t["id"] for t in m["tensors"] if t["region"] == "arena"}
    fits = lambda moved, onto: m["tensors"][onto]["offset"] + 4 * m["tensors"][moved]["size"] <= m["memory"]["arena_bytes"]
    edits = []
    for step in m["steps"]:
        out = step["args"][-1]
        for inp in [a for a in step["args"][:-1] if a in arena and a != out]:
            pair = next(((a, b) for a, b in ((inp, out), (out, inp)) if fits(a, b)), None)
            if pair and len(edits) < 3:
                edits.append((f"live tensors overlap {len(edits)}", ["tensors", pair[0], "offset"],
                              m["tensors"][pair[1]]["offset"]))
                break
    return edits


def payload_mutations(m):
    """(name, function of the bundle folder) for payload bytes: truncated, flipped, replaced."""
    kernel = m["kernels"][0]["wasm"]
    shard = m["weights"][0]
    deflated = next(t["stored"]["deflate"]["blocks"][0][0] for t in m["tensors"] if "deflate" in t.get("stored", {}))

    def truncate(entry, rehashed):
        def go(b):
            data = (b / entry["file"]).read_bytes()
            (b / entry["file"]).write_bytes(data[: len(data) // 2])
            if rehashed:
                rehash(b, entry)
        return go

    def flip(entry, at, rehashed):
        def go(b):
            data = bytearray((b / entry["file"]).read_bytes())
            data[at % len(data)] ^= 0x5A
            (b / entry["file"]).write_bytes(bytes(data))
            if rehashed:
                rehash(b, entry)
        return go

    def remove(entry):
        return lambda b: (b / entry["file"]).unlink()

    def swap_kernel(b):  # another kernel's code under this kernel's entry
        other = m["kernels"][-1]["wasm"]
        shutil.copyfile(b / other["file"], b / kernel["file"])
        rehash(b, kernel)

    def write(text):
        return lambda b: (b / "manifest.json").write_text(text(b))

    return [("kernel truncated", truncate(kernel, False)), ("kernel truncated, re-hashed", truncate(kernel, True)),
            ("kernel byte flipped", flip(kernel, 40, False)), ("kernel header flipped, re-hashed", flip(kernel, 1, True)),
            ("kernel body flipped, re-hashed", flip(kernel, -20, True)), ("kernel file removed", remove(kernel)),
            ("kernel swapped for another, re-hashed", swap_kernel),
            ("shard truncated", truncate(shard, False)), ("shard truncated, re-hashed", truncate(shard, True)),
            ("shard byte flipped", flip(shard, 100, False)),
            ("deflated block flipped, re-hashed", flip(shard, deflated + 50, True)),
            ("shard removed", remove(shard)),
            ("manifest truncated", write(lambda b: (b / "manifest.json").read_text()[:500])),
            ("manifest not JSON", write(lambda b: "{")), ("manifest a list", write(lambda b: "[]"))]


def mutations(m) -> dict:
    edits = FIELD_EDITS + tensor_edits(m) + overlap_edits(m)
    found = {name: ("edit", path, value) for name, path, value in edits}
    found.update({name: ("payload", go) for name, go in payload_mutations(m)})
    return found


def pristine_manifest():
    return {"tensors": [{"id": 0, "region": "arena"}, {"id": 1, "region": "weights", "stored": {"deflate": {"blocks": [[0, 1]]}}}],
            "outputs": [{"tensor": 0}], "steps": [], "kernels": [{"wasm": {}}], "weights": [{}]}


MUTATIONS = [name for name in mutations(pristine_manifest())] + [f"live tensors overlap {i}" for i in range(3)]


EXPECT = {  # what the sentence must say, for mutations whose name contains the key
    "path": "is not a plain relative path inside the bundle", "traversal": "is not a plain relative path",
    "dot segment": "is not a plain relative path", "live tensors overlap": "share arena bytes while both are live",
    "offset unaligned": "not a multiple of 4", "sha256 wrong": "sha256 mismatch",
}


def test_at_least_sixty_mutations():
    assert len(MUTATIONS) >= 60, len(MUTATIONS)


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_mutated_bundle_is_one_sentence_or_runs_bounded(pristine, tmp_path, name):
    bundle = tmp_path / "b"
    shutil.copytree(pristine, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    kind, *how = mutations(manifest)[name]
    if kind == "edit":
        set_path(manifest, *how)
        (bundle / "manifest.json").write_text(json.dumps(manifest))
    else:
        how[0](bundle)
    x = np.zeros((4, 64), np.float32)
    try:
        run_bundle(bundle, {"x": x}, backend="wasm", browser="node", timeout_s=60)
    except WebjitError as err:
        message = str(err)
        assert "\n" not in message and "Traceback" not in message and "TypeError" not in message, (name, message)
        for part, says in EXPECT.items():
            if part in name:
                assert says in message, (name, message)
        return
    # Only what no check can see may run (WASM kernels cannot reach outside the bundle's
    # memory): a re-hashed payload whose bytes still validate.
    assert "re-hashed" in name, f"{name}: ran without complaint"
