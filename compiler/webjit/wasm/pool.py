"""WASM code generator for Pool (max / average over the [h, w] planes of NCHW).

Output rows are (plane, oy) runs of `ow` values; threads take contiguous runs of rows.
Each row computes its range of window rows inside the image once. Its columns come in
three parts fixed at compile time: the middle columns whose whole window is inside the
image horizontally go four at a time (f32x4.max / f32x4.add over the window, the four
columns' taps gathered by `load_strided4`); the edge columns on either side go one at a
time, each clipping its window. Both paths visit taps in the same order (window row,
then column), so a column's value does not depend on which path computed it. Pool is
bound by memory, so its schedule space is one point (NoConfig).
"""
from __future__ import annotations

import struct

from ..family import NoConfig, single
from ..kernels import Pool
from .encoder import F32, I32, V128, Func, Module
from .loops import Local, add_to, counted_loop, push, set_linear, set_local, thread_share
from .windows import ceil_div_clamped, inside_columns, load_strided4, loop_while_less, split, window_range

UNROLLED_TAPS = 16  # window widths up to this unroll their columns in the vector path


def emit_pool(spec: Pool, config: NoConfig) -> Module:
    """A module whose `run(x, out, tid, nthreads)` pools every [h, w] plane of `x`."""
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * 4, results=[])
    x, out, tid, nthreads = 0, 1, 2, 3
    rows = spec.planes * spec.oh
    if rows == 0 or spec.ow == 0:
        return module
    start, count = thread_share(f, rows, tid, nthreads)
    row, dst = f.local(I32), f.local(I32)
    set_local(f, row, start)
    set_linear(f, dst, out, 0, [(row, 4 * spec.ow)])
    with counted_loop(f, count):
        PoolRow(f, spec, x, row, dst).emit()
        add_to(f, row, 1)
    return module


def vector_columns(spec: Pool) -> tuple[int, int]:
    """[lo, hi): the output columns that go four at a time (hi - lo a multiple of 4)."""
    span = (spec.kw - 1) * spec.dilations[1] + 1
    lo, hi = inside_columns(-spec.pads[1], spec.strides[1], span, spec.w, spec.ow)
    return lo, lo + (hi - lo) // 4 * 4


