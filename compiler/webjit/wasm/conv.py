"""WASM code generator for Im2Col (convolution as a matmul): NCHW x -> columns [n, c*kh*kw, oh*ow].

Output rows are (image, channel, ki, kj, oy) runs of `ow` columns; threads take contiguous
runs of rows. The range of output columns whose input lies inside the image is computed
once per row, so the inner loops never test bounds: the padding on either side is
zero-filled and the middle is copied four floats at a time (`load_strided4`: one v128
load for stride 1, two loads and a shuffle for stride 2, lane inserts otherwise, such
as a patch embedding's kernel == stride), the last few one at a time. Im2Col is bound by
memory, so its schedule space is one point (NoConfig). Pool lives in pool.py.
"""
from __future__ import annotations

from ..family import NoConfig, single
from ..kernels import Im2Col
from .encoder import I32, V128, Func, Module
from .loops import Local, add_to, counted_loop, set_linear, set_local, thread_share
from .windows import load_strided4, split, while_at_least, window_range

ZERO = bytes(16)


def emit_im2col(spec: Im2Col, config: NoConfig) -> Module:
    """A module whose `run(x, out, tid, nthreads)` writes the columns of NCHW `x`."""
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * 4, results=[])
    x, out, tid, nthreads = 0, 1, 2, 3
    rows = spec.n * spec.c * spec.kh * spec.kw * spec.oh
    if rows == 0 or spec.ow == 0:
        return module
    if is_patches(spec):
        _emit_patches(f, spec, x, out, tid, nthreads)
        return module
    start, count = thread_share(f, rows, tid, nthreads)
    row = f.local(I32)
    set_local(f, row, start)
    with counted_loop(f, count):
        _im2col_row(f, spec, row, x, out)
        add_to(f, row, 1)
    return module


def _im2col_row(f: Func, spec: Im2Col, row: int, x: int, out: int) -> None:
    """Output row `row` = ((plane * kh + ki) * kw + kj) * oh + oy: ow values."""
    pad_top, pad_left = spec.pads[0], spec.pads[1]
    sh, sw = spec.strides
    dh, dw = spec.dilations
    oy, kj, ki, plane = (f.local(I32) for _ in range(4))
    split(f, row, [(oy, spec.oh), (kj, spec.kw), (ki, spec.kh)], plane)
    dst, src, iy, first_x = (f.local(I32) for _ in range(4))
    set_linear(f, dst, out, 0, [(row, 4 * spec.ow)])
    set_linear(f, iy, None, -pad_top, [(oy, sh), (ki, dh)])
    set_linear(f, first_x, None, -pad_left, [(kj, dw)])  # input column of output column 0
    lo, hi = window_range(f, first_x, sw, spec.w, spec.ow)  # the output columns inside the image
    # An input row outside the image gives a row of zeros.
    f.op("local.get", iy)
    f.op("i32.const", spec.h)
    f.op("i32.ge_u")
    f.op("if")
    _zero_fill(f, dst, spec.ow)
    f.op("else")
    set_linear(f, src, x, 0, [(plane, 4 * spec.h * spec.w), (iy, 4 * spec.w), (first_x, 4),
                           (lo, 4 * sw)])
    _zero_fill(f, dst, Local(lo))
    run = f.local(I32)
    f.op("local.get", hi)
    f.op("local.get", lo)
    f.op("i32.sub")
    f.op("local.set", run)
    _copy(f, dst, src, run, sw)
    tail = f.local(I32)
    f.op("i32.const", spec.ow)
    f.op("local.get", hi)
    f.op("i32.sub")
    f.op("local.set", tail)
    _zero_fill(f, dst, Local(tail))
    f.op("end")


# ---------------------------------------------------------------- non-overlapping patches
def is_patches(spec: Im2Col) -> bool:
    """Whether every window row is a run of kw floats of its own (a ViT's patch embedding):
    kernel == stride across, no padding, and runs that split into whole vectors."""
    return (spec.strides[1] == spec.kw and spec.dilations[1] == 1 and spec.kw % 4 == 0
            and not any(spec.pads))


def _lanes(*lanes: int) -> tuple[int, ...]:
    """The i8x16.shuffle pattern picking f32 lanes (0-3 first operand, 4-7 second)."""
    return tuple(4 * lane + byte for lane in lanes for byte in range(4))


