"""Ops written as other ops at import (frontend.import_onnx calls them node by node): each
piece is typed and folded like any node, so ops that are compositions of ops with kernels
need no kernel of their own (docs/compiler.md, "Import")."""
from __future__ import annotations

from .decompose_more import decompose_more
from .errors import UnsupportedError
from .ir import Graph, Node, TensorType
from .convolution import (causal_conv_nodes, col2im_nodes, conv_3d_nodes, conv_transpose_nodes,
                          max_unpool_nodes, maxpool_indices_nodes)
from .nplike import np
from .ops import resolve_pads
from .einsum import einsum_nodes
from .flex_attention import flex_attention_nodes
from .quant import QUANT_OPS, quant_nodes
from .recurrent import RECURRENT, recurrent_nodes
from .sampling import affine_grid_nodes, deform_conv_nodes, grid_sample_nodes
from .scatter import SCATTERS, scatter_nodes
from .spectral import dft_nodes, stft_nodes
from .stateful import linear_attention_nodes
from .topk import topk_nodes

HYPERBOLIC = ("Tan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")
# Supported ops with no reference of their own: always rewritten.
DECOMPOSED_ONLY = ("Dropout", "Attention", "Swish", "OneHot", "CenterCropPad", "RotaryEmbedding", "ConvTranspose",
                   "CausalConvWithState", "GridSample", "AffineGrid", "Col2Im", "MaxUnpool", "DeformConv", "TopK",
                   *RECURRENT, *SCATTERS, "LinearAttention", "FlexAttention", "DFT", "STFT", "SwiGLU", "TensorScatter",
                   *QUANT_OPS, "Einsum")


