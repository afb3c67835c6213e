"""Models in the dtypes users bring: float16, float64, uint8/int8 (and 16-bit) inputs and outputs,
Casts between them, an int8 QDQ model from onnxruntime's static quantizer, QLinear/Integer ops,
and MatMulNBits from onnxruntime's 4-bit quantizer. Each is built here, compiled by webjit, run
by the JS runtime on WASM and on WebGPU (Node: Dawn on SwiftShader) and compared with
onnxruntime at the tolerance docs/compiler.md ("Dtypes") states."""
from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import webjit
from webjit.errors import UnsupportedError
from webjit.runner import node_env, npy_file, write_npy_folder

RUNNER = Path(__file__).with_name("run_bundles.mjs")
# float16 outputs: within two float16 steps of each value plus 2^-8 of the output's largest magnitude
# (onnxruntime rounds inside ops, e.g. a MatMul's sums, where webjit keeps f32; a LayerNormalization
# after a MatMul magnifies one step of its input into a few of its output)
F16_RTOL, F16_SCALE = 2.0 ** -9, 2.0 ** -8


def _model(nodes, inputs, outputs, initializers=(), opset=18, extra_opsets=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                              [numpy_helper.from_array(v, k) for k, v in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *extra_opsets])
    model.ir_version = 9
    return model


def _ort(model, feeds, optimize=True):
    options = ort.SessionOptions()
    options.log_severity_level = 4
    if not optimize:  # op by op, as the spec writes them (no fused integer kernels)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in model.graph.output], session.run(None, feeds)))


def _copy(model):
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


# ---- the models: each returns (model, feeds, {output: (onnxruntime's value, check)}) -------------------

def float16_mlp(rng):
    """float16 weights, inputs and outputs: MatMul, bias, GELU-ish, Softmax, LayerNorm, ReduceMean."""
    w1 = (rng.standard_normal((16, 32)) * 0.3).astype(np.float16)
    b1 = (rng.standard_normal(32) * 0.1).astype(np.float16)
    w2 = (rng.standard_normal((32, 8)) * 0.3).astype(np.float16)
    gamma, beta = np.ones(8, np.float16), np.zeros(8, np.float16)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"]), helper.make_node("Add", ["m1", "b1"], ["a1"]),
             helper.make_node("Sigmoid", ["a1"], ["s1"]), helper.make_node("Mul", ["a1", "s1"], ["h"]),
             helper.make_node("MatMul", ["h", "w2"], ["m2"]), helper.make_node("Softmax", ["m2"], ["p"], axis=-1),
             helper.make_node("LayerNormalization", ["m2", "gamma", "beta"], ["ln"], axis=-1),
             helper.make_node("ReduceMean", ["h"], ["mean"], keepdims=0)]
    model = _model(nodes, [("x", T.FLOAT16, [4, 16])],
                   [("p", T.FLOAT16, [4, 8]), ("ln", T.FLOAT16, [4, 8]), ("mean", T.FLOAT16, [])],
                   [("w1", w1), ("b1", b1), ("w2", w2), ("gamma", gamma), ("beta", beta)])
    feeds = {"x": rng.standard_normal((4, 16)).astype(np.float16)}
    want = _ort(model, feeds)
    return model, feeds, {k: (v, ("f16",)) for k, v in want.items()}


def float16_torch_block(rng):
    """An attention block exported by torch in half precision (legacy exporter): float16 throughout."""
    import io
    import torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.out = torch.nn.Linear(32, 96), torch.nn.Linear(32, 32)
            self.ln = torch.nn.LayerNorm(32)
            self.ff = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, 32))

        def forward(self, x):
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            attention = torch.softmax(q @ k.transpose(-1, -2) / 32 ** 0.5, dim=-1)
            h = self.ln(x + self.out(attention @ v))
            return h + self.ff(h)
    torch.manual_seed(int(rng.integers(1 << 30)))
    x = torch.randn(1, 8, 32).half()
    buffer = io.BytesIO()
    torch.onnx.export(Block().eval().half(), (x,), buffer, dynamo=False, opset_version=17, input_names=["x"],
                      output_names=["y"])
    model = onnx.load_from_string(buffer.getvalue())
    feeds = {"x": x.numpy()}
    return model, feeds, {k: (v, ("f16",)) for k, v in _ort(model, feeds).items()}


