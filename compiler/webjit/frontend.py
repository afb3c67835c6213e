"""ONNX import: a model file -> a Graph IR with static shapes and shape arithmetic folded."""
from __future__ import annotations

import os

from .errors import ModelError, ShapeError, UnsupportedError
from .ir import Graph, Node, TensorType
from .nplike import PURE, np
from .onnx_reader import read_model
from .control import CONTROL_FLOW, function_body, inline_control_flow, inline_function
from .decompose import DECOMPOSED_ONLY, _decompose, _layernorm_stats, _pairwise
from .dtypes import match_declared_outputs, widen
from .ops import ONNX_DTYPES, OPS, conv_output_size, resolve_pads
from .quant import CONTRIB_OPS
from .shapes import PYTHON, Words, declared_dims, input_shapes
from .symbolic import Sym
from .symshape import add_symbolic, involves_symbols

try:
    import onnx
    from onnx import numpy_helper
except ImportError:  # the browser path: models are read by onnx_reader
    onnx = None

# Ops whose attribute-form arguments (older opsets) become inputs, so every op has one form.
ATTRS_TO_INPUTS = {
    "Squeeze": ("axes",), "Unsqueeze": ("axes",), "ReduceMean": ("axes",), "ReduceSum": ("axes",),
    "ReduceMax": ("axes",), "ReduceMin": ("axes",), "ReduceProd": ("axes",), "ReduceSumSquare": ("axes",),
    "ReduceL1": ("axes",), "ReduceL2": ("axes",), "Split": ("split",), "Slice": ("starts", "ends", "axes"),
    "Pad": ("pads", "value"),
}
IGNORED_ATTRS = {"Dropout": (), "BatchNormalization": ("spatial", "is_test", "consumed_inputs")}
SHAPE_ONLY_OPS = ("Shape", "Size", "EyeLike")  # results depend on static shapes only: always folded
# Inputs that decide an output's shape (or which elements it holds): they must be constants,
# since every shape is fixed at compile time. A runtime value there is refused, never guessed.
COMPILE_TIME_INPUTS = {
    "Reshape": {1: "shape"}, "Expand": {1: "shape"}, "ConstantOfShape": {0: "shape"}, "Unsqueeze": {1: "axes"},
    "Squeeze": {1: "axes"}, "Split": {1: "split"}, "Tile": {1: "repeats"}, "Range": {0: "start", 1: "limit", 2: "delta"},
    "Slice": {1: "starts", 2: "ends", 3: "axes", 4: "steps"}, "Pad": {1: "pads", 3: "axes"}, "Trilu": {1: "k"},
    "CumSum": {1: "axis"}, "CumProd": {1: "axis"}, "Compress": {1: "condition"}, "NonZero": {0: "input"},
    "Unique": {0: "input"}, "NonMaxSuppression": {0: "boxes", 1: "scores", 2: "max_output_boxes_per_class",
                                                  3: "iou_threshold", 4: "score_threshold"},
    **{op: {0: "size"} for op in ("BlackmanWindow", "HannWindow", "HammingWindow")},
    "MelWeightMatrix": {0: "num_mel_bins", 1: "dft_length", 2: "sample_rate", 3: "lower_edge_hertz",
                        4: "upper_edge_hertz"}, **{op: {1: "axes"} for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
                                                         "ReduceProd", "ReduceSumSquare", "ReduceL2", "ReduceL1",
                                                         "ReduceLogSum", "ReduceLogSumExp")},
}
OTHER_DOMAIN_OPS = {"ai.onnx.ml": ("Binarizer", "ArrayFeatureExtractor"),
                    "ai.onnx.preview.training": ("Adagrad", "Adam", "Momentum"), "ai.onnx.preview": ("FlexAttention",),
                    "com.microsoft": tuple(op for _, op in sorted(CONTRIB_OPS))}  # quant.py
FOLD_GROWTH_LIMIT = 1 << 20  # elements: larger results of folding stay runtime ops (Expand, Tile ...)


