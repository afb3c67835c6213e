"""WASM code generator for Depthwise (a direct depthwise 2-d convolution with an epilogue).

Threads take contiguous runs of output rows (image, channel, oy). Per row the window rows
inside the image are computed once; which window columns of which output column lie inside
the image is known at compile time. The interior columns (every window column inside) run
four at a time (SIMD128) in a loop with no bounds tests; the border columns run in static
groups of up to four lanes where each window column loads only the lanes inside the image
(a huge window over a narrow image loops over its border columns one at a time instead). In
a row whose window rows are all inside (every row but the padded top and bottom ones) the
taps are unrolled with the filter held in v128 locals; the other rows loop over the window
rows that are inside. Stride 1 loads four columns as one vector, stride 2 as two shuffled
vectors, larger strides lane by lane. The epilogue (bias, activation, residual ...) runs on
the accumulators before they are stored, as in the MatMul kernels. Memory bound: NoConfig.
"""
from __future__ import annotations

from ..errors import CompileError
from ..family import NoConfig, single
from ..kernels import Depthwise, Expr
from .windows import loop_while_less, split, window_range
from .encoder import F32, I32, V128, Func, Module
from .expr import emit_expr
from .loops import add_to, counted_loop, set_linear, thread_share

ZERO = bytes(16)
# i8x16.shuffle of x[i..i+3] and x[i+3..i+6] giving x[i], x[i+2], x[i+4], x[i+6] (stride 2).
EVEN_LANES = bytes([0, 1, 2, 3, 8, 9, 10, 11, 20, 21, 22, 23, 28, 29, 30, 31])
MAX_HELD_TAPS = 64  # filters with more taps are read from memory, not held in locals
MAX_UNROLLED_TAPS = 4096  # border columns times window width unrolled at most (else loops)