def float16_conv(rng):
    w = (rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float16)
    b = (rng.standard_normal(4) * 0.1).astype(np.float16)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2])]
    model = _model(nodes, [("x", T.FLOAT16, [1, 3, 6, 6])], [("y", T.FLOAT16, [1, 4, 3, 3])], [("w", w), ("b", b)])
    feeds = {"x": rng.standard_normal((1, 3, 6, 6)).astype(np.float16)}
    return model, feeds, {k: (v, ("f16",)) for k, v in _ort(model, feeds).items()}


def float16_casts(rng):
    """Cast to float16 rounds to nearest, ties to even, exactly as onnxruntime: ties, subnormals,
    the overflow edge (65504 stays, 65520 is infinity), signed zeros, infinities and NaN."""
    halves = np.arange(0, 0x7C00, 7, dtype=np.uint16).view(np.float16).astype(np.float32)
    nxt = np.nextafter(halves.astype(np.float16), np.float16(np.inf)).astype(np.float32)
    ties = (halves + (nxt - halves) / 2).astype(np.float32)  # exactly between two float16 values
    special = np.array([65504, 65519.996, 65520, 65536, 1e-8, 2.0 ** -25, 3 * 2.0 ** -25, -0.0, np.inf, -np.inf, np.nan,
                        -65520, 6.1e-5, -2.0 ** -24], np.float32)
    values = np.concatenate([ties, -ties, halves, special, rng.standard_normal(200).astype(np.float32) * 1000])
    nodes = [helper.make_node("Cast", ["x"], ["h"], to=T.FLOAT16), helper.make_node("Cast", ["h"], ["back"], to=T.FLOAT),
             helper.make_node("Mul", ["h", "h"], ["sq"])]
    n = values.size
    model = _model(nodes, [("x", T.FLOAT, [n])], [("h", T.FLOAT16, [n]), ("back", T.FLOAT, [n]), ("sq", T.FLOAT16, [n])])
    feeds = {"x": values}
    return model, feeds, {k: (v, ("exact",)) for k, v in _ort(model, feeds).items()}


def narrow_integers(rng):
    """uint8 image input, int8 input; Casts that wrap (int32 300 -> uint8 44, int8 44); uint8
    and int8 arithmetic that wraps; int16 and uint16 outputs."""
    nodes = [helper.make_node("Cast", ["img"], ["f"], to=T.FLOAT),
             helper.make_node("Sub", ["f", "mean"], ["centred"]), helper.make_node("Mul", ["centred", "inv"], ["norm"]),
             helper.make_node("Add", ["img", "img"], ["twice"]),  # wraps modulo 256
             helper.make_node("Cast", ["big"], ["as_u8"], to=T.UINT8), helper.make_node("Cast", ["big"], ["as_i8"], to=T.INT8),
             helper.make_node("Cast", ["big"], ["as_i16"], to=T.INT16),
             helper.make_node("Cast", ["big"], ["as_u16"], to=T.UINT16),
             helper.make_node("Mul", ["small", "small"], ["sq"]),  # int8: wraps
             helper.make_node("Neg", ["small"], ["neg"]),
             helper.make_node("Cast", ["small"], ["small_f"], to=T.FLOAT)]
    model = _model(nodes, [("img", T.UINT8, [1, 3, 4, 4]), ("big", T.INT32, [8]), ("small", T.INT8, [6])],
                   [("norm", T.FLOAT, [1, 3, 4, 4]), ("twice", T.UINT8, [1, 3, 4, 4]), ("as_u8", T.UINT8, [8]),
                    ("as_i8", T.INT8, [8]), ("as_i16", T.INT16, [8]), ("as_u16", T.UINT16, [8]), ("sq", T.INT8, [6]),
                    ("neg", T.INT8, [6]), ("small_f", T.FLOAT, [6])],
                   [("mean", np.array([[[[120.0]], [[110.0]], [[100.0]]]], np.float32)), ("inv", np.float32(1 / 58.0))])
    feeds = {"img": rng.integers(0, 256, (1, 3, 4, 4)).astype(np.uint8),
             "big": np.array([300, -1, 255, 256, -129, 70000, -70000, 127], np.int32),
             "small": np.array([-128, -1, 0, 1, 100, 127], np.int8)}
    want = _ort(model, feeds)
    return model, feeds, {k: (v, ("close", 1e-6, 1e-6) if v.dtype.kind == "f" else ("exact",)) for k, v in want.items()}


