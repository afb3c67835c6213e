"""WASM SIMD128 code for Elementwise kernels: out[idx] = expr(inputs at idx).

Dimensions that are contiguous for every access are merged and size-1 dimensions are
dropped. The innermost dimension runs 4 lanes at a time (then a scalar tail, one lane
per step with the same expression code); the outer dimensions advance per-access row
pointers like an odometer, so the loops add and never multiply. Threads split the
flattened outer rows, or the single dimension itself when only one is left.
"""
from __future__ import annotations

from dataclasses import dataclass

from webjit.errors import CompileError
from webjit.kernels import Access, Elementwise, Expr
from webjit.wasm.encoder import I32, V128, Func, Module
from webjit.wasm.expr import emit_expr
from webjit.wasm.loops import Count, Local, add_to, counted_loop, thread_share


@dataclass(frozen=True)
class Loops:
    """The collapsed iteration space: `strides[a]` are element strides of access a (0 = out)."""
    shape: tuple[int, ...]
    strides: tuple[tuple[int, ...], ...]


def collapse(shape: tuple[int, ...], accesses: list[Access]) -> Loops:
    """Drop size-1 dims and merge neighbours that are contiguous for every access."""
    keep = [d for d, n in enumerate(shape) if n != 1]
    dims = [shape[d] for d in keep]
    strides = [[a.strides[d] for d in keep] for a in accesses]
    if not dims:
        return Loops((1,), tuple((1,) for _ in accesses))
    merged, merged_strides = [dims[0]], [[s[0]] for s in strides]
    for d in range(1, len(dims)):
        if all(ms[-1] == s[d] * dims[d] for ms, s in zip(merged_strides, strides)):
            merged[-1] *= dims[d]
            for ms, s in zip(merged_strides, strides):
                ms[-1] = s[d]
        else:
            merged.append(dims[d])
            for ms, s in zip(merged_strides, strides):
                ms.append(s[d])
    return Loops(tuple(merged), tuple(tuple(s) for s in merged_strides))


def used_inputs(expr: Expr) -> set[int]:
    if expr.op == "in":
        return {expr.index}
    if expr.op == "acc":
        raise CompileError("An elementwise expression cannot read `acc`; only matmul epilogues can.")
    return set().union(*(used_inputs(a) for a in expr.args)) if expr.args else set()


def emit(spec: Elementwise, config=None) -> Module:
    """The module for `spec`, exporting run(p0..p{nargs-1}, tid, nthreads)."""
    check(spec)
    nargs = len(spec.args)
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * (nargs + 2), results=[])
    if any(n == 0 for n in spec.shape):
        return module
    accesses = [spec.out, *spec.inputs]
    loops = collapse(spec.shape, accesses)
    Kernel(f, module, spec, accesses, loops, tid=nargs, nthreads=nargs + 1).emit()
    return module


def check(spec: Elementwise) -> None:
    for access in [spec.out, *spec.inputs]:
        if len(access.strides) != len(spec.shape):
            raise CompileError(f"An elementwise access has strides {access.strides} for shape "
                               f"{spec.shape}; give one stride per dimension.")
    for i in used_inputs(spec.expr):
        if not 0 <= i < len(spec.inputs):
            raise CompileError(f"The elementwise expression reads input {i} of {len(spec.inputs)}.")
    for leaf in leaves(spec.expr):
        stored = spec.args[spec.inputs[leaf.index].arg].dtype
        if leaf.dtype != stored:
            raise CompileError(f"Elementwise input {leaf.index} is stored as {stored} but read as "
                               f"{leaf.dtype}; insert a cast.")
    if spec.args[spec.out.arg].dtype != spec.expr.dtype:
        raise CompileError(f"The elementwise output is {spec.args[spec.out.arg].dtype} but the "
                           f"expression gives {spec.expr.dtype}; insert a cast.")


def leaves(expr: Expr) -> list[Expr]:
    if expr.op == "in":
        return [expr]
    return [leaf for arg in expr.args for leaf in leaves(arg)]


