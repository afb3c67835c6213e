"""WASM SIMD128 code for Gather and CumSum.

Gather copies `inner` contiguous elements per (outer, index) pair; threads split the
pairs. CumSum runs down r for a block of 4 columns (or one column at the ragged end)
of [outer, r, inner]; threads split those column blocks. Both are copies bound by memory,
so their schedule space is one point (NoConfig).
"""
from __future__ import annotations

from webjit.family import NoConfig, single
from webjit.kernels import CumSum, Gather
from webjit.wasm.encoder import I32, V128, Func, Module
from webjit.wasm.expr import splat_const
from webjit.symbolic import Sym, SymbolicError, fixed
from webjit.wasm.loops import Count, Local, add_to, counted_loop, divmod_into, push, thread_share
from webjit.wasm.sizes import sizes_of


def new_run(nargs: int) -> tuple[Module, Func]:
    module = Module(shared_memory=True)
    return module, module.func("run", params=[I32] * (nargs + 2), results=[])


def emit_gather(spec: Gather, config: NoConfig) -> Module:
    """out[o, i, j] = data[o, idx[i], j]; negative indices wrap once, others out of range give 0."""
    module, f = new_run(len(spec.args))
    data, indices, out = range(3)
    tid, nthreads = len(spec.args), len(spec.args) + 1
    pairs = spec.outer * spec.count
    if fixed(pairs, 0) or fixed(spec.inner, 0):
        return module
    if isinstance(spec.inner, Sym):
        raise SymbolicError("a Gather whose rows have a symbolic length is not compiled for WASM yet")
    sizes = sizes_of(f, spec)
    row_bytes, plane_bytes = 4 * spec.inner, sizes.count(4 * spec.axis_dim * spec.inner)
    start, count = thread_share(f, sizes.count(pairs), tid, nthreads)
    plane, i, index_ptr, dst, src, index = (f.local(I32) for _ in range(6))
    # plane = data + (start / count) * plane_bytes; i = start % count
    f.op("local.get", start.index)
    sizes.push(spec.count)
    f.op("i32.div_u")
    f.op("local.set", plane)
    f.op("local.get", start.index)
    sizes.push(spec.count)
    f.op("i32.rem_u")
    f.op("local.set", i)
    f.op("local.get", data)
    f.op("local.get", plane)
    push(f, plane_bytes)
    f.op("i32.mul")
    f.op("i32.add")
    f.op("local.set", plane)
    f.op("local.get", indices)
    f.op("local.get", i)
    f.op("i32.const", 4)
    f.op("i32.mul")
    f.op("i32.add")
    f.op("local.set", index_ptr)
    f.op("local.get", out)
    f.op("local.get", start.index)
    f.op("i32.const", row_bytes)
    f.op("i32.mul")
    f.op("i32.add")
    f.op("local.set", dst)
    with counted_loop(f, count):
        load_wrapped_index(f, index_ptr, index, sizes.count(spec.axis_dim))
        # Unsigned compare: negative (still, after one wrap) and too large both fail.
        f.op("local.get", index)
        sizes.push(spec.axis_dim)
        f.op("i32.lt_u")
        f.op("if")
        f.op("local.get", plane)
        f.op("local.get", index)
        f.op("i32.const", row_bytes)
        f.op("i32.mul")
        f.op("i32.add")
        f.op("local.set", src)
        copy_row(f, src, dst, spec.inner)
        f.op("else")
        copy_row(f, None, dst, spec.inner)
        f.op("end")
        add_to(f, dst, row_bytes)
        add_to(f, i, 1)
        add_to(f, index_ptr, 4)
        f.op("local.get", i)
        sizes.push(spec.count)
        f.op("i32.eq")
        f.op("if")
        f.op("i32.const", 0)
        f.op("local.set", i)
        f.op("local.get", indices)
        f.op("local.set", index_ptr)
        add_to(f, plane, plane_bytes)
        f.op("end")
    sizes.finish()
    return module


def load_wrapped_index(f: Func, index_ptr: int, index: int, axis_dim: Count) -> None:
    """index = indices[i], plus axis_dim when negative."""
    f.op("local.get", index_ptr)
    f.op("i32.load", 0)
    f.op("local.tee", index)
    f.op("local.get", index)
    push(f, axis_dim)
    f.op("i32.add")
    f.op("local.get", index)
    f.op("i32.const", 0)
    f.op("i32.ge_s")
    f.op("select")
    f.op("local.set", index)


