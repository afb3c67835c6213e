"""Lowering rules for the ops that are not elementwise or matrix products: one function per op."""
from __future__ import annotations

from . import kernels as K
from .dtypes import needs_narrowing
from .elementwise import const
from .errors import UnsupportedError
from .nplike import np
from .symbolic import Sym, upper
from .symshape import slice_bounds
from .views import View, broadcast_strides, expand, full_view, prod, reshape, row_major, slice_view, transpose


def _alias(lw, node, view: View) -> None:
    lw.views[node.outputs[0]] = view


def _reshape_to(lw, node, shape) -> None:
    view = lw.view(node.inputs[0])
    result = reshape(view, shape)
    if result is None:
        result = reshape(lw.contiguous(view, node.name), shape)
    _alias(lw, node, result)


def lower_reshape(lw, node):
    _reshape_to(lw, node, lw.shape_of(node.outputs[0]))


def lower_identity(lw, node):
    _alias(lw, node, lw.view(node.inputs[0]))


def lower_transpose(lw, node):
    view = lw.view(node.inputs[0])
    perm = node.attrs.get("perm") or list(reversed(range(len(view.shape))))
    _alias(lw, node, transpose(view, perm))


def lower_expand(lw, node):
    _alias(lw, node, expand(lw.view(node.inputs[0]), lw.shape_of(node.outputs[0])))


def lower_slice(lw, node):
    view = lw.view(node.inputs[0])
    starts = lw.const_input(node, 1, "starts")
    ends = lw.const_input(node, 2, "ends")
    axes = lw.const_input(node, 3, "axes")
    steps = lw.const_input(node, 4, "steps")
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = int(axis) % len(view.shape)
        first, count = slice_bounds(start, end, step, view.shape[axis])
        view = slice_view(view, axis, first, count, int(step))
    _alias(lw, node, view)


def lower_split(lw, node):
    view = lw.view(node.inputs[0])
    axis = node.attrs.get("axis", 0) % len(view.shape)
    start = 0
    for out in node.outputs:
        length = lw.shape_of(out)[axis]
        lw.views[out] = slice_view(view, axis, start, length)
        start += length


def lower_cast(lw, node):
    src, dst = lw.graph.types[node.inputs[0]].dtype, lw.graph.types[node.outputs[0]].dtype
    same_device = lw.dtype_of(node.inputs[0]) == lw.dtype_of(node.outputs[0])
    aliased = node.op == "Identity" or same_device and (dst != "bool" or src == "bool") and not needs_narrowing(src, dst)
    if aliased and node.inputs[0] not in lw.fused:  # a fused input exists only inside a kernel: compute it
        return _alias(lw, node, lw.view(node.inputs[0]))
    lw.lower_elementwise_root(node)


def lower_concat(lw, node):
    out = lw.output_view(node.outputs[0])
    axis = node.attrs["axis"] % len(out.shape)
    start = 0
    for name in node.inputs:
        if not name:
            continue
        view = lw.view(name)
        length = view.shape[axis]
        if isinstance(length, Sym) or length:  # a symbolic part may be empty at run time: its copy counts 0
            lw.copy(view, slice_view(out, axis, start, length), node.name)
        start += length


