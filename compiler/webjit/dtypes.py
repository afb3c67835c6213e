"""Narrow dtypes (float16, int8, uint8, int16, uint16): held wide on the device, narrowed where
ONNX gives a narrow result.

The device holds every float in f32 and every integer in i32. A node that computes new values
from narrow inputs is written at import as the same node on wide values followed by a Cast back
to its narrow dtype (`widen`), so each op rounds (float16) or wraps (8- and 16-bit integers)
its result exactly where onnxruntime does, and every kernel computes only f32 and i32. The
Cast is where narrowing happens (`narrow_expr`): to float16 it rounds to the nearest float16
value, ties to even (the `round_f16` expression op); to an 8- or 16-bit integer it wraps
modulo 2^bits, as C's conversions do. Ops that only move, pick or compare values need none.
"""
from __future__ import annotations

from .ir import Graph, Node, TensorType
from .kernels import Expr

FLOATS = ("float16", "float32", "float64")
WIDE = {"float16": "float32", "int8": "int32", "uint8": "int32", "int16": "int32", "uint16": "int32"}
INT_BITS = {"int8": (8, True), "uint8": (8, False), "int16": (16, True), "uint16": (16, False)}
ONNX_CODES = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
              "float16": 10, "float64": 11}
# Outputs hold values of the inputs (moved, picked, clipped) or bools and indices: no narrowing needed.
KEEPS_VALUES = frozenset((
    "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Split", "Concat", "Expand",
    "Tile", "Gather", "GatherElements", "GatherND", "Pad", "Where", "Max", "Min", "DepthToSpace", "SpaceToDepth", "Cast", "CastLike", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "IsNaN", "IsInf", "Trilu", "Relu", "Clip", "Sign", "Shape", "Size",
    "Dropout", "Not", "And", "Or", "Xor", "ReverseSequence", "Compress", "TopK", "ScatterND", "ScatterElements"))
# Ops whose kernels compute in f32 only: narrow integers go in as float32 (exact for 16 bits; a
# float16 input's Casts cost nothing and round nothing).
FLOAT_COMPUTED = frozenset(("MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "MatMul", "Gemm", "Conv",
                            "ReduceMax", "ReduceMin", "ArgMax", "ArgMin"))
# Integer sources whose every value a narrow integer type holds: a Cast from them needs no wrap.
FITS = {"uint8": ("bool", "uint8"), "int8": ("bool", "int8"), "uint16": ("bool", "uint8", "uint16"),
        "int16": ("bool", "int8", "uint8", "int16")}


def widen(node: Node, graph: Graph, infer_types) -> tuple[Node, ...]:
    """`node`, or (Casts of its narrow inputs to wide dtypes, the node on them, Casts of its
    narrow outputs back) when it computes new values from narrow inputs at run time."""
    if node.op in KEEPS_VALUES or all(not name or name in graph.constants for name in node.inputs):
        return (node,)
    narrow_in = [i for i, name in enumerate(node.inputs) if name and graph.types[name].dtype in WIDE]
    if not narrow_in:
        return (node,)
    types = infer_types(node, graph)
    parts, inputs = [], list(node.inputs)
    for i in narrow_in:
        name = inputs[i]
        wide = f"{node.name}::wide{i}"
        to = "float32" if node.op in FLOAT_COMPUTED else WIDE[graph.types[name].dtype]
        parts.append(Node("Cast", wide, (name,), (wide,), {"to": ONNX_CODES[to]}))
        inputs[i] = wide
    outputs, backs = [], []
    for j, (out, t) in enumerate(zip(node.outputs, types)):
        if out and t.dtype in WIDE:
            wide = f"{out}::wide"
            outputs.append(wide)
            backs.append(Node("Cast", f"{node.name}::narrow{j}", (wide,), (out,), {"to": ONNX_CODES[t.dtype]}))
        else:
            outputs.append(out)
    return (*parts, Node(node.op, node.name, tuple(inputs), tuple(outputs), node.attrs), *backs)


def needs_narrowing(src: str, dst: str) -> bool:
    """Whether a Cast from `src` to `dst` changes values the device holds wide."""
    if dst == "float16":
        return src != "float16"
    return dst in INT_BITS and src not in FITS[dst]


def narrow_expr(expr: Expr, src: str, dst: str) -> Expr:
    """The value a Cast from `src` to `dst` gives, `expr` being its wide value (f32 or i32)."""
    if not needs_narrowing(src, dst):
        return expr
    if dst == "float16":
        return Expr("round_f16", "f32", (expr,))
    bits, signed = INT_BITS[dst]
    mask = Expr("const", "i32", value=float((1 << bits) - 1))
    if not signed:
        return Expr("and", "i32", (expr, mask))
    half = Expr("const", "i32", value=float(1 << (bits - 1)))
    shifted = Expr("and", "i32", (Expr("add", "i32", (expr, half)), mask))
    return Expr("sub", "i32", (shifted, half))


def match_declared_outputs(graph: Graph, declared: dict[str, str]) -> None:
    """A model output computed in another float dtype than the model declares (a decomposition's
    float32 constants beside float16 values) gets a Cast to the declared dtype."""
    for name in graph.outputs:
        have, want = graph.types[name].dtype, declared.get(name)
        if want is None or have == want or not (have in FLOATS and want in FLOATS):
            continue
        if name in graph.constants:
            graph.constants[name] = graph.constants[name].astype(want)
            graph.types[name] = TensorType(want, graph.types[name].shape)
            continue
        inner = f"{name}::computed"
        graph.nodes = [Node(n.op, n.name, tuple(inner if i == name else i for i in n.inputs),
                            tuple(inner if o == name else o for o in n.outputs), n.attrs) for n in graph.nodes]
        graph.types[inner] = graph.types[name]
        graph.nodes.append(Node("Cast", f"{name}::declared", (inner,), (name,), {"to": ONNX_CODES[want]}))
        graph.types[name] = TensorType(want, graph.types[inner].shape)
