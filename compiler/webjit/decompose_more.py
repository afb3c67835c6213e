"""More ops written as ops webjit has kernels for (called from decompose._decompose): Asin and
Acos (Atan), SpaceToDepth and DepthToSpace (Reshape, Transpose), InstanceNormalization and
GroupNormalization (the LayerNormalization kernel), MeanVarianceNormalization (reductions),
LRN (a channel-window AveragePool), ReverseSequence (GatherElements), Det of 1x1 to 3x3
matrices (cofactors), BatchNormalization with runtime statistics or in training mode, GatherND
with runtime indices, and the refusals of BitCast between sizes webjit does not hold."""
from __future__ import annotations

import itertools

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np
from .optimizers import OPTIMIZER_OPS, optimizer_nodes
from .roialign import roialign_nodes
from .tfidf import tfidf_nodes
from .ops_more import space_depth_shapes

BITCAST_PAIRS = {("float32", "int32"), ("int32", "float32"), ("float32", "float32"), ("int32", "int32")}


def decompose_more(node: Node, graph: Graph, const, t) -> tuple[Node, ...] | None:
    """The nodes `node` is written as, or None when it is not one of this module's ops."""
    y = node.outputs
    if node.op in OPTIMIZER_OPS:
        return optimizer_nodes(node, graph, const, t)
    if node.op == "RoiAlign" and not all(name in graph.constants for name in node.inputs[:3]):
        return roialign_nodes(node, graph, const, t)
    if node.op in ("Asin", "Acos"):
        x = node.inputs[0]
        dt = graph.types[x].dtype
        one = const("one", np.array(1, dt))
        parts = (Node("Sub", t("below"), (one, x), (t("below"),)), Node("Add", t("above"), (one, x), (t("above"),)))
        if node.op == "Asin":  # atan(x / sqrt((1 - x)(1 + x))): 1 - x is exact near 1, +-1 gives +-pi/2
            return (*parts, Node("Mul", t("product"), (t("below"), t("above")), (t("product"),)),
                    Node("Sqrt", t("root"), (t("product"),), (t("root"),)),
                    Node("Div", t("ratio"), (x, t("root")), (t("ratio"),)), Node("Atan", node.name, (t("ratio"),), y))
        return (*parts, Node("Div", t("ratio"), (t("below"), t("above")), (t("ratio"),)),  # 2 atan(sqrt((1-x)/(1+x)))
                Node("Sqrt", t("root"), (t("ratio"),), (t("root"),)), Node("Atan", t("half"), (t("root"),), (t("half"),)),
                Node("Add", node.name, (t("half"), t("half")), y))
    if node.op == "BitCast":
        pair = (graph.types[node.inputs[0]].dtype, OUTPUT_DTYPES.get(node.attrs.get("to"), "another type"))
        if pair not in BITCAST_PAIRS:
            raise UnsupportedError(f"BitCast '{node.name}' reinterprets {pair[0]} as {pair[1]}; webjit bit-casts "
                                   "between float32 and int32")
        return None
    if node.op in ("SpaceToDepth", "DepthToSpace"):
        shape = graph.types[node.inputs[0]].shape
        if len(shape) != 4:
            raise UnsupportedError(f"{node.op} '{node.name}' has a {len(shape)}-d input; ONNX defines it on 4-d tensors")
        six, perm, out = space_depth_shapes(shape, node.attrs["blocksize"], node.attrs.get("mode", "DCR"),
                                            node.op == "SpaceToDepth")
        ints = lambda tag, v: const(tag, np.array(v, np.int64))
        return (Node("Reshape", t("split"), (node.inputs[0], ints("six_shape", six)), (t("six"),)),
                Node("Transpose", t("move"), (t("six"),), (t("moved"),), {"perm": perm}),
                Node("Reshape", node.name, (t("moved"), ints("out_shape", out)), y))
    if node.op in ("InstanceNormalization", "GroupNormalization"):
        return _instance_group_norm(node, graph, const, t)
    if node.op == "MeanVarianceNormalization":
        x = node.inputs[0]
        axes = const("axes", np.array(node.attrs.get("axes", [0, 2, 3]), np.int64))
        return (Node("ReduceMean", t("mean"), (x, axes), (t("mean"),), {"keepdims": 1}),
                Node("Sub", t("centred"), (x, t("mean")), (t("centred"),)),
                Node("Mul", t("square"), (t("centred"), t("centred")), (t("square"),)),
                Node("ReduceMean", t("var"), (t("square"), axes), (t("var"),), {"keepdims": 1}),
                Node("Sqrt", t("std"), (t("var"),), (t("std"),)),
                Node("Add", t("std_eps"), (t("std"), const("eps", np.float32(1e-9))), (t("std_eps"),)),
                Node("Div", node.name, (t("centred"), t("std_eps")), y))
    if node.op == "LRN":
        return _lrn(node, graph, const, t)
    if node.op == "ReverseSequence":
        return _reverse_sequence(node, graph, const, t)
    if node.op == "Det" and node.inputs[0] not in graph.constants:  # a constant input folds, at any size
        return _det(node, graph, const, t)
    if node.op == "BatchNormalization" and (node.attrs.get("training_mode", 0) or
                                            any(name not in graph.constants for name in node.inputs[1:5])):
        return _batchnorm(node, graph, const, t)
    if node.op == "GatherND" and (node.inputs[1] not in graph.constants or node.attrs.get("batch_dims", 0)):
        return _gather_nd(node, graph, const, t)
    if node.op == "TfIdfVectorizer" and node.inputs[0] not in graph.constants:
        return tfidf_nodes(node, graph, const, t)
    if node.op == "Binarizer":  # x > threshold as 1 or 0 of x's type
        x = node.inputs[0]
        return (Node("Greater", t("above"), (x, const("threshold", np.array(node.attrs.get("threshold", 0.0),
                                                                          graph.types[x].dtype))), (t("above"),)),
                Node("CastLike", node.name, (t("above"), x), y))
    if node.op == "ArrayFeatureExtractor":
        x, indices = node.inputs[:2]
        flat = const("flat", np.array([-1], np.int64))
        parts = [Node("Reshape", t("flat_idx"), (indices, flat), (t("idx"),))]
        if len(graph.types[x].shape) == 1:
            return (*parts, Node("Gather", t("pick"), (x, t("idx")), (t("picked"),), {"axis": -1}),
                    Node("Unsqueeze", node.name, (t("picked"), const("row", np.array([0], np.int64))), y))
        return (*parts, Node("Gather", node.name, (x, t("idx")), y, {"axis": -1}))
    if node.op == "Compress" and node.inputs[1] in graph.constants and node.inputs[0] not in graph.constants:
        keep = np.nonzero(np.asarray(graph.constants[node.inputs[1]]).reshape(-1))[0].astype(np.int64)
        axis = node.attrs.get("axis")
        if axis is None:  # over the flattened input
            return (Node("Reshape", t("flat"), (node.inputs[0], const("all", np.array([-1], np.int64))), (t("flat"),)),
                    Node("Gather", node.name, (t("flat"), const("keep", keep)), y, {"axis": 0}))
        return (Node("Gather", node.name, (node.inputs[0], const("keep", keep)), y, {"axis": int(axis)}),)
    return None