def lower_pad(lw, node):
    """Pad as copies: negative pads crop the input first; constant mode fills the output and
    copies the input into its middle; edge and reflect pad one axis at a time, each stage a
    copy of the middle plus copies of edge rows (broadcast) or mirrored rows (stride -1)."""
    mode = node.attrs.get("mode", "constant")
    if mode not in ("constant", "edge", "reflect", "wrap"):
        raise UnsupportedError(f"Pad '{node.name}' uses mode '{mode}'; webjit pads with constant, edge, reflect or wrap")
    x = lw.view(node.inputs[0])
    pads = lw.const_input(node, 1, "pads")
    runtime_value = len(node.inputs) > 2 and node.inputs[2] and node.inputs[2] not in lw.graph.constants
    value = None if runtime_value else lw.const_input(node, 2, "value")
    axes = lw.const_input(node, 3, "axes")
    rank = len(x.shape)
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    before, after = [0] * rank, [0] * rank
    for i, axis in enumerate(axes):
        before[axis], after[axis] = int(pads[i]), int(pads[i + len(axes)])
    for axis in range(rank):  # negative pads crop
        cut_before, cut_after = max(-before[axis], 0), max(-after[axis], 0)
        if cut_before or cut_after:
            x = slice_view(x, axis, cut_before, x.shape[axis] - cut_before - cut_after)
            before[axis], after[axis] = max(before[axis], 0), max(after[axis], 0)
    out = lw.output_view(node.outputs[0])
    if mode == "constant":
        fill = 0.0 if value is None or value.size == 0 else float(value.reshape(-1)[0])
        if out.size != x.size and runtime_value:  # a value computed at run time, broadcast to the border
            v = lw.view(node.inputs[2])
            lw.copy(View(v.buffer, out.shape, (0,) * rank, v.offset), out, f"{node.name}::fill")
        elif out.size != x.size:
            _fill_view(lw, out, fill, f"{node.name}::fill")
        inner = out
        for axis in range(rank):
            inner = slice_view(inner, axis, before[axis], x.shape[axis])
        if x.size:
            lw.copy(x, inner, node.name)
        return
    padded = [a for a in range(rank) if before[a] or after[a]]
    if x.size == 0 and out.size:
        raise UnsupportedError(f"Pad '{node.name}' pads an empty tensor in {mode} mode, which has no values to repeat")
    if mode == "reflect" and any(max(before[a], after[a]) >= x.shape[a] for a in padded):
        raise UnsupportedError(f"Pad '{node.name}' reflects more rows than its input has")
    if mode == "wrap" and any(max(before[a], after[a]) > x.shape[a] for a in padded):
        raise UnsupportedError(f"Pad '{node.name}' wraps around more rows than its input has")
    current = x
    for n, axis in enumerate(padded):
        shape = list(current.shape)
        shape[axis] += before[axis] + after[axis]
        stage = out if n == len(padded) - 1 else \
            full_view(lw.new_buffer(f"{node.name}::axis{axis}", out.buffer.dtype, prod(shape)), shape)
        d = current.shape[axis]
        lw.copy(current, slice_view(stage, axis, before[axis], d), node.name)
        if before[axis] and mode == "wrap":  # the last rows, in order
            lw.copy(slice_view(current, axis, d - before[axis], before[axis]), slice_view(stage, axis, 0, before[axis]),
                    node.name)
        elif before[axis]:
            src = expand(slice_view(current, axis, 0, 1), _with(shape, axis, before[axis])) if mode == "edge" else \
                slice_view(current, axis, before[axis], before[axis], -1)
            lw.copy(src, slice_view(stage, axis, 0, before[axis]), node.name)
        if after[axis] and mode == "wrap":  # the first rows
            lw.copy(slice_view(current, axis, 0, after[axis]), slice_view(stage, axis, before[axis] + d, after[axis]),
                    node.name)
        elif after[axis]:
            src = expand(slice_view(current, axis, d - 1, 1), _with(shape, axis, after[axis])) if mode == "edge" else \
                slice_view(current, axis, d - 2, after[axis], -1)
            lw.copy(src, slice_view(stage, axis, before[axis] + d, after[axis]), node.name)
        current = stage
    if not padded:
        lw.copy(x, out, node.name)


def _with(shape, axis: int, length: int) -> tuple[int, ...]:
    return tuple(length if i == axis else d for i, d in enumerate(shape))


def _fill_view(lw, out: View, value: float, name: str) -> None:
    dt = out.buffer.dtype
    args = (K.Arg(dt, out.buffer.size, output=True),)
    lw.emit(K.Elementwise(shape=out.shape, out=K.Access(0, out.strides, out.offset), inputs=(),
                          expr=const(value, dt), args=args), [out.buffer], name)


