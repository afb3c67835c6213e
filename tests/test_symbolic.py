"""Symbolic dimensions (`--dim seq=1..512`): the Sym arithmetic, the import of shape arithmetic,
the WASM kernels that take their sizes at run time, and whole models compiled once and run at
several lengths against onnxruntime. Refusals are one sentence.
"""
from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import webjit
from webjit import cli
from webjit import kernels as K
from webjit.errors import RunError
from webjit.frontend import import_onnx
from webjit.models import example_inputs, export_model
from webjit.runner import run_bundle
from webjit.symbolic import Dim, Sym, SymbolicError, size_from_json, upper
from webjit.targets import WasmTarget
from webjit.wasm.attention import AttentionConfig
from webjit.wasm.codegen import FAMILIES, default_kernel, wasm_kernel
from webjit.wasm.matmul_schedule import MatMulConfig
from webjit.wasm.reductions import RowConfig
from numerics import assert_close
from wasm_harness import run_wasm

MAX = 48
SEQ = Sym.of(Dim("seq", 1, MAX))
DIMS = (("seq", 1, MAX),)
SIZES = (1, 3, 7, MAX)  # the least, odd ones, the greatest


# ---- the arithmetic ---------------------------------------------------------------------

def test_sym_arithmetic_is_exact_and_folds_to_ints():
    s = SEQ
    assert str(384 * s) == "384*seq" and str(s * s * 12) == "12*seq*seq" and str(s + 3) == "seq+3"
    assert (384 * s) // 12 == 32 * s and (12 * s * s) // s == 12 * s and (s + 1) - s == 1
    assert isinstance(s - s, int) and s * 0 == 0 and 0 % s == 0
    assert (384 * s).bounds() == (384, 384 * MAX) and upper(s * s) == MAX * MAX
    with pytest.raises(SymbolicError, match="not a whole multiple"):
        (s + 1) // 2
    with pytest.raises(SymbolicError, match="fixed number"):
        int(s)
    with pytest.raises(SymbolicError, match="fixed number"):
        range(s)


def test_sym_order_is_decided_by_the_ranges_or_refused():
    s = SEQ
    assert s >= 1 and s <= MAX and not s < 1 and s < MAX + 1 and 2 * s > s and bool(s)
    assert s != 1 and s == Sym.of(Dim("seq", 1, MAX))  # structural equality, never with an int
    with pytest.raises(SymbolicError, match="would have to guess"):
        s > 1
    with pytest.raises(SymbolicError, match="two ranges"):
        s + Sym.of(Dim("seq", 1, 4))


def test_sym_json_round_trips_and_specs_keep_their_signature():
    s = SEQ
    value = 384 * s * s + 2 * s + 7
    assert size_from_json(json.loads(json.dumps(value.to_json())), {"seq": Dim("seq", 1, MAX)}) == value
    spec = _layernorm_spec()
    assert K.spec_from_json(json.loads(json.dumps(K.spec_to_json(spec)))) == spec
    static = K.LayerNorm(outer=4, r=40, epsilon=1e-5, has_bias=True,
                         args=(K.Arg("f32", 160), K.Arg("f32", 40), K.Arg("f32", 40), K.Arg("f32", 160, True)))
    assert "sizes" not in K.spec_text(static) and "dims" not in K.spec_text(static)  # v1 text unchanged


# ---- import ---------------------------------------------------------------------------------

