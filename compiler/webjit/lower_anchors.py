"""Lowering of the matrix products (MatMul, Gemm, Conv as a GEMM, and the depthwise Conv
kernel): their operands as views, the fused elementwise group as the epilogue, one MatMul
(or Depthwise) spec. `lw` is the Lowering (lower.py), whose views, buffers and steps they use.
"""
from __future__ import annotations

from dataclasses import replace

from . import kernels as K
from .elementwise import const
from .ir import Node
from .kernels import args_for
from .lower import Group
from .nplike import np
from .ops import resolve_pads
from .symbolic import symbolic_fields
from .symshape import broadcast
from .views import (View, broadcast_strides, expand, full_view, prod, read_constant, reshape, reshape_strides,
                    row_major, transpose)


def lower_anchor(lw, anchor: Node, epilogue) -> None:
    """Emit MatMul / Gemm / Conv, with the fused elementwise group `epilogue` if given."""
    if anchor.op == "Conv" and is_depthwise(lw, anchor):
        return lower_depthwise(lw, anchor, epilogue)
    base = {"MatMul": matmul_operands, "Gemm": gemm_operands, "Conv": conv_operands}[anchor.op](lw, anchor)
    a, bmat, batch, m, n, k, base_expr, base_extras, out_shape, conv = base
    index_shape = batch + (m, n)
    root, expr, group = epilogue if epilogue else (anchor, K.Expr("acc", "f32"), Group(out_shape))
    expr = _substitute_acc(expr, base_expr, len(group.leaves))
    extras = [epilogue_access_view(lw, v, group.shape, index_shape, anchor) for v in group.leaves]
    extras += [epilogue_access_view(lw, v, out_shape, index_shape, anchor) for v in base_extras]
    out = lw.output_view(root.outputs[0])
    inputs = [a.buffer, bmat.buffer] + [v.buffer for v, _ in extras]
    if conv is not None:  # the image too: a kernel may read it instead of the columns
        inputs.append(conv[0].buffer)
    args, buffers = args_for(inputs, out.buffer)
    index = {id(b): i for i, b in enumerate(buffers)}
    im2col, source = None, None
    if conv is not None:
        x, geometry, source = conv
        im2col = K.Im2ColSource(index[id(x.buffer)], *geometry)
    a_access = K.Access(index[id(a.buffer)], broadcast_strides(a, batch + (m, k)), a.offset)
    b_access = K.Access(index[id(bmat.buffer)], broadcast_strides(bmat, batch + (k, n)), bmat.offset)
    extra_access = tuple(K.Access(index[id(v.buffer)], strides, v.offset) for v, strides in extras)
    spec = K.MatMul(batch=batch, m=m, n=n, k=k, a=a_access, bmat=b_access,
                    out=K.Access(len(buffers) - 1, row_major(index_shape)), extras=extra_access,
                    epilogue=None if expr == K.Expr("acc", "f32") else expr, args=args, im2col=im2col)
    if symbolic_fields(spec):
        spec = _rows_of_batch(spec)
    lw.emit(spec, buffers, anchor.name if root is anchor else f"{anchor.name}+{root.name}", source)


def epilogue_access_view(lw, view: View, shape, index_shape, anchor):
    strides = reshape_strides(shape, broadcast_strides(view, shape), index_shape)
    if strides is None or strides[-1] not in (0, 1) or any(s < 0 for s in strides) or view.offset < 0:
        view = lw.contiguous(view, f"{anchor.name}::epilogue")
        strides = reshape_strides(shape, broadcast_strides(view, shape), index_shape)
    if strides is None:  # a broadcast the kernel's index cannot express: spelled out in full
        full = full_view(lw.new_buffer(f"{anchor.name}::epilogue", view.buffer.dtype, prod(shape)), shape)
        lw.copy(expand(view, shape), full, f"{anchor.name}::epilogue")
        view, strides = full, reshape_strides(shape, full.strides, index_shape)
    return view, strides



def matmul_operands(lw, node):
    a, b = (lw.forward(lw.view(name), f"{node.name}::{tag}") for name, tag in zip(node.inputs, "ab"))
    a, b = lw.fixed_strides(a, f"{node.name}::a"), lw.fixed_strides(b, f"{node.name}::b")
    if len(a.shape) == 1:
        a = reshape(a, (1,) + a.shape)
    if len(b.shape) == 1:
        b = reshape(b, b.shape + (1,))
    batch = broadcast([a.shape[:-2], b.shape[:-2]], f"MatMul '{node.name}'")
    m, k = a.shape[-2:]
    n = b.shape[-1]
    b = rows_contiguous(lw, b, node.name)
    return a, b, batch, m, n, k, K.Expr("acc", "f32"), [], lw.shape_of(node.outputs[0]), None