def _emit_patches(f: Func, spec: Im2Col, x: int, out: int, tid: int, nthreads: int) -> None:
    """Im2Col of non-overlapping patches without padding, so every tap is inside the image.

    A unit is four output rows kj = 4q..4q+3 of one (plane, ki, oy): for four output
    columns, the four runs x[.., ox*kw + 4q : +4] are loaded as vectors, transposed 4x4,
    and stored one vector to each row; the last ow % 4 columns store their run's lanes.
    """
    quads = spec.kw // 4
    units = spec.n * spec.c * spec.kh * quads * spec.oh
    row_bytes = 4 * spec.oh * spec.ow  # from output row kj to kj + 1
    start, count = thread_share(f, units, tid, nthreads)
    unit, oy, quad, ki, plane, src, dst = (f.local(I32) for _ in range(7))
    set_local(f, unit, start)
    runs, scratch = [f.local(V128) for _ in range(4)], [f.local(V128) for _ in range(4)]
    with counted_loop(f, count):
        split(f, unit, [(oy, spec.oh), (quad, quads), (ki, spec.kh)], plane)
        set_linear(f, src, x, 0, [(plane, 4 * spec.h * spec.w), (oy, 4 * spec.strides[0] * spec.w),
                                  (ki, 4 * spec.dilations[0] * spec.w), (quad, 16)])
        set_linear(f, dst, out, 0, [(plane, spec.kh * spec.kw * row_bytes), (ki, spec.kw * row_bytes),
                                    (quad, 4 * row_bytes), (oy, 4 * spec.ow)])
        with counted_loop(f, spec.ow // 4):
            for i, run in enumerate(runs):
                f.op("local.get", src)
                f.op("v128.load", 4 * spec.kw * i)
                f.op("local.set", run)
            for k, col in enumerate(_transpose4(f, runs, scratch)):
                f.op("local.get", dst)
                f.op("local.get", col)
                f.op("v128.store", k * row_bytes)
            add_to(f, src, 16 * spec.kw)
            add_to(f, dst, 16)
        for i in range(spec.ow % 4):
            f.op("local.get", src)
            f.op("v128.load", 4 * spec.kw * i)
            f.op("local.set", runs[0])
            for k in range(4):
                f.op("local.get", dst)
                f.op("local.get", runs[0])
                f.op("v128.store32_lane", k * row_bytes + 4 * i, k)
        add_to(f, unit, 1)


def _transpose4(f: Func, rows: list[int], scratch: list[int]) -> list[int]:
    """Transpose the 4x4 floats of four f32x4 locals: returns the locals whose [k][i] is rows[i][k]
    (`rows` itself, overwritten)."""
    for pair, (a, b), lanes in zip(scratch, [(0, 1), (2, 3), (0, 1), (2, 3)],
                                   [(0, 4, 1, 5), (0, 4, 1, 5), (2, 6, 3, 7), (2, 6, 3, 7)]):
        f.op("local.get", rows[a])
        f.op("local.get", rows[b])
        f.op("i8x16.shuffle", *_lanes(*lanes))
        f.op("local.set", pair)
    # scratch: [r0k0 r1k0 r0k1 r1k1], [r2k0 r3k0 r2k1 r3k1], the same for k2, k3
    for k, (a, b, lanes) in enumerate([(0, 1, (0, 1, 4, 5)), (0, 1, (2, 3, 6, 7)),
                                       (2, 3, (0, 1, 4, 5)), (2, 3, (2, 3, 6, 7))]):
        f.op("local.get", scratch[a])
        f.op("local.get", scratch[b])
        f.op("i8x16.shuffle", *_lanes(*lanes))
        f.op("local.set", rows[k])
    return rows


def _zero_fill(f: Func, dst: int, count) -> None:
    """Store `count` zeros at dst (advanced past them): vectors, then single floats."""
    if isinstance(count, int):
        vectors, singles = divmod(count, 4)
        with counted_loop(f, vectors):
            _store_zeros(f, dst, 4)
        for _ in range(singles):
            _store_zeros(f, dst, 1)
        return
    left = f.local(I32)
    set_local(f, left, count)
    while_at_least(f, left, 4, lambda: _store_zeros(f, dst, 4))
    while_at_least(f, left, 1, lambda: _store_zeros(f, dst, 1))


def _store_zeros(f: Func, dst: int, floats: int) -> None:
    f.op("local.get", dst)
    if floats == 4:
        f.op("v128.const", ZERO)
        f.op("v128.store", 0)
    else:
        f.op("f32.const", 0.0)
        f.op("f32.store", 0)
    add_to(f, dst, 4 * floats)


def _copy(f: Func, dst: int, src: int, count: int, stride: int) -> None:
    """Copy `count` floats from src (every `stride`-th) to dst; both pointers advance."""
    def four() -> None:
        f.op("local.get", dst)
        load_strided4(f, src, 0, stride)
        f.op("v128.store", 0)
        add_to(f, dst, 16)
        add_to(f, src, 16 * stride)

    def one() -> None:
        f.op("local.get", dst)
        f.op("local.get", src)
        f.op("f32.load", 0)
        f.op("f32.store", 0)
        add_to(f, dst, 4)
        add_to(f, src, 4 * stride)

    while_at_least(f, count, 4, four)
    while_at_least(f, count, 1, one)


IM2COL = single("im2col", "wasm", emit_im2col)