def _reshape_model():
    """y = Reshape(x, Concat(Shape(x)[0:2], [4, -1])) * 2 + Range(0, Shape(x)[1]) (broadcast), the
    shape arithmetic exporters write."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "two"], ["lead"]),
        helper.make_node("Concat", ["lead", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"]),
        helper.make_node("Mul", ["r", "twof"], ["y"]),
        helper.make_node("Gather", ["shape", "one"], ["n"], axis=0),
        helper.make_node("Range", ["zeroi", "n", "onei"], ["positions"]),
    ]
    inits = [helper.make_tensor("zero", TensorProto.INT64, [1], [0]), helper.make_tensor("two", TensorProto.INT64, [1], [2]),
             helper.make_tensor("tail", TensorProto.INT64, [2], [4, -1]), helper.make_tensor("twof", TensorProto.FLOAT, [], [2.0]),
             helper.make_tensor("one", TensorProto.INT64, [], [1]), helper.make_tensor("zeroi", TensorProto.INT64, [], [0]),
             helper.make_tensor("onei", TensorProto.INT64, [], [1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "seq", 4, 2]),
                               helper.make_tensor_value_info("positions", TensorProto.INT64, ["seq"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_arithmetic_folds_into_polynomials():
    graph = import_onnx(_reshape_model(), dims={"seq": (1, MAX)})
    assert str(graph.types["x"]) == "float32[1xseqx8]"
    assert str(graph.types["y"]) == "float32[1xseqx4x2]" and str(graph.types["positions"]) == "int64[seq]"
    assert [n.op for n in graph.nodes] == ["Reshape", "Mul", "Range"]  # Shape, Slice, Concat, Gather folded


def test_a_model_with_shape_arithmetic_runs_at_every_size(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(_reshape_model(), path)
    bundle = webjit.compile(str(path), dims={"seq": (1, MAX)}, options=webjit.Options(backends=("wasm",)))
    bundle.save(tmp_path / "b")
    manifest = bundle.manifest
    assert manifest["dims"] == [{"name": "seq", "min": 1, "max": MAX}]
    assert manifest["inputs"][0]["shape"] == [1, {"sym": [[1, ["seq"]]]}, 8]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 5, MAX):
        x = np.random.default_rng(n).standard_normal((1, n, 8)).astype(np.float32)
        result = run_bundle(tmp_path / "b", {"x": x}, browser="node")
        y, positions = session.run(None, {"x": x})
        np.testing.assert_allclose(result.outputs["y"], y, rtol=1e-6)
        np.testing.assert_array_equal(result.outputs["positions"], positions)


def test_what_the_ranges_do_not_decide_is_refused_in_one_sentence():
    # Reshape [1, seq, 8] to [1, 2, -1] would need seq to be even.
    nodes = [helper.make_node("Reshape", ["x", "t"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2, "n"])],
                              [helper.make_tensor("t", TensorProto.INT64, [3], [2, 2, -1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(SymbolicError, match=r"^Reshape 'Reshape_0': the size 3\*seq is not a whole multiple of 4"):
        import_onnx(model, dims={"seq": (1, MAX)})
    # Two symbolic dimensions broadcast against each other: equal only sometimes.
    nodes = [helper.make_node("Add", ["a", "b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n"]),
                                           helper.make_tensor_value_info("b", TensorProto.FLOAT, ["m"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(SymbolicError, match="broadcasts the sizes n and m"):
        import_onnx(model, dims={"n": (1, 4), "m": (1, 4)})


def test_what_is_not_compiled_for_symbolic_sizes_yet_is_named():
    cumsum = [helper.make_node("CumSum", ["x", "axis"], ["y"])]
    norm = [helper.make_node("LayerNormalization", ["x", "g"], ["y"], axis=-1)]
    for nodes, message in ((cumsum, "^CumSum 'CumSum_0': webjit does not compile CumSum for symbolic sizes yet$"),
                           (norm, r"layernorm over rows of symbolic length \(seq\) is not compiled for WASM yet")):
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq"])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "seq"])],
                                  [helper.make_tensor("axis", TensorProto.INT64, [], [1]),
                                   helper.make_tensor("g", TensorProto.FLOAT, [1], [1.0])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        with pytest.raises(SymbolicError, match=message):
            webjit.compile(model, dims={"seq": (1, MAX)}, options=webjit.Options(backends=("wasm",)))


# ---- WASM kernels with sizes known at run time ------------------------------------------------

def _padded(values: np.ndarray, size: int, dtype=np.float32) -> np.ndarray:
    out = np.zeros(size, dtype)
    out[:values.size] = values.reshape(-1)
    return out


def _sizes(n: int) -> np.ndarray:
    return np.array([n], np.int32)


def test_elementwise_with_symbolic_shapes_strides_and_broadcasts():
    # A transpose copy [1, 4, seq, 8] -> [1, seq, 4, 8] and an outer sum [seq] x [seq].
    w = 4 * 8
    transpose = K.Elementwise(shape=(1, SEQ, 4, 8), out=K.Access(1, (w * SEQ, w, 8, 1)),
                              inputs=(K.Access(0, (w * SEQ, 8, 8 * SEQ, 1)),), expr=K.Expr("in", "f32", index=0),
                              args=(K.Arg("f32", MAX * w), K.Arg("f32", MAX * w, True), K.Arg("i32", 1)),
                              sizes=2, dims=DIMS)
    outer = K.Elementwise(shape=(SEQ, SEQ), out=K.Access(2, (SEQ, 1)),
                          inputs=(K.Access(0, (1, 0)), K.Access(1, (0, 1))),
                          expr=K.Expr("sub", "f32", (K.Expr("in", "f32", index=0), K.Expr("in", "f32", index=1))),
                          args=(K.Arg("f32", MAX), K.Arg("f32", MAX), K.Arg("f32", MAX * MAX, True), K.Arg("i32", 1)),
                          sizes=3, dims=DIMS)
    rng = np.random.default_rng(0)
    for n in SIZES:
        x = rng.random((1, 4, n, 8), dtype=np.float32)
        out, = run_wasm(default_kernel(transpose).code, [_padded(x, MAX * w), np.zeros(MAX * w, np.float32), _sizes(n)],
                        [1], nthreads=2)
        np.testing.assert_array_equal(out[:x.size], x.transpose(0, 2, 1, 3).reshape(-1))
        assert not out[x.size:].any()  # nothing past this run's size is written
        a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
        out, = run_wasm(default_kernel(outer).code, [_padded(a, MAX), _padded(b, MAX), np.zeros(MAX * MAX, np.float32),
                                                     _sizes(n)], [2], nthreads=2)
        np.testing.assert_array_equal(out[:n * n], (a[:, None] - b[None, :]).reshape(-1))


def _layernorm_spec():
    r = 40
    return K.LayerNorm(outer=SEQ, r=r, epsilon=1e-5, has_bias=True,
                       args=(K.Arg("f32", MAX * r), K.Arg("f32", r), K.Arg("f32", r), K.Arg("f32", MAX * r, True),
                             K.Arg("i32", 1)), sizes=4, dims=DIMS)


def test_gather_and_layernorm_with_symbolic_rows():
    rng = np.random.default_rng(1)
    table = rng.random((50, 40), dtype=np.float32)
    gather = K.Gather(outer=1, axis_dim=50, inner=40, count=SEQ,
                      args=(K.Arg("f32", 2000), K.Arg("i32", MAX), K.Arg("f32", MAX * 40, True), K.Arg("i32", 1)),
                      sizes=3, dims=DIMS)
    norm = _layernorm_spec()
    gamma, beta = rng.random(40, dtype=np.float32), rng.random(40, dtype=np.float32)
    for n in SIZES:
        idx = rng.integers(-50, 50, n).astype(np.int32)
        out, = run_wasm(default_kernel(gather).code, [table.reshape(-1), _padded(idx, MAX, np.int32),
                                                      np.zeros(MAX * 40, np.float32), _sizes(n)], [2], nthreads=2)
        np.testing.assert_array_equal(out[:n * 40], table[idx].reshape(-1))
        x = rng.random((n, 40), dtype=np.float32)
        out, = run_wasm(default_kernel(norm).code, [_padded(x, MAX * 40), gamma, beta, np.zeros(MAX * 40, np.float32),
                                                    _sizes(n)], [3], nthreads=2)
        want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5) * gamma + beta
        np.testing.assert_allclose(out[:x.size], want.reshape(-1), atol=2e-6)


@pytest.mark.parametrize("config", [None, MatMulConfig(1, 8), MatMulConfig(3, 12), MatMulConfig(6, 8),
                                    MatMulConfig(4, 8, 2, 0, 8), MatMulConfig(4, 8, fma=True)])
def test_matmul_with_symbolic_rows(config):
    """m = seq rows: every count of rows in the last register tile has its own code, and m = 1
    (SIZES' first) takes the one-row path, whose k-blocks of 8 and n-blocks of 192 split this
    k into first, middle and last blocks and n into two blocks and an edge block."""
    n, k = 440, 24
    epilogue = K.Expr("add", "f32", (K.Expr("acc", "f32"), K.Expr("in", "f32", index=0)))
    spec = K.MatMul(batch=(1,), m=SEQ, n=n, k=k, a=K.Access(0, (k * SEQ, k, 1)), bmat=K.Access(1, (0, n, 1)),
                    out=K.Access(3, (n * SEQ, n, 1)), extras=(K.Access(2, (0, 0, 1)),), epilogue=epilogue,
                    args=(K.Arg("f32", MAX * k), K.Arg("f32", k * n), K.Arg("f32", n), K.Arg("f32", MAX * n, True),
                          K.Arg("i32", 1)), sizes=4, dims=DIMS)
    target = WasmTarget(relaxed_simd=True)
    resolved = FAMILIES["matmul"].resolve(config or MatMulConfig(), spec, target)
    assert (resolved.row_nb, resolved.row_kc) == (192, 8)
    code = (default_kernel(spec) if config is None else
            wasm_kernel(spec, FAMILIES["matmul"].resolve(config, spec, target), target)).code
    rng = np.random.default_rng(2)
    b, c = rng.random((k, n), dtype=np.float32), rng.random(n, dtype=np.float32)
    for rows in SIZES:
        a = rng.random((rows, k), dtype=np.float32)
        out, = run_wasm(code, [_padded(a, MAX * k), b.reshape(-1), c, np.zeros(MAX * n, np.float32), _sizes(rows)],
                        [3], nthreads=2)
        np.testing.assert_allclose(out[:rows * n], (a @ b + c).reshape(-1), rtol=1e-5)
        assert not out[rows * n:].any()


@pytest.mark.parametrize("vectors", [1, 2, 4])
def test_attention_with_symbolic_queries_and_keys(vectors):
    """MiniLM's layout: heads split from [seq, 3 * 8] rows, an additive [seq, seq] mask, the
    output [heads, seq, 8] (a head stride of 8 * seq)."""
    heads, d = 3, 8
    w = heads * d
    spec = K.Attention(batch=(1, heads), sq=SEQ, sk=SEQ, d=d, dv=d, scale=0.3, divide=False,
                       q=K.Access(0, (0, d, w, 1)), k=K.Access(1, (0, d, w, 1)), v=K.Access(2, (0, d, w, 1)),
                       select=None, fill=0.0, add=K.Access(3, (SEQ * SEQ, 0, SEQ, 1)),
                       out=K.Access(4, (w * SEQ, d * SEQ, d, 1)),
                       args=(K.Arg("f32", MAX * w),) * 3 + (K.Arg("f32", MAX * MAX), K.Arg("f32", MAX * w, True),
                                                            K.Arg("i32", 1)), sizes=5, dims=DIMS)
    code = wasm_kernel(spec, FAMILIES["attention"].resolve(AttentionConfig(vectors), spec, WasmTarget())).code
    rng = np.random.default_rng(3)
    for n in SIZES + (9, 17):
        q, k, v = (rng.random((n, w), dtype=np.float32) for _ in range(3))
        mask = rng.random((n, n), dtype=np.float32)
        out, = run_wasm(code, [_padded(q, MAX * w), _padded(k, MAX * w), _padded(v, MAX * w), _padded(mask, MAX * MAX),
                               np.zeros(MAX * w, np.float32), _sizes(n)], [4], nthreads=2)
        qh, kh, vh = (x.reshape(n, heads, d).transpose(1, 0, 2) for x in (q, k, v))
        scores = qh @ kh.transpose(0, 2, 1) * 0.3 + mask[None]
        p = np.exp(scores - scores.max(-1, keepdims=True))
        want = (p / p.sum(-1, keepdims=True)) @ vh
        np.testing.assert_allclose(out[:want.size], want.reshape(-1), atol=2e-6)


@pytest.mark.parametrize("accumulators", [1, 2, 4])
def test_softmax_and_mean_over_symbolic_rows(accumulators):
    """Rows of seq elements: groups of vectors, single vectors, then the 1-3 left, each count
    with its own code."""
    softmax = K.Softmax(outer=3 * SEQ, r=SEQ, log=False, args=(K.Arg("f32", 3 * MAX * MAX), K.Arg("f32", 3 * MAX * MAX, True),
                                                              K.Arg("i32", 1)), sizes=2, dims=DIMS)
    mean = K.Reduce(kind="mean", outer=5, r=SEQ, args=(K.Arg("f32", 5 * MAX), K.Arg("f32", 5, True), K.Arg("i32", 1)),
                    sizes=2, dims=DIMS)
    rng = np.random.default_rng(4)
    for spec in (softmax, mean):
        config = FAMILIES[spec.family].resolve(RowConfig(accumulators), spec, WasmTarget())
        code = wasm_kernel(spec, config).code
        for n in SIZES + (2, 4, 5, 16):
            rows = 3 * n if spec is softmax else 5
            x = rng.standard_normal((rows, n)).astype(np.float32)
            out, = run_wasm(code, [_padded(x, spec.args[0].size), np.zeros(spec.args[1].size, np.float32), _sizes(n)],
                            [1], nthreads=2)
            e = np.exp(x - x.max(1, keepdims=True))
            want = (e / e.sum(1, keepdims=True)).reshape(-1) if spec is softmax else x.mean(1)
            np.testing.assert_allclose(out[:want.size], want, atol=2e-6)


def test_pooling_over_a_symbolic_sequence_runs_at_every_size(tmp_path):
    """Mean pooling over seq (a ReduceMean whose axis is moved last, then rows of seq) and a
    softmax over it, in one model against onnxruntime."""
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["pooled"], keepdims=0),
             helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 2, 1]),
             helper.make_node("Softmax", ["xt"], ["weights"], axis=-1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, "seq", 8])],
                              [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [1, 8]),
                               helper.make_tensor_value_info("weights", TensorProto.FLOAT, [1, 8, "seq"])],
                              [helper.make_tensor("axes", TensorProto.INT64, [1], [1])])
    path = tmp_path / "pool.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    webjit.compile(str(path), dims={"seq": (1, MAX)}, options=webjit.Options(backends=("wasm",))).save(tmp_path / "b")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in SIZES:
        x = np.random.default_rng(n).standard_normal((1, n, 8)).astype(np.float32)
        result = run_bundle(tmp_path / "b", {"x": x}, browser="node")
        for name, want in zip(("pooled", "weights"), session.run(None, {"x": x})):
            np.testing.assert_allclose(result.outputs[name], want, atol=2e-6)


def test_a_matmul_with_symbolic_columns_is_refused_on_wasm():
    spec = K.MatMul(batch=(), m=4, n=SEQ, k=8, a=K.Access(0, (8, 1)), bmat=K.Access(1, (SEQ, 1)),
                    out=K.Access(2, (SEQ, 1)), extras=(), epilogue=None,
                    args=(K.Arg("f32", 32), K.Arg("f32", 8 * MAX), K.Arg("f32", 4 * MAX, True), K.Arg("i32", 1)),
                    sizes=3, dims=DIMS)
    with pytest.raises(SymbolicError, match="other than its rows"):
        default_kernel(spec)


# ---- whole models -----------------------------------------------------------------------------

def _check_model(tmp_path, name, lengths, browser="node", size="small", backends=("wasm",), max_length=None):
    path = export_model(name, size=size)
    bundle = webjit.compile(str(path), dims={"batch": 1, "seq": (1, max_length or max(lengths))},
                            options=webjit.Options(backends=backends))
    bundle.save(tmp_path / name)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for backend, n in [(b, n) for b in backends for n in lengths]:
        feeds = _feeds(name, size, n)
        result = run_bundle(tmp_path / name, feeds, backend=backend, browser=browser)
        assert result.backend == backend
        expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
        for out, want in expected.items():
            assert result.outputs[out].shape == want.shape
            assert_close(result.outputs[out], want, 1e-4, f"{name} on {backend} at sequence {n}: {out}")


def _feeds(name, size, n):
    """example_inputs at sequence n (it starts at 2: a length-1 slice of those for 1)."""
    feeds = example_inputs(name, size=size, seq=max(n, 2))
    return {k: np.ascontiguousarray(v[:, :n]) for k, v in feeds.items()}


@pytest.mark.parametrize("name", ["bert", "gpt2"])
def test_one_bundle_serves_every_length_in_node(tmp_path, name):
    _check_model(tmp_path, name, (1, 7, 64))


def test_a_symbolic_batch_with_padded_rows(tmp_path):
    """batch and seq both symbolic: the weight products take batch x seq rows, and the mask's
    flattened index (a position times seq) is computed from the sizes at run time."""
    path = export_model("bert", size="small")
    webjit.compile(str(path), dims={"batch": (1, 3), "seq": (1, 32)},
                   options=webjit.Options(backends=("wasm",))).save(tmp_path / "b")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, n in ((2, 9), (3, 1), (1, 32)):
        feeds = {k: np.ascontiguousarray(np.repeat(v, batch, 0)) for k, v in _feeds("bert", "small", n).items()}
        feeds["input_ids"][-1, :1] = 7
        feeds["attention_mask"][0, n // 2 + 1:] = 0  # a shorter sentence padded to the batch's length
        result = run_bundle(tmp_path / "b", feeds, browser="node")
        for out, want in zip([o.name for o in session.get_outputs()], session.run(None, feeds)):
            assert_close(result.outputs[out], want, 1e-4, f"bert batch {batch} sequence {n}: {out}")


@pytest.mark.slow
def test_minilm_with_sequences_1_to_512_in_chromium(tmp_path):
    """One MiniLM-L6 bundle (real weights) for seq 1..512, on both backends, at 1, 7, 128, 512."""
    _check_model(tmp_path, "minilm", (1, 7, 128, 512), browser="chromium", size="full", backends=("wasm", "webgpu"))


# ---- what a user gets wrong -------------------------------------------------------------------

@pytest.fixture(scope="module")
def bert_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bert")
    bundle = webjit.compile(str(export_model("bert", size="small")), dims={"batch": 1, "seq": (1, 16)},
                            options=webjit.Options(backends=("wasm",)))
    bundle.save(out / "b")
    return out / "b"


def test_sizes_outside_the_range_or_disagreeing_are_one_sentence(bert_bundle):
    feeds = example_inputs("bert", size="small", seq=20)
    with pytest.raises(RunError, match=r"^input 'input_ids' is outside the range 1\.\.16 the bundle was compiled for "
                                       r"dimension 'seq'$"):
        run_bundle(bert_bundle, feeds, browser="node")
    feeds = example_inputs("bert", size="small", seq=5)
    feeds["attention_mask"] = np.ones((1, 6), np.int64)
    with pytest.raises(RunError, match="input 'attention_mask' makes dimension 'seq' 6, but input 'input_ids' makes it 5"):
        run_bundle(bert_bundle, feeds, browser="node")


def test_the_cli_compiles_ranges_and_runs_at_one_size(bert_bundle, capsys):
    assert cli.main(["run", str(bert_bundle), "--browser", "node", "--dim", "seq=3"]) == 0
    assert "last_hidden_state: float32 [1, 3, 128]" in capsys.readouterr().out
    assert cli.main(["run", str(bert_bundle), "--browser", "node", "--dim", "seq=1..3"]) == 2
    assert "a run takes one size per dimension" in capsys.readouterr().err
    assert cli.main(["run", str(bert_bundle), "--browser", "node"]) == 2
    assert "give its size with --dim seq=N" in capsys.readouterr().err