def float64_io(rng):
    nodes = [helper.make_node("Mul", ["x", "k"], ["m"]), helper.make_node("Exp", ["m"], ["y"])]
    model = _model(nodes, [("x", T.DOUBLE, [5])], [("y", T.DOUBLE, [5])], [("k", np.float64(0.5))])
    feeds = {"x": rng.standard_normal(5)}
    return model, feeds, {k: (v, ("close", 1e-6, 1e-7)) for k, v in _ort(model, feeds).items()}


def _float_conv_matmul(rng):
    wc = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    bc = (rng.standard_normal(8) * 0.1).astype(np.float32)
    wm = (rng.standard_normal((512, 10)) * 0.05).astype(np.float32)
    bm = (rng.standard_normal(10) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "wc", "bc"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Flatten", ["r"], ["f"]), helper.make_node("MatMul", ["f", "wm"], ["m"]),
             helper.make_node("Add", ["m", "bm"], ["y"])]
    return _model(nodes, [("x", T.FLOAT, [1, 3, 8, 8])], [("y", T.FLOAT, [1, 10])],
                  [("wc", wc), ("bc", bc), ("wm", wm), ("bm", bm)], opset=17)


def _quantize_static(rng, tmp: Path, name: str, **options) -> onnx.ModelProto:
    """onnxruntime.quantization.quantize_static of the float conv + matmul model, calibrated on 8 inputs."""
    from onnxruntime.quantization import CalibrationDataReader, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.items, None)
    onnx.save(_float_conv_matmul(rng), tmp / "float.onnx")
    logging.disable(logging.WARNING)
    try:
        quantize_static(str(tmp / "float.onnx"), str(tmp / f"{name}.onnx"), Reader(),
                        activation_type=QuantType.QUInt8, **options)
    finally:
        logging.disable(logging.NOTSET)
    return onnx.load(tmp / f"{name}.onnx")


def _qdq(rng, tmp: Path, per_channel: bool):
    from onnxruntime.quantization import QuantFormat, QuantType

    model = _quantize_static(rng, tmp, "qdq", quant_format=QuantFormat.QDQ, weight_type=QuantType.QInt8,
                             per_channel=per_channel)
    feeds = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)}
    step = float(next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == "y_scale"))
    return model, feeds, step


def qdq_int8(rng, tmp):
    """onnxruntime.quantization.quantize_static (QDQ, uint8 activations, int8 weights, per tensor):
    against onnxruntime op by op (the spec's dequantize -> float op -> quantize) and its fused
    integer kernels, within one output quantization step."""
    model, feeds, step = _qdq(rng, tmp, per_channel=False)
    want, fused = _ort(model, feeds, optimize=False)["y"], _ort(model, feeds)["y"]
    assert np.abs(want - fused).max() <= step * 1.001  # the two onnxruntime paths agree on this model
    return model, feeds, {"y": (want, ("steps", step, 1))}


def qdq_int8_per_channel(rng, tmp):
    """The same with per-channel weights; against onnxruntime op by op (its fused u8s8 kernels
    differ from its own op-by-op result by many steps on this machine, so they are no oracle)."""
    model, feeds, step = _qdq(rng, tmp, per_channel=True)
    return model, feeds, {"y": (_ort(model, feeds, optimize=False)["y"], ("steps", step, 1))}