def _decompose(node: Node, graph: Graph, opset: int = 19) -> tuple[Node, ...]:
    """Ops written as ops webjit has kernels for: ArgMin as ArgMax of -x, ReduceLogSum as Log of
    ReduceSum, Mean as Sum over n, RMSNormalization and LpNormalization as reductions and
    elementwise nodes. Each piece is typed (and folded) like any node."""
    def const(tag, value):
        name = f"{node.name}::{tag}"
        graph.constants[name] = np.asarray(value)
        graph.types[name] = TensorType(str(graph.constants[name].dtype), tuple(graph.constants[name].shape))
        return name
    t = lambda tag: f"{node.name}::{tag}"
    if node.op in QUANT_OPS:  # quant.py
        return quant_nodes(node, graph, const)
    more = decompose_more(node, graph, const, t)
    if more is not None:
        return more
    rewrite = REWRITES.get(node.op)
    if rewrite is not None:
        return rewrite(node, graph, const, t)
    if node.op in RECURRENT:
        return recurrent_nodes(node, graph)
    if node.op == "TopK":
        return topk_nodes(node, graph)
    if node.op in SCATTERS:
        return scatter_nodes(node, graph)
    if node.op == "GatherElements" and node.inputs[1] not in graph.constants:
        # runtime indices: a Gather from the flattened data at index * stride + the other coordinates
        shape = graph.types[node.inputs[0]].shape
        ishape = graph.types[node.inputs[1]].shape
        itype = graph.types[node.inputs[1]].dtype
        axis = node.attrs.get("axis", 0) % len(shape)
        coords = list(np.indices(ishape))
        coords[axis] = np.zeros(ishape, dtype=np.int64)
        base = np.ravel_multi_index(tuple(coords), shape).astype(itype) if all(ishape) else np.zeros(ishape, itype)
        stride = int(np.prod(shape[axis + 1:]))
        i = node.inputs[1]
        return (Node("Less", t("negative"), (i, const("zero", np.array(0, itype))), (t("negative"),)),
                Node("Add", t("wrapped"), (i, const("n", np.array(shape[axis], itype))), (t("wrapped"),)),
                Node("Where", t("index"), (t("negative"), t("wrapped"), i), (t("index"),)),
                Node("Mul", t("scaled"), (t("index"), const("stride", np.array(stride, itype))), (t("scaled"),)),
                Node("Add", t("flat"), (t("scaled"), const("base", base)), (t("flat"),)),
                Node("Reshape", t("data"), (node.inputs[0], const("all", np.array([-1], np.int64))), (t("data"),)),
                Node("Gather", node.name, (t("data"), t("flat")), node.outputs, {"axis": 0}))
    if node.op == "MaxPool" and len(node.outputs) > 1 and node.outputs[1]:
        return maxpool_indices_nodes(node, graph, const, t)
    if node.op == "Conv" and len(graph.types[node.inputs[0]].shape) == 5:
        return conv_3d_nodes(node, graph, const, t)
    if node.op in ("Conv", "MaxPool", "AveragePool", "LpPool") and len(graph.types[node.inputs[0]].shape) == 3:
        return _as_2d(node, graph, const, t)
    if node.op in ("MaxPool", "AveragePool") and len(graph.types[node.inputs[0]].shape) == 5:
        return _pool_3d(node, graph, const, t)
    if node.op == "Split" and not (len(node.inputs) > 1 and node.inputs[1]) and "num_outputs" not in node.attrs:
        return (Node(node.op, node.name, node.inputs, node.outputs, {**node.attrs, "num_outputs": len(node.outputs)}),)
    if node.op in ("LpPool", "GlobalLpPool"):
        p = float(node.attrs.get("p", 2))
        x = node.inputs[0]
        rank = len(graph.types[x].shape)
        parts = [Node("Abs", t("abs"), (x,), (t("abs"),)),
                 Node("Pow", t("pow"), (t("abs"), const("p", np.float32(p))), (t("pow"),))]
        if node.op == "GlobalLpPool":
            parts.append(Node("ReduceSum", t("sum"), (t("pow"), const("axes", np.arange(2, rank, dtype=np.int64))),
                              (t("sum"),), {"keepdims": 1}))
        else:  # the window sum: the average with padding counted, times the window size
            attrs = {k: v for k, v in node.attrs.items() if k != "p"}
            size = float(np.prod(attrs.get("kernel_shape", [1])))
            parts += [Node("AveragePool", t("avg"), (t("pow"),), (t("avg"),), {**attrs, "count_include_pad": 1}),
                      Node("Mul", t("sum"), (t("avg"), const("size", np.float32(size))), (t("sum"),))]
        return (*parts, Node("Pow", node.name, (t("sum"), const("inv_p", np.float32(1.0 / p))), node.outputs))
    if (node.op == "Conv" and len(node.inputs) > 1 and node.inputs[1] not in graph.constants
            and len(graph.types[node.inputs[0]].shape) == 4):
        return _runtime_weight_conv(node, graph, const, t)
    if node.op in ("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"):
        return _loss_nodes(node, graph, const, t)
    if node.op == "DFT":
        return dft_nodes(node, graph, const, t, opset)
    if node.op in HYPERBOLIC:
        x, y = node.inputs[0], node.outputs
        dt = graph.types[x].dtype
        one, half = const("one", np.array(1, dt)), const("half", np.array(0.5, dt))
        if node.op == "Tan":
            return (Node("Sin", t("sin"), (x,), (t("sin"),)), Node("Cos", t("cos"), (x,), (t("cos"),)),
                    Node("Div", node.name, (t("sin"), t("cos")), y))
        if node.op in ("Sinh", "Cosh"):  # (e^x -+ e^-x) / 2
            return (Node("Exp", t("exp"), (x,), (t("exp"),)), Node("Neg", t("neg"), (x,), (t("neg"),)),
                    Node("Exp", t("expneg"), (t("neg"),), (t("expneg"),)),
                    Node("Sub" if node.op == "Sinh" else "Add", t("both"), (t("exp"), t("expneg")), (t("both"),)),
                    Node("Mul", node.name, (t("both"), half), y))
        if node.op in ("Asinh", "Acosh"):  # log(|x| + sqrt(x^2 -+ 1)), Asinh odd in x
            parts = [Node("Mul", t("square"), (x, x), (t("square"),)),
                     Node("Add" if node.op == "Asinh" else "Sub", t("shifted"), (t("square"), one), (t("shifted"),)),
                     Node("Sqrt", t("root"), (t("shifted"),), (t("root"),))]
            if node.op == "Acosh":
                return (*parts, Node("Add", t("sum"), (x, t("root")), (t("sum"),)), Node("Log", node.name, (t("sum"),), y))
            return (*parts, Node("Abs", t("abs"), (x,), (t("abs"),)), Node("Add", t("sum"), (t("abs"), t("root")), (t("sum"),)),
                    Node("Log", t("log"), (t("sum"),), (t("log"),)), Node("Sign", t("sign"), (x,), (t("sign"),)),
                    Node("Mul", node.name, (t("log"), t("sign")), y))
        # Atanh: log((1 + x) / (1 - x)) / 2
        return (Node("Add", t("up"), (one, x), (t("up"),)), Node("Sub", t("down"), (one, x), (t("down"),)),
                Node("Div", t("ratio"), (t("up"), t("down")), (t("ratio"),)), Node("Log", t("log"), (t("ratio"),), (t("log"),)),
                Node("Mul", node.name, (t("log"), half), y))
    if node.op == "Swish":  # x * sigmoid(alpha x)
        x = node.inputs[0]
        return (Node("Mul", t("ax"), (x, const("alpha", np.float32(node.attrs.get("alpha", 1.0)))), (t("ax"),)),
                Node("Sigmoid", t("sig"), (t("ax"),), (t("sig"),)), Node("Mul", node.name, (x, t("sig")), node.outputs))
    if node.op == "SwiGLU":  # a * sigmoid(alpha a) * b
        a, b = node.inputs[:2]
        if graph.types[a].shape != graph.types[b].shape:
            raise UnsupportedError(f"SwiGLU '{node.name}' has inputs of shapes {list(graph.types[a].shape)} and "
                                   f"{list(graph.types[b].shape)}; ONNX requires the same shape (no broadcasting)")
        return (Node("Mul", t("ax"), (a, const("alpha", np.float32(node.attrs.get("alpha", 1.0)))), (t("ax"),)),
                Node("Sigmoid", t("sig"), (t("ax"),), (t("sig"),)), Node("Mul", t("swish"), (a, t("sig")), (t("swish"),)),
                Node("Mul", node.name, (t("swish"), b), node.outputs))
    if node.op == "CenterCropPad":
        shape = list(graph.types[node.inputs[0]].shape)
        target = node.inputs[1]
        if target not in graph.constants:
            hint = f"; bind it with --const {target}=VALUE" if target in graph.inputs else ""
            raise UnsupportedError(f"CenterCropPad '{node.name}' takes its shape from '{target}', which webjit needs at "
                                   f"compile time{hint}")
        axes = [int(a) % len(shape) for a in node.attrs.get("axes", range(len(shape)))]
        sizes = [int(v) for v in graph.constants[target]]
        starts, ends, crop_axes, pads = [], [], [], [0] * (2 * len(shape))
        for axis, size in zip(axes, sizes):
            if size < shape[axis]:  # a centred window
                start = (shape[axis] - size) // 2
                starts.append(start), ends.append(start + size), crop_axes.append(axis)
            elif size > shape[axis]:  # centred in zeros
                pads[axis] = (size - shape[axis]) // 2
                pads[axis + len(shape)] = size - shape[axis] - pads[axis]
        current, parts = node.inputs[0], []
        if crop_axes:
            parts.append(Node("Slice", t("crop"), (current, const("starts", np.array(starts, np.int64)),
                                                   const("ends", np.array(ends, np.int64)),
                                                   const("axes", np.array(crop_axes, np.int64))), (t("cropped"),)))
            current = t("cropped")
        if any(pads):
            parts.append(Node("Pad", t("pad"), (current, const("pads", np.array(pads, np.int64))), (t("padded"),)))
            current = t("padded")
        return (*parts, Node("Identity", node.name, (current,), node.outputs))
    if node.op == "Hardmax":  # 1 where the first maximum of the axis is, else 0
        shape = graph.types[node.inputs[0]].shape
        axis = node.attrs.get("axis", -1) % len(shape)
        positions = np.arange(shape[axis], dtype=np.int64).reshape([-1 if d == axis else 1 for d in range(len(shape))])
        return (Node("ArgMax", t("argmax"), node.inputs[:1], (t("argmax"),), {"axis": axis, "keepdims": 1}),
                Node("Equal", t("hit"), (const("positions", positions), t("argmax")), (t("hit"),)),
                Node("Cast", node.name, (t("hit"),), node.outputs, {"to": 1}))
    if node.op in ("Resize", "Upsample"):
        return _resize_nodes(node, graph, const, t, 9 if node.op == "Upsample" else opset)
    if node.op == "ArgMin":
        dtype = graph.types[node.inputs[0]].dtype
        if dtype != "float32":  # -1 - x reverses integer order with no overflow at the minimum, unlike Neg
            return (Node("Sub", t("neg"), (const("minus_one", np.array(-1, dtype)), node.inputs[0]), (t("neg"),)),
                    Node("ArgMax", node.name, (t("neg"),), node.outputs, node.attrs))
        return (Node("Neg", t("neg"), node.inputs[:1], (t("neg"),)),
                Node("ArgMax", node.name, (t("neg"),), node.outputs, node.attrs))
    if node.op == "ReduceLogSum":
        return (Node("ReduceSum", t("sum"), node.inputs, (t("sum"),), node.attrs),
                Node("Log", node.name, (t("sum"),), node.outputs))
    if node.op == "Mean":
        inputs = [n for n in node.inputs if n]
        dtype = graph.types[inputs[0]].dtype
        return (*_pairwise(Node("Sum", t("sum"), tuple(inputs), (t("sum"),))),
                Node("Div", node.name, (t("sum"), const("count", np.array(len(inputs), dtype=dtype))), node.outputs))
    if node.op == "RMSNormalization":
        rank = len(graph.types[node.inputs[0]].shape)
        axis = node.attrs.get("axis", -1) % max(rank, 1)
        x = node.inputs[0]
        return (Node("Mul", t("square"), (x, x), (t("square"),)),
                Node("ReduceMean", t("mean"), (t("square"), const("axes", np.arange(axis, rank, dtype=np.int64))),
                     (t("mean"),), {"keepdims": 1}),
                Node("Add", t("add"), (t("mean"), const("epsilon", np.float32(node.attrs.get("epsilon", 1e-5)))),
                     (t("add"),)),
                Node("Sqrt", t("sqrt"), (t("add"),), (t("sqrt"),)),
                Node("Div", t("div"), (x, t("sqrt")), (t("div"),)),
                Node("Mul", node.name, (t("div"), node.inputs[1]), node.outputs))
    if node.op == "LpNormalization":
        p = node.attrs.get("p", 2)
        if p not in (1, 2):
            raise UnsupportedError(f"LpNormalization '{node.name}' has p={p}; ONNX defines p 1 and 2")
        axes = const("axes", np.array([node.attrs.get("axis", -1)], dtype=np.int64))
        zero = const("zero", np.float32(0))
        return (Node("ReduceL1" if p == 1 else "ReduceL2", t("norm"), (node.inputs[0], axes), (t("norm"),),
                     {"keepdims": 1}),
                Node("Div", t("div"), (node.inputs[0], t("norm")), (t("div"),)),
                Node("Equal", t("empty"), (t("norm"), zero), (t("empty"),)),  # a zero vector stays zero
                Node("Where", node.name, (t("empty"), zero, t("div")), node.outputs))
    return (node,)