def load_model(model):
    """Read and check an ONNX model from a path, its bytes or a ModelProto. Without the onnx
    package (in the page) the model is read by onnx_reader and onnx's checker does not run."""
    if onnx is None:
        return _read_without_onnx(model)
    if isinstance(model, (bytes, bytearray, memoryview)):
        try:
            model = onnx.load_model_from_string(bytes(model))
        except Exception as exc:  # protobuf's DecodeError, among others
            raise ModelError(f"the bytes given are not a readable ONNX model ({type(exc).__name__}: "
                             f"{str(exc)[:200]})") from None
        if not model.graph.node and not model.graph.output:
            raise ModelError("the bytes given are not an ONNX model (they hold no graph)")
    if isinstance(model, onnx.ModelProto):
        proto = model
    else:
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ModelError(f"model file '{path}' does not exist")
        try:
            proto = onnx.load(path)
        except Exception as exc:  # onnx raises several kinds for corrupt files
            raise ModelError(f"'{path}' is not a readable ONNX model ({type(exc).__name__}: {str(exc)[:200]})") from None
        if not proto.graph.node and not proto.graph.output:
            raise ModelError(f"'{path}' is not an ONNX model (it has no graph)")
    try:  # checking the file avoids serialising a loaded model again
        onnx.checker.check_model(proto if isinstance(model, onnx.ModelProto) else os.fspath(model))
    except Exception as exc:
        raise ModelError(f"the ONNX model is invalid: {str(exc).splitlines()[0][:300]}") from None
    if proto.functions:
        proto = onnx.inliner.inline_local_functions(proto)
    return proto


def _read_without_onnx(model):
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = bytes(model)
    else:
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ModelError(f"model file '{path}' does not exist")
        with open(path, "rb") as f:
            data = f.read()
    proto = read_model(data)
    if not proto.graph.node and not proto.graph.output:
        raise ModelError("the model is not an ONNX model (it has no graph)")
    if proto.functions:
        raise UnsupportedError("the model defines its own functions, which the in-browser compiler does not inline; "
                               "compile it with the host compiler")
    return proto


def check_supported(proto) -> None:
    """Raise one error listing every unsupported op type with its node names."""
    missing: dict[str, list[str]] = {}
    _find_unsupported(proto.graph, missing, "", _opset(proto))
    if missing:
        parts = [f"{op} (nodes: {', '.join(names[:5])}{', ...' if len(names) > 5 else ''})" for op, names in sorted(missing.items())]
        raise UnsupportedError(f"the model uses {len(missing)} unsupported op type(s): {'; '.join(parts)}")


