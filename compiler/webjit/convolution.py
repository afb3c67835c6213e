"""ConvTranspose and 3-d Conv written as the 2-d Conv webjit has kernels for (decompose.py calls
these at import; docs/compiler.md, "Import").

ConvTranspose is split by output phase (sub-pixel convolution): along an axis with stride s,
the outputs o = q*s + r of one phase r receive exactly the taps k with (r + pad - k*d) % s == 0,
from input q + (r + pad - k*d) / s. So every phase is a stride-1 Conv over the input with a
small filter, and all s^n phases are one Conv whose output channels are (channel, phase); a
Reshape and Transpose then interleave the phases into the output (a Slice crops it). That does
no multiplications by inserted zeros (a Conv over the zero-upsampled input would do s^n times
the work), needs no scatter, keeps the tuned Conv kernel (implicit GEMM included), and when
the filter is a constant the phase filter is one too (the index Gather folds at import)."""
from __future__ import annotations

import itertools

from .errors import UnsupportedError
from .ir import Graph, Node
from .nplike import np
from .ops import conv_output_size
from .sampling import Nodes


def window_pads(auto_pad: str, pads, sizes, kernel, strides, dilations) -> list[int]:
    """Explicit [begin..., end...] pads of an n-d window op (Conv, pooling)."""
    n = len(sizes)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            out = -(-size // s)
            total = max(0, (out - 1) * s + d * (k - 1) + 1 - size)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
        return begin + end
    if auto_pad == "VALID" or pads is None:
        return [0] * (2 * n)
    return [int(p) for p in pads]


def _transpose_geometry(node: Node, sizes, kernel):
    """(pads begin, output sizes) of a ConvTranspose, as the ONNX spec and reference compute
    them (SAME gives input * stride even when that needs negative pads; onnxruntime clamps
    those at 0, one shorter)."""
    a = node.attrs
    n = len(sizes)
    strides = list(a.get("strides") or [1] * n)
    dilations = list(a.get("dilations") or [1] * n)
    output_padding = list(a.get("output_padding") or [0] * n)
    output_shape = a.get("output_shape")
    if output_shape is not None:
        output_shape = [int(v) for v in output_shape][-n:]
    natural = [s * (size - 1) + op + (k - 1) * d + 1
               for size, k, s, d, op in zip(sizes, kernel, strides, dilations, output_padding)]
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER") and a.get("pads") is None:
        out = output_shape or [size * s for size, s in zip(sizes, strides)]
        total = [nat - o for nat, o in zip(natural, out)]
        begin = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in total]
        return begin, out
    pads = [0] * (2 * n) if auto == "VALID" or a.get("pads") is None else [int(p) for p in a["pads"]]
    out = output_shape or [nat - pads[i] - pads[i + n] for i, nat in enumerate(natural)]
    return pads[:n], out


