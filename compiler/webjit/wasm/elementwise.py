"""WASM SIMD128 code for Elementwise kernels: out[idx] = expr(inputs at idx).

Dimensions that are contiguous for every access are merged and size-1 dimensions are
dropped. The innermost dimension runs 4 lanes at a time, `unroll` steps per loop
iteration (then a scalar tail, one lane per step with the same expression code); the outer dimensions advance per-access row
pointers like an odometer, so the loops add and never multiply. Threads split the
flattened outer rows, or the single dimension itself when only one is left.
"""
from __future__ import annotations

from dataclasses import dataclass

from webjit.family import Constraint, Family
from webjit.kernels import Access, Elementwise, Loops, collapse, prod, used_inputs
from webjit.wasm.encoder import I32, V128, Func, Module
from webjit.wasm.expr import emit_expr
from webjit.symbolic import Sym, fixed, upper
from webjit.wasm.loops import Count, Local, add_to, counted_loop, thread_share
from webjit.wasm.sizes import Sizes, sizes_of


@dataclass(frozen=True)
class ElementwiseConfig:
    unroll: int = 1  # 4-lane steps per loop iteration of the innermost run


SPACE = (ElementwiseConfig(1), ElementwiseConfig(2), ElementwiseConfig(4))


def emit(spec: Elementwise, config: ElementwiseConfig) -> Module:
    """The module for `spec`, exporting run(p0..p{nargs-1}, tid, nthreads)."""
    nargs = len(spec.args)
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * (nargs + 2), results=[])
    if any(isinstance(n, int) and n == 0 for n in spec.shape):
        return module
    accesses = [spec.out, *spec.inputs]
    loops = collapse(spec.shape, accesses)
    sizes = sizes_of(f, spec)
    Kernel(f, module, spec, accesses, loops, config.unroll, nargs, nargs + 1, sizes).emit()
    sizes.finish()
    return module


def inner_run(spec: Elementwise) -> int:
    """Elements of the innermost loop after collapsing."""
    return collapse(spec.shape, [spec.out, *spec.inputs]).shape[-1]


def resolve(config: ElementwiseConfig, spec: Elementwise, target) -> ElementwiseConfig:
    unroll = config.unroll
    while unroll > 1 and 4 * unroll > upper(inner_run(spec)):
        unroll //= 2
    return ElementwiseConfig(unroll)


# Resolution halves the unroll until the unrolled steps fit the innermost run.
CONSTRAINTS = (
    Constraint("unroll a power of two from 1 to 8", lambda c, s, t: c.unroll in (1, 2, 4, 8), hard=True),
)


def cost(config: ElementwiseConfig, spec: Elementwise, target) -> float:
    """Elements, plus a loop branch per iteration (a rough share of a 4-lane step)."""
    return upper(prod(spec.shape)) * (1 + 0.25 / config.unroll)


FAMILY = Family("elementwise", "wasm", ElementwiseConfig, SPACE, CONSTRAINTS,
                lambda spec, target: ElementwiseConfig(1), resolve,
                lambda spec, config, target: emit(spec, config), cost)