def copy_row(f: Func, src: int | None, dst: int, n: int) -> None:
    """Copy n elements from src to dst (zeros when src is None), 4 at a time then singly."""
    s, d = f.local(I32), f.local(I32)
    if src is not None:
        f.op("local.get", src)
        f.op("local.set", s)
    f.op("local.get", dst)
    f.op("local.set", d)
    with counted_loop(f, n & -4, 4):
        f.op("local.get", d)
        if src is None:
            splat_const(f, "i32", 0)
        else:
            f.op("local.get", s)
            f.op("v128.load", 0)
            add_to(f, s, 16)
        f.op("v128.store", 0)
        add_to(f, d, 16)
    for k in range(n & 3):
        f.op("local.get", d)
        if src is None:
            f.op("i32.const", 0)
        else:
            f.op("local.get", s)
            f.op("i32.load", 4 * k)
        f.op("i32.store", 4 * k)


def emit_cumsum(spec: CumSum, config: NoConfig) -> Module:
    """Cumulative sum along r of contiguous [outer, r, inner] (exclusive / reverse as flagged)."""
    dtype = spec.args[0].dtype
    module, f = new_run(2)
    x, out, tid, nthreads = range(4)
    blocks, singles = spec.inner // 4, spec.inner % 4
    per_outer = blocks + singles
    if spec.outer * per_outer == 0 or spec.r == 0:
        return module
    start, count = thread_share(f, spec.outer * per_outer, tid, nthreads)
    item, o, q, offset = (f.local(I32) for _ in range(4))
    f.op("local.get", start.index)
    f.op("local.set", item)
    with counted_loop(f, count):
        divmod_into(f, Local(item), per_outer, quotient=o, remainder=q)
        # column = 4q for a full block, else 4 * blocks + (q - blocks)
        f.op("local.get", q)
        f.op("i32.const", 4)
        f.op("i32.mul")
        f.op("local.get", q)
        f.op("i32.const", 3 * blocks)
        f.op("i32.add")
        f.op("local.get", q)
        f.op("i32.const", blocks)
        f.op("i32.lt_u")
        f.op("select")
        # offset = (o * r * inner + column + (reverse ? (r - 1) * inner : 0)) * 4
        f.op("local.get", o)
        f.op("i32.const", spec.r * spec.inner)
        f.op("i32.mul")
        f.op("i32.add")
        if spec.reverse:
            f.op("i32.const", (spec.r - 1) * spec.inner)
            f.op("i32.add")
        f.op("i32.const", 4)
        f.op("i32.mul")
        f.op("local.set", offset)
        f.op("local.get", q)
        f.op("i32.const", blocks)
        f.op("i32.lt_u")
        f.op("if")
        scan_column(f, spec, dtype, x, out, offset, lanes=4)
        f.op("else")
        scan_column(f, spec, dtype, x, out, offset, lanes=1)
        f.op("end")
        add_to(f, item, 1)
    return module


def scan_column(f: Func, spec: CumSum, dtype: str, x: int, out: int, offset: int, lanes: int) -> None:
    """Running sum (or product) down r of `lanes` columns starting at byte `offset` of x and out."""
    src, dst, acc, value = f.local(I32), f.local(I32), f.local(V128), f.local(V128)
    for ptr, base in ((src, x), (dst, out)):
        f.op("local.get", base)
        f.op("local.get", offset)
        f.op("i32.add")
        f.op("local.set", ptr)
    splat_const(f, dtype, 1 if spec.product else 0)
    f.op("local.set", acc)
    add = f"{'f32x4' if dtype == 'f32' else 'i32x4'}.{'mul' if spec.product else 'add'}"
    step = -4 * spec.inner if spec.reverse else 4 * spec.inner
    with counted_loop(f, spec.r):
        f.op("local.get", src)
        f.op("v128.load" if lanes == 4 else "v128.load32_splat", 0)
        f.op("local.set", value)
        if not spec.exclusive:
            accumulate(f, acc, value, add)
        f.op("local.get", dst)
        f.op("local.get", acc)
        if lanes == 4:
            f.op("v128.store", 0)
        else:
            f.op("v128.store32_lane", 0, 0)
        if spec.exclusive:
            accumulate(f, acc, value, add)
        add_to(f, src, step)
        add_to(f, dst, step)


def accumulate(f: Func, acc: int, value: int, add: str) -> None:
    f.op("local.get", acc)
    f.op("local.get", value)
    f.op(add)
    f.op("local.set", acc)


GATHER, CUMSUM = single("gather", "wasm", emit_gather), single("cumsum", "wasm", emit_cumsum)