def lower_tile(lw, node):
    x = lw.view(node.inputs[0])
    repeats = [int(r) for r in lw.const_input(node, 1, "repeats")]
    out = lw.output_view(node.outputs[0])
    shape, src_strides = [], []
    for r, d, s in zip(repeats, x.shape, x.strides):
        shape += [r, d]
        src_strides += [0, s]
    src = View(x.buffer, tuple(shape), tuple(src_strides), x.offset)
    lw.copy(src, View(out.buffer, tuple(shape), row_major(shape), 0), node.name)


def lower_constant_of_shape(lw, node):
    out = lw.output_view(node.outputs[0])
    value = node.attrs.get("value")
    fill = 0.0 if value is None else float(value.reshape(-1)[0])
    args = (K.Arg(out.buffer.dtype, out.buffer.size, output=True),)
    lw.emit(K.Elementwise(shape=out.shape, out=K.Access(0, out.strides), inputs=(), expr=const(fill, out.buffer.dtype),
                          args=args), [out.buffer], node.name)


def lower_gather(lw, node):
    data = lw.view(node.inputs[0])
    axis = node.attrs.get("axis", 0) % len(data.shape)
    indices = lw.graph.constants.get(node.inputs[1])
    if indices is not None and indices.ndim == 0:  # x[..., i, ...]: a view
        i = int(indices) % data.shape[axis]
        view = slice_view(data, axis, i, 1)
        return _alias(lw, node, reshape(view, lw.shape_of(node.outputs[0])) or
                      reshape(lw.contiguous(view, node.name), lw.shape_of(node.outputs[0])))
    table = lw.graph.constants.get(node.inputs[0])
    limit = lw.max_binding_bytes
    if table is not None and axis == 0 and limit and table.nbytes > limit * TABLE_BINDINGS:
        return _gather_in_row_ranges(lw, node, table, limit)
    data = lw.contiguous(data, f"{node.name}::data")
    idx = lw.contiguous(lw.view(node.inputs[1]), f"{node.name}::indices")
    if idx.buffer.region == "arena":
        lw.note_index_range(idx.buffer, data.shape[axis])
    out = lw.output_view(node.outputs[0])
    outer = prod(data.shape[:axis])
    inner = prod(data.shape[axis + 1:])
    buffers = [data.buffer, idx.buffer, out.buffer]
    args = tuple(K.Arg(b.dtype, b.size, output=(i == 2)) for i, b in enumerate(buffers))
    lw.emit(K.Gather(outer=outer, axis_dim=data.shape[axis], inner=inner, count=idx.size, args=args), buffers, node.name)


TABLE_BINDINGS = 4  # storage bindings one gathered table may take before it is split into row ranges