class Kernel:
    """Builds one elementwise `run` body; holds the locals it allocates."""

    def __init__(self, f: Func, module: Module, spec: Elementwise, accesses: list[Access],
                 loops: Loops, unroll: int, tid: int, nthreads: int, sizes: Sizes):
        self.f, self.module, self.spec, self.unroll = f, module, spec, unroll
        self.sizes = sizes
        self.accesses, self.loops = accesses, loops
        self.tid, self.nthreads = tid, nthreads
        self.used = sorted(used_inputs(spec.expr))
        self.inner = loops.shape[-1]
        self.inner_strides = [s[-1] for s in loops.strides]
        self.row_ptrs = [f.local(I32) for _ in accesses]
        self.ptrs = [f.local(I32) for _ in accesses]
        self.values = {i: f.local(V128) for i in self.used}

    def emit(self) -> None:
        f = self.f
        if len(self.loops.shape) == 1:
            start, count = thread_share(f, self.sizes.count(self.inner), self.tid, self.nthreads, align=4)
            self.set_row_ptrs(col_start=start)
            self.emit_row(count)
            return
        outer = self.loops.shape[:-1]
        start, rows = thread_share(f, self.sizes.count(prod(outer)), self.tid, self.nthreads)
        index = self.set_row_ptrs(row_start=start)
        with counted_loop(f, rows):
            self.emit_row(self.sizes.count(self.inner))
            self.advance(index, len(outer) - 1)

    def set_row_ptrs(self, row_start: Local | None = None, col_start: Local | None = None) -> list[int]:
        """Point each access at its first row; returns the outer index locals (odometer)."""
        f = self.f
        outer = self.loops.shape[:-1]
        index = [f.local(I32) for _ in outer]
        if row_start is not None:
            rest = f.local(I32)
            f.op("local.get", row_start.index)
            f.op("local.set", rest)
            for d in reversed(range(len(outer))):
                f.op("local.get", rest)
                if d > 0:
                    self.sizes.push(outer[d])
                    f.op("i32.rem_u")
                f.op("local.set", index[d])
                if d > 0:
                    f.op("local.get", rest)
                    self.sizes.push(outer[d])
                    f.op("i32.div_u")
                    f.op("local.set", rest)
        for a, access in enumerate(self.accesses):
            f.op("local.get", access.arg)
            if isinstance(access.offset, Sym) or access.offset:
                self.sizes.push(4 * access.offset)
                f.op("i32.add")
            terms = [(index[d], self.loops.strides[a][d]) for d in range(len(outer))]
            if col_start is not None:
                terms.append((col_start.index, self.inner_strides[a]))
            for local, stride in terms:
                if isinstance(stride, Sym) or stride:
                    f.op("local.get", local)
                    self.sizes.push(4 * stride)
                    f.op("i32.mul")
                    f.op("i32.add")
            f.op("local.set", self.row_ptrs[a])
        return index

    def advance(self, index: list[int], d: int) -> None:
        """Step the odometer at outer dim d, carrying into d-1 when it wraps."""
        f = self.f
        add_to(f, index[d], 1)
        for a in range(len(self.accesses)):
            add_to(f, self.row_ptrs[a], self.sizes.count(4 * self.loops.strides[a][d]))
        if d == 0:
            return
        f.op("local.get", index[d])
        self.sizes.push(self.loops.shape[d])
        f.op("i32.eq")
        f.op("if")
        f.op("i32.const", 0)
        f.op("local.set", index[d])
        for a in range(len(self.accesses)):
            add_to(f, self.row_ptrs[a], self.sizes.count(-4 * self.loops.shape[d] * self.loops.strides[a][d]))
        self.advance(index, d - 1)
        f.op("end")

    def emit_row(self, count: Count) -> None:
        """One row of `count` elements: 4-lane body, then the tail one lane at a time."""
        f = self.f
        for a in range(len(self.accesses)):
            f.op("local.get", self.row_ptrs[a])
            f.op("local.set", self.ptrs[a])
        hoisted = [i for i in self.used if fixed(self.inner_strides[i + 1], 0)]
        for i in hoisted:
            f.op("local.get", self.ptrs[i + 1])
            f.op("v128.load32_splat", 0)
            f.op("local.set", self.values[i])
        step = 4 * self.unroll
        # count = big (whole unrolled iterations) + mid (4-lane steps left) + tail (lanes)
        if isinstance(count, Local):
            big, mid, tail = (self.masked(count, mask) for mask in (-step, step - 4, 3))
        else:
            big, mid, tail = count & -step, count & (step - 4), count & 3
        with counted_loop(f, big, step):
            for _ in range(self.unroll):
                self.emit_step(lanes=4, hoisted=hoisted)
        if self.unroll > 1:
            with counted_loop(f, mid, 4):
                self.emit_step(lanes=4, hoisted=hoisted)
        with counted_loop(f, tail, 1):
            self.emit_step(lanes=1, hoisted=hoisted)

    def masked(self, count: Local, mask: int) -> Local:
        """A local holding count & mask."""
        local = self.f.local(I32)
        self.f.op("local.get", count.index)
        self.f.op("i32.const", mask)
        self.f.op("i32.and")
        self.f.op("local.set", local)
        return Local(local)

    def emit_step(self, lanes: int, hoisted: list[int]) -> None:
        f = self.f
        for i in self.used:
            if i not in hoisted:
                self.load(self.ptrs[i + 1], self.inner_strides[i + 1], lanes)
                f.op("local.set", self.values[i])
        out_ptr, out_stride = self.ptrs[0], self.inner_strides[0]
        if lanes == 4 and fixed(out_stride, 1):
            f.op("local.get", out_ptr)
            self.compute()
            f.op("v128.store", 0)
        elif lanes == 4:
            result = f.local(V128)
            self.compute()
            f.op("local.set", result)
            for lane in range(4):
                offset = self.push_address(out_ptr, 4 * out_stride * lane)
                f.op("local.get", result)
                f.op("v128.store32_lane", offset, lane)
        else:
            f.op("local.get", out_ptr)
            self.compute()
            f.op("v128.store32_lane", 0, 0)
        for a in range(len(self.accesses)):
            add_to(f, self.ptrs[a], self.sizes.count(4 * lanes * self.inner_strides[a]))

    def compute(self) -> None:
        emit_expr(self.f, self.module, self.spec.expr,
                  lambda leaf: self.f.op("local.get", self.values[leaf.index]))

    def load(self, ptr: int, stride: int, lanes: int) -> None:
        """Push `lanes` elements at ptr, ptr + stride, ... (one element: splatted)."""
        f = self.f
        if lanes == 1 or fixed(stride, 0):
            f.op("local.get", ptr)
            f.op("v128.load32_splat", 0)
        elif fixed(stride, 1):
            f.op("local.get", ptr)
            f.op("v128.load", 0)
        else:
            # Addresses of lanes 3, 2, 1 wait on the stack under the vector being filled.
            offsets = [self.push_address(ptr, 4 * stride * lane) for lane in (3, 2, 1)][::-1]
            f.op("local.get", ptr)
            f.op("v128.load32_splat", 0)
            for lane, offset in zip((1, 2, 3), offsets):
                f.op("v128.load32_lane", offset, lane)

    def push_address(self, ptr: int, byte_offset: int) -> int:
        """Push an address for ptr + byte_offset; returns the memarg offset still to add."""
        self.f.op("local.get", ptr)
        if isinstance(byte_offset, Sym):
            self.sizes.push(byte_offset)
            self.f.op("i32.add")
            return 0
        if byte_offset >= 0:
            return byte_offset
        self.f.op("i32.const", byte_offset)
        self.f.op("i32.add")
        return 0