def qlinear_add(rng):
    """com.microsoft QLinearAdd (broadcast), exact against onnxruntime."""
    inits = [("as", np.float32(0.05)), ("az", np.uint8(120)), ("bs", np.float32(0.02)), ("bz", np.uint8(130)),
             ("cs", np.float32(0.07)), ("cz", np.uint8(100))]
    node = helper.make_node("QLinearAdd", ["a", "as", "az", "b", "bs", "bz", "cs", "cz"], ["c"], domain="com.microsoft")
    model = _model([node], [("a", T.UINT8, [3, 8]), ("b", T.UINT8, [8])], [("c", T.UINT8, [3, 8])], inits,
                   extra_opsets=[helper.make_opsetid("com.microsoft", 1)])
    feeds = {"a": rng.integers(0, 256, (3, 8)).astype(np.uint8), "b": rng.integers(0, 256, 8).astype(np.uint8)}
    return model, feeds, {k: (v, ("exact",)) for k, v in _ort(model, feeds).items()}


def qoperator_uint8(rng, tmp):
    """onnxruntime.quantization.quantize_static in QOperator form (QLinearConv, QLinearMatMul,
    com.microsoft QLinearAdd; uint8 weights): exact against onnxruntime."""
    from onnxruntime.quantization import QuantFormat, QuantType

    model = _quantize_static(rng, tmp, "qop", quant_format=QuantFormat.QOperator, weight_type=QuantType.QUInt8)
    assert {"QLinearConv", "QLinearMatMul", "QLinearAdd"} <= {n.op_type for n in model.graph.node}
    feeds = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)}
    return model, feeds, {k: (v, ("exact",)) for k, v in _ort(model, feeds).items()}


def qlinear_ops(rng):
    """QLinearConv with 64 channels of 3x3 (576 products per output: three exact slices), QLinearMatMul
    (per-column scales and zero points, K 300), MatMulInteger and DynamicQuantizeLinear: exact against
    onnxruntime. (With int8 weights onnxruntime's u8s8 MatMulInteger is not exact on this machine:
    pairs of products saturate at 16 bits on AVX2, so it is no oracle there.)"""
    x = rng.integers(0, 256, (1, 64, 5, 5)).astype(np.uint8)
    w = rng.integers(0, 256, (4, 64, 3, 3)).astype(np.uint8)
    bias = rng.integers(-2000, 2000, 4).astype(np.int32)
    b = rng.integers(0, 256, (300, 6)).astype(np.uint8)  # uint8: onnxruntime's u8s8 kernels saturate on AVX2
    inits = [("xs", np.float32(0.02)), ("xz", np.uint8(128)), ("w", w), ("ws", np.float32(0.003)), ("wz", np.uint8(120)),
             ("ys", np.float32(0.5)), ("yz", np.uint8(100)), ("bias", bias),
             ("b", b), ("bs", (rng.random(6) * 0.01 + 0.001).astype(np.float32)), ("bz", rng.integers(100, 156, 6).astype(np.uint8)),
             ("ms", np.float32(0.7)), ("mz", np.uint8(3))]
    nodes = [helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "bias"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("QLinearMatMul", ["a", "xs", "xz", "b", "bs", "bz", "ms", "mz"], ["qmm"]),
             helper.make_node("MatMulInteger", ["a", "b", "xz", "bz"], ["mmi"]),
             helper.make_node("DynamicQuantizeLinear", ["f"], ["dq", "dq_scale", "dq_zero"])]
    model = _model(nodes, [("x", T.UINT8, [1, 64, 5, 5]), ("a", T.UINT8, [3, 300]), ("f", T.FLOAT, [4, 5])],
                   [("conv", T.UINT8, [1, 4, 5, 5]), ("qmm", T.UINT8, [3, 6]), ("mmi", T.INT32, [3, 6]),
                    ("dq", T.UINT8, [4, 5]), ("dq_scale", T.FLOAT, []), ("dq_zero", T.UINT8, [])], inits)
    feeds = {"x": x, "a": rng.integers(0, 256, (3, 300)).astype(np.uint8), "f": rng.standard_normal((4, 5)).astype(np.float32)}
    # WGSL's f32 division may be 2.5 ulp off (the WGSL spec), so the dynamic scale may differ in its last bit
    return model, feeds, {k: (v, ("close", 3e-7, 0) if k == "dq_scale" else ("exact",)) for k, v in _ort(model, feeds).items()}