def _gather_in_row_ranges(lw, node, table, limit):
    """A constant table larger than a few WebGPU bindings, gathered as row ranges:
    out = sum over ranges of Gather(rows[lo:hi], idx - lo), where indices outside a range
    read zeros, so exactly one term of each sum is nonzero and the sum is exact."""
    idx = lw.contiguous(lw.view(node.inputs[1]), f"{node.name}::indices")
    if idx.buffer.region == "arena":
        lw.note_index_range(idx.buffer, table.shape[0])
    rows, inner = table.shape[0], prod(table.shape[1:])
    per_range = max(1, limit // (4 * inner))
    x = K.Expr("in", "i32", index=0)
    wrapped = K.Expr("where", "i32", (K.Expr("lt", "i32", (x, const(0, "i32"))),
                                      K.Expr("add", "i32", (x, const(rows, "i32"))), x))
    partials = []
    for lo in range(0, rows, per_range):
        hi = min(rows, lo + per_range)
        inside = K.Expr("and", "i32", (K.Expr("ge", "i32", (wrapped, const(lo, "i32"))),
                                       K.Expr("lt", "i32", (wrapped, const(hi, "i32")))))
        shifted = K.Expr("where", "i32", (inside, K.Expr("sub", "i32", (wrapped, const(lo, "i32"))),
                                          const(hi - lo, "i32")))
        local = full_view(lw.new_buffer(f"{node.name}::indices{lo}", "i32", idx.size), idx.shape)
        args = (K.Arg("i32", idx.buffer.size), K.Arg("i32", local.buffer.size, output=True))
        lw.emit(K.Elementwise(shape=idx.shape, out=K.Access(1, local.strides), inputs=(K.Access(0, idx.strides),),
                              expr=shifted, args=args), [idx.buffer, local.buffer], f"{node.name}::rows{lo}")
        part = lw.weights(f"{node.inputs[0]}::rows{lo}", table[lo:hi])
        out = full_view(lw.new_buffer(f"{node.name}::part{lo}", part.buffer.dtype, idx.size * inner),
                        lw.shape_of(node.outputs[0]))
        buffers = [part.buffer, local.buffer, out.buffer]
        args = tuple(K.Arg(b.dtype, b.size, output=(i == 2)) for i, b in enumerate(buffers))
        lw.emit(K.Gather(outer=1, axis_dim=hi - lo, inner=inner, count=idx.size, args=args), buffers,
                f"{node.name}::rows{lo}")
        partials.append(out)
    # Running sums two at a time, so no kernel binds more than three buffers.
    running = partials[0]
    for i, part in enumerate(partials[1:], start=1):
        last = i == len(partials) - 1
        total = lw.output_view(node.outputs[0]) if last else \
            full_view(lw.new_buffer(f"{node.name}::sum{i}", part.buffer.dtype, part.size), part.shape)
        dt = total.buffer.dtype
        expr = K.Expr("add", dt, (K.Expr("in", dt, index=0), K.Expr("in", dt, index=1)))
        args = (K.Arg(dt, running.buffer.size), K.Arg(dt, part.buffer.size), K.Arg(dt, total.buffer.size, output=True))
        lw.emit(K.Elementwise(shape=total.shape, out=K.Access(2, total.strides),
                              inputs=(K.Access(0, running.strides), K.Access(1, part.strides)), expr=expr, args=args),
                [running.buffer, part.buffer, total.buffer], node.name)
        running = total
    if len(partials) == 1:
        lw.views[node.outputs[0]] = partials[0]


def lower_gather_nd(lw, node):
    """GatherND with constant indices is a Gather on the leading dims flattened."""
    if node.attrs.get("batch_dims", 0):
        raise UnsupportedError(f"GatherND '{node.name}' with batch_dims > 0 is not supported")
    indices = lw.const_input(node, 1, "indices")
    data = lw.contiguous(lw.view(node.inputs[0]), f"{node.name}::data")
    depth = indices.shape[-1]
    lead = data.shape[:depth]
    idx = np.where(indices < 0, indices + np.array(lead), indices).reshape(-1, depth)
    linear = (idx * np.array(row_major(lead))).sum(axis=1).astype(np.int64)
    _gather_rows(lw, node, data, linear, prod(lead), prod(data.shape[depth:]))


def lower_gather_elements(lw, node):
    """GatherElements with constant indices reads single elements at compile-time linear offsets."""
    indices = lw.const_input(node, 1, "indices")
    data = lw.contiguous(lw.view(node.inputs[0]), f"{node.name}::data")
    axis = node.attrs.get("axis", 0) % len(data.shape)
    coords = list(np.indices(indices.shape))
    coords[axis] = np.where(indices < 0, indices + data.shape[axis], indices)
    linear = np.ravel_multi_index(tuple(coords), data.shape).reshape(-1).astype(np.int64)
    _gather_rows(lw, node, data, linear, data.size, 1)


def _gather_rows(lw, node, data, linear, rows, inner):
    """out[i, :] = data viewed as [rows, inner], row linear[i]."""
    idx_view = lw.weights(f"{node.name}::indices", linear)
    out = lw.output_view(node.outputs[0])
    buffers = [data.buffer, idx_view.buffer, out.buffer]
    args = tuple(K.Arg(b.dtype, b.size, output=(i == 2)) for i, b in enumerate(buffers))
    lw.emit(K.Gather(outer=1, axis_dim=rows, inner=inner, count=linear.size, args=args), buffers, node.name)


def lower_trilu(lw, node):
    """Trilu with a constant k: x where a constant triangle mask is set, else 0."""
    x = lw.view(node.inputs[0])
    k = lw.const_input(node, 1, "k")
    triangle = np.triu if node.attrs.get("upper", 1) else np.tril
    mask = lw.weights(f"{node.name}::mask", triangle(np.ones(x.shape[-2:], np.int32), 0 if k is None else int(k)))
    out = lw.output_view(node.outputs[0])
    dt = out.buffer.dtype
    buffers = [x.buffer, mask.buffer, out.buffer]
    args = (K.Arg(dt, x.buffer.size), K.Arg("i32", mask.buffer.size), K.Arg(dt, out.buffer.size, output=True))
    expr = K.Expr("where", dt, (K.Expr("in", "i32", index=1), K.Expr("in", dt, index=0), const(0, dt)))
    inputs = (K.Access(0, x.strides, x.offset), K.Access(1, broadcast_strides(mask, x.shape), mask.offset))
    lw.emit(K.Elementwise(shape=x.shape, out=K.Access(2, out.strides), inputs=inputs, expr=expr, args=args),
            buffers, node.name)


def _rows(lw, node, axes):
    """Contiguous [outer, r] view of input 0 with `axes` moved last."""
    x = lw.view(node.inputs[0])
    rank = len(x.shape)
    axes = sorted(int(a) % rank for a in axes)
    keep = [d for d in range(rank) if d not in axes]
    if axes != list(range(rank - len(axes), rank)):
        x = transpose(x, keep + axes)
    x = lw.contiguous(x, f"{node.name}::input")
    r = prod([x.shape[d] for d in range(len(keep), rank)])
    return x, x.size // max(r, 1), r, keep


REDUCE_KINDS = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min",
                "ReduceProd": "prod", "ReduceSumSquare": "sumsq", "ReduceL1": "l1", "ReduceL2": "l2",
                "ReduceLogSumExp": "logsumexp",
                "GlobalAveragePool": "mean", "GlobalMaxPool": "max"}