OUTPUT_DTYPES = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 11: "float64", 10: "float16", 2: "uint8", 3: "int8"}


def _instance_group_norm(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """Normalised per (sample, channel) or (sample, group) over the rest by the LayerNormalization
    kernel (mean, then the variance of the centred values), then scaled and shifted per channel."""
    x, scale, bias = node.inputs[:3]
    shape = list(graph.types[x].shape)
    n, c = shape[:2]
    groups = c if node.op == "InstanceNormalization" else int(node.attrs["num_groups"])
    if groups <= 0 or c % groups:
        raise UnsupportedError(f"{node.op} '{node.name}' splits {c} channels into {groups} groups")
    rows = [n, groups, int(np.prod(shape[1:], dtype=np.int64)) // groups]
    ints = lambda tag, v: const(tag, np.array(v, np.int64))
    channel = [1, c] + [1] * (len(shape) - 2)
    parts = [Node("Reshape", t("rows"), (x, ints("rows_shape", rows)), (t("rows"),)),
             Node("LayerNormalization", t("norm"), (t("rows"), ""),  # no scale: the kernel only normalises
                  (t("normed"),), {"axis": 2, "epsilon": float(node.attrs.get("epsilon", 1e-5))}),
             Node("Reshape", t("back"), (t("normed"), ints("shape", shape)), (t("back"),))]
    params = []
    for tag, name in (("scale", scale), ("bias", bias)):
        size = int(np.prod(graph.types[name].shape, dtype=np.int64))
        if size == c:
            parts.append(Node("Reshape", t(f"{tag}_c"), (name, ints(f"{tag}_shape", channel)), (t(f"{tag}_c"),)))
        elif size == groups:  # GroupNormalization before opset 21: one value per group
            parts += [Node("Reshape", t(f"{tag}_g"), (name, ints(f"{tag}_gshape", [groups, 1])), (t(f"{tag}_g"),)),
                      Node("Expand", t(f"{tag}_e"), (t(f"{tag}_g"), ints(f"{tag}_eshape", [groups, c // groups])),
                           (t(f"{tag}_e"),)),
                      Node("Reshape", t(f"{tag}_c"), (t(f"{tag}_e"), ints(f"{tag}_shape", channel)), (t(f"{tag}_c"),))]
        else:
            raise UnsupportedError(f"{node.op} '{node.name}' has a {tag} of {size} values for {c} channels")
        params.append(t(f"{tag}_c"))
    return (*parts, Node("Mul", t("scaled"), (t("back"), params[0]), (t("scaled"),)),
            Node("Add", node.name, (t("scaled"), params[1]), node.outputs[:1]))


def _lrn(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """x / (bias + alpha / size * sum of x^2 over the channel window)^beta, the window sum as an
    AveragePool over [N, 1, C, rest] with the padding counted (times size cancels alpha / size)."""
    x = node.inputs[0]
    shape = list(graph.types[x].shape)
    size = int(node.attrs["size"])
    alpha, beta, bias = (float(node.attrs.get(k, d)) for k, d in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)))
    planes = [shape[0], 1, shape[1], int(np.prod(shape[2:], dtype=np.int64))]
    ints = lambda tag, v: const(tag, np.array(v, np.int64))
    low, high = (size - 1) // 2, size - 1 - (size - 1) // 2
    return (Node("Mul", t("square"), (x, x), (t("square"),)),
            Node("Reshape", t("planes"), (t("square"), ints("planes_shape", planes)), (t("planes"),)),
            Node("AveragePool", t("window"), (t("planes"),), (t("window"),),
                 {"kernel_shape": [size, 1], "pads": [low, 0, high, 0], "count_include_pad": 1}),
            Node("Reshape", t("back"), (t("window"), ints("shape", shape)), (t("mean"),)),
            Node("Mul", t("scaled"), (t("mean"), const("alpha", np.float32(alpha))), (t("scaled"),)),
            Node("Add", t("biased"), (t("scaled"), const("bias", np.float32(bias))), (t("biased"),)),
            Node("Pow", t("power"), (t("biased"), const("beta", np.float32(beta))), (t("power"),)),
            Node("Div", node.name, (x, t("power")), node.outputs))


def _reverse_sequence(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """y[t, b] = x[len[b] - 1 - t, b] for t < len[b], else x[t, b]: a GatherElements along the time
    axis at indices computed from the (runtime or constant) lengths."""
    x, lens = node.inputs[:2]
    shape = list(graph.types[x].shape)
    batch_axis, time_axis = int(node.attrs.get("batch_axis", 1)), int(node.attrs.get("time_axis", 0))
    lt = graph.types[lens].dtype
    along = lambda axis, values: values.reshape([-1 if d == axis else 1 for d in range(len(shape))])
    steps = along(time_axis, np.arange(shape[time_axis])).astype(lt)
    full = const("full", np.zeros(shape, lt))  # broadcasts the indices to x's shape
    return (Node("Clip", t("valid"), (lens, const("no_len", np.array(0, lt)), const("all_len", np.array(shape[time_axis], lt))),
                 (t("lens_valid"),)),  # lengths beyond the time axis would index outside x
            Node("Reshape", t("lens"), (t("lens_valid"), const("lens_shape", np.array(
                [-1 if d == batch_axis else 1 for d in range(len(shape))], np.int64))), (t("lens_b"),)),
            Node("Less", t("inside"), (const("steps", steps), t("lens_b")), (t("inside"),)),
            Node("Sub", t("last"), (t("lens_b"), const("one", np.array(1, lt))), (t("last"),)),
            Node("Sub", t("mirrored"), (t("last"), const("steps2", steps)), (t("mirrored"),)),
            Node("Where", t("where"), (t("inside"), t("mirrored"), const("steps3", steps)), (t("index_b"),)),
            Node("Add", t("idx"), (t("index_b"), full), (t("idx"),)),
            Node("GatherElements", node.name, (x, t("idx")), node.outputs, {"axis": time_axis}))


def _det(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """The determinant of each trailing n x n matrix (n <= 3) as the sum of signed products of
    its entries (Leibniz), each entry a Gather of the flattened matrix."""
    x = node.inputs[0]
    shape = list(graph.types[x].shape)
    n = shape[-1]
    if len(shape) < 2 or shape[-2] != n:
        raise UnsupportedError(f"Det '{node.name}' has input shape {shape}; ONNX defines it on square matrices")
    if n > 3:
        raise UnsupportedError(f"Det '{node.name}' takes the determinant of {n}x{n} matrices computed at run time; "
                               "webjit computes it for up to 3x3 (or folds a constant input)")
    parts = [Node("Reshape", t("flat"), (x, const("flat_shape", np.array(shape[:-2] + [n * n], np.int64))), (t("flat"),))]
    entry = {}
    for i in range(n * n):
        parts.append(Node("Gather", t(f"e{i}"), (t("flat"), const(f"at{i}", np.array(i, np.int64))), (t(f"e{i}"),),
                          {"axis": -1}))
        entry[i] = t(f"e{i}")
    perms = list(itertools.permutations(range(n)))  # the first is the identity: a positive term
    total = None
    for k, perm in enumerate(perms):
        term = entry[perm[0]]
        for row in range(1, n):
            parts.append(Node("Mul", t(f"p{k}_{row}"), (term, entry[row * n + perm[row]]), (t(f"p{k}_{row}"),)))
            term = t(f"p{k}_{row}")
        if total is None:
            total = term
            continue
        odd = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n)) % 2
        out = node.outputs[0] if k == len(perms) - 1 else t(f"s{k}")
        parts.append(Node("Sub" if odd else "Add", t(f"s{k}"), (total, term), (out,)))
        total = out
    if n == 1:
        return (*parts, Node("Identity", node.name, (total,), node.outputs))
    return tuple(parts)


def _batchnorm(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """BatchNormalization with runtime statistics or parameters, as elementwise nodes over
    per-channel [1, C, 1, ...] values; in training mode the statistics are the batch's own
    (mean, then the variance of the centred values) and the running mean and variance
    outputs are input * momentum + batch * (1 - momentum), as ONNX defines."""
    x, scale, bias, mean, var = node.inputs[:5]
    shape = list(graph.types[x].shape)
    channel = const("channel", np.array([1, shape[1]] + [1] * (len(shape) - 2), np.int64))
    eps = const("eps", np.float32(node.attrs.get("epsilon", 1e-5)))
    parts = [Node("Reshape", t(f"{tag}_r"), (name, channel), (t(f"{tag}_c"),))
             for tag, name in (("scale", scale), ("bias", bias), ("mean", mean), ("var", var))]
    training = node.attrs.get("training_mode", 0)
    mean_c, var_c = t("mean_c"), t("var_c")
    if training:
        axes = const("axes", np.array([0] + list(range(2, len(shape))), np.int64))
        parts += [Node("ReduceMean", t("batch_mean"), (x, axes), (t("batch_mean"),), {"keepdims": 1}),
                  Node("Sub", t("centred0"), (x, t("batch_mean")), (t("centred0"),)),
                  Node("Mul", t("square"), (t("centred0"), t("centred0")), (t("square"),)),
                  Node("ReduceMean", t("batch_var"), (t("square"), axes), (t("batch_var"),), {"keepdims": 1})]
        mean_c, var_c = t("batch_mean"), t("batch_var")
    parts += [Node("Sub", t("centred"), (x, mean_c), (t("centred"),)),
              Node("Add", t("var_eps"), (var_c, eps), (t("var_eps"),)),
              Node("Sqrt", t("std"), (t("var_eps"),), (t("std"),)),
              Node("Div", t("normed"), (t("centred"), t("std")), (t("normed"),)),
              Node("Mul", t("scaled"), (t("normed"), t("scale_c")), (t("scaled"),)),
              Node("Add", node.name, (t("scaled"), t("bias_c")), node.outputs[:1])]
    outputs = list(node.outputs) + [""] * 3
    if training:
        momentum = float(node.attrs.get("momentum", 0.9))
        flat = const("flat", np.array([shape[1]], np.int64))
        for k, (tag, running, batch) in enumerate((("mean", mean, t("batch_mean")), ("var", var, t("batch_var"))), 1):
            if not outputs[k]:
                continue
            parts += [Node("Mul", t(f"old_{tag}"), (running, const(f"m_{tag}", np.float32(momentum))), (t(f"old_{tag}"),)),
                      Node("Reshape", t(f"flat_{tag}"), (batch, flat), (t(f"flat_{tag}"),)),
                      Node("Mul", t(f"new_{tag}"), (t(f"flat_{tag}"), const(f"1m_{tag}", np.float32(1 - momentum))),
                           (t(f"new_{tag}"),)),
                      Node("Add", t(f"running_{tag}"), (t(f"old_{tag}"), t(f"new_{tag}")), (outputs[k],))]
    return tuple(parts)


def _gather_nd(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """GatherND as a Gather from data flattened over its batch and indexed dimensions, at
    batch offset + sum of each (wrapped) index component times its stride."""
    data, indices = node.inputs[:2]
    dshape = list(graph.types[data].shape)
    ishape = list(graph.types[indices].shape)
    it = graph.types[indices].dtype
    b = int(node.attrs.get("batch_dims", 0))
    depth = ishape[-1]
    indexed = dshape[b:b + depth]
    block = int(np.prod(indexed, dtype=np.int64))
    strides = [int(np.prod(indexed[i + 1:], dtype=np.int64)) for i in range(depth)]
    lead = ishape[:-1]
    coords = np.indices(lead, dtype=np.int64)[:b] if b else []
    batch_linear = np.zeros(lead, np.int64)
    for axis in range(b):  # the batch position of each gathered item, in blocks of `block` rows
        batch_linear = batch_linear * dshape[axis] + coords[axis]
    ints = lambda tag, v: const(tag, np.array(v, np.int64))
    parts, total = [], const("base", (batch_linear * block).astype(it))
    for i in range(depth):
        component = t(f"c{i}")
        parts += [Node("Gather", t(f"pick{i}"), (indices, ints(f"at{i}", i)), (component,), {"axis": -1}),
                  Node("Less", t(f"neg{i}"), (component, const(f"zero{i}", np.array(0, it))), (t(f"neg{i}"),)),
                  Node("Add", t(f"up{i}"), (component, const(f"dim{i}", np.array(indexed[i], it))), (t(f"up{i}"),)),
                  Node("Where", t(f"wrap{i}"), (t(f"neg{i}"), t(f"up{i}"), component), (t(f"w{i}"),)),
                  Node("Mul", t(f"scale{i}"), (t(f"w{i}"), const(f"stride{i}", np.array(strides[i], it))), (t(f"s{i}"),)),
                  Node("Add", t(f"sum{i}"), (total, t(f"s{i}")), (t(f"sum{i}"),))]
        total = t(f"sum{i}")
    rows = int(np.prod(dshape[:b + depth], dtype=np.int64))
    return (*parts, Node("Reshape", t("rows"), (data, ints("rows_shape", [rows] + dshape[b + depth:])), (t("rows"),)),
            Node("Gather", node.name, (t("rows"), total), node.outputs, {"axis": 0}))