def _resize_nodes(node: Node, graph: Graph, const, t, opset: int) -> tuple[Node, ...]:
    """Resize as a Gather (nearest) or a MatMul by a constant matrix per resized axis (resize.py).
    Before opset 11 (and Upsample) the second input is the scales."""
    from .resize import resize_maps
    roles = ((1, "scales"),) if opset < 11 else ((1, "roi"), (2, "scales"), (3, "sizes"))
    for position, what in roles:
        name = node.inputs[position] if position < len(node.inputs) else ""
        if name and name not in graph.constants:
            hint = f"; bind it with --const {name}=VALUE" if name in graph.inputs else ""
            raise UnsupportedError(f"Resize '{node.name}' takes its {what} from '{name}', which webjit needs at "
                                   f"compile time{hint}")
    x = node.inputs[0]
    xt = graph.types[x]
    value = lambda position: graph.constants.get(node.inputs[position]) if position < len(node.inputs) and \
        node.inputs[position] else None
    if opset < 11:
        maps = resize_maps(node.name, xt.shape, None, value(1), None, node.attrs, opset)
    else:
        maps = resize_maps(node.name, xt.shape, value(1), value(2), value(3), node.attrs, opset)
    if any(m.indices is None for m in maps) and xt.dtype != "float32":
        raise UnsupportedError(f"Resize '{node.name}' interpolates {xt.dtype} values; webjit interpolates float32")
    parts, current, shape = [], x, list(xt.shape)
    for k, m in enumerate(maps):
        result = node.outputs[0] if k == len(maps) - 1 else t(f"axis{m.axis}")
        raw = result if m.outside is None else t(f"raw{m.axis}")
        if m.indices is not None:
            parts.append(Node("Gather", t(f"gather{m.axis}"), (current, const(f"idx{m.axis}", m.indices)), (raw,),
                              {"axis": m.axis}))
        elif m.axis == len(shape) - 1:
            parts.append(Node("MatMul", t(f"mm{m.axis}"),
                              (current, const(f"w{m.axis}", m.weights.T.astype(np.float32))), (raw,)))
        else:
            pre, post = int(np.prod(shape[:m.axis])), int(np.prod(shape[m.axis + 1:]))
            rows = (t(f"rows{m.axis}"), t(f"mm{m.axis}"))
            after = shape[:m.axis] + [m.size] + shape[m.axis + 1:]
            parts += [Node("Reshape", t(f"in{m.axis}"),
                           (current, const(f"s{m.axis}", np.array([pre, shape[m.axis], post], np.int64))), (rows[0],)),
                      Node("MatMul", t(f"mm{m.axis}"), (const(f"w{m.axis}", m.weights.astype(np.float32)), rows[0]),
                           (rows[1],)),
                      Node("Reshape", t(f"out{m.axis}"), (rows[1], const(f"t{m.axis}", np.array(after, np.int64))),
                           (raw,))]
        shape[m.axis] = m.size
        if m.outside is not None:  # tf_crop_and_resize: outside the input, the extrapolation value
            mask = m.outside.reshape([-1 if d == m.axis else 1 for d in range(len(shape))])
            parts.append(Node("Where", t(f"extrapolate{m.axis}"),
                              (const(f"outside{m.axis}", mask), const(f"value{m.axis}", np.float32(m.extrapolation)), raw),
                              (result,)))
        current = result
    if not maps:
        parts.append(Node("Identity", node.name, (x,), node.outputs[:1]))
    return tuple(parts)