def _opset(proto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def _find_unsupported(graph, missing: dict, where: str, opset: int) -> None:
    """Unsupported ops of `graph` and of the bodies of its control-flow nodes."""
    for i, node in enumerate(graph.node):
        key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
        other = node.op_type in OTHER_DOMAIN_OPS.get(node.domain, ())  # the ops of other domains webjit runs
        known = (node.op_type in OPS or node.op_type in DECOMPOSED_ONLY or node.op_type in CONTROL_FLOW
                 or function_body(node.op_type, opset))
        if not known or node.domain not in ("", "ai.onnx") and not other:
            missing.setdefault(key, []).append(where + (node.name or f"#{i}"))
        for attr in node.attribute:
            if attr.type == ATTR_GRAPH:
                _find_unsupported(attr.g, missing, f"{where}{node.name or f'#{i}'}/{attr.name}/", opset)


def import_onnx(model, shapes: dict[str, tuple[int, ...]] | None = None, bound: dict | None = None,
                dims: dict[str, int] | None = None, words: Words = PYTHON) -> Graph:
    """ONNX model (path or proto) + static input shapes -> typed Graph with constants folded.
    `dims` sizes named dimensions for every input that declares them (shapes.input_shapes;
    errors speak `words`); `bound` maps input names to values that become constants of the
    model (--const)."""
    proto = load_model(model)
    check_supported(proto)
    g = proto.graph
    constants = {t.name: _to_array(t) for t in g.initializer}
    constants.update(_bind_inputs(g, constants, dict(bound or {}), dict(shapes or {})))
    shapes = input_shapes(proto, shapes, dims, bound, words)
    types = {name: TensorType(str(v.dtype), tuple(v.shape)) for name, v in constants.items()}
    inputs = [value.name for value in g.input if value.name not in constants]
    for value in g.input:
        if value.name not in constants:
            types[value.name] = _input_type(value, shapes.get(value.name))
    graph = Graph(inputs=inputs, outputs=[o.name for o in g.output], nodes=[], types=types, constants=constants)
    opset = _opset(proto)
    for i, onode in enumerate(g.node):
        node = _import_node(onode, i, graph)
        if node is not None:
            _add_imported(graph, node, opset)
    match_declared_outputs(graph, {o.name: ONNX_DTYPES.get(o.type.tensor_type.elem_type) for o in g.output})
    for name in graph.outputs:
        _check_io_dtype("output", name, graph.types[name].dtype)
    graph.verify()
    return graph


IO_DTYPES = ("float32", "int32", "int64", "bool", "float16", "float64", "int8", "uint8", "int16", "uint16")  # what the runtime reads and writes


def _bind_inputs(g, constants: dict, bound: dict, shapes: dict) -> dict[str, np.ndarray]:
    """The values of --const, checked against the inputs they bind and cast to their dtype."""
    inputs = {value.name: value for value in g.input if value.name not in constants}
    unknown = sorted(set(bound) - set(inputs))
    if unknown:
        raise ShapeError(f"--const names {', '.join(unknown)}, which the model does not have as inputs "
                         f"(its inputs are {', '.join(inputs)})")
    twice = sorted(set(bound) & set(shapes))
    if twice:
        raise ShapeError(f"--const and --shape both give input {twice[0]!r}; a bound input's shape is its value's")
    values = {}
    for name, value in bound.items():
        ttype = inputs[name].type.tensor_type
        dtype = ONNX_DTYPES.get(ttype.elem_type)
        if dtype is None:
            raise UnsupportedError(f"input '{name}' has an element type webjit does not support")
        value = np.asarray(value)
        if value.dtype.kind == "f" and dtype not in FLOAT_TYPES and not np.all(value == np.round(value)):
            raise ShapeError(f"--const gives input '{name}' fractional values, but it is {dtype}")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim]
        if value.ndim == 0 and ttype.HasField("shape") and dims and all(d == 1 for d in dims):
            value = value.reshape(dims)  # NAME=1 for an input declared [1], such as a branch flag
        if ttype.HasField("shape") and (len(dims) != value.ndim or
                                        any(d is not None and d != n for d, n in zip(dims, value.shape))):
            declared = "x".join("?" if d is None else str(d) for d in dims) or "a scalar"
            raise ShapeError(f"--const gives input '{name}' shape {'x'.join(map(str, value.shape)) or 'a scalar'}, "
                             f"but the model declares {declared}")
        values[name] = np.array(value.astype(dtype), order="C")
    return values


FLOAT_TYPES = ("float32", "float16", "float64")


def _check_io_dtype(kind: str, name: str, dtype: str) -> None:
    if dtype not in IO_DTYPES:
        raise UnsupportedError(f"model {kind} '{name}' is {dtype}; webjit runs models whose inputs and outputs "
                               f"are {', '.join(IO_DTYPES)} (convert the model, e.g. cast {dtype} to float32)")


def _add_imported(graph: Graph, node: Node, opset: int) -> None:
    """Add one imported node (of the model or of a control-flow body) with its decompositions."""
    for part in _legacy_softmax(node, graph) if opset < 13 else _layernorm_stats(node, graph):
        _add_decomposed(graph, part, opset)


def _add_decomposed(graph: Graph, node: Node, opset: int) -> None:
    """Add `node`, or the nodes it is written as, each piece typed before the next is decomposed."""
    if node.op in CONTROL_FLOW:  # unrolled or inlined at import (control.py)
        inline_control_flow(node, graph, opset, _add_imported)
        return
    if node.op not in OPS and node.op not in DECOMPOSED_ONLY:  # check_supported found ONNX's function body
        inline_function(node, graph, opset, _add_imported)
        return
    parts = _decompose(node, graph, opset)
    if len(parts) == 1 and parts[0] is node:
        for piece in _pairwise(node):
            for part in widen(piece, graph, infer_types):  # narrow dtypes computed wide (dtypes.py)
                _add_node(graph, part)
        return
    for part in parts:
        _add_decomposed(graph, part, opset)