def rows_contiguous(lw, view: View, name: str) -> View:
    """The right-hand side as MatMul reads it: rows contiguous; constant rows padded
    when their pitch is a multiple of 4 KiB, which maps every row to one L1 set."""
    if view.shape[-1] != 1 and view.strides[-1] != 1:
        view = lw.contiguous(view, f"{name}::rhs")
    n = view.shape[-1]
    if lw.row_pad and view.buffer.region == "weights" and n * 4 % 4096 == 0 and len(view.shape) == 2:
        k, pitch = view.shape[0], n + lw.row_pad
        padded = np.zeros((k, pitch), np.float32)
        padded[:, :n] = read_constant(view)
        buffer = lw.weights(f"{name}::rhs", padded, rows=(n, pitch)).buffer
        view = View(buffer, (k, n), (pitch, 1), 0)
    return view


def gemm_operands(lw, node):
    a, b = (lw.forward(lw.view(name), f"{node.name}::{tag}") for name, tag in zip(node.inputs, "ab"))
    a, b = lw.fixed_strides(a, f"{node.name}::a"), lw.fixed_strides(b, f"{node.name}::b")
    if node.attrs.get("transA", 0):
        a = transpose(a, (1, 0))
    if node.attrs.get("transB", 0):
        b = transpose(b, (1, 0))
    b = rows_contiguous(lw, b, node.name)
    (m, k), n = a.shape, b.shape[1]
    expr = K.Expr("acc", "f32")
    alpha, beta = node.attrs.get("alpha", 1.0), node.attrs.get("beta", 1.0)
    if alpha != 1.0:
        expr = K.Expr("mul", "f32", (expr, const(alpha, "f32")))
    extras = []
    if len(node.inputs) > 2 and node.inputs[2] and beta != 0:
        c = lw.view(node.inputs[2])
        term = K.Expr("in", "f32", index=0)  # the anchor's own extra 0
        if beta != 1.0:
            term = K.Expr("mul", "f32", (term, const(beta, "f32")))
        expr = K.Expr("add", "f32", (expr, term))
        extras.append(expand(c, (m, n)))
    return a, b, (), m, n, k, expr, extras, (m, n), None


def conv_geometry(lw, node):
    """(pads, strides, dilations) of a 2-d Conv."""
    h, wd = lw.shape_of(node.inputs[0])[2:]
    kh, kw = lw.shape_of(node.inputs[1])[2:]
    strides = tuple(node.attrs.get("strides") or (1, 1))
    dilations = tuple(node.attrs.get("dilations") or (1, 1))
    pads = resolve_pads(node.attrs.get("auto_pad", "NOTSET"), node.attrs.get("pads"), (h, wd), (kh, kw), strides, dilations)
    return tuple(pads), strides, dilations


def is_depthwise(lw, node) -> bool:
    """A 2-d Conv with one constant filter per channel (group == C == M)."""
    x_shape, w = lw.shape_of(node.inputs[0]), lw.graph.constants.get(node.inputs[1])
    return (len(x_shape) == 4 and w is not None and w.ndim == 4 and w.shape[1] == 1
            and node.attrs.get("group", 1) == x_shape[1] == w.shape[0] and lw.dtype_of(node.inputs[0]) == "f32")


def lower_depthwise(lw, node, epilogue) -> None:
    """A depthwise Conv as one Depthwise kernel (no columns), with its bias and the fused group."""
    x = lw.contiguous(lw.view(node.inputs[0]), f"{node.name}::input")
    w = lw.graph.constants[node.inputs[1]]
    nb, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    out_shape = lw.shape_of(node.outputs[0])
    index_shape = (nb, c, out_shape[2] * out_shape[3])
    root, expr, group = epilogue if epilogue else (node, K.Expr("acc", "f32"), Group(out_shape))
    base_expr, base_extras = K.Expr("acc", "f32"), []
    if len(node.inputs) > 2 and node.inputs[2]:
        base_expr = K.Expr("add", "f32", (base_expr, K.Expr("in", "f32", index=0)))
        base_extras.append(reshape(lw.view(node.inputs[2]), (1, c, 1, 1)))
    expr = _substitute_acc(expr, base_expr, len(group.leaves))
    extras = [epilogue_access_view(lw, v, group.shape, index_shape, node) for v in group.leaves]
    extras += [epilogue_access_view(lw, v, out_shape, index_shape, node) for v in base_extras]
    out = lw.output_view(root.outputs[0])
    filters = lw.weights(node.inputs[1], w.reshape(c, kh * kw))
    args, buffers = args_for([x.buffer, filters.buffer] + [v.buffer for v, _ in extras], out.buffer)
    index = {id(b): i for i, b in enumerate(buffers)}
    pads, strides, dilations = conv_geometry(lw, node)
    spec = K.Depthwise(n=nb, c=c, h=h, w=wd, kh=kh, kw=kw, pads=pads, strides=strides, dilations=dilations,
                       oh=out_shape[2], ow=out_shape[3],
                       extras=tuple(K.Access(index[id(v.buffer)], strides_, v.offset) for v, strides_ in extras),
                       epilogue=None if expr == K.Expr("acc", "f32") else expr, args=args)
    lw.emit(spec, buffers, node.name if root is node else f"{node.name}+{root.name}")