def _nbits(rng, k, n, block, symmetric, bits=4):
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    w = rng.standard_normal((k, n)).astype(np.float32)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], [("x", T.FLOAT, [3, k])], [("y", T.FLOAT, [3, n])],
                   [("w", w)])
    logging.disable(logging.WARNING)
    try:
        quantizer = MatMulNBitsQuantizer(_copy(model), bits=bits, block_size=block, is_symmetric=symmetric)
        quantizer.process()
    finally:
        logging.disable(logging.NOTSET)
    return quantizer.model.model


def matmul_nbits(rng):
    """onnxruntime's MatMulNBitsQuantizer: 4 bits, block 32 with zero points, block 128 symmetric
    and K not a multiple of the block (200)."""
    parts = [(_nbits(rng, 256, 48, 32, False), "a"), (_nbits(rng, 200, 40, 128, True), "b")]
    assert all(n.op_type == "MatMulNBits" for m, _ in parts for n in m.graph.node)
    assert any(len(n.input) > 3 for n in parts[0][0].graph.node)  # zero points present
    merged = onnx.compose.merge_models(*(onnx.compose.add_prefix(m, tag + "_") for m, tag in parts), io_map=[])
    feeds = {"a_x": rng.standard_normal((3, 256)).astype(np.float32),
             "b_x": rng.standard_normal((3, 200)).astype(np.float32)}
    return merged, feeds, {k: (v, ("close", 1e-5, 1e-4)) for k, v in _ort(merged, feeds).items()}


MODELS = {"float16_mlp": float16_mlp, "float16_torch_block": float16_torch_block, "float16_conv": float16_conv, "float16_casts": float16_casts,
          "narrow_integers": narrow_integers, "float64_io": float64_io, "qdq_int8": qdq_int8,
          "qdq_int8_per_channel": qdq_int8_per_channel, "qoperator_uint8": qoperator_uint8, "qlinear_ops": qlinear_ops,
          "qlinear_add": qlinear_add, "matmul_nbits": matmul_nbits}
NEEDS_DIR = ("qdq_int8", "qdq_int8_per_channel", "qoperator_uint8")
# SwiftShader compiles each WebGPU MatMul kernel in seconds: per commit, WebGPU runs the models that
# cover its own code (float16 rounding, integer wraps, a dequantized MatMul); the rest run with -m slow.
WEBGPU_PER_COMMIT = ("float16_conv", "float16_casts", "narrow_integers", "float64_io", "qlinear_add", "matmul_nbits")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("dtypes")
    items = {}
    for i, (name, build) in enumerate(MODELS.items()):
        rng = np.random.default_rng(100 + i)
        folder = root / name
        folder.mkdir()
        model, feeds, want = build(rng, folder) if name in NEEDS_DIR else build(rng)
        webjit.compile(model).save(folder / "bundle")
        write_npy_folder(folder / "inputs", feeds)
        items[name] = (folder, want)
    return root, items


def _run(root: Path, items: dict, backend: str, names=None) -> dict:
    items = {name: item for name, item in items.items() if names is None or name in names}
    jobs = [{"bundle": str(folder / "bundle"), "inputs": str(folder / "inputs"), "outputs": str(folder / f"out-{backend}"),
             "threads": 1, "backend": backend} for folder, _ in items.values()]
    jobs_file = root / f"jobs-{backend}-{len(jobs)}.json"
    jobs_file.write_text(json.dumps(jobs))
    done = subprocess.run(["node", str(RUNNER), str(jobs_file)], capture_output=True, text=True,
                          timeout=900, env=node_env(backend))
    reports = {r["index"]: r for r in map(json.loads, (l for l in done.stdout.splitlines() if l.startswith("{")))}
    results = {}
    for index, (name, (folder, want)) in enumerate(items.items()):
        report = reports.get(index, {"ok": False, "error": done.stderr[-2000:]})
        results[name] = report.get("error") if not report["ok"] else {
            out: np.load(folder / f"out-{backend}" / npy_file(out)) for out in want}
    return results


@pytest.fixture(scope="module")
def wasm(built):
    return _run(*built, "wasm")


@pytest.fixture(scope="module")
def webgpu(built):
    return _run(*built, "webgpu", WEBGPU_PER_COMMIT)


@pytest.fixture(scope="module")
def webgpu_heavy(built):
    return _run(*built, "webgpu", [name for name in MODELS if name not in WEBGPU_PER_COMMIT])