def _legacy_softmax(node: Node, graph: Graph) -> tuple[Node, ...]:
    """Before opset 13, (Log)Softmax normalises over all dims from `axis` (default 1) on:
    rewrite it as Reshape to 2-d -> (Log)Softmax on the last axis -> Reshape back."""
    if node.op not in ("Softmax", "LogSoftmax"):
        return (node,)
    shape = graph.types[node.inputs[0]].shape
    axis = node.attrs.get("axis", 1) % max(len(shape), 1)
    if axis >= len(shape) - 1:
        return (Node(node.op, node.name, node.inputs, node.outputs, {"axis": -1}),)
    names = {}
    for tag, dims in (("rows", (int(np.prod(shape[:axis])), -1)), ("shape", shape)):
        names[tag] = f"{node.name}::{tag}"
        graph.constants[names[tag]] = np.array(dims, dtype=np.int64)
        graph.types[names[tag]] = TensorType("int64", (len(dims),))
    flat, normed = f"{node.name}::flat", f"{node.name}::normed"
    return (Node("Reshape", f"{node.name}::flatten", (node.inputs[0], names["rows"]), (flat,)),
            Node(node.op, node.name, (flat,), (normed,), {"axis": -1}),
            Node("Reshape", f"{node.name}::unflatten", (normed, names["shape"]), node.outputs))


def _to_array(tensor) -> np.ndarray:
    if onnx is None:
        return _decode_tensor(tensor)
    array = numpy_helper.to_array(tensor)
    return np.array(array, order="C")  # ascontiguousarray would turn 0-d into 1-d


# TensorProto's data_type -> (dtype, the repeated field that holds its values when raw_data is empty)
TENSOR_FIELDS = {1: ("float32", "float_data"), 2: ("uint8", "int32_data"), 3: ("int8", "int32_data"),
                 4: ("uint16", "int32_data"), 5: ("int16", "int32_data"), 6: ("int32", "int32_data"),
                 7: ("int64", "int64_data"), 9: ("bool", "int32_data"), 10: ("float16", "int32_data"),
                 11: ("float64", "double_data"), 12: ("uint32", "uint64_data"), 13: ("uint64", "uint64_data")}
