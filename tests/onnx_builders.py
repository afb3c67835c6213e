"""Build small ONNX models from the plain-data op cases (tests/op_cases.py), make their
seeded inputs, and compute onnxruntime's reference outputs.

A case is a dict (see op_cases.py): inputs (runtime tensors, or constants stored as
initializers), nodes, output names and an opset. Nothing here knows about a backend.
"""
from __future__ import annotations

import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from numerics import relative_error

RELATIVE_TOLERANCE = 1e-5  # max abs error / max |reference|, for float outputs
IR_VERSION = 10  # onnxruntime here rejects newer IR versions
DEFAULT_OPSET = 18
NUMPY_TYPES = {"float32": np.float32, "int64": np.int64, "int32": np.int32, "bool": np.bool_,
               "float16": np.float16, "float64": np.float64, "int8": np.int8, "uint8": np.uint8}
ONNX_TYPES = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64, "int32": TensorProto.INT32,
              "bool": TensorProto.BOOL, "float16": TensorProto.FLOAT16, "float64": TensorProto.DOUBLE,
              "int8": TensorProto.INT8, "uint8": TensorProto.UINT8}


def case_seed(name: str) -> int:
    return zlib.crc32(name.encode())


def fill(spec: dict, rng: np.random.Generator) -> np.ndarray:
    """Random values of one input spec, in the domain its `fill` names."""
    shape, dtype = tuple(spec["shape"]), NUMPY_TYPES[spec["dtype"]]
    kind = spec.get("fill", "bool" if spec["dtype"] == "bool" else "normal" if spec["dtype"].startswith("float") else "int")
    if kind == "normal":
        values = rng.standard_normal(shape)
    elif kind == "positive":  # Log, Sqrt, Pow bases, variances
        values = rng.uniform(0.2, 3.0, shape)
    elif kind == "above_one":  # Acosh
        values = rng.uniform(1.0, 4.0, shape)
    elif kind == "unit":  # inside (-1, 1)
        values = rng.uniform(-0.95, 0.95, shape)
    elif kind == "ties":  # few distinct values: comparisons see equal elements
        values = rng.integers(-2, 3, shape)
    elif kind == "int":
        values = rng.integers(-9, 10, shape)
    elif kind == "full":  # every value of an 8-bit integer dtype
        values = rng.integers(np.iinfo(dtype).min, int(np.iinfo(dtype).max) + 1, shape)
    elif kind == "nonzero":  # divisors
        values = rng.integers(1, 8, shape) * rng.choice([-1, 1], shape)
    elif kind == "bool":
        values = rng.random(shape) < 0.5
    elif kind == "range":  # integers in [low, high), e.g. indices
        low, high = spec["range"]
        values = rng.integers(low, high, shape)
    elif kind == "specials":  # +inf, -inf and NaN among normal values
        values = rng.standard_normal(shape)
        flat = values.reshape(-1)
        flat[::4], flat[1::4], flat[2::7] = np.inf, -np.inf, np.nan
    elif kind == "with_nan":  # every third element NaN
        values = rng.standard_normal(shape)
        values.reshape(-1)[::3] = np.nan
    elif kind == "halves":  # exact .5 ties and integers: Round, Floor, Ceil edges
        values = rng.integers(-8, 9, shape) / 2 + rng.choice([0.0, 0.25], shape)
    else:
        raise ValueError(f"unknown fill {kind!r} in input {spec['name']!r}")
    return np.asarray(values).astype(dtype)


