"""WASM code generators for Im2Col (convolution as a matmul) and Pool (max / average).

Both walk output rows: Im2Col's rows are (image, channel, ki, kj, oy) runs of `ow`
columns, Pool's are (plane, oy) runs; threads take contiguous runs of rows. The range
of output columns whose input lies inside the image is computed once per row, so the
inner loops never test bounds: Im2Col zero-fills the padding on either side and copies
the middle (four floats at a time when the stride is 1); Pool clips each window. Both
are bound by memory, so their schedule space is one point (NoConfig).
"""
from __future__ import annotations

from ..family import NoConfig, single
from ..kernels import Im2Col, Pool
from .encoder import F32, I32, Func, Module
from .loops import Local, add_to, counted_loop, set_linear, thread_share

ZERO = bytes(16)


def emit_im2col(spec: Im2Col, config: NoConfig) -> Module:
    """A module whose `run(x, out, tid, nthreads)` writes the columns of NCHW `x`."""
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * 4, results=[])
    x, out, tid, nthreads = 0, 1, 2, 3
    rows = spec.n * spec.c * spec.kh * spec.kw * spec.oh
    if rows == 0 or spec.ow == 0:
        return module
    start, count = thread_share(f, rows, tid, nthreads)
    row = f.local(I32)
    _set(f, row, start)
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
    _split(f, row, [(oy, spec.oh), (kj, spec.kw), (ki, spec.kh)], plane)
    dst, src, iy, first_x = (f.local(I32) for _ in range(4))
    set_linear(f, dst, out, 0, [(row, 4 * spec.ow)])
    set_linear(f, iy, None, -pad_top, [(oy, sh), (ki, dh)])
    set_linear(f, first_x, None, -pad_left, [(kj, dw)])  # input column of output column 0
    lo, hi = _column_range(f, first_x, sw, spec.w, spec.ow)
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
    _set(f, row, start)
    set_linear(f, dst, out, 0, [(row, 4 * spec.ow)])
    with counted_loop(f, count):
        _pool_row(f, spec, row, dst, x)
        add_to(f, row, 1)
    return module


def _pool_row(f: Func, spec: Pool, row: int, dst: int, x: int) -> None:
    """Output row `row` = plane * oh + oy: ow values, written at `dst` (advanced)."""
    pad_top, pad_left, pad_bottom, pad_right = spec.pads
    sh, sw = spec.strides
    dh, dw = spec.dilations
    oy, plane = f.local(I32), f.local(I32)
    _split(f, row, [(oy, spec.oh)], plane)
    top = f.local(I32)  # input row of window row 0
    set_linear(f, top, None, -pad_top, [(oy, sh)])
    ky0, ky1 = _window_range(f, top, dh, spec.h, spec.kh)
    rows_counted = ky1
    if spec.kind == "avg" and spec.count_include_pad:  # window rows inside the padded input
        rows_counted = _ceil_div_clamped(f, top, -(spec.h + pad_bottom), dh, spec.kh)
    left = f.local(I32)
    set_linear(f, left, None, -pad_left, [])
    acc, ky, kx, rowptr, ptr = f.local(F32), f.local(I32), f.local(I32), f.local(I32), f.local(I32)
    with counted_loop(f, spec.ow):
        kx0, kx1 = _window_range(f, left, dw, spec.w, spec.kw)
        if spec.kind == "max":
            f.op("f32.const", float("-inf"))
        else:
            f.op("f32.const", 0.0)
        f.op("local.set", acc)
        _set(f, ky, Local(ky0))
        _loop_while_less(f, ky, ky1, lambda: _pool_window_row(
            f, spec, x, plane, top, ky, left, kx, kx0, kx1, rowptr, ptr, acc))
        if spec.kind == "avg":
            if spec.count_include_pad:
                cols = _ceil_div_clamped(f, left, -(spec.w + pad_right), dw, spec.kw)
                _divide_by_count(f, acc, rows_counted, None, cols, None)
            else:
                _divide_by_count(f, acc, ky1, ky0, kx1, kx0)
        f.op("local.get", dst)
        f.op("local.get", acc)
        f.op("f32.store", 0)
        add_to(f, dst, 4)
        add_to(f, left, sw)


def _pool_window_row(f, spec, x, plane, top, ky, left, kx, kx0, kx1, rowptr, ptr, acc) -> None:
    """acc = max/sum(acc, x[plane, top + ky*dh, left + kx*dw] for kx in [kx0, kx1)); ky += 1."""
    dh, dw = spec.dilations
    set_linear(f, rowptr, x, 0, [(plane, 4 * spec.h * spec.w), (top, 4 * spec.w), (ky, 4 * dh * spec.w),
                              (left, 4)])
    set_linear(f, ptr, rowptr, 0, [(kx0, 4 * dw)])
    _set(f, kx, Local(kx0))

    def column() -> None:
        f.op("local.get", acc)
        f.op("local.get", ptr)
        f.op("f32.load", 0)
        f.op("f32.max" if spec.kind == "max" else "f32.add")
        f.op("local.set", acc)
        add_to(f, ptr, 4 * dw)
        add_to(f, kx, 1)

    _loop_while_less(f, kx, kx1, column)
    add_to(f, ky, 1)