class PoolRow:
    """The code of output row `row` = plane * oh + oy: ow values at `dst` (which advances)."""

    def __init__(self, f: Func, spec: Pool, x: int, row: int, dst: int):
        self.f, self.spec, self.x, self.row, self.dst = f, spec, x, row, dst
        self.max = spec.kind == "max"

    def emit(self) -> None:
        f, spec = self.f, self.spec
        pad_top, pad_bottom = spec.pads[0], spec.pads[2]
        oy, plane = f.local(I32), f.local(I32)
        split(f, self.row, [(oy, spec.oh)], plane)
        self.top = f.local(I32)  # input row of window row 0
        set_linear(f, self.top, None, -pad_top, [(oy, spec.strides[0])])
        self.ky0, self.ky1 = window_range(f, self.top, spec.dilations[0], spec.h, spec.kh)
        self.rows_counted = None  # count_include_pad's window rows: those inside the padded input
        if spec.kind == "avg" and spec.count_include_pad:
            self.rows_counted = Local(ceil_div_clamped(f, self.top, -(spec.h + pad_bottom), spec.dilations[0],
                                                       spec.kh))
        self.rowbase = f.local(I32)  # &x[plane, top, 0]
        set_linear(f, self.rowbase, self.x, 0, [(plane, 4 * spec.h * spec.w), (self.top, 4 * spec.w)])
        lo, hi = vector_columns(spec)
        self.scalar_columns(0, lo)
        self.vector_columns(lo, hi)
        self.scalar_columns(hi, spec.ow)

    # ------------------------------------------------------------ one column at a time
    def scalar_columns(self, first: int, end: int) -> None:
        """Columns [first, end), each window clipped to the image."""
        if first >= end:
            return
        f, spec = self.f, self.spec
        sw, dw = spec.strides[1], spec.dilations[1]
        left = f.local(I32)  # input column of window column 0
        set_local(f, left, first * sw - spec.pads[1])
        acc, ky, kx, ptr, count = f.local(F32), f.local(I32), f.local(I32), f.local(I32), f.local(I32)
        with counted_loop(f, end - first):
            kx0, kx1 = window_range(f, left, dw, spec.w, spec.kw)
            f.op("f32.const", float("-inf") if self.max else 0.0)
            f.op("local.set", acc)
            set_local(f, ky, Local(self.ky0))
            loop_while_less(f, ky, self.ky1, lambda: self.scalar_window_row(left, ky, kx, kx0, kx1, ptr, acc))
            if spec.kind == "avg":
                if spec.count_include_pad:
                    cols = ceil_div_clamped(f, left, -(spec.w + spec.pads[3]), dw, spec.kw)
                    self.push_count(self.rows_counted, Local(cols))
                else:
                    self.push_count(Local(self.ky1), Local(kx1), Local(self.ky0), Local(kx0))
                f.op("local.set", count)
                f.op("local.get", acc)
                self.push_divisor(count)
                f.op("f32.div")
                f.op("local.set", acc)
            f.op("local.get", self.dst)
            f.op("local.get", acc)
            f.op("f32.store", 0)
            add_to(f, self.dst, 4)
            add_to(f, left, sw)

    def scalar_window_row(self, left, ky, kx, kx0, kx1, ptr, acc) -> None:
        """acc = max/sum(acc, x[.., top + ky*dh, left + kx*dw] for kx in [kx0, kx1)); ky += 1."""
        f, spec = self.f, self.spec
        dh, dw = spec.dilations
        set_linear(f, ptr, self.rowbase, 0, [(ky, 4 * dh * spec.w), (left, 4), (kx0, 4 * dw)])
        set_local(f, kx, Local(kx0))

        def column() -> None:
            f.op("local.get", acc)
            f.op("local.get", ptr)
            f.op("f32.load", 0)
            f.op("f32.max" if self.max else "f32.add")
            f.op("local.set", acc)
            add_to(f, ptr, 4 * dw)
            add_to(f, kx, 1)

        loop_while_less(f, kx, kx1, column)
        add_to(f, ky, 1)

    # ------------------------------------------------------------ four columns at a time
    def vector_columns(self, first: int, end: int) -> None:
        """Columns [first, end) (a multiple of 4 wide), whose windows lie inside horizontally."""
        if first >= end:
            return
        f, spec = self.f, self.spec
        sw, dh = spec.strides[1], spec.dilations[0]
        if spec.kind == "avg":  # every column of these windows is inside: kw of them count
            count, divisor = f.local(I32), f.local(V128)
            if spec.count_include_pad:
                self.push_count(self.rows_counted, spec.kw)
            else:
                self.push_count(Local(self.ky1), spec.kw, Local(self.ky0))
            f.op("local.set", count)
            self.push_divisor(count)
            f.op("f32x4.splat")
            f.op("local.set", divisor)
        group, ptr, window_rows, acc = f.local(I32), f.local(I32), f.local(I32), f.local(V128)
        set_linear(f, group, self.rowbase, 4 * (first * sw - spec.pads[1]), [(self.ky0, 4 * dh * spec.w)])
        with counted_loop(f, (end - first) // 4):
            f.op("v128.const", struct.pack("<4f", *[float("-inf") if self.max else 0.0] * 4))
            f.op("local.set", acc)
            set_local(f, ptr, Local(group))
            f.op("local.get", self.ky1)
            f.op("local.get", self.ky0)
            f.op("i32.sub")
            f.op("local.set", window_rows)
            with counted_loop(f, Local(window_rows)):
                self.vector_window_row(ptr, acc)
                add_to(f, ptr, 4 * dh * spec.w)
            f.op("local.get", self.dst)
            f.op("local.get", acc)
            if spec.kind == "avg":
                f.op("local.get", divisor)
                f.op("f32x4.div")
            f.op("v128.store", 0)
            add_to(f, self.dst, 16)
            add_to(f, group, 16 * sw)

    def vector_window_row(self, ptr: int, acc: int) -> None:
        """acc = max/sum(acc, the four columns' taps of window row at `ptr`), column by column."""
        f, spec = self.f, self.spec
        sw, dw = spec.strides[1], spec.dilations[1]
        op = "f32x4.max" if self.max else "f32x4.add"

        def tap(offset: int, at: int) -> None:
            f.op("local.get", acc)
            load_strided4(f, at, offset, sw)
            f.op(op)
            f.op("local.set", acc)

        if spec.kw <= UNROLLED_TAPS:
            for kx in range(spec.kw):
                tap(4 * kx * dw, ptr)
            return
        at = f.local(I32)
        set_local(f, at, Local(ptr))
        with counted_loop(f, spec.kw):
            tap(0, at)
            add_to(f, at, 4 * dw)

    # ------------------------------------------------------------ the average's divisor
    def push_count(self, hi_y, hi_x, lo_y=None, lo_x=None) -> None:
        """Push (hi_y - lo_y) * (hi_x - lo_x) as an i32 (each a constant, a Local or None for 0)."""
        f = self.f
        for hi, lo in ((hi_y, lo_y), (hi_x, lo_x)):
            push(f, hi)
            if lo is not None:
                push(f, lo)
                f.op("i32.sub")
        f.op("i32.mul")

    def push_divisor(self, count: int) -> None:
        """Push max(f32(count), 1): empty windows give 0, never a division by zero."""
        f = self.f
        f.op("local.get", count)
        f.op("f32.convert_i32_s")
        f.op("f32.const", 1.0)
        f.op("f32.max")


POOL = single("pool", "wasm", emit_pool)