def input_values(case: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(runtime feeds, constants) of a case; random ones seeded by the case name."""
    rng = np.random.default_rng(case_seed(case["name"]))
    feeds, constants = {}, {}
    for spec in case["inputs"]:
        if "value" in spec:
            constants[spec["name"]] = np.array(spec["value"], dtype=NUMPY_TYPES[spec["dtype"]])
        elif spec.get("const"):
            constants[spec["name"]] = fill(spec, rng)
        else:
            feeds[spec["name"]] = fill(spec, rng)
    return feeds, constants


def _attr(name, value):
    if isinstance(value, dict) and "graph" in value:  # a control-flow body
        return _subgraph(value["graph"])
    if isinstance(value, dict) and "nodes" in value:  # a subgraph, e.g. FlexAttention's score_mod
        info = lambda spec: helper.make_tensor_value_info(spec["name"], ONNX_TYPES[spec["dtype"]], spec.get("shape"))
        nodes = [helper.make_node(n["op"], list(n["inputs"]), list(n["outputs"]), name=f"{name}_{n['op']}_{i}",
                                  **{k: _attr(k, v) for k, v in n.get("attrs", {}).items()})
                 for i, n in enumerate(value["nodes"])]
        constants = [numpy_helper.from_array(np.array(s["value"], dtype=NUMPY_TYPES[s["dtype"]]), s["name"])
                     for s in value.get("constants", [])]
        return helper.make_graph(nodes, name, [info(s) for s in value["inputs"]], [info(s) for s in value["outputs"]],
                                 constants)
    if isinstance(value, dict):  # a tensor attribute, e.g. ConstantOfShape's value
        array = np.array(value["value"], dtype=NUMPY_TYPES[value["dtype"]])
        return numpy_helper.from_array(array, name)
    return value


def _subgraph(spec: dict) -> onnx.GraphProto:
    """A body from plain data: inputs and outputs as [name, dtype, shape or None], nodes as in cases."""
    value = lambda v: helper.make_tensor_value_info(v[0], ONNX_TYPES[v[1]], v[2])
    nodes = [helper.make_node(n["op"], list(n["inputs"]), list(n["outputs"]), name=f"{spec['name']}_{n['op']}_{i}",
                              **{k: _attr(k, v) for k, v in n.get("attrs", {}).items()})
             for i, n in enumerate(spec["nodes"])]
    return helper.make_graph(nodes, spec["name"], [value(v) for v in spec["inputs"]], [value(v) for v in spec["outputs"]])


def build_model(case: dict, constants: dict[str, np.ndarray]) -> onnx.ModelProto:
    """The case's graph with constants as initializers and outputs typed by shape inference."""
    graph_inputs = [helper.make_tensor_value_info(s["name"], ONNX_TYPES[s["dtype"]], list(s["shape"]))
                    for s in case["inputs"] if s["name"] not in constants]
    initializers = [numpy_helper.from_array(v, name) for name, v in constants.items()]
    nodes = [helper.make_node(n["op"], list(n["inputs"]), list(n["outputs"]), name=f"{n['op']}_{i}",
                              domain=n.get("domain", ""), **{k: _attr(k, v) for k, v in n.get("attrs", {}).items()})
             for i, n in enumerate(case["nodes"])]
    opset = case.get("opset", DEFAULT_OPSET)
    untyped = [helper.make_empty_tensor_value_info(name) for name in case["outputs"]]
    graph = helper.make_graph(nodes, case["name"], graph_inputs, untyped, initializers)
    domains = [helper.make_opsetid("", opset)]
    for domain in sorted({n["domain"] for n in case["nodes"] if n.get("domain")}):
        domains.append(helper.make_opsetid(domain, 3 if domain == "ai.onnx.ml" else 1))  # ai.onnx.ml: Binarizer ...
    model = helper.make_model(graph, opset_imports=domains, ir_version=IR_VERSION)
    # onnx's own inference of some function ops fails (MeanVarianceNormalization): those cases type their outputs
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode="output_types" not in case, data_prop=True)
    known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    outputs = []
    for name in case["outputs"]:
        info = known.get(name)
        if name in case.get("output_types", {}):  # ops onnx's shape inference skips (GroupNormalization)
            dtype, shape = case["output_types"][name]
            info = helper.make_tensor_value_info(name, ONNX_TYPES[dtype], list(shape))
        if info is None or not info.type.tensor_type.HasField("shape"):
            raise ValueError(f"case {case['name']!r}: shape inference gives no shape for output {name!r}")
        outputs.append(info)
    del model.graph.output[:]
    model.graph.output.extend(outputs)
    onnx.checker.check_model(model, full_check="output_types" not in case)
    return model


# Ops onnxruntime here does not run: models with them are held to onnx's reference evaluator.
ORT_LACKS = {"FlexAttention", "SwiGLU"}


def reference_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """onnxruntime's outputs (CPU, no graph optimisation so ops run as written), or onnx's
    reference evaluator's for a model that uses an op of ORT_LACKS."""
    if any(node.op_type in ORT_LACKS for node in model.graph.node):
        from onnx.reference import ReferenceEvaluator
        names = [o.name for o in model.graph.output]
        return dict(zip(names, ReferenceEvaluator(model).run(names, feeds)))
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds)))