def interior(spec: Depthwise) -> tuple[int, int]:
    """The output columns [lo, hi) whose every window column lies inside the image."""
    sw, dw, left = spec.strides[1], spec.dilations[1], spec.pads[1]
    lo = min(-(-left // sw), spec.ow)
    last = spec.w - 1 + left - (spec.kw - 1) * dw  # the largest ox * sw allowed
    hi = min(last // sw + 1, spec.ow) if last >= 0 else 0
    return lo, max(hi, lo)


def emit_depthwise(spec: Depthwise, config: NoConfig) -> Module:
    """A module whose `run(args..., tid, nthreads)` computes `spec`."""
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * (len(spec.args) + 2), results=[])
    rows = spec.n * spec.c * spec.oh
    if rows == 0 or spec.ow == 0:
        return module
    tid, nthreads = len(spec.args), len(spec.args) + 1
    start, count = thread_share(f, rows, tid, nthreads)
    row = f.local(I32)
    f.op("local.get", start.index)
    f.op("local.set", row)
    emitter = _Row(spec, module, f)
    with counted_loop(f, count):
        emitter.row(row)
        add_to(f, row, 1)
    return module


class _Row:
    """The code of one output row; `cursors` point at the current column of x, out and each extra."""

    def __init__(self, spec: Depthwise, module: Module, f: Func):
        self.spec, self.module, self.f = spec, module, f
        self.out = len(spec.args) - 1
        self.taps = [(ky, kx) for ky in range(spec.kh) for kx in range(spec.kw)]
        self.held = [f.local(V128) for _ in self.taps] if len(self.taps) <= MAX_HELD_TAPS else None
        self.acc, self.acc_f, self.value = f.local(V128), f.local(F32), f.local(V128)

    def row(self, row: int) -> None:
        spec, f = self.spec, self.f
        pad_top, pad_left = spec.pads[:2]
        sh, sw = spec.strides
        oy, plane, ch, img = (f.local(I32) for _ in range(4))
        split(f, row, [(oy, spec.oh)], plane)
        split(f, plane, [(ch, spec.c)], img)
        top, left = f.local(I32), f.local(I32)  # input row of window row 0, input column of output column 0
        set_linear(f, top, None, -pad_top, [(oy, sh)])
        set_linear(f, left, None, -pad_left, [])
        self.ky0, self.ky1 = window_range(f, top, spec.dilations[0], spec.h, spec.kh)
        self.left = left
        # x points at (iy, ix) of window tap (0, 0) of the current column (i32 arithmetic wraps
        # where that lies outside the image; loads add only offsets that land inside)
        self.x, self.w, self.dst = f.local(I32), f.local(I32), f.local(I32)
        set_linear(f, self.x, 0, -4 * pad_left, [(plane, 4 * spec.h * spec.w), (top, 4 * spec.w)])
        set_linear(f, self.w, 1, 0, [(ch, 4 * spec.kh * spec.kw)])
        set_linear(f, self.dst, self.out, 0, [(row, 4 * spec.ow)])
        self.extras = []
        for access in spec.extras:
            cursor = f.local(I32)
            s_img, s_ch, s_px = access.strides
            set_linear(f, cursor, access.arg, 4 * access.offset, [(img, 4 * s_img), (ch, 4 * s_ch), (oy, 4 * spec.ow * s_px)])
            self.extras.append(cursor)
        lo, hi = interior(spec)
        first = min(-(-lo // 4) * 4, spec.ow)  # the vector loop starts at a multiple of 4 ...
        vectors = max(hi - first, 0) // 4
        after = first + 4 * vectors  # ... and static groups of up to 4 columns cover the rest
        groups = [(ox, min(4, first - ox)) for ox in range(0, first, 4)]
        groups += [(ox, min(4, spec.ow - ox)) for ox in range(after, spec.ow, 4)]
        unrolled = (spec.ow - 4 * vectors) * spec.kw <= MAX_UNROLLED_TAPS
        if not unrolled:  # a huge window over a narrow image: border columns in loops
            first, vectors = lo, (hi - lo) // 4
            groups = []
            self.columns(lo)
        f.op("local.get", self.ky0)  # every window row inside the image?
        f.op("i32.eqz")
        f.op("local.get", self.ky1)
        f.op("i32.const", spec.kh)
        f.op("i32.eq")
        f.op("i32.and")
        f.op("if")
        if self.held is not None:
            for (ky, kx), local in zip(self.taps, self.held):
                f.op("local.get", self.w)
                f.op("v128.load32_splat", 4 * (ky * spec.kw + kx))
                f.op("local.set", local)
        self.row_blocks(first, vectors, groups, self.block_full)
        f.op("else")
        self.row_blocks(first, vectors, groups, self.block_clipped)
        f.op("end")
        if not unrolled:
            self.columns(spec.ow - lo - 4 * vectors)

    def row_blocks(self, first: int, vectors: int, groups, block) -> None:
        """The row's columns in order: static groups before `first`, the vectors, the rest
        (only one of the two branches runs, so each moves the cursors along the whole row)."""
        every = {kx: tuple(range(4)) for kx in range(self.spec.kw)}
        for ox, width in (g for g in groups if g[0] < first):
            block(width, self.lanes(ox, width))
        with counted_loop(self.f, vectors):
            block(4, every)
        for ox, width in (g for g in groups if g[0] >= first):
            block(width, self.lanes(ox, width))

    def lanes(self, ox: int, width: int) -> dict[int, tuple[int, ...]]:
        """Window column kx -> the lanes (columns ox + lane) whose input column it is inside the image."""
        spec = self.spec
        found = {}
        for kx in range(spec.kw):
            inside = tuple(j for j in range(width) if 0 <= (ox + j) * spec.strides[1] - spec.pads[1]
                           + kx * spec.dilations[1] < spec.w)
            if inside:
                found[kx] = inside
        return found

    def shift(self, lanes) -> int:
        """The smallest element offset (from tap (0, 0) of lane 0) of any tap read: the base of
        the loads, so every load offset is non-negative and every address inside the image."""
        sw, dw = self.spec.strides[1], self.spec.dilations[1]
        return min((kx * dw + j[0] * sw for kx, j in lanes.items()), default=0)

    def block_full(self, width: int, lanes) -> None:
        """acc = the window of `width` columns (only the taps in `lanes`), every window row inside."""
        spec, f = self.spec, self.f
        dh = spec.dilations[0]
        shift = self.shift(lanes)
        base = self.x
        if shift:
            base = f.local(I32)
            set_linear(f, base, self.x, 4 * shift)
        f.op("v128.const", ZERO)
        f.op("local.set", self.acc)
        for ky in range(spec.kh):
            for kx, inside in lanes.items():
                self.load_x(base, ky * dh * spec.w + kx * spec.dilations[1] - shift, inside, width)
                if self.held is not None:
                    f.op("local.get", self.held[ky * spec.kw + kx])
                else:
                    f.op("local.get", self.w)
                    f.op("v128.load32_splat", 4 * (ky * spec.kw + kx))
                self.accumulate()
        self.finish(width)

    def block_clipped(self, width: int, lanes) -> None:
        """acc = the window rows [ky0, ky1) of `width` columns (only the taps in `lanes`)."""
        spec, f = self.spec, self.f
        dh = spec.dilations[0]
        shift = self.shift(lanes)
        ky, xp, wp = f.local(I32), f.local(I32), f.local(I32)
        f.op("v128.const", ZERO)
        f.op("local.set", self.acc)
        f.op("local.get", self.ky0)
        f.op("local.set", ky)
        set_linear(f, xp, self.x, 4 * shift, [(self.ky0, 4 * dh * spec.w)])
        set_linear(f, wp, self.w, 0, [(self.ky0, 4 * spec.kw)])

        def window_row() -> None:
            for kx, inside in lanes.items():
                self.load_x(xp, kx * spec.dilations[1] - shift, inside, width)
                f.op("local.get", wp)
                f.op("v128.load32_splat", 4 * kx)
                self.accumulate()
            add_to(f, xp, 4 * dh * spec.w)
            add_to(f, wp, 4 * spec.kw)
            add_to(f, ky, 1)

        if lanes:
            loop_while_less(f, ky, self.ky1, window_row)
        self.finish(width)

    def load_x(self, pointer: int, offset: int, lanes: tuple[int, ...], width: int) -> None:
        """Push x at the `lanes` of `width` output columns (`stride` apart in the image) from
        pointer + 4 * offset; the other lanes are zero (or, for one column, the same value)."""
        f, stride = self.f, self.spec.strides[1]
        offset *= 4
        if width == 1:
            f.op("local.get", pointer)
            f.op("v128.load32_splat", offset)
        elif len(lanes) < 4:
            f.op("v128.const", ZERO)
            for lane in lanes:
                f.op("local.get", pointer)
                f.op("f32.load", offset + 4 * lane * stride)
                f.op("f32x4.replace_lane", lane)
        elif stride == 1:
            f.op("local.get", pointer)
            f.op("v128.load", offset)
        elif stride == 2:
            f.op("local.get", pointer)
            f.op("v128.load", offset)
            f.op("local.get", pointer)
            f.op("v128.load", offset + 12)
            f.op("i8x16.shuffle", *EVEN_LANES)
        else:
            f.op("local.get", pointer)
            f.op("v128.load32_splat", offset)
            for lane in range(1, 4):
                f.op("local.get", pointer)
                f.op("f32.load", offset + 4 * lane * stride)
                f.op("f32x4.replace_lane", lane)

    def accumulate(self) -> None:
        """acc += (the two vectors on the stack multiplied)."""
        self.f.op("f32x4.mul")
        self.f.op("local.get", self.acc)
        self.f.op("f32x4.add")
        self.f.op("local.set", self.acc)

    # ---- border columns, one at a time
    def columns(self, count: int) -> None:
        """`count` columns from the current one, each window clipped to the image."""
        spec, f = self.spec, self.f
        dh, dw = spec.dilations
        ky, kx, xp, wp, p, q = (f.local(I32) for _ in range(6))
        with counted_loop(f, count):
            kx0, kx1 = window_range(f, self.left, dw, spec.w, spec.kw)
            f.op("f32.const", 0.0)
            f.op("local.set", self.acc_f)
            f.op("local.get", self.ky0)
            f.op("local.set", ky)
            set_linear(f, xp, self.x, 0, [(self.ky0, 4 * dh * spec.w), (kx0, 4 * dw)])
            set_linear(f, wp, self.w, 0, [(self.ky0, 4 * spec.kw), (kx0, 4)])

            def window_row() -> None:
                f.op("local.get", xp)
                f.op("local.set", p)
                f.op("local.get", wp)
                f.op("local.set", q)
                f.op("local.get", kx0)
                f.op("local.set", kx)

                def tap() -> None:
                    f.op("local.get", q)
                    f.op("f32.load", 0)
                    f.op("local.get", p)
                    f.op("f32.load", 0)
                    f.op("f32.mul")
                    f.op("local.get", self.acc_f)
                    f.op("f32.add")
                    f.op("local.set", self.acc_f)
                    add_to(f, p, 4 * dw)
                    add_to(f, q, 4)
                    add_to(f, kx, 1)

                loop_while_less(f, kx, kx1, tap)
                add_to(f, xp, 4 * dh * spec.w)
                add_to(f, wp, 4 * spec.kw)
                add_to(f, ky, 1)

            loop_while_less(f, ky, self.ky1, window_row)
            f.op("local.get", self.acc_f)
            f.op("f32x4.splat")
            f.op("local.set", self.acc)
            self.finish(1)

    # ---- epilogue and store
    def finish(self, width: int) -> None:
        """Store epilogue(acc) at the current `width` columns and move every cursor past them.
        Lanes past `width` repeat lane 0, so the epilogue sees only values of real outputs."""
        f = self.f
        if 1 < width < 4:
            f.op("local.get", self.acc)
            f.op("local.get", self.acc)
            f.op("i8x16.shuffle", *[4 * (lane if lane < width else 0) + b for lane in range(4) for b in range(4)])
            f.op("local.set", self.acc)
        if self.spec.epilogue is None:
            f.op("local.get", self.acc)
        else:
            emit_expr(f, self.module, self.spec.epilogue, lambda leaf: self.load_leaf(leaf, width))
        if width == 4:
            f.op("local.set", self.value)
            f.op("local.get", self.dst)
            f.op("local.get", self.value)
            f.op("v128.store", 0)
        else:
            f.op("local.set", self.value)
            stores = {1: [("v128.store32_lane", 0, 0)], 2: [("v128.store64_lane", 0, 0)],
                      3: [("v128.store64_lane", 0, 0), ("v128.store32_lane", 8, 2)]}[width]
            for name, offset, lane in stores:
                f.op("local.get", self.dst)
                f.op("local.get", self.value)
                f.op(name, offset, lane)
        add_to(f, self.dst, 4 * width)
        add_to(f, self.x, 4 * width * self.spec.strides[1])
        add_to(f, self.left, width * self.spec.strides[1])
        for access, cursor in zip(self.spec.extras, self.extras):
            add_to(f, cursor, 4 * width * access.strides[2])

    def load_leaf(self, leaf: Expr, width: int) -> None:
        f = self.f
        if leaf.op == "acc":
            f.op("local.get", self.acc)
            return
        if leaf.op != "in":
            raise CompileError(f"Depthwise epilogue leaf {leaf} is not an input or the accumulator.")
        access, cursor = self.spec.extras[leaf.index], self.extras[leaf.index]
        step = access.strides[2]
        f.op("local.get", cursor)
        if width == 1 or step == 0:
            f.op("v128.load32_splat", 0)
        elif step == 1 and width == 4:
            f.op("v128.load", 0)
        else:  # a strided pixel axis or a short group: lanes one by one, past `width` lane 0 again
            kind = "i32" if self.spec.args[access.arg].dtype == "i32" else "f32"
            f.op("v128.load32_splat", 0)
            for lane in range(1, width):
                f.op("local.get", cursor)
                f.op(f"{kind}.load", 4 * lane * step)
                f.op(f"{kind}x4.replace_lane", lane)


DEPTHWISE = single("depthwise", "wasm", emit_depthwise)