def lower_reduce(lw, node):
    rank = len(lw.shape_of(node.inputs[0]))
    if node.op.startswith("Global"):
        axes = list(range(2, rank))
    else:
        axes = lw.const_input(node, 1, "axes")
        if axes is None or len(axes) == 0:
            if node.attrs.get("noop_with_empty_axes", 0):
                return lower_identity(lw, node)
            axes = list(range(rank))
    dt = lw.dtype_of(node.inputs[0])
    if dt != "f32" and REDUCE_KINDS[node.op] not in ("max", "min"):  # max and min of integers never overflow
        raise UnsupportedError(f"{node.op} '{node.name}' on integer tensors is not supported")
    if any(lw.shape_of(node.inputs[0])[a] == 0 for a in axes):
        return _fill(lw, node, _empty_value(lw, node, dt))
    x, outer, r, _ = _rows(lw, node, axes)
    out = lw.output_view(node.outputs[0])
    buffers = [x.buffer, out.buffer]
    args = (K.Arg(dt, x.buffer.size), K.Arg(dt, out.buffer.size, output=True))
    lw.emit(K.Reduce(kind=REDUCE_KINDS[node.op], outer=outer, r=r, args=args), buffers, node.name)


# What a reduction over no elements gives (ONNX: the identity of the combine; max of nothing is -inf).
EMPTY_REDUCTION = {"sum": 0.0, "sumsq": 0.0, "l1": 0.0, "l2": 0.0, "prod": 1.0, "mean": float("nan"),
                   "max": -float("inf"), "min": float("inf"), "logsumexp": -float("inf")}