def model_shapes(case: dict) -> dict[str, tuple[int, ...]]:
    """Static shapes of the case's runtime inputs, as webjit.compile wants them."""
    return {s["name"]: tuple(s["shape"]) for s in case["inputs"] if "value" not in s and not s.get("const")}


def check_close(name: str, got: np.ndarray, want: np.ndarray) -> None:
    """Assert a backend output matches the reference: exactly for integers and bools, else within
    RELATIVE_TOLERANCE of the reference's largest magnitude."""
    assert got.shape == want.shape, f"{name}: shape {got.shape}, onnxruntime gives {want.shape}"
    if want.dtype == np.bool_:
        assert got.dtype in (np.bool_, np.uint8), f"{name}: dtype {got.dtype}, want bool"
        got = got.astype(bool)
    else:
        assert got.dtype == want.dtype, f"{name}: dtype {got.dtype}, onnxruntime gives {want.dtype}"
    if want.dtype.kind != "f":
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, (f"{name}: {bad.size} of {want.size} elements differ; first at flat index {bad[0]}: "
                               f"got {got.reshape(-1)[bad[0]]}, want {want.reshape(-1)[bad[0]]}")
        return
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{name}: NaNs where onnxruntime has none (or missing)"
    error = relative_error(got, want)
    if error > RELATIVE_TOLERANCE:
        finite = ~np.isnan(want)
        g, r = got[finite].astype(np.float64), want[finite].astype(np.float64)
        worst = int(np.argmax(np.abs(g - r)))
        raise AssertionError(f"{name}: relative error {error:.3g} (limit {RELATIVE_TOLERANCE}); worst element "
                             f"got {g[worst]!r}, want {r[worst]!r}")


def mlp_model(path, m=64, d=256, hidden=1024):
    """x @ W1 + b1 -> GELU (erf) -> @ W2 + b2 -> LayerNorm -> Softmax: every tunable family."""
    rng = np.random.default_rng(11)
    init = [numpy_helper.from_array(a.astype(np.float32), name) for name, a in (
        ("w1", rng.standard_normal((d, hidden)) / 16), ("b1", rng.standard_normal(hidden) / 4),
        ("w2", rng.standard_normal((hidden, d)) / 32), ("b2", rng.standard_normal(d) / 4),
        ("scale", 1 + rng.standard_normal(d) / 8), ("bias", rng.standard_normal(d) / 8),
        ("half", np.array(0.5)), ("one", np.array(1.0)), ("rsqrt2", np.array(2 ** -0.5)))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Mul", ["h1", "rsqrt2"], ["g0"]), helper.make_node("Erf", ["g0"], ["g1"]),
             helper.make_node("Add", ["g1", "one"], ["g2"]), helper.make_node("Mul", ["h1", "g2"], ["g3"]),
             helper.make_node("Mul", ["g3", "half"], ["g4"]),
             helper.make_node("MatMul", ["g4", "w2"], ["o0"]), helper.make_node("Add", ["o0", "b2"], ["o1"]),
             helper.make_node("LayerNormalization", ["o1", "scale", "bias"], ["n"], axis=-1),
             helper.make_node("Softmax", ["n"], ["y"], axis=-1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, d])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, d])], init)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


def onnxruntime_outputs(model, feeds):
    import onnxruntime
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def conv_model(path):
    """Conv 3x3 (pad 1) + bias -> ReLU -> grouped conv 3x3 (stride 2, dilation 2, pads) + bias."""
    rng = np.random.default_rng(5)
    init = [numpy_helper.from_array(a.astype(np.float32), name) for name, a in (
        ("w1", rng.standard_normal((16, 4, 3, 3)) / 6), ("b1", rng.standard_normal(16) / 4),
        ("w2", rng.standard_normal((12, 8, 3, 3)) / 8), ("b2", rng.standard_normal(12) / 4))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r"]),
             helper.make_node("Conv", ["r", "w2", "b2"], ["y"], pads=[2, 1, 0, 2], strides=[2, 2], dilations=[2, 1],
                              group=2)]
    graph = helper.make_graph(nodes, "convs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 17, 15])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], init)
    model = onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                                                ir_version=8))
    onnx.save(model, path)
    return path