TENSOR_TYPE_NAMES = {0: "UNDEFINED", 1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
                     8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64", 14: "COMPLEX64",
                     15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2",
                     20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1"}


def _decode_tensor(tensor) -> np.ndarray:
    """A TensorProto read by onnx_reader as an array (what numpy_helper.to_array gives)."""
    name = tensor.name or "a tensor"
    if tensor.data_location == 1:
        raise UnsupportedError(f"tensor '{name}' keeps its data in an external file, which the in-browser compiler "
                               "cannot open; save the model with its weights inside (onnx.save(..., "
                               "save_as_external_data=False))")
    if tensor.data_type not in TENSOR_FIELDS:
        raise UnsupportedError(f"tensor '{name}' is {TENSOR_TYPE_NAMES.get(tensor.data_type, tensor.data_type)}, "
                               "which webjit does not support")
    dtype, field = TENSOR_FIELDS[tensor.data_type]
    shape = tuple(tensor.dims)
    if tensor.raw_data:
        value = np.frombuffer(tensor.raw_data, dtype)
    elif dtype == "float16":  # int32_data holds the bits
        value = np.array(list(getattr(tensor, field)), np.uint16).view(np.float16)
    else:
        value = np.array(list(getattr(tensor, field)), dtype)
    count = 1
    for d in shape:
        count *= d
    if value.size != count:
        raise ModelError(f"tensor '{name}' holds {value.size} values, but its shape {list(shape)} needs {count}")
    return np.array(value.reshape(shape), order="C")


def _input_type(value, given) -> TensorType:
    ttype = value.type.tensor_type
    if ttype.elem_type not in ONNX_DTYPES:
        raise UnsupportedError(f"input '{value.name}' has element type {TENSOR_TYPE_NAMES.get(ttype.elem_type, ttype.elem_type)}, "
                               "which webjit does not support")
    _check_io_dtype("input", value.name, ONNX_DTYPES[ttype.elem_type])
    shape = given if given is not None else tuple(declared_dims(value))  # given: checked by shapes.input_shapes
    return TensorType(ONNX_DTYPES[ttype.elem_type], tuple(d if isinstance(d, Sym) else int(d) for d in shape))


# AttributeProto's types (onnx.proto)
ATTR_FLOAT, ATTR_INT, ATTR_STRING, ATTR_TENSOR, ATTR_GRAPH, ATTR_FLOATS, ATTR_INTS, ATTR_STRINGS = 1, 2, 3, 4, 5, 6, 7, 8


def _attr_value(attr):
    """An attribute's value: numbers, strings, lists of them, an array, or a GraphProto (a
    control-flow body, inlined by control.py)."""
    kind = attr.type
    if kind == ATTR_FLOAT:
        return attr.f
    if kind == ATTR_INT:
        return attr.i
    if kind == ATTR_STRING:
        return attr.s.decode()
    if kind == ATTR_TENSOR:
        return _to_array(attr.t)
    if kind == ATTR_GRAPH:
        return attr.g
    if kind == ATTR_FLOATS:
        return list(attr.floats)
    if kind == ATTR_INTS:
        return list(attr.ints)
    if kind == ATTR_STRINGS:
        return [v.decode() for v in attr.strings]
    if kind in (9, 10, 11, 12, 13, 14):
        raise UnsupportedError(f"attribute '{attr.name}' holds graphs, tensors or types, which webjit does not support")
    raise ModelError(f"attribute '{attr.name}' has no value (its type is {kind})")


def _import_node(onode, index: int, graph: Graph) -> Node | None:
    name = onode.name or f"{onode.op_type}_{index}"
    attrs = {a.name: _attr_value(a) for a in onode.attribute}
    for ignored in IGNORED_ATTRS.get(onode.op_type, ()):
        attrs.pop(ignored, None)
    inputs = list(onode.input)
    outputs = tuple(onode.output)
    if onode.op_type == "Dropout":  # inference: identity, and a mask of ones
        training = inputs[2] if len(inputs) > 2 else ""
        if training and training not in graph.constants:
            hint = f"; bind it with --const {training}=VALUE (0 for inference)" if training in graph.inputs else ""
            raise UnsupportedError(f"Dropout '{name}' takes its training_mode from '{training}', which webjit "
                                   f"needs at compile time{hint}")
        ratio = inputs[1] if len(inputs) > 1 else ""
        if training and bool(np.asarray(graph.constants[training]).reshape(-1)[0]) and not _zero_ratio(graph, ratio):
            hint = f"; if its ratio '{ratio}' is 0, bind it with --const {ratio}=VALUE" if ratio in graph.inputs else ""
            raise UnsupportedError(f"Dropout '{name}' runs in training mode (it drops values at random); webjit "
                                   f"runs models for inference{hint}")
        if len(outputs) > 1 and outputs[1]:
            shape = graph.types[inputs[0]].shape
            graph.constants[outputs[1]] = np.ones(shape, dtype=bool)
            graph.types[outputs[1]] = TensorType("bool", shape)
        return Node("Identity", name, (inputs[0],), outputs[:1])
    if onode.op_type == "BatchNormalization" and any(outputs[1:]) and not attrs.get("training_mode"):
        raise UnsupportedError(f"BatchNormalization '{name}' asks for the saved statistics outputs of opsets before "
                               "14, which webjit does not compute (opset 14's training_mode is supported)")
    for position, attr in enumerate(ATTRS_TO_INPUTS.get(onode.op_type, ())):
        if attr in attrs:
            value = np.array(attrs.pop(attr), dtype=np.float32 if attr == "value" else np.int64)
            const = f"{name}::{attr}"
            graph.constants[const] = value
            graph.types[const] = TensorType(str(value.dtype), tuple(value.shape))
            while len(inputs) < position + 2:
                inputs.append("")
            inputs[position + 1] = const
    while inputs and inputs[-1] == "":
        inputs.pop()
    return Node(onode.op_type, name, tuple(inputs), outputs, attrs)


def _zero_ratio(graph: Graph, ratio: str) -> bool:
    """Whether a Dropout's ratio is the constant 0 (training mode then drops nothing)."""
    return bool(ratio) and ratio in graph.constants and float(np.asarray(graph.constants[ratio]).reshape(-1)[0]) == 0


def _add_node(graph: Graph, node: Node) -> None:
    """Type the node's outputs; fold it into constants when all its inputs are constant."""
    if any(name and name not in graph.types for name in node.inputs):
        missing = [name for name in node.inputs if name and name not in graph.types]
        raise ModelError(f"node '{node.name}' reads '{missing[0]}', which nothing defines before it")
    for position, what in COMPILE_TIME_INPUTS.get(node.op, {}).items():
        name = node.inputs[position] if position < len(node.inputs) else ""
        if name and name not in graph.constants:
            source = f"model input '{name}'" if name in graph.inputs else f"'{name}', which is computed at run time"
            hint = (f"; bind it with --const {name}=VALUE" if name in graph.inputs else
                    ", so it must be a constant of the model (or depend only on inputs bound with --const)")
            raise UnsupportedError(f"{node.op} '{node.name}' takes its {what} from {source}; webjit fixes every "
                                   f"shape at compile time{hint}")
    if involves_symbols(node, graph):
        add_symbolic(graph, node, _elementwise_dtype)
        return
    if node.op in SHAPE_ONLY_OPS:
        values = evaluate(node, _placeholders(node, graph))
        graph.constants[node.outputs[0]] = values[0]
        graph.types[node.outputs[0]] = TensorType(str(values[0].dtype), tuple(values[0].shape))
        return
    if all(not name or name in graph.constants for name in node.inputs):
        values = evaluate(node, [graph.constants.get(name) if name else None for name in node.inputs])
        inputs_size = sum(graph.constants[n].size for n in node.inputs if n)
        if all(v.size <= max(FOLD_GROWTH_LIMIT, 4 * inputs_size) for v in values):
            for out, value in zip(node.outputs, values):
                value = np.array(value, order="C")
                graph.constants[out] = value
                graph.types[out] = TensorType(str(value.dtype), tuple(value.shape))
            return
    for out, t in zip(node.outputs, infer_types(node, graph)):
        graph.types[out] = t
    graph.nodes.append(node)


def evaluate(node: Node, values: list) -> tuple[np.ndarray, ...]:
    try:
        with np.errstate(all="ignore"):
            results = OPS[node.op](*values, **node.attrs)
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise ModelError(f"node '{node.name}' ({node.op}) cannot be evaluated with its inputs: {exc}") from None
    except AttributeError as exc:
        if not PURE:
            raise
        raise UnsupportedError(f"node '{node.name}' ({node.op}) is computed at compile time with a part of numpy the "
                               f"in-browser compiler does not have ({exc}); compile this model with the host compiler") from None
    return tuple(np.asarray(r) for r in results)


def infer_types(node: Node, graph: Graph) -> list[TensorType]:
    """Output types of a node whose inputs are typed (some are runtime tensors)."""
    types = [graph.types[n] if n else None for n in node.inputs]
    explicit = SHAPE_RULES.get(node.op)
    if explicit is not None:
        return explicit(node, types)
    # Everything else: run the reference op on zero-stride placeholders of the right shape.
    return [TensorType(str(v.dtype), tuple(v.shape)) for v in evaluate(node, _placeholders(node, graph))]


def _placeholders(node: Node, graph: Graph) -> list:
    """Constants as they are, runtime tensors as zero-stride zeros of their static shape."""
    values = []
    for name in node.inputs:
        if not name:
            values.append(None)
        elif name in graph.constants:
            values.append(graph.constants[name])
        else:
            t = graph.types[name]
            values.append(np.broadcast_to(np.zeros((), dtype=t.dtype), t.shape))
    return values


def _matmul_type(node, types):
    a, b = types[0].shape, types[1].shape
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(f"MatMul '{node.name}' multiplies {list(a)} by {list(b)}: inner dimensions differ")
    try:
        batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    except ValueError:
        raise ShapeError(f"MatMul '{node.name}' cannot broadcast batch dimensions of {list(a)} and {list(b)}") from None
    shape = tuple(batch) + (a2[-2], b2[-1])
    if len(a) == 1:
        shape = shape[:-2] + shape[-1:]
    if len(b) == 1:
        shape = shape[:-1]
    return [TensorType(types[0].dtype, shape)]


def _gemm_type(node, types):
    a, b = types[0].shape, types[1].shape
    m, k = (a[1], a[0]) if node.attrs.get("transA", 0) else a
    k2, n = (b[1], b[0]) if node.attrs.get("transB", 0) else b
    if k != k2:
        raise ShapeError(f"Gemm '{node.name}' multiplies {list(a)} by {list(b)}: inner dimensions differ")
    return [TensorType(types[0].dtype, (m, n))]


def _window_type(node, types):
    x = types[0].shape
    if len(x) != 4:
        raise UnsupportedError(f"{node.op} '{node.name}' has {len(x) - 2} spatial dimensions; only 2-d is supported")
    if node.op == "Conv":
        w = types[1].shape
        channels, kernel = w[0], tuple(node.attrs.get("kernel_shape") or w[2:])
    else:
        channels, kernel = x[1], tuple(node.attrs["kernel_shape"])
    strides = tuple(node.attrs.get("strides") or (1, 1))
    dilations = tuple(node.attrs.get("dilations") or (1, 1))
    pads = resolve_pads(node.attrs.get("auto_pad", "NOTSET"), node.attrs.get("pads"), x[2:], kernel, strides, dilations)
    ceil = node.attrs.get("ceil_mode", 0)
    oh = conv_output_size(x[2], kernel[0], strides[0], pads[0], pads[2], dilations[0], ceil)
    ow = conv_output_size(x[3], kernel[1], strides[1], pads[1], pads[3], dilations[1], ceil)
    return [TensorType(types[0].dtype, (x[0], channels, oh, ow))]


def _layernorm_type(node, types):
    """Y: x's dtype and shape broadcast with scale's and bias's (the reference op's answer,
    without evaluating it on placeholders of the whole tensor)."""
    present = [t.shape for t in types if t is not None]
    try:
        shape = tuple(np.broadcast_shapes(*present))
    except ValueError:
        raise ShapeError(f"{node.op} '{node.name}' cannot broadcast its input shapes "
                         f"{', '.join(str(list(s)) for s in present)}") from None
    return [TensorType(types[0].dtype, shape)]


def _elementwise_type(node, types):
    """Broadcast shape; the dtype from the reference op on one-element placeholders."""
    present = [t for t in types if t is not None]
    try:
        shape = tuple(np.broadcast_shapes(*(t.shape for t in present)))
    except ValueError:
        raise ShapeError(f"{node.op} '{node.name}' cannot broadcast its input shapes "
                         f"{', '.join(str(list(t.shape)) for t in present)}") from None
    return [TensorType(_elementwise_dtype(node, types), shape)]


def _elementwise_dtype(node, types) -> str:
    """The dtype of an elementwise node's output: the reference op's on one-element placeholders."""
    ones = [None if t is None else np.ones((1,) * len(t.shape), dtype=t.dtype) for t in types]
    return str(evaluate(node, ones)[0].dtype)


ELEMENTWISE_OPS = ("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Equal", "Less", "Greater",
                   "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Not", "Neg", "Abs", "Sqrt", "Exp", "Log",
                   "Reciprocal", "Erf", "Tanh", "Sigmoid", "Relu", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos",
                   "IsNaN", "Where", "Cast", "Identity", "Gelu", "Softplus", "LeakyRelu", "HardSigmoid", "Elu",
                   "Selu", "Celu", "ThresholdedRelu", "Softsign", "Mish", "HardSwish", "Shrink", "PRelu", "IsInf",
                   "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", "BitCast", "Atan")

SHAPE_RULES = {**{op: _elementwise_type for op in ELEMENTWISE_OPS}, "MatMul": _matmul_type, "Gemm": _gemm_type,
               "LayerNormalization": _layernorm_type, "Conv": _window_type,
               "MaxPool": _window_type, "AveragePool": _window_type}