def _runtime_weight_conv(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """A Conv whose filter is computed at run time: the image's columns gathered at constant
    indices (im2col, over the zero-padded image), then a MatMul by the filter as a matrix,
    batched over the groups ([g, M/g, C/g*k] x [N, g, C/g*k, P])."""
    n, c, h, w = graph.types[node.inputs[0]].shape
    m, cg, kh, kw = graph.types[node.inputs[1]].shape
    a = node.attrs
    group = a.get("group", 1)
    strides = tuple(a.get("strides") or (1, 1))
    dilations = tuple(a.get("dilations") or (1, 1))
    top, left, bottom, right = resolve_pads(a.get("auto_pad", "NOTSET"), a.get("pads"), (h, w), (kh, kw), strides,
                                            dilations)
    hp, wp = h + top + bottom, w + left + right
    oh = (hp - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (wp - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    ci, ky, kx, oy, ox = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), np.arange(oh), np.arange(ow),
                                     indexing="ij")
    index = ci * hp * wp + (oy * strides[0] + ky * dilations[0]) * wp + ox * strides[1] + kx * dilations[1]
    index = index.reshape(c * kh * kw, oh * ow).astype(np.int64)
    x = node.inputs[0]
    parts = [Node("Pad", t("pad"), (x, const("pads", np.array([0, 0, top, left, 0, 0, bottom, right], np.int64))),
                  (t("padded"),)),
             Node("Reshape", t("flat"), (t("padded"), const("flat_shape", np.array([n, c * hp * wp], np.int64))),
                  (t("flat"),)),
             Node("Gather", t("columns"), (t("flat"), const("index", index)), (t("columns"),), {"axis": 1}),
             Node("Reshape", t("grouped"), (t("columns"), const("grouped_shape", np.array(
                 [n, group, cg * kh * kw, oh * ow], np.int64))), (t("grouped"),)),
             Node("Reshape", t("filter"), (node.inputs[1], const("filter_shape", np.array(
                 [group, m // group, cg * kh * kw], np.int64))), (t("filter"),)),
             Node("MatMul", t("product"), (t("filter"), t("grouped")), (t("product"),)),
             Node("Reshape", t("mm"), (t("product"), const("mm_shape", np.array([n, m, oh * ow], np.int64))), (t("mm"),))]
    result = t("mm")
    if len(node.inputs) > 2 and node.inputs[2]:
        parts += [Node("Reshape", t("bias"), (node.inputs[2], const("bias_shape", np.array([m, 1], np.int64))),
                       (t("bias"),)),
                  Node("Add", t("biased"), (t("mm"), t("bias")), (t("biased"),))]
        result = t("biased")
    return (*parts, Node("Reshape", node.name, (result, const("out_shape", np.array([n, m, oh, ow], np.int64))),
                         node.outputs))


def _attention_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """Attention (opset 23) as MatMul, Softmax and masks: 3-d inputs split into heads, past keys
    and values concatenated (the present outputs), grouped kv heads repeated, the scale, softcap,
    a bool or float mask and the causal mask (offset by the past) added, fully masked rows 0."""
    a = node.attrs
    ins = list(node.inputs) + [""] * (7 - len(node.inputs))
    q, k, v, mask, past_k, past_v, nonpad = ins[:7]
    if nonpad and past_k:
        raise UnsupportedError(f"Attention '{node.name}' takes both nonpad_kv_seqlen and past_key, which ONNX forbids")
    outs = list(node.outputs) + [""] * (4 - len(node.outputs))
    qs, ks, vs = (graph.types[n].shape for n in (q, k, v))
    parts = []
    three_d = len(qs) == 3
    if three_d:
        hq, hkv = a.get("q_num_heads"), a.get("kv_num_heads")
        if not hq or not hkv:
            raise UnsupportedError(f"Attention '{node.name}' has 3-d inputs without q_num_heads and kv_num_heads")
        heads = []
        for name, shape, h, tag in ((q, qs, hq, "q"), (k, ks, hkv, "k"), (v, vs, hkv, "v")):
            parts += [Node("Reshape", t(f"{tag}split"), (name, const(f"{tag}shape", np.array(
                [shape[0], shape[1], h, shape[2] // h], np.int64))), (t(f"{tag}split"),)),
                      Node("Transpose", t(f"{tag}heads"), (t(f"{tag}split"),), (t(f"{tag}heads"),), {"perm": [0, 2, 1, 3]})]
            heads.append(t(f"{tag}heads"))
        q, k, v = heads
        batch, sq, d = qs[0], qs[1], qs[2] // hq
        dv = vs[2] // hkv
    else:
        batch, hq, sq, d = qs
        hkv, dv = ks[1], vs[3]
    past = graph.types[past_k].shape[2] if past_k else 0
    for name, past_name, out, tag in ((k, past_k, outs[1], "k"), (v, past_v, outs[2], "v")):
        if past_name:
            target = out or t(f"present_{tag}")
            parts.append(Node("Concat", t(f"concat_{tag}"), (past_name, name), (target,), {"axis": 2}))
        elif out:
            parts.append(Node("Identity", t(f"present_{tag}"), (name,), (out,)))
            target = out
        else:
            target = name
        if tag == "k":
            k = target
        else:
            v = target
    skv = (ks[1] if three_d else ks[2]) + past
    if hq != hkv:  # grouped kv heads: each serves hq / hkv query heads in turn
        reps = hq // hkv
        for tag in ("k", "v"):
            name = k if tag == "k" else v
            depth = d if tag == "k" else dv
            parts += [Node("Unsqueeze", t(f"{tag}grp"), (name, const(f"{tag}grp_axis", np.array([2], np.int64))),
                           (t(f"{tag}grp"),)),
                      Node("Expand", t(f"{tag}rep"), (t(f"{tag}grp"), const(f"{tag}rep_shape", np.array(
                          [batch, hkv, reps, skv, depth], np.int64))), (t(f"{tag}rep"),)),
                      Node("Reshape", t(f"{tag}all"), (t(f"{tag}rep"), const(f"{tag}all_shape", np.array(
                          [batch, hq, skv, depth], np.int64))), (t(f"{tag}all"),))]
            if tag == "k":
                k = t("kall")
            else:
                v = t("vall")
    scale = a.get("scale") or 1.0 / np.sqrt(d)
    parts += [Node("Transpose", t("kt"), (k,), (t("kt"),), {"perm": [0, 1, 3, 2]}),
              Node("MatMul", t("qk"), (q, t("kt")), (t("qk"),)),
              Node("Mul", t("scaled"), (t("qk"), const("scale", np.float32(scale))), (t("scaled"),))]
    scores = t("scaled")
    softcap = a.get("softcap", 0.0)
    if softcap and softcap > 0:
        parts += [Node("Div", t("capdiv"), (scores, const("cap", np.float32(softcap))), (t("capdiv"),)),
                  Node("Tanh", t("captanh"), (t("capdiv"),), (t("captanh"),)),
                  Node("Mul", t("capped"), (t("captanh"), const("cap2", np.float32(softcap))), (t("capped"),))]
        scores = t("capped")
    bias = None
    if mask:
        mshape = graph.types[mask].shape
        maskf = mask
        if graph.types[mask].dtype == "bool":
            parts.append(Node("Where", t("maskf"), (mask, const("m0", np.float32(0)), const("minf", np.float32(-np.inf))),
                              (t("maskf"),)))
            maskf = t("maskf")
        if mshape[-1] < skv:  # a mask shorter than the keys: the rest is masked
            pads = [0] * len(mshape) * 2
            pads[2 * len(mshape) - 1] = skv - mshape[-1]
            parts.append(Node("Pad", t("maskpad"), (maskf, const("maskpads", np.array(pads, np.int64)),
                                                    const("maskpadv", np.float32(-np.inf))), (t("maskpad"),)))
            maskf = t("maskpad")
        bias = maskf
    left, right = a.get("left_window_size", -1), a.get("right_window_size", -1)
    if nonpad:  # an external cache: batch b's keys from nonpad[b] on are padding
        parts += [Node("Reshape", t("valid"), (nonpad, const("valid_shape", np.array([batch, 1, 1, 1], np.int64))),
                       (t("valid"),)),
                  Node("Less", t("keyvalid"), (const("keypos", np.arange(skv, dtype=np.int64).reshape(1, 1, 1, skv)),
                                               t("valid")), (t("keyvalid"),)),
                  Node("Where", t("padbias"), (t("keyvalid"), const("p0", np.float32(0)),
                                               const("pinf", np.float32(-np.inf))), (t("padbias"),))]
        if bias:
            parts.append(Node("Add", t("maskpadded"), (bias, t("padbias")), (t("maskpadded"),)))
        bias = t("maskpadded") if bias else t("padbias")
    if a.get("is_causal", 0) or left >= 0 or right >= 0:  # query i (after the past) sees key j
        diff = np.arange(sq)[:, None] + past - np.arange(skv)[None, :]
        if nonpad:  # the past is per batch, nonpad[b] - sq: the window is computed at run time
            parts.append(Node("Add", t("diff"), (t("valid"), const("diff0", diff - sq)), (t("diff"),)))
            rules = [("GreaterOrEqual", 0)] if a.get("is_causal", 0) else []
            rules += [("LessOrEqual", left)] if left >= 0 else []
            rules += [("GreaterOrEqual", -right)] if right >= 0 else []
            allowed = None
            for i, (rule, bound) in enumerate(rules):
                parts.append(Node(rule, t(f"rule{i}"), (t("diff"), const(f"bound{i}", np.int64(bound))), (t(f"rule{i}"),)))
                if allowed:
                    parts.append(Node("And", t(f"allowed{i}"), (allowed, t(f"rule{i}")), (t(f"allowed{i}"),)))
                allowed = t(f"allowed{i}") if allowed else t(f"rule{i}")
            parts.append(Node("Where", t("windowf"), (allowed, const("w0f", np.float32(0)),
                                                      const("winf", np.float32(-np.inf))), (t("windowf"),)))
            window = t("windowf")
        else:
            allowed = diff >= 0 if a.get("is_causal", 0) else np.ones(diff.shape, dtype=bool)
            if left >= 0:
                allowed &= diff <= left
            if right >= 0:
                allowed &= -diff <= right
            window = const("window", np.where(allowed, 0, -np.inf).astype(np.float32))
        if bias:
            parts.append(Node("Add", t("bias"), (bias, window), (t("bias"),)))
            bias = t("bias")
        else:
            bias = window
    qk_out = scores
    if bias:
        parts.append(Node("Add", t("biased"), (scores, bias), (t("biased"),)))
        scores = t("biased")
        if a.get("qk_matmul_output_mode", 0) == 2:
            qk_out = scores
    parts.append(Node("Softmax", t("softmax"), (scores,), (t("softmax"),), {"axis": -1}))
    weights = t("softmax")
    if bias:  # a row with every key masked gives zeros, not NaN
        parts += [Node("ReduceMax", t("rowmax"), (bias, const("last", np.array([-1], np.int64))), (t("rowmax"),),
                       {"keepdims": 1}),
                  Node("Equal", t("allmasked"), (t("rowmax"), const("ninf", np.float32(-np.inf))), (t("allmasked"),)),
                  Node("Where", t("weights"), (t("allmasked"), const("w0", np.float32(0)), weights), (t("weights"),))]
        weights = t("weights")
    if a.get("qk_matmul_output_mode", 0) == 3:
        qk_out = weights
    if outs[3]:
        parts.append(Node("Identity", t("qk_out"), (qk_out,), (outs[3],)))
    y = outs[0] if not three_d else t("y4")
    parts.append(Node("MatMul", t("av"), (weights, v), (y,)))
    if three_d:
        parts += [Node("Transpose", t("ymerge"), (y,), (t("ymerge"),), {"perm": [0, 2, 1, 3]}),
                  Node("Reshape", node.name, (t("ymerge"), const("yshape", np.array([batch, sq, hq * dv], np.int64))),
                       (outs[0],))]
    return tuple(parts)


def _rotary_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """RotaryEmbedding (opset 23): the first rotary_embedding_dim values of each head rotated
    by the cached cos and sin of its position (halves, or interleaved pairs)."""
    x, cos, sin = node.inputs[:3]
    positions = node.inputs[3] if len(node.inputs) > 3 and node.inputs[3] else ""
    shape = list(graph.types[x].shape)
    a = node.attrs
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    parts = []
    if len(shape) == 4:
        b, h, sq, d = shape
        parts.append(Node("Transpose", t("bshd"), (x,), (t("bshd"),), {"perm": [0, 2, 1, 3]}))
    else:
        h = a.get("num_heads")
        if not h:
            raise UnsupportedError(f"RotaryEmbedding '{node.name}' has a 3-d input without num_heads")
        b, sq, d = shape[0], shape[1], shape[2] // h
        parts.append(Node("Reshape", t("split"), (x, ints("heads", [b, sq, h, d])), (t("bshd"),)))
    r = a.get("rotary_embedding_dim") or d
    half = r // 2
    slice_ = lambda tag, src, start, end, step=1: Node("Slice", t(tag), (src, ints(f"{tag}s", [start]), ints(
        f"{tag}e", [end]), ints(f"{tag}a", [3]), ints(f"{tag}p", [step])), (t(tag),))
    parts.append(slice_("rot", t("bshd"), 0, r))
    for tag, cache in (("cos", cos), ("sin", sin)):
        source = cache
        if positions:
            parts.append(Node("Gather", t(f"{tag}at"), (cache, positions), (t(f"{tag}at"),), {"axis": 0}))
            source = t(f"{tag}at")
        parts.append(Node("Unsqueeze", t(f"{tag}4"), (source, ints(f"{tag}axis", [2])), (t(f"{tag}4"),)))
    if a.get("interleaved", 0):
        parts += [slice_("x1", t("rot"), 0, r, 2), slice_("x2", t("rot"), 1, r, 2)]
    else:
        parts += [slice_("x1", t("rot"), 0, half), slice_("x2", t("rot"), half, r)]
    mul = lambda tag, u, v: Node("Mul", t(tag), (t(u), t(v)), (t(tag),))
    parts += [mul("c1", "cos4", "x1"), mul("s2", "sin4", "x2"), mul("s1", "sin4", "x1"), mul("c2", "cos4", "x2"),
              Node("Sub", t("real"), (t("c1"), t("s2")), (t("real"),)),
              Node("Add", t("imag"), (t("s1"), t("c2")), (t("imag"),))]
    if a.get("interleaved", 0):
        parts += [Node("Unsqueeze", t("re"), (t("real"), ints("last", [-1])), (t("re"),)),
                  Node("Unsqueeze", t("im"), (t("imag"), ints("last2", [-1])), (t("im"),)),
                  Node("Concat", t("pairs"), (t("re"), t("im")), (t("pairs"),), {"axis": -1}),
                  Node("Reshape", t("rotated"), (t("pairs"), ints("rshape", [b, sq, h, r])), (t("rotated"),))]
    else:
        parts.append(Node("Concat", t("rotated"), (t("real"), t("imag")), (t("rotated"),), {"axis": -1}))
    result = t("rotated")
    if r < d:
        parts += [slice_("rest", t("bshd"), r, d), Node("Concat", t("whole"), (t("rotated"), t("rest")), (t("whole"),),
                                                          {"axis": -1})]
        result = t("whole")
    if len(shape) == 4:
        return (*parts, Node("Transpose", node.name, (result,), node.outputs, {"perm": [0, 2, 1, 3]}))
    return (*parts, Node("Reshape", node.name, (result, ints("out", shape)), node.outputs))


def _one_hot_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """OneHot: the indices (negative ones counted from the end) compared with 0..depth-1 along
    the new axis, picking on or off from `values`."""
    indices, depth, values = node.inputs[:3]
    if depth not in graph.constants:
        hint = f"; bind it with --const {depth}=VALUE" if depth in graph.inputs else ""
        raise UnsupportedError(f"OneHot '{node.name}' takes its depth from '{depth}', which webjit needs at compile "
                               f"time{hint}")
    d = int(np.asarray(graph.constants[depth]).reshape(-1)[0])
    it = graph.types[indices]
    rank = len(it.shape) + 1
    axis = node.attrs.get("axis", -1) % rank
    positions = np.arange(d).reshape([-1 if k == axis else 1 for k in range(rank)]).astype(it.dtype)
    return (Node("Less", t("negative"), (indices, const("zero", np.array(0, it.dtype))), (t("negative"),)),
            Node("Add", t("wrapped"), (indices, const("depth", np.array(d, it.dtype))), (t("wrapped"),)),
            Node("Where", t("index"), (t("negative"), t("wrapped"), indices), (t("index"),)),
            Node("Unsqueeze", t("expanded"), (t("index"), const("axis", np.array([axis], np.int64))), (t("expanded"),)),
            Node("Equal", t("hit"), (t("expanded"), const("positions", positions)), (t("hit"),)),
            Node("Gather", t("off"), (values, const("i0", np.array(0, np.int64))), (t("off"),), {"axis": 0}),
            Node("Gather", t("on"), (values, const("i1", np.array(1, np.int64))), (t("on"),), {"axis": 0}),
            Node("Where", node.name, (t("hit"), t("on"), t("off")), node.outputs))


def _loss_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """NegativeLogLikelihoodLoss (and SoftmaxCrossEntropyLoss: LogSoftmax over the classes, then
    it) as a gather of each target's value, its class weight, and a sum or weighted mean."""
    scores, target = node.inputs[0], node.inputs[1]
    weight = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
    dtype = graph.types[scores].dtype
    parts = []
    log_prob = scores
    if node.op == "SoftmaxCrossEntropyLoss":
        log_prob = node.outputs[1] if len(node.outputs) > 1 and node.outputs[1] else t("log_prob")
        parts.append(Node("LogSoftmax", t("logsoftmax"), (scores,), (log_prob,), {"axis": 1}))
    ignore = node.attrs.get("ignore_index")
    ttype = graph.types[target].dtype
    safe = target
    if ignore is not None:
        parts += [Node("Equal", t("ignored"), (target, const("ignore", np.array(ignore, ttype))), (t("ignored"),)),
                  Node("Where", t("safe"), (t("ignored"), const("zero_index", np.array(0, ttype)), target), (t("safe"),))]
        safe = t("safe")
    parts += [Node("Unsqueeze", t("index"), (safe, const("axis", np.array([1], np.int64))), (t("index"),)),
              Node("GatherElements", t("picked"), (log_prob, t("index")), (t("picked"),), {"axis": 1}),
              Node("Squeeze", t("value"), (t("picked"), const("axis1", np.array([1], np.int64))), (t("value"),))]
    weighted = t("value")
    weights = None
    if weight:
        parts.append(Node("Gather", t("weights"), (weight, safe), (t("weights"),), {"axis": 0}))
        weights = t("weights")
    if ignore is not None:
        parts.append(Node("Where", t("kept"), (t("ignored"), const("zero", np.array(0, dtype)),
                                               weights or const("one", np.array(1, dtype))), (t("kept"),)))
        weights = t("kept")
    if weights:
        parts.append(Node("Mul", t("weighted"), (t("value"), weights), (t("weighted"),)))
        weighted = t("weighted")
    reduction = node.attrs.get("reduction", "mean")
    loss = node.outputs[0]
    if reduction == "none":
        return (*parts, Node("Neg", t("neg"), (weighted,), (loss,)))
    parts.append(Node("Neg", t("neg"), (weighted,), (t("losses"),)))
    if reduction == "sum" or (reduction == "mean" and weights is None):
        op = "ReduceSum" if reduction == "sum" else "ReduceMean"
        return (*parts, Node(op, t("reduce"), (t("losses"),), (loss,), {"keepdims": 0}))
    if reduction != "mean":
        raise UnsupportedError(f"{node.op} '{node.name}' has reduction {reduction!r}; ONNX defines none, sum and mean")
    return (*parts, Node("ReduceSum", t("total"), (t("losses"),), (t("total"),), {"keepdims": 0}),
            Node("ReduceSum", t("weight_total"), (weights,), (t("weight_total"),), {"keepdims": 0}),
            Node("Div", t("mean"), (t("total"), t("weight_total")), (loss,)))


def _pool_3d(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """A 3-d MaxPool or AveragePool as two 2-d ones: the window is a box, so the max (or the mean
    over its valid elements) over (h, w) and then over d is the same as over the box."""
    n, c, d, h, w = graph.types[node.inputs[0]].shape
    a = dict(node.attrs)
    k = list(a.get("kernel_shape"))
    s = list(a.get("strides") or [1, 1, 1])
    dil = list(a.get("dilations") or [1, 1, 1])
    pads = list(a.get("pads") or [0] * 6)
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        for i, size in enumerate((d, h, w)):
            out = -(-size // s[i])
            total = max(0, (out - 1) * s[i] + dil[i] * (k[i] - 1) + 1 - size)
            small, big = total // 2, total - total // 2
            pads[i], pads[i + 3] = (small, big) if auto == "SAME_UPPER" else (big, small)
    elif auto == "VALID":
        pads = [0] * 6
    common = {key: a[key] for key in ("ceil_mode", "count_include_pad") if key in a}
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    first = {**common, "kernel_shape": k[1:], "strides": s[1:], "dilations": dil[1:], "pads": [pads[1], pads[2], pads[4], pads[5]]}
    second = {**common, "kernel_shape": [k[0], 1], "strides": [s[0], 1], "dilations": [dil[0], 1],
              "pads": [pads[0], 0, pads[3], 0]}
    out_hw = [t("hw")]
    return (Node("Reshape", t("planes"), (node.inputs[0], ints("planes_shape", [n, c * d, h, w])), (t("planes"),)),
            Node(node.op, t("hw"), (t("planes"),), tuple(out_hw), first),
            Node("Shape", t("hw_shape"), (t("hw"),), (t("hw_shape"),)),
            Node("Gather", t("hw_dims"), (t("hw_shape"), ints("hw_at", [2, 3])), (t("hw_dims"),), {"axis": 0}),
            Node("ReduceProd", t("hw_size"), (t("hw_dims"), ints("hw_axes", [0])), (t("hw_size"),), {"keepdims": 1}),
            Node("Concat", t("depth_shape"), (ints("nc_d", [n, c, d]), t("hw_size")), (t("depth_shape"),), {"axis": 0}),
            Node("Reshape", t("depth"), (t("hw"), t("depth_shape")), (t("depth"),)),
            Node(node.op, t("dhw"), (t("depth"),), (t("dhw"),), second),
            Node("Shape", t("d_shape"), (t("dhw"),), (t("d_shape"),)),
            Node("Gather", t("d_out"), (t("d_shape"), ints("d_at", [2])), (t("d_out"),), {"axis": 0}),
            Node("Concat", t("out_shape"), (ints("nc", [n, c]), t("d_out"), t("hw_dims")), (t("out_shape"),), {"axis": 0}),
            Node("Reshape", node.name, (t("dhw"), t("out_shape")), node.outputs[:1]))


def _as_2d(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """A 1-d Conv or pooling as the 2-d one over [N, C, 1, L] (and a [M, C/g, 1, k] filter)."""
    a = dict(node.attrs)
    for key, fill in (("kernel_shape", 1), ("strides", 1), ("dilations", 1)):
        if key in a:
            a[key] = [fill] + list(a[key])
    if "pads" in a:
        a["pads"] = [0, a["pads"][0], 0, a["pads"][1]]
    inputs = [t("x2d")] + list(node.inputs[1:])
    parts = [Node("Unsqueeze", t("unsqueeze"), (node.inputs[0], const("axis", np.array([2], np.int64))), (t("x2d"),))]
    if node.op == "Conv":
        parts.append(Node("Unsqueeze", t("unsqueeze_w"), (node.inputs[1], const("axis_w", np.array([2], np.int64))),
                          (t("w2d"),)))
        inputs[1] = t("w2d")
    return (*parts, Node(node.op, node.name, tuple(inputs), (t("y2d"),), a),
            Node("Squeeze", t("squeeze"), (t("y2d"), const("axis_out", np.array([2], np.int64))), node.outputs[:1]))


def _pairwise(node: Node) -> tuple[Node, ...]:
    """Sum, Max and Min of more than two inputs as a chain of two-input nodes, so that fusion
    can split a wide one into kernels that bind few enough buffers."""
    inputs = [name for name in node.inputs if name]
    if node.op not in ("Sum", "Max", "Min") or len(inputs) <= 2:
        return (node,)
    op = "Add" if node.op == "Sum" else node.op
    parts, last = [], inputs[0]
    for i, name in enumerate(inputs[1:], 1):
        out = node.outputs[0] if i == len(inputs) - 1 else f"{node.name}::{i}"
        parts.append(Node(op, f"{node.name}::{i}" if out != node.outputs[0] else node.name, (last, name), (out,)))
        last = out
    return tuple(parts)


def _layernorm_stats(node: Node, graph: Graph) -> tuple[Node, ...]:
    """LayerNormalization's optional Mean and InvStdDev outputs, when asked for, as nodes of
    their own (ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Reciprocal): the normalisation
    kernel writes only Y."""
    if node.op != "LayerNormalization" or not any(node.outputs[1:]):
        return (node,)
    shape = graph.types[node.inputs[0]].shape
    axis = node.attrs.get("axis", -1) % max(len(shape), 1)
    stem = f"{node.name}::stats"
    consts = {"axes": np.array(list(range(axis, len(shape))), dtype=np.int64),
              "epsilon": np.array(node.attrs.get("epsilon", 1e-5), dtype=np.float32)}
    for tag, value in consts.items():
        graph.constants[f"{stem}::{tag}"] = value
        graph.types[f"{stem}::{tag}"] = TensorType(str(value.dtype), tuple(value.shape))
    mean = node.outputs[1] or f"{stem}::mean"
    x, axes, eps = node.inputs[0], f"{stem}::axes", f"{stem}::epsilon"
    parts = [Node(node.op, node.name, node.inputs, node.outputs[:1], node.attrs),
             Node("ReduceMean", f"{stem}::mean", (x, axes), (mean,), {"keepdims": 1})]
    if len(node.outputs) > 2 and node.outputs[2]:
        d, sq, var, shifted, std = (f"{stem}::{t}" for t in ("d", "sq", "var", "shifted", "std"))
        parts += [Node("Sub", f"{stem}::sub", (x, mean), (d,)), Node("Mul", f"{stem}::square", (d, d), (sq,)),
                  Node("ReduceMean", f"{stem}::var", (sq, axes), (var,), {"keepdims": 1}),
                  Node("Add", f"{stem}::add", (var, eps), (shifted,)), Node("Sqrt", f"{stem}::sqrt", (shifted,), (std,)),
                  Node("Reciprocal", f"{stem}::inv", (std,), (node.outputs[2],))]
    return tuple(parts)


# Ops whose rewrite is one function of (node, graph, const, t), looked up by name.
REWRITES = {
    "Einsum": einsum_nodes,
    "ConvTranspose": conv_transpose_nodes,
    "CausalConvWithState": causal_conv_nodes,
    "MaxUnpool": max_unpool_nodes,
    "Col2Im": col2im_nodes,
    "DeformConv": deform_conv_nodes,
    "GridSample": grid_sample_nodes,
    "AffineGrid": affine_grid_nodes,
    "Attention": _attention_nodes,
    "FlexAttention": flex_attention_nodes,
    "STFT": stft_nodes,
    "LinearAttention": linear_attention_nodes,
    "OneHot": _one_hot_nodes,
    "RotaryEmbedding": _rotary_nodes,
}