def conv_transpose_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """ConvTranspose as one Conv over the input (output channels = channel x phase) whose
    output is interleaved by a Transpose (see the module docstring)."""
    x, w = node.inputs[0], node.inputs[1]
    bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
    xs, ws = graph.types[x].shape, graph.types[w].shape
    n = len(xs) - 2
    if not 1 <= n <= 3 or len(ws) != len(xs):
        raise UnsupportedError(f"ConvTranspose '{node.name}' has a {len(xs)}-d input and a {len(ws)}-d filter; webjit "
                               "takes 1-d, 2-d and 3-d images with filters of the same rank")
    if graph.types[x].dtype != "float32":
        raise UnsupportedError(f"ConvTranspose '{node.name}' convolves {graph.types[x].dtype} values; webjit "
                               "convolves float32")
    a = node.attrs
    group = int(a.get("group", 1))
    cin, mg, kernel = ws[0], ws[1], list(ws[2:])
    if xs[1] != cin or cin % group:
        raise UnsupportedError(f"ConvTranspose '{node.name}' has {xs[1]} input channels, a filter for {cin} and "
                               f"{group} groups, which do not fit together")
    strides = list(a.get("strides") or [1] * n)
    dilations = list(a.get("dilations") or [1] * n)
    begin, out = _transpose_geometry(node, xs[2:], kernel)
    if any(o <= 0 for o in out):
        raise UnsupportedError(f"ConvTranspose '{node.name}' would have output size {out}; webjit needs every "
                               "output dimension to be at least 1")
    cg, m = cin // group, mg * group
    # Per axis: each (phase r, tap k) pair that meets, with its tap position in the phase filter.
    axes, conv_pads, taps, phases = [], [0] * (2 * n), [], []
    for i in range(n):
        s, d, size = strides[i], dilations[i], xs[2 + i]
        meets = [(r, k, (r + begin[i] - k * d) // s) for r in range(s) for k in range(kernel[i])
                 if (r + begin[i] - k * d) % s == 0]
        lo = min(0, min(e for _, _, e in meets))
        length = max(e for _, _, e in meets) - lo + 1
        q = -(-out[i] // s)
        end = q - 1 + length - size + lo
        if end < 0:  # the phase filter grows by zero taps rather than cropping the input
            length, end = length - end, 0
        conv_pads[i], conv_pads[i + n] = -lo, end
        axes.append([(r, k, e - lo) for r, k, e in meets])
        taps.append(length)
        phases.append(q)
    count = int(np.prod(strides))
    # The phase filter [m * count, cg, taps...] as indices into the flattened filter (its size: a zero).
    index = np.full((group, mg, count, cg) + tuple(taps), int(np.prod(ws)), np.int64)
    ci = np.arange(cg).reshape(1, 1, cg)
    gi, oi = np.arange(group).reshape(group, 1, 1), np.arange(mg).reshape(1, mg, 1)
    for combo in itertools.product(*axes):
        phase = int(np.ravel_multi_index([r for r, _, _ in combo], strides))
        ks = [k for _, k, _ in combo]
        flat = ((gi * cg + ci) * mg + oi) * int(np.prod(kernel)) + int(np.ravel_multi_index(ks, kernel))
        index[(slice(None), slice(None), phase, slice(None)) + tuple(e for _, _, e in combo)] = flat
    index = index.reshape((m * count, cg) + tuple(taps))
    parts = [Node("Reshape", t("wflat"), (w, const("wflat_shape", np.array([-1], np.int64))), (t("wflat"),)),
             Node("Concat", t("wzero"), (t("wflat"), const("zero", np.zeros(1, np.float32))), (t("wzero"),),
                  {"axis": 0}),
             Node("Gather", t("wphase"), (t("wzero"), const("wphase_index", index)), (t("wphase"),), {"axis": 0})]
    conv_inputs = [x, t("wphase")]
    if bias:
        parts.append(Node("Gather", t("bphase"), (bias, const("bphase_index", np.repeat(np.arange(m), count))),
                          (t("bphase"),), {"axis": 0}))
        conv_inputs.append(t("bphase"))
    conv_attrs = {"group": group, "kernel_shape": taps, "pads": conv_pads, "strides": [1] * n, "dilations": [1] * n}
    if count == 1 and phases == out:
        return (*parts, Node("Conv", t("conv"), tuple(conv_inputs), node.outputs[:1], conv_attrs))
    parts.append(Node("Conv", t("conv"), tuple(conv_inputs), (t("phased"),), conv_attrs))
    # [N, M * phases, q...] -> [N, M, s..., q...] -> [N, M, q1, s1, q2, s2 ...] -> [N, M, q1 * s1, ...], cropped
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    interleave = [0, 1] + [axis for i in range(n) for axis in (2 + n + i, 2 + i)]
    parts += [Node("Reshape", t("split"), (t("phased"), ints("split_shape", [xs[0], m] + strides + phases)), (t("split"),)),
              Node("Transpose", t("interleave"), (t("split"),), (t("interleaved"),), {"perm": interleave})]
    full = [q * s for q, s in zip(phases, strides)]
    if full == out:
        return (*parts, Node("Reshape", node.name, (t("interleaved"), ints("out_shape", [xs[0], m] + out)),
                             node.outputs[:1]))
    return (*parts, Node("Reshape", t("merge"), (t("interleaved"), ints("full_shape", [xs[0], m] + full)), (t("full"),)),
            Node("Slice", node.name, (t("full"), ints("starts", [0] * n), ints("ends", out),
                                      ints("axes", list(range(2, 2 + n)))), node.outputs[:1]))


def conv_3d_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """A 3-d Conv as a 2-d one over the depth windows: the input's (channel, depth tap) planes of
    each output depth become the channels of a 2-d image, and the filter [M, C/g, kd, kh, kw] is
    already the 2-d filter [M, C/g * kd, kh, kw] in that order."""
    x, w = node.inputs[0], node.inputs[1]
    n, c, depth, h, wd = graph.types[x].shape
    m, cg, kd, kh, kw = graph.types[w].shape
    a = node.attrs
    strides = list(a.get("strides") or [1, 1, 1])
    dilations = list(a.get("dilations") or [1, 1, 1])
    pads = window_pads(a.get("auto_pad", "NOTSET"), a.get("pads"), (depth, h, wd), (kd, kh, kw), strides, dilations)
    od, oh, ow = (conv_output_size(size, k, s, pads[i], pads[i + 3], d)
                  for i, (size, k, s, d) in enumerate(zip((depth, h, wd), (kd, kh, kw), strides, dilations)))
    if min(od, oh, ow) <= 0:
        raise UnsupportedError(f"Conv '{node.name}' has a filter larger than its padded input")
    taps = (np.arange(od)[:, None] * strides[0] + np.arange(kd)[None, :] * dilations[0]).astype(np.int64)
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    parts = []
    current = x
    if pads[0] or pads[3]:
        parts.append(Node("Pad", t("pad"), (x, ints("depth_pads", [0, 0, pads[0], 0, 0, 0, 0, pads[3], 0, 0])),
                          (t("padded"),)))
        current = t("padded")
    conv_attrs = {"group": a.get("group", 1), "strides": strides[1:], "dilations": dilations[1:],
                  "pads": [pads[1], pads[2], pads[4], pads[5]]}
    inputs = [t("planes"), t("w2d")] + list(node.inputs[2:])
    parts += [Node("Gather", t("windows"), (current, const("taps", taps)), (t("windows"),), {"axis": 2}),
              Node("Transpose", t("by_depth"), (t("windows"),), (t("by_depth"),), {"perm": [0, 2, 1, 3, 4, 5]}),
              Node("Reshape", t("planes"), (t("by_depth"), ints("planes_shape", [n * od, c * kd, h, wd])), (t("planes"),)),
              Node("Reshape", t("w2d"), (w, ints("w2d_shape", [m, cg * kd, kh, kw])), (t("w2d"),)),
              Node("Conv", t("conv"), tuple(inputs), (t("y2d"),), conv_attrs)]
    y2d = t("y2d")
    # [N * od, M, oh, ow] -> [N, M, od, oh, ow]
    return (*parts,
            Node("Reshape", t("split"), (y2d, ints("split_shape", [n, od, m, oh, ow])), (t("split"),)),
            Node("Transpose", node.name, (t("split"),), node.outputs[:1], {"perm": [0, 2, 1, 3, 4]}))


def causal_conv_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """CausalConvWithState (opset 27): the past state (or k - 1 zeros) before the input, a
    depthwise 1-d Conv over that, SiLU when asked for, and the last k - 1 positions as the
    present state."""
    ins = list(node.inputs) + [""] * (4 - len(node.inputs))
    x, w, bias, past = ins[:4]
    batch, channels, length = graph.types[x].shape
    k = graph.types[w].shape[2]
    activation = node.attrs.get("activation", "none")
    if activation not in ("none", "silu", "swish"):
        raise UnsupportedError(f"CausalConvWithState '{node.name}' has activation {activation!r}; ONNX defines none, "
                               "silu and swish")
    ints = lambda tag, values: const(tag, np.array(values, np.int64))
    outs = list(node.outputs) + [""] * (2 - len(node.outputs))
    if past:
        parts = [Node("Concat", t("joined"), (past, x), (t("padded"),), {"axis": 2})]
    else:
        parts = [Node("Pad", t("pad"), (x, ints("pads", [0, 0, k - 1, 0, 0, 0])), (t("padded"),))]
    conv_inputs = (t("padded"), w) + ((bias,) if bias else ())
    y = outs[0] if activation == "none" else t("conv_out")
    parts.append(Node("Conv", t("conv"), conv_inputs, (y,), {"group": channels, "kernel_shape": [k]}))
    if activation != "none":
        parts += [Node("Sigmoid", t("sigmoid"), (y,), (t("sig"),)), Node("Mul", t("silu"), (y, t("sig")), (outs[0],))]
    if outs[1]:
        total = length + k - 1
        parts.append(Node("Slice", t("present"), (t("padded"), ints("starts", [total - (k - 1)]), ints("ends", [total]),
                                                  ints("axes", [2])), (outs[1],)))
    return tuple(parts)


def pool_windows(sizes, kernel, strides, dilations, pads, ceil_mode=0):
    """(output sizes, per axis the [outputs, taps] input coordinates clipped into the input, the
    [outputs, taps] mask of taps inside it) of an n-d pooling window, outputs and taps in
    row-major order."""
    n = len(sizes)
    out = [conv_output_size(sizes[i], kernel[i], strides[i], pads[i], pads[i + n], dilations[i], ceil_mode)
           for i in range(n)]
    coords, inside = [], np.ones((int(np.prod(out)), int(np.prod(kernel))), bool)
    grids = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
    taps = np.meshgrid(*[np.arange(k) for k in kernel], indexing="ij")
    for i in range(n):
        c = grids[i].reshape(-1, 1) * strides[i] - pads[i] + taps[i].reshape(1, -1) * dilations[i]
        inside &= (c >= 0) & (c < sizes[i])
        coords.append(np.clip(c, 0, sizes[i] - 1))
    return out, coords, inside


def maxpool_indices_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """MaxPool's Indices output: each window's values gathered (padding reads -inf), the first
    maximum's tap by ArgMax, and that tap's flat input index (row-major, or column-major over
    the spatial axes for storage_order 1) from a constant table."""
    x = node.inputs[0]
    xs = graph.types[x].shape
    sizes, n = list(xs[2:]), len(xs) - 2
    a = node.attrs
    kernel = list(a["kernel_shape"])
    strides = list(a.get("strides") or [1] * n)
    dilations = list(a.get("dilations") or [1] * n)
    pads = window_pads(a.get("auto_pad", "NOTSET"), a.get("pads"), sizes, kernel, strides, dilations)
    out, coords, inside = pool_windows(sizes, kernel, strides, dilations, pads, a.get("ceil_mode", 0))
    plane = int(np.prod(sizes))
    planes = xs[0] * xs[1]
    within = np.where(inside, np.ravel_multi_index(coords, sizes), plane).astype(np.int64)
    if a.get("storage_order", 0):
        reported = np.ravel_multi_index(coords[::-1], sizes[::-1])
    else:
        reported = np.ravel_multi_index(coords, sizes)
    taps = within.shape[1]
    dtype = np.dtype(graph.types[x].dtype)
    lowest = -np.inf if dtype.kind == "f" else np.iinfo(dtype).min  # padding never wins
    ints = lambda tag, values: const(tag, np.asarray(values, np.int64))
    parts = []
    if node.outputs[0]:
        parts.append(Node("MaxPool", t("values"), (x,), node.outputs[:1],  # its own name: it may be rewritten too
                          {key: v for key, v in a.items() if key != "storage_order"}))
    return (*parts,
            Node("Reshape", t("planes"), (x, ints("planes_shape", [planes, plane])), (t("planes"),)),
            Node("Concat", t("floor"), (t("planes"), const("lowest", np.full((planes, 1), lowest, dtype))),
                 (t("floored"),), {"axis": 1}),
            Node("Gather", t("windows"), (t("floored"), ints("within", within)), (t("windows"),), {"axis": 1}),
            Node("ArgMax", t("tap"), (t("windows"),), (t("tap"),), {"axis": 2, "keepdims": 0}),
            Node("Add", t("at"), (t("tap"), ints("rows", np.arange(within.shape[0]) * taps)), (t("at"),)),
            Node("Gather", t("where"), (ints("reported", reported.reshape(-1)), t("at")), (t("where"),), {"axis": 0}),
            Node("Add", t("flat"), (t("where"), ints("base", (np.arange(planes) * plane).reshape(-1, 1))),
                 (t("flat"),)),
            Node("Reshape", t("indices"), (t("flat"), ints("out_shape", list(xs[:2]) + out)), node.outputs[1:2]))


def col2im_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """Col2Im: every image position sums, over the filter taps, the one column value (if any)
    that lands on it: a Gather at constant indices (a zero where no block does) and a ReduceSum
    over the taps. No scatter is needed, and every sum is in a fixed order."""
    x = node.inputs[0]
    for position, what in ((1, "image_shape"), (2, "block_shape")):
        name = node.inputs[position]
        if name not in graph.constants:
            hint = f"; bind it with --const {name}=VALUE" if name in graph.inputs else ""
            raise UnsupportedError(f"Col2Im '{node.name}' takes its {what} from '{name}', which webjit needs at "
                                   f"compile time{hint}")
    image = [int(v) for v in graph.constants[node.inputs[1]]]
    kernel = [int(v) for v in graph.constants[node.inputs[2]]]
    n = len(image)
    a = node.attrs
    strides = list(a.get("strides") or [1] * n)
    dilations = list(a.get("dilations") or [1] * n)
    pads = list(a.get("pads") or [0] * (2 * n))
    batch, rows, length = graph.types[x].shape
    taps = int(np.prod(kernel))
    blocks = [(image[i] + pads[i] + pads[i + n] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(n)]
    if rows % taps or int(np.prod(blocks)) != length or min(blocks) < 1:
        raise UnsupportedError(f"Col2Im '{node.name}' has input shape {[batch, rows, length]}, which does not hold "
                               f"{blocks} blocks of {kernel} for image {image}")
    channels = rows // taps
    at = np.meshgrid(*[np.arange(k) for k in kernel], *[np.arange(size) for size in image], indexing="ij")
    block_at, inside = [], np.ones(at[0].shape, bool)
    for i in range(n):
        offset = at[n + i] + pads[i] - at[i] * dilations[i]
        inside &= (offset % strides[i] == 0) & (offset >= 0) & (offset // strides[i] < blocks[i])
        block_at.append(np.clip(offset // strides[i], 0, blocks[i] - 1))
    tap = np.ravel_multi_index(at[:n], kernel)
    index = np.where(inside, tap * length + np.ravel_multi_index(block_at, blocks), taps * length)
    ints = lambda tag, values: const(tag, np.asarray(values, np.int64))
    return (Node("Reshape", t("per_channel"), (x, ints("rows", [batch, channels, taps * length])), (t("per_channel"),)),
            Node("Concat", t("zero"), (t("per_channel"), const("zeros", np.zeros((batch, channels, 1), graph.types[x].dtype))),
                 (t("zeroed"),), {"axis": 2}),
            Node("Gather", t("gather"), (t("zeroed"), ints("index", index.reshape(taps, -1))), (t("landed"),), {"axis": 2}),
            Node("ReduceSum", t("sum"), (t("landed"), ints("taps_axis", [2])), (t("summed"),), {"keepdims": 0}),
            Node("Reshape", node.name, (t("summed"), ints("image", [batch, channels] + image)), node.outputs[:1]))


def max_unpool_nodes(node: Node, graph: Graph, const, t) -> tuple[Node, ...]:
    """MaxUnpool without a scatter: an output position can only hold a value whose pooling
    window covers it, so each position gathers its few candidate inputs (ceil(k/s) per axis)
    and keeps the last one whose index names it (the reference writes in input order). That
    is exact for indices a MaxPool with these attributes wrote, as ONNX defines them; any
    index outside its input's window makes the whole output NaN, never a silently wrong
    value. An output_shape larger than the inferred one pads the end with zeros."""
    ins = list(node.inputs) + [""] * (3 - len(node.inputs))
    x, indices, shape_input = ins[:3]
    xs = graph.types[x].shape
    sizes, n = list(xs[2:]), len(xs) - 2
    a = node.attrs
    kernel = list(a["kernel_shape"])
    strides = list(a.get("strides") or [1] * n)
    pads = list(a.get("pads") or [0] * (2 * n))
    inferred = [(sizes[i] - 1) * strides[i] - pads[i] - pads[i + n] + kernel[i] for i in range(n)]
    target = list(inferred)
    if shape_input:
        if shape_input not in graph.constants:
            hint = f"; bind it with --const {shape_input}=VALUE" if shape_input in graph.inputs else ""
            raise UnsupportedError(f"MaxUnpool '{node.name}' takes its output_shape from '{shape_input}', which webjit "
                                   f"needs at compile time{hint}")
        target = [int(v) for v in graph.constants[shape_input]][2:]
        if any(o < i for o, i in zip(target, inferred)):
            raise UnsupportedError(f"MaxUnpool '{node.name}' has output_shape {target}, smaller than the {inferred} "
                                   "its attributes give")
    dtype = graph.types[x].dtype
    if np.dtype(dtype).kind != "f":
        raise UnsupportedError(f"MaxUnpool '{node.name}' unpools {dtype} values; webjit unpools float32")
    planes, plane_in, plane_out = xs[0] * xs[1], int(np.prod(sizes)), int(np.prod(inferred))
    # Candidates of each output position, in input order; the slot past the end reads 0 and index -1.
    ranges = []
    for i in range(n):
        j = np.arange(inferred[i])
        first = np.maximum(0, -(-(j + pads[i] - kernel[i] + 1) // strides[i]))
        last = np.minimum(sizes[i] - 1, (j + pads[i]) // strides[i])
        ranges.append((first, last, -(-kernel[i] // strides[i])))
    count = int(np.prod([r[2] for r in ranges]))
    cand = np.full(tuple(inferred) + (count,), plane_in, np.int64)
    for slot, offsets in enumerate(itertools.product(*[range(r[2]) for r in ranges])):
        coords, valid = [], np.ones(tuple(inferred), bool)
        for i, (first, last, _) in enumerate(ranges):
            c = (first + offsets[i]).reshape([-1 if d == i else 1 for d in range(n)])
            valid &= c <= last.reshape(c.shape)
            coords.append(np.broadcast_to(np.minimum(c, sizes[i] - 1), tuple(inferred)))
        cand[..., slot] = np.where(valid, np.ravel_multi_index(coords, sizes), plane_in)
    cand = cand.reshape(plane_out, count)
    # The window of each input position, to check every index against.
    grids = np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij")
    b = Nodes(node, const, t)
    ints = lambda value: b.c(value, np.int64)
    xp = b("Concat", b("Reshape", x, ints([planes, plane_in])), b.c(np.zeros((planes, 1)), dtype), axis=1)
    local = b("Sub", b("Reshape", indices, ints([planes, plane_in])),
              ints((np.arange(planes) * plane_out).reshape(-1, 1)))
    ip = b("Concat", local, ints(np.full((planes, 1), -1)), axis=1)
    positions = ints(np.arange(plane_out).reshape(1, -1))
    value = b.c(np.zeros((planes, plane_out)), dtype)
    for slot in range(count):
        column = ints(cand[:, slot])
        hit = b("Equal", b("Gather", ip, column, axis=1), positions)
        value = b("Where", hit, b("Gather", xp, column, axis=1), value)
    ok = b("And", b("GreaterOrEqual", local, ints(0)), b("Less", local, ints(plane_out)))
    for i in range(n):
        stride = int(np.prod(inferred[i + 1:]))
        coord = b("Mod", b("Div", local, ints(stride)), ints(inferred[i]))
        start = (grids[i].reshape(1, -1) * strides[i] - pads[i]).astype(np.int64)
        ok = b("And", ok, b("And", b("GreaterOrEqual", coord, ints(start)), b("Less", coord, ints(start + kernel[i]))))
    stray = b("ReduceMax", b("Cast", b("Not", ok), to=1), ints([0, 1]), keepdims=1)
    value = b("Where", b("Greater", stray, b.c(0.0)), b.c(np.nan, dtype), value)
    shaped = b("Reshape", value, ints(list(xs[:2]) + inferred))
    if target != inferred:
        shaped = b("Pad", shaped, ints([0] * (n + 2) + [0, 0] + [o - i for o, i in zip(target, inferred)]))
    b("Identity", shaped, out=node.outputs[0])
    return tuple(b.parts)