def _empty_value(lw, node, dt: str) -> float:
    """What the reduction of no elements gives; for integers the type's own extreme (False/True for bool)."""
    kind = REDUCE_KINDS[node.op]
    if dt == "f32":
        return EMPTY_REDUCTION[kind]
    dtype = np.dtype(lw.graph.types[node.inputs[0]].dtype)
    value = bool(kind == "min") if dtype == np.bool_ else (np.iinfo(dtype).max if kind == "min" else np.iinfo(dtype).min)
    if not -2**31 <= int(value) < 2**31:
        raise UnsupportedError(f"{node.op} '{node.name}' reduces an empty set of {dtype} values, whose identity "
                               "webjit cannot hold in int32")
    return float(value)


def _fill(lw, node, value: float) -> None:
    """The node's output, every element `value`."""
    out = lw.output_view(node.outputs[0])
    if out.size:
        _fill_view(lw, out, value, node.name)


def lower_argmax(lw, node):
    """ArgMax as three existing kernels: the row max; a score where(x == max, r - j, 0) (j + 1 when
    select_last_index); the row max of the score gives the index. Exact for rows below 2**24.
    Integer rows first become f32 keys with the same arg max (_integer_argmax_keys)."""
    axis = node.attrs.get("axis", 0) % len(lw.shape_of(node.inputs[0]))
    x, outer, r, _ = _rows(lw, node, [axis])
    rows = x.buffer if x.buffer.dtype == "f32" else _integer_argmax_keys(lw, node, x.buffer, outer, r)
    peak = lw.new_buffer(f"{node.name}::max", "f32", outer)
    lw.emit(K.Reduce(kind="max", outer=outer, r=r, args=(K.Arg("f32", rows.size), K.Arg("f32", outer, output=True))),
            [rows, peak], f"{node.name}::max")
    last = bool(node.attrs.get("select_last_index", 0))
    ranks = lw.weights(f"{node.name}::ranks", (np.arange(r) + 1 if last else r - np.arange(r)).astype(np.float32))
    score = lw.new_buffer(f"{node.name}::score", "f32", outer * r)
    # The max propagates NaN, so a row holding NaN answers its first (last) NaN, as numpy does.
    element = K.Expr("in", "f32", index=0)
    found = K.Expr("or", "i32", (K.Expr("eq", "i32", (element, K.Expr("in", "f32", index=1))),
                                 K.Expr("isnan", "i32", (element,))))
    expr = K.Expr("where", "f32", (found, K.Expr("in", "f32", index=2), const(0, "f32")))
    inputs = (K.Access(0, (r, 1)), K.Access(1, (1, 0)), K.Access(2, (0, 1)))
    args = (K.Arg("f32", rows.size), K.Arg("f32", outer), K.Arg("f32", r), K.Arg("f32", outer * r, output=True))
    lw.emit(K.Elementwise(shape=(outer, r), out=K.Access(3, (r, 1)), inputs=inputs, expr=expr, args=args),
            [rows, peak, ranks.buffer, score], f"{node.name}::score")
    best = lw.new_buffer(f"{node.name}::best", "f32", outer)
    lw.emit(K.Reduce(kind="max", outer=outer, r=r, args=(K.Arg("f32", outer * r), K.Arg("f32", outer, output=True))),
            [score, best], f"{node.name}::best")
    out = lw.output_view(node.outputs[0])
    rank = K.Expr("in", "f32", index=0)
    index = K.Expr("sub", "f32", (rank, const(1, "f32")) if last else (const(r, "f32"), rank))
    args = (K.Arg("f32", outer), K.Arg(out.buffer.dtype, out.buffer.size, output=True))
    lw.emit(K.Elementwise(shape=(outer,), out=K.Access(1, (1,)), inputs=(K.Access(0, (1,)),),
                          expr=K.Expr("cast", out.buffer.dtype, (index,)), args=args), [best, out.buffer], node.name)