def conv_operands(lw, node):
    x = lw.contiguous(lw.view(node.inputs[0]), f"{node.name}::input")
    w = lw.const_input(node, 1, "weights")
    nb, c, h, wd = x.shape
    co, cig, kh, kw = w.shape
    group = node.attrs.get("group", 1)
    out_shape = lw.shape_of(node.outputs[0])
    oh, ow = out_shape[2:]
    pads, strides, dilations = conv_geometry(lw, node)
    kdim = cig * kh * kw
    conv = None
    if (kh, kw, strides, pads, dilations) == (1, 1, (1, 1), (0, 0, 0, 0), (1, 1)):
        cols = reshape(x, (nb, group, kdim, oh * ow))
    else:
        col_view = full_view(lw.new_buffer(f"{node.name}::im2col", "f32", nb * c * kh * kw * oh * ow), (nb, c * kh * kw, oh * ow))
        args, buffers = args_for([x.buffer], col_view.buffer)
        spec = K.Im2Col(n=nb, c=c, h=h, w=wd, kh=kh, kw=kw, pads=pads, strides=strides, dilations=dilations,
                        oh=oh, ow=ow, args=args)
        step = lw.emit(spec, buffers, f"{node.name}::im2col")
        cols = reshape(col_view, (nb, group, kdim, oh * ow))
        conv = (x, (c, h, wd, kh, kw, pads, strides, dilations, oh, ow), step)
    weights = lw.weights(node.inputs[1], w.reshape(group, co // group, kdim))
    a = View(weights.buffer, (nb,) + weights.shape, (0,) + weights.strides, 0)
    expr, extras = K.Expr("acc", "f32"), []
    if len(node.inputs) > 2 and node.inputs[2]:
        bias = lw.view(node.inputs[2])
        expr = K.Expr("add", "f32", (expr, K.Expr("in", "f32", index=0)))
        extras.append(reshape(bias, (1, co, 1, 1)))
    return a, cols, (nb, group), co // group, oh * ow, kdim, expr, extras, out_shape, conv


def _rows_of_batch(spec: K.MatMul) -> K.MatMul:
    """The spec with trailing batch dims folded into its rows where that reads the same
    elements: bmat does not move along them (constant weights) and every other access steps
    over them by whole blocks of m rows. A symbolic batch then becomes part of the symbolic
    m the WASM kernel takes (batch x seq rows of one weight product)."""
    while spec.batch and spec.im2col is None and spec.bmat.strides[len(spec.batch) - 1] == 0:
        d = len(spec.batch) - 1
        rows = [spec.a, spec.out] + [e for e in spec.extras if e.strides[-2] != 0]
        if not all(a.strides[d] == spec.m * a.strides[-2] for a in rows) or \
                not all(e.strides[d] == 0 for e in spec.extras if e.strides[-2] == 0):
            break
        fold = lambda a: replace(a, strides=a.strides[:d] + a.strides[d + 1:])
        spec = replace(spec, batch=spec.batch[:d], m=spec.batch[d] * spec.m, a=fold(spec.a), bmat=fold(spec.bmat),
                       out=fold(spec.out), extras=tuple(fold(e) for e in spec.extras))
    return spec


def _substitute_acc(expr: K.Expr, base: K.Expr, shift: int) -> K.Expr:
    """Replace the "acc" leaves of a group's expression by the anchor's own epilogue `base`,
    whose inputs (the anchor's extras: Gemm's C, Conv's bias) follow the group's `shift` leaves."""
    def shifted(e):
        if e.op == "in":
            return K.Expr("in", e.dtype, index=e.index + shift)
        return K.Expr(e.op, e.dtype, tuple(shifted(a) for a in e.args), e.index, e.value)
    base = shifted(base)

    def walk(e):
        if e.op == "acc":
            return base
        return K.Expr(e.op, e.dtype, tuple(walk(a) for a in e.args), e.index, e.value)
    return walk(expr)