class Kernel:
    """Builds one elementwise `run` body; holds the locals it allocates."""

    def __init__(self, f: Func, module: Module, spec: Elementwise, accesses: list[Access],
                 loops: Loops, tid: int, nthreads: int):
        self.f, self.module, self.spec = f, module, spec
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
            start, count = thread_share(f, self.inner, self.tid, self.nthreads, align=4)
            self.set_row_ptrs(col_start=start)
            self.emit_row(count)
            return
        outer = self.loops.shape[:-1]
        start, rows = thread_share(f, prod(outer), self.tid, self.nthreads)
        index = self.set_row_ptrs(row_start=start)
        with counted_loop(f, rows):
            self.emit_row(self.inner)
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
                    f.op("i32.const", outer[d])
                    f.op("i32.rem_u")
                f.op("local.set", index[d])
                if d > 0:
                    f.op("local.get", rest)
                    f.op("i32.const", outer[d])
                    f.op("i32.div_u")
                    f.op("local.set", rest)
        for a, access in enumerate(self.accesses):
            f.op("local.get", access.arg)
            if access.offset:
                f.op("i32.const", 4 * access.offset)
                f.op("i32.add")
            terms = [(index[d], self.loops.strides[a][d]) for d in range(len(outer))]
            if col_start is not None:
                terms.append((col_start.index, self.inner_strides[a]))
            for local, stride in terms:
                if stride:
                    f.op("local.get", local)
                    f.op("i32.const", 4 * stride)
                    f.op("i32.mul")
                    f.op("i32.add")
            f.op("local.set", self.row_ptrs[a])
        return index

    def advance(self, index: list[int], d: int) -> None:
        """Step the odometer at outer dim d, carrying into d-1 when it wraps."""
        f = self.f
        add_to(f, index[d], 1)
        for a in range(len(self.accesses)):
            add_to(f, self.row_ptrs[a], 4 * self.loops.strides[a][d])
        if d == 0:
            return
        f.op("local.get", index[d])
        f.op("i32.const", self.loops.shape[d])
        f.op("i32.eq")
        f.op("if")
        f.op("i32.const", 0)
        f.op("local.set", index[d])
        for a in range(len(self.accesses)):
            add_to(f, self.row_ptrs[a], -4 * self.loops.shape[d] * self.loops.strides[a][d])
        self.advance(index, d - 1)
        f.op("end")

    def emit_row(self, count: Count) -> None:
        """One row of `count` elements: 4-lane body, then the tail one lane at a time."""
        f = self.f
        for a in range(len(self.accesses)):
            f.op("local.get", self.row_ptrs[a])
            f.op("local.set", self.ptrs[a])
        hoisted = [i for i in self.used if self.inner_strides[i + 1] == 0]
        for i in hoisted:
            f.op("local.get", self.ptrs[i + 1])
            f.op("v128.load32_splat", 0)
            f.op("local.set", self.values[i])
        if isinstance(count, Local):
            body, tail = f.local(I32), f.local(I32)
            f.op("local.get", count.index)
            f.op("i32.const", -4)
            f.op("i32.and")
            f.op("local.set", body)
            f.op("local.get", count.index)
            f.op("i32.const", 3)
            f.op("i32.and")
            f.op("local.set", tail)
            body_count, tail_count = Local(body), Local(tail)
        else:
            body_count, tail_count = count & -4, count & 3
        with counted_loop(f, body_count, 4):
            self.emit_step(lanes=4, hoisted=hoisted)
        with counted_loop(f, tail_count, 1):
            self.emit_step(lanes=1, hoisted=hoisted)

    def emit_step(self, lanes: int, hoisted: list[int]) -> None:
        f = self.f
        for i in self.used:
            if i not in hoisted:
                self.load(self.ptrs[i + 1], self.inner_strides[i + 1], lanes)
                f.op("local.set", self.values[i])
        out_ptr, out_stride = self.ptrs[0], self.inner_strides[0]
        if lanes == 4 and out_stride == 1:
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
            add_to(f, self.ptrs[a], 4 * lanes * self.inner_strides[a])

    def compute(self) -> None:
        emit_expr(self.f, self.module, self.spec.expr,
                  lambda leaf: self.f.op("local.get", self.values[leaf.index]))

    def load(self, ptr: int, stride: int, lanes: int) -> None:
        """Push `lanes` elements at ptr, ptr + stride, ... (one element: splatted)."""
        f = self.f
        if lanes == 1 or stride == 0:
            f.op("local.get", ptr)
            f.op("v128.load32_splat", 0)
        elif stride == 1:
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
        if byte_offset >= 0:
            return byte_offset
        self.f.op("i32.const", byte_offset)
        self.f.op("i32.add")
        return 0


def prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out