def _integer_argmax_keys(lw, node, rows, outer: int, r: int):
    """f32 rows with the arg maxes of the i32 [outer, r] `rows`: x = 4096 * high + low with low in
    [0, 4096), both exact in f32; the key is low where high is its row's max, else -1."""
    element = K.Expr("in", "i32", index=0)
    low = K.Expr("mod", "i32", (element, const(4096, "i32")))  # the divisor's sign: never negative
    high = K.Expr("div", "i32", (K.Expr("sub", "i32", (element, low)), const(4096, "i32")))  # exact
    highs = lw.new_buffer(f"{node.name}::high", "f32", outer * r)
    args = (K.Arg("i32", rows.size), K.Arg("f32", outer * r, output=True))
    lw.emit(K.Elementwise(shape=(outer, r), out=K.Access(1, (r, 1)), inputs=(K.Access(0, (r, 1)),),
                          expr=K.Expr("cast", "f32", (high,)), args=args), [rows, highs], f"{node.name}::high")
    peak = lw.new_buffer(f"{node.name}::high_max", "f32", outer)
    lw.emit(K.Reduce(kind="max", outer=outer, r=r, args=(K.Arg("f32", outer * r), K.Arg("f32", outer, output=True))),
            [highs, peak], f"{node.name}::high_max")
    keys = lw.new_buffer(f"{node.name}::keys", "f32", outer * r)
    top = K.Expr("eq", "i32", (K.Expr("in", "f32", index=1), K.Expr("in", "f32", index=2)))
    expr = K.Expr("where", "f32", (top, K.Expr("cast", "f32", (low,)), const(-1, "f32")))
    inputs = (K.Access(0, (r, 1)), K.Access(1, (r, 1)), K.Access(2, (1, 0)))
    args = (K.Arg("i32", rows.size), K.Arg("f32", outer * r), K.Arg("f32", outer), K.Arg("f32", outer * r, output=True))
    lw.emit(K.Elementwise(shape=(outer, r), out=K.Access(3, (r, 1)), inputs=inputs, expr=expr, args=args),
            [rows, highs, peak, keys], f"{node.name}::keys")
    return keys


def lower_softmax(lw, node):
    shape = lw.shape_of(node.inputs[0])
    axis = node.attrs.get("axis", -1) % len(shape)
    x, outer, r, keep = _rows(lw, node, [axis])
    result = full_view(lw.new_buffer(node.outputs[0], "f32", x.size), x.shape)
    args = (K.Arg("f32", x.buffer.size), K.Arg("f32", result.buffer.size, output=True))
    lw.emit(K.Softmax(outer=outer, r=r, log=node.op == "LogSoftmax", args=args), [x.buffer, result.buffer], node.name)
    order = keep + [axis]
    _alias(lw, node, transpose(result, [order.index(d) for d in range(len(shape))]))


def lower_layernorm(lw, node):
    shape = lw.shape_of(node.inputs[0])
    axis = node.attrs.get("axis", -1) % len(shape)
    x, outer, r, _ = _rows(lw, node, list(range(axis, len(shape))))
    norm_shape = shape[axis:]
    params = []
    for position in (1, 2):
        if position < len(node.inputs) and node.inputs[position]:
            view = expand(lw.view(node.inputs[position]), norm_shape)
            params.append(lw.contiguous(view, f"{node.name}::param"))
    out = lw.output_view(node.outputs[0])
    buffers = [x.buffer] + [p.buffer for p in params] + [out.buffer]
    args = tuple(K.Arg("f32", b.size, output=(b is out.buffer)) for b in buffers)
    has_scale = len(node.inputs) > 1 and bool(node.inputs[1])  # absent only in InstanceNorm's and GroupNorm's rows
    spec = K.LayerNorm(outer=outer, r=r, epsilon=float(node.attrs.get("epsilon", 1e-5)),
                       has_bias=len(params) == 1 + has_scale, args=args, has_scale=has_scale)
    lw.emit(spec, buffers, node.name)