def _divide_by_count(f, acc, hi_y, lo_y, hi_x, lo_x) -> None:
    """acc /= (hi_y - lo_y) * (hi_x - lo_x), never dividing by zero (empty windows give 0)."""
    f.op("local.get", acc)
    for hi, lo in ((hi_y, lo_y), (hi_x, lo_x)):
        f.op("local.get", hi)
        if lo is not None:
            f.op("local.get", lo)
            f.op("i32.sub")
    f.op("i32.mul")
    f.op("f32.convert_i32_s")
    f.op("f32.const", 1.0)
    f.op("f32.max")
    f.op("f32.div")
    f.op("local.set", acc)


# ---------------------------------------------------------------- small code helpers
def _set(f: Func, local: int, value) -> None:
    if isinstance(value, Local):
        f.op("local.get", value.index)
    else:
        f.op("i32.const", value)
    f.op("local.set", local)





def _split(f: Func, flat: int, dims, rest: int) -> None:
    """Mixed-radix split of `flat`: each (local, size) gets flat % size, innermost first;
    `rest` gets what is left."""
    f.op("local.get", flat)
    f.op("local.set", rest)
    for local, size in dims:
        f.op("local.get", rest)
        f.op("i32.const", size)
        f.op("i32.rem_u")
        f.op("local.set", local)
        f.op("local.get", rest)
        f.op("i32.const", size)
        f.op("i32.div_u")
        f.op("local.set", rest)


def _ceil_div_clamped(f: Func, first: int, shift: int, step: int, limit: int) -> int:
    """A local: how many k in [0, limit) have first + k*step < -shift, i.e.
    clamp(ceil((-shift - first) / step), 0, limit)."""
    out = f.local(I32)
    f.op("i32.const", -shift + step - 1)
    f.op("local.get", first)
    f.op("i32.sub")
    f.op("i32.const", step)
    f.op("i32.div_s")  # truncation is the ceiling for positive numerators; others clamp to 0
    f.op("local.tee", out)
    f.op("i32.const", 0)
    f.op("local.get", out)
    f.op("i32.const", 0)
    f.op("i32.gt_s")
    f.op("select")
    f.op("local.tee", out)
    f.op("i32.const", limit)
    f.op("local.get", out)
    f.op("i32.const", limit)
    f.op("i32.lt_s")
    f.op("select")
    f.op("local.set", out)
    return out


def _window_range(f: Func, first: int, step: int, size: int, limit: int) -> tuple[int, int]:
    """Locals (lo, hi): the k in [0, limit) with 0 <= first + k*step < size are [lo, hi)."""
    lo = _ceil_div_clamped(f, first, 0, step, limit)
    hi = _ceil_div_clamped(f, first, -size, step, limit)
    f.op("local.get", hi)
    f.op("local.get", lo)
    f.op("local.get", hi)
    f.op("local.get", lo)
    f.op("i32.gt_s")
    f.op("select")
    f.op("local.set", hi)  # hi = max(hi, lo): an empty range, never a negative one
    return lo, hi


def _column_range(f: Func, first_x: int, stride: int, width: int, ow: int) -> tuple[int, int]:
    """Locals (lo, hi): the output columns whose input column first_x + ox*stride is inside."""
    return _window_range(f, first_x, stride, width, ow)


def _loop_while_less(f: Func, counter: int, end: int, body) -> None:
    """while counter < end: body() (the body advances counter)."""
    f.op("block")
    f.op("loop")
    f.op("local.get", counter)
    f.op("local.get", end)
    f.op("i32.ge_s")
    f.op("br_if", 1)
    body()
    f.op("br", 0)
    f.op("end")
    f.op("end")


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
    _set(f, left, count)
    _while_at_least(f, left, 4, lambda: _store_zeros(f, dst, 4))
    _while_at_least(f, left, 1, lambda: _store_zeros(f, dst, 1))


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
    if stride == 1:
        _while_at_least(f, count, 4, lambda: _move(f, dst, src, "v128", 16))
    _while_at_least(f, count, 1, lambda: _move(f, dst, src, "f32", 4 * stride))


def _move(f: Func, dst: int, src: int, kind: str, src_step: int) -> None:
    """One f32 or v128 from src to dst; dst advances by its size, src by src_step."""
    f.op("local.get", dst)
    f.op("local.get", src)
    f.op(f"{kind}.load", 0)
    f.op(f"{kind}.store", 0)
    add_to(f, dst, 16 if kind == "v128" else 4)
    add_to(f, src, src_step)


def _while_at_least(f: Func, left: int, amount: int, body) -> None:
    """while left >= amount (signed): body(); left -= amount."""
    f.op("block")
    f.op("loop")
    f.op("local.get", left)
    f.op("i32.const", amount)
    f.op("i32.lt_s")
    f.op("br_if", 1)
    body()
    add_to(f, left, -amount)
    f.op("br", 0)
    f.op("end")
    f.op("end")


IM2COL, POOL = single("im2col", "wasm", emit_im2col), single("pool", "wasm", emit_pool)