def _check(name: str, got: np.ndarray, want: np.ndarray, check: tuple) -> None:
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, onnxruntime gives {want.dtype}"
    assert got.shape == want.shape, f"{name}: shape {got.shape}, onnxruntime gives {want.shape}"
    kind = check[0]
    if kind == "exact":
        same = (got == want) | (np.isnan(got) & np.isnan(want)) if want.dtype.kind == "f" else got == want
        bad = np.flatnonzero(~same)
        assert bad.size == 0, f"{name}: {bad.size} of {want.size} differ, first {got.reshape(-1)[bad[0]]!r} " \
                              f"for {want.reshape(-1)[bad[0]]!r} at {bad[0]}"
        return
    g, w = got.astype(np.float64), want.astype(np.float64)
    if kind == "f16":
        limit = F16_RTOL * np.abs(w) + F16_SCALE * np.abs(w).max()
    elif kind == "steps":
        limit = np.full(w.shape, check[1] * check[2] * 1.001)
    else:
        limit = check[1] * np.abs(w) + check[2]
    worst = np.abs(g - w) - limit
    assert worst.max() <= 0, f"{name}: off by {np.abs(g - w).max():.3g} (limit {limit.reshape(-1)[worst.argmax()]:.3g})"


@pytest.mark.parametrize("name", list(MODELS))
def test_dtype_model_on_wasm(built, wasm, name):
    result = wasm[name]
    assert not isinstance(result, str), f"{name} failed to run: {result}"
    for out, (want, check) in built[1][name][1].items():
        _check(f"{name}/{out}", result[out], want, check)


@pytest.mark.parametrize("name", WEBGPU_PER_COMMIT)
def test_dtype_model_on_webgpu(built, webgpu, name):
    _check_webgpu(built, webgpu, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [name for name in MODELS if name not in WEBGPU_PER_COMMIT])
def test_heavier_dtype_model_on_webgpu(built, webgpu_heavy, name):
    _check_webgpu(built, webgpu_heavy, name)


def _check_webgpu(built, results, name):
    result = results[name]
    assert not isinstance(result, str), f"{name} failed to run: {result}"
    for out, (want, check) in built[1][name][1].items():
        _check(f"{name}/{out} (webgpu)", result[out], want, check)


def test_float16_weights_are_stored_as_float16():
    """A float16 model's weights travel at 2 bytes a value (losslessly, under the default fp32
    storage); float32 weights that are not float16 values stay 4 bytes."""
    rng = np.random.default_rng(7)
    w16 = rng.standard_normal((128, 256)).astype(np.float16)
    w32 = rng.standard_normal((256, 128)).astype(np.float32)
    model = _model([helper.make_node("MatMul", ["x", "w16"], ["h"]), helper.make_node("Cast", ["h"], ["hf"], to=T.FLOAT),
                    helper.make_node("MatMul", ["hf", "w32"], ["y"])], [("x", T.FLOAT16, [2, 128])],
                   [("y", T.FLOAT, [2, 128])], [("w16", w16), ("w32", w32)])
    tensors = [t for t in webjit.compile(model).manifest["tensors"] if t["region"] == "weights"]
    assert sorted((t["size"], t["stored"]["encoding"]) for t in tensors) == [(32768, "f16"), (32768, "f32")]


def test_refusals_are_one_sentence():
    rng = np.random.default_rng(3)
    model = _nbits(rng, 64, 8, 32, True)
    node = model.graph.node[0]
    for a in node.attribute:
        if a.name == "bits":
            a.i = 3
    with pytest.raises(UnsupportedError, match=r"MatMulNBits '.*' has 3-bit weights; webjit reads 2, 4 and 8 bits"):
        webjit.compile(model)
    w = np.zeros((4, 32, 3, 3), np.uint8)  # 2 groups of 32 channels: 288 products per output in a group
    conv = _model([helper.make_node("ConvInteger", ["x", "w"], ["y"], group=2)], [("x", T.UINT8, [1, 64, 5, 5])],
                  [("y", T.INT32, [1, 4, 3, 3])], [("w", w)])
    with pytest.raises(UnsupportedError, match=r"ConvInteger '.*' sums 288 products per output in groups"):
        webjit.compile(conv)