def lower_pool(lw, node):
    from .ops import resolve_pads
    x = lw.contiguous(lw.view(node.inputs[0]), f"{node.name}::input")
    n, c, h, w = x.shape
    kh, kw = node.attrs["kernel_shape"]
    strides = tuple(node.attrs.get("strides") or (1, 1))
    dilations = tuple(node.attrs.get("dilations") or (1, 1))
    pads = resolve_pads(node.attrs.get("auto_pad", "NOTSET"), node.attrs.get("pads"), (h, w), (kh, kw), strides, dilations)
    out = lw.output_view(node.outputs[0])
    oh, ow = out.shape[2:]
    args = (K.Arg("f32", x.buffer.size), K.Arg("f32", out.buffer.size, output=True))
    spec = K.Pool(kind="max" if node.op == "MaxPool" else "avg", planes=n * c, h=h, w=w, kh=kh, kw=kw, pads=pads,
                  strides=strides, dilations=dilations, oh=oh, ow=ow,
                  count_include_pad=bool(node.attrs.get("count_include_pad", 0)), args=args)
    lw.emit(spec, [x.buffer, out.buffer], node.name)


def lower_cumsum(lw, node):
    x = lw.contiguous(lw.view(node.inputs[0]), f"{node.name}::input")
    axis = int(lw.const_input(node, 1, "axis")) % len(x.shape)
    out = lw.output_view(node.outputs[0])
    outer = prod(x.shape[:axis])
    inner = prod(x.shape[axis + 1:])
    args = (K.Arg(x.buffer.dtype, x.buffer.size), K.Arg(out.buffer.dtype, out.buffer.size, output=True))
    product = node.op == "CumProd"
    if product and lw.graph.types[node.inputs[0]].dtype == "int64":
        raise UnsupportedError(f"CumProd '{node.name}' multiplies int64 values, whose products webjit cannot keep "
                               "within the int32 range it holds them in")
    spec = K.CumSum(outer=outer, r=x.shape[axis], inner=inner, exclusive=bool(node.attrs.get("exclusive", 0)),
                    reverse=bool(node.attrs.get("reverse", 0)), args=args, product=product)
    lw.emit(spec, [x.buffer, out.buffer], node.name)


def lower_range(lw, node):
    """A Range with a symbolic limit: the first `count` entries of the longest range it can be,
    a constant."""
    start, _, delta = (lw.const_input(node, i, what).reshape(()) for i, what in ((0, "start"), (1, "limit"), (2, "delta")))
    count = lw.shape_of(node.outputs[0])[0]
    values = start + delta * np.arange(upper(count), dtype=np.int64)
    table = lw.weights(f"{node.name}::range", values.astype(lw.graph.types[node.outputs[0]].dtype))
    _alias(lw, node, View(table.buffer, (count,), (1,), 0))


LOWER = {
    "Range": lower_range,
    "Reshape": lower_reshape, "Flatten": lower_reshape, "Squeeze": lower_reshape, "Unsqueeze": lower_reshape,
    "Cast": lower_cast, "Transpose": lower_transpose, "Expand": lower_expand, "Slice": lower_slice, "Split": lower_split,
    "Concat": lower_concat, "Pad": lower_pad, "Tile": lower_tile, "ConstantOfShape": lower_constant_of_shape,
    "Gather": lower_gather, "GatherND": lower_gather_nd, "GatherElements": lower_gather_elements, "Trilu": lower_trilu, "ArgMax": lower_argmax, "Softmax": lower_softmax, "LogSoftmax": lower_softmax,
    "LayerNormalization": lower_layernorm, "MaxPool": lower_pool, "AveragePool": lower_pool,
    "CumSum": lower_cumsum, "CumProd": lower_cumsum, **{op: lower_reduce for op in REDUCE_KINDS},
}
