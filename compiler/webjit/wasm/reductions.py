"""WASM SIMD128 code for row kernels over contiguous [outer, r]: Reduce, Softmax, LayerNorm.

Threads split the rows. Each pass over a row runs 4 lanes at a time; the last r % 4
elements are loaded into the low lanes of one more vector, and a lane mask keeps the
unused lanes out of the accumulator (so the tail costs one step, not a scalar loop).
A reducing pass folds consecutive vectors into `accumulators` independent partials (the
config), combined at the end of the row; accumulators end with a horizontal reduce that
leaves the result in every lane.
"""
from __future__ import annotations

import struct
from typing import Callable

from dataclasses import dataclass

from webjit.family import Constraint, Family
from webjit.kernels import LayerNorm, Reduce, Softmax
from webjit.wasm.encoder import I32, V128, Func, Module
from webjit.wasm.expr import math_func, splat_const
from webjit.symbolic import Sym, SymbolicError, upper
from webjit.wasm.loops import Local, add_to, counted_loop, push, thread_share
from webjit.wasm.sizes import sizes_of

INF = float("inf")
# kind -> (combine op, identity, what each element contributes, final step)
REDUCE_KINDS = {
    "sum": ("add", 0.0, None, None),
    "mean": ("add", 0.0, None, "mean"),
    "max": ("max", -INF, None, None),
    "min": ("min", INF, None, None),
    "prod": ("mul", 1.0, None, None),
    "sumsq": ("add", 0.0, "square", None),
    "l1": ("add", 0.0, "abs", None),
    "l2": ("add", 0.0, "square", "sqrt"),
}
F32_COMBINE = {"add": "f32x4.add", "mul": "f32x4.mul", "max": "f32x4.max", "min": "f32x4.min"}
I32_COMBINE = {"add": "i32x4.add", "mul": "i32x4.mul", "max": "i32x4.max_s", "min": "i32x4.min_s"}
# Horizontal reduce: swap the 64-bit halves, then neighbouring lanes.
SWAP_HALVES = (8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)
SWAP_PAIRS = (4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11)

Value = Callable[[list[int]], None]


@dataclass(frozen=True)
class RowConfig:
    accumulators: int = 1  # independent partial results per reducing pass (4 lanes each)


SPACE = (RowConfig(1), RowConfig(2), RowConfig(4))


class Row:
    """Code for passes over one row of `r` elements of one function."""

    def __init__(self, f: Func, module: Module, r: int, dtype: str = "f32", accumulators: int = 1, sizes=None):
        self.f, self.module, self.r, self.dtype = f, module, r, dtype
        self.accumulators = accumulators
        self.sizes = sizes  # where r is symbolic: its value at run time

    def combine(self, op: str) -> None:
        table = F32_COMBINE if self.dtype == "f32" else I32_COMBINE
        self.f.op(table[op])

    def identity(self, value: float) -> int:
        acc = self.f.local(V128)
        if self.dtype == "i32" and abs(value) == INF:
            value = 2**31 - 1 if value > 0 else -2**31
        splat_const(self.f, self.dtype, value)
        self.f.op("local.set", acc)
        return acc

    def reduce(self, srcs: list[int], value: Value | None, op: str, identity: float) -> int:
        """A v128 local holding, in every lane, op over the row of value(loaded sources)."""
        acc = self.identity(identity)
        self.run(srcs, value, acc=acc, op=op, identity=identity)
        return horizontal(self, acc, op)

    def run(self, srcs: list[int], value: Value | None, dst: int | None = None,
            acc: int | None = None, op: str | None = None, identity: float = 0.0) -> None:
        """One pass: each value(loaded sources) goes to `dst` and/or is folded into `acc`.

        With several accumulators, consecutive vectors go to independent partial results
        (so the adds do not wait on each other) that are combined into `acc` at the end."""
        f = self.f
        ptrs = [f.local(I32) for _ in srcs]
        out = f.local(I32) if dst is not None else None
        for ptr, src in zip(ptrs + [out], srcs + [dst]):
            if ptr is not None:
                f.op("local.get", src)
                f.op("local.set", ptr)
        loaded = [f.local(V128) for _ in srcs]
        partial = [acc] + [self.identity(identity) for _ in range(self.accumulators - 1)] if acc is not None else [None]
        step = 4 * len(partial)
        if isinstance(self.r, Sym):
            self.symbolic_run(ptrs, loaded, value, out, acc, partial, op, step)
        else:
            with counted_loop(f, self.r - self.r % step, step):
                for part in partial:
                    self.step(ptrs, loaded, value, out, part, op, lanes=4)
            for _ in range(self.r % step // 4):
                self.step(ptrs, loaded, value, out, acc, op, lanes=4)
            if self.r & 3:
                self.step(ptrs, loaded, value, out, acc, op, lanes=self.r & 3)
        for part in partial[1:]:
            f.op("local.get", acc)
            f.op("local.get", part)
            self.combine(op)
            f.op("local.set", acc)

    def symbolic_run(self, ptrs, loaded, value, out, acc, partial, op, step: int) -> None:
        """The pass over a row whose length is known at run time: whole groups of `step`
        (a power of two), single vectors, then the 1-3 elements left, one code per count."""
        f, sizes, r = self.f, self.sizes, self.r
        with counted_loop(f, sizes.derived(f"and/{-step}", r, [r], [("i32.const", -step), ("i32.and",)]), step):
            for part in partial:
                self.step(ptrs, loaded, value, out, part, op, lanes=4)
        if step > 4:
            with counted_loop(f, sizes.derived(f"and/{step - 4}", r, [r], [("i32.const", step - 4), ("i32.and",)]), 4):
                self.step(ptrs, loaded, value, out, acc, op, lanes=4)
        left = sizes.derived("and/3", r, [r], [("i32.const", 3), ("i32.and",)])
        for lanes in (1, 2, 3):
            push(f, left)
            f.op("i32.const", lanes)
            f.op("i32.eq")
            f.op("if")
            self.step(ptrs, loaded, value, out, acc, op, lanes=lanes)
            f.op("end")

    def step(self, ptrs, loaded, value, out, acc, op, lanes: int) -> None:
        f = self.f
        for ptr, vec in zip(ptrs, loaded):
            load_lanes(f, ptr, lanes)
            f.op("local.set", vec)
        result = f.local(V128)
        if value is None:
            f.op("local.get", loaded[0])
        else:
            value(loaded)
        f.op("local.set", result)
        if out is not None:
            store_lanes(f, out, result, lanes)
        if acc is not None:
            f.op("local.get", acc)
            f.op("local.get", result)
            self.combine(op)
            if lanes < 4:
                # Only the low `lanes` lanes hold row elements; keep acc in the others.
                f.op("local.get", acc)
                f.op("v128.const", struct.pack("<4i", *([-1] * lanes + [0] * (4 - lanes))))
                f.op("v128.bitselect")
            f.op("local.set", acc)
        for ptr in ptrs + ([out] if out is not None else []):
            add_to(f, ptr, 4 * lanes)


def load_lanes(f: Func, ptr: int, lanes: int) -> None:
    """Push elements ptr[0:lanes] in the low lanes (a partial vector repeats element 0)."""
    if lanes == 4:
        f.op("local.get", ptr)
        f.op("v128.load", 0)
        return
    for _ in range(lanes - 1):
        f.op("local.get", ptr)
    f.op("local.get", ptr)
    f.op("v128.load32_splat", 0)
    for lane in range(1, lanes):
        f.op("v128.load32_lane", 4 * lane, lane)


def store_lanes(f: Func, ptr: int, vec: int, lanes: int) -> None:
    if lanes == 4:
        f.op("local.get", ptr)
        f.op("local.get", vec)
        f.op("v128.store", 0)
        return
    for lane in range(lanes):
        f.op("local.get", ptr)
        f.op("local.get", vec)
        f.op("v128.store32_lane", 4 * lane, lane)


def row_kernel(spec, row_elems: list, body: Callable[[Func, Module, list[int], object], None]) -> Module:
    """A module whose run() calls body(f, module, row pointers) for each of this thread's rows.

    Argument i's row pointer starts at row `start` of this thread and advances by
    row_elems[i] elements per row (0 for per-column arguments like LayerNorm's scale)."""
    nargs = len(spec.args)
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * (nargs + 2), results=[])
    if not isinstance(spec.outer, Sym) and spec.outer == 0:
        return module
    if isinstance(spec.r, Sym) and spec.family == "layernorm":
        raise SymbolicError(f"a layernorm over rows of symbolic length ({spec.r}) is not compiled for WASM yet")
    sizes = sizes_of(f, spec)
    row_bytes = [sizes.count(4 * n) for n in row_elems]
    start, rows = thread_share(f, sizes.count(spec.outer), nargs, nargs + 1)
    ptrs = [f.local(I32) for _ in row_elems]  # every argument but the symbolic sizes
    for i, ptr in enumerate(ptrs):
        f.op("local.get", i)
        if isinstance(row_bytes[i], Local) or row_bytes[i]:
            f.op("local.get", start.index)
            push(f, row_bytes[i])
            f.op("i32.mul")
            f.op("i32.add")
        f.op("local.set", ptr)
    with counted_loop(f, rows):
        body(f, module, ptrs, sizes)
        for ptr, step in zip(ptrs, row_bytes):
            add_to(f, ptr, step)
    sizes.finish()
    return module


def emit_reduce(spec: Reduce, config: RowConfig) -> Module:
    """out[o] = kind over r of x[o, r] for contiguous x [outer, r]."""
    dtype = spec.args[0].dtype

    def body(f: Func, module: Module, ptrs: list[int], sizes) -> None:
        row = Row(f, module, spec.r, dtype, config.accumulators, sizes)
        if spec.kind == "logsumexp":
            result = logsumexp(row, ptrs[0])
        else:
            op, identity, element, final = REDUCE_KINDS[spec.kind]
            result = row.reduce([ptrs[0]], element_value(f, element), op, identity)
            finish(f, module, result, final, spec.r, sizes)
        store_lanes(f, ptrs[1], result, 1)

    return row_kernel(spec, [spec.r, 1], body)


def element_value(f: Func, element: str | None) -> Value | None:
    if element is None:
        return None

    def value(loaded: list[int]) -> None:
        f.op("local.get", loaded[0])
        if element == "abs":
            f.op("f32x4.abs")
        else:
            f.op("local.get", loaded[0])
            f.op("f32x4.mul")
    return value


def finish(f: Func, module: Module, result: int, final: str | None, r: int, sizes=None) -> None:
    if final is None:
        return
    f.op("local.get", result)
    if final == "mean" and isinstance(r, Sym):  # / r at run time (0 / 0: NaN, as for a static empty row)
        sizes.push(r)
        f.op("f32.convert_i32_u")
        f.op("f32x4.splat")
        f.op("f32x4.div")
    elif final == "mean":
        splat_const(f, "f32", 1.0 / r if r else float("nan"))
        f.op("f32x4.mul")
    else:
        f.op("f32x4.sqrt")
    f.op("local.set", result)


def finite_or_zero(f: Func, vec: int) -> int:
    """A local with vec where it is finite, else 0 (so x - shift stays a number for inf rows)."""
    out = f.local(V128)
    f.op("local.get", vec)
    splat_const(f, "f32", 0.0)
    f.op("local.get", vec)
    f.op("local.get", vec)
    f.op("f32x4.sub")
    splat_const(f, "f32", 0.0)
    f.op("f32x4.eq")
    f.op("v128.bitselect")
    f.op("local.set", out)
    return out


def sum_exp(row: Row, src: int, shift: int, dst: int | None = None) -> int:
    """Sum over the row of exp(x - shift) (also stored to dst when given)."""
    f, exp = row.f, math_func(row.module, "exp")

    def value(loaded: list[int]) -> None:
        f.op("local.get", loaded[0])
        f.op("local.get", shift)
        f.op("f32x4.sub")
        f.op("call", exp)

    acc = row.identity(0.0)
    row.run([src], value, dst=dst, acc=acc, op="add", identity=0.0)
    return horizontal(row, acc, "add")


def horizontal(row: Row, acc: int, op: str) -> int:
    hreduce(row.f, acc, (F32_COMBINE if row.dtype == "f32" else I32_COMBINE)[op])
    return acc


def hreduce(f: Func, vec: int, instruction: str) -> None:
    """vec = `instruction` (a two-operand SIMD op) over its four lanes, in every lane."""
    for pattern in (SWAP_HALVES, SWAP_PAIRS):
        f.op("local.get", vec)
        f.op("local.get", vec)
        f.op("local.get", vec)
        f.op("i8x16.shuffle", *pattern)
        f.op(instruction)
        f.op("local.set", vec)


def logsumexp(row: Row, src: int) -> int:
    """log(sum(exp(x))) = shift + log(sum(exp(x - shift))) with shift = the row max."""
    f = row.f
    shift = finite_or_zero(f, row.reduce([src], None, "max", -INF))
    total = sum_exp(row, src, shift)
    f.op("local.get", total)
    f.op("call", math_func(row.module, "log"))
    f.op("local.get", shift)
    f.op("f32x4.add")
    f.op("local.set", total)
    return total


def emit_softmax(spec: Softmax, config: RowConfig) -> Module:
    """Softmax (or log-softmax) over rows of contiguous [outer, r]; args x, out."""
    def body(f: Func, module: Module, ptrs: list[int], sizes) -> None:
        row = Row(f, module, spec.r, "f32", config.accumulators, sizes)
        x, out = ptrs
        # The row max itself, as onnxruntime shifts: a row holding +inf or NaN becomes all NaN.
        shift = row.reduce([x], None, "max", -INF)
        if spec.log:
            # out = x - (shift + log(sum(exp(x - shift))))
            total = sum_exp(row, x, shift)
            f.op("local.get", total)
            f.op("call", math_func(module, "log"))
            f.op("local.get", shift)
            f.op("f32x4.add")
            f.op("local.set", total)
            row.run([x], lambda v: sub_from(f, v[0], total), dst=out)
        else:
            total = sum_exp(row, x, shift, dst=out)
            scale = f.local(V128)
            splat_const(f, "f32", 1.0)
            f.op("local.get", total)
            f.op("f32x4.div")
            f.op("local.set", scale)
            row.run([out], lambda v: scale_by(f, v[0], scale), dst=out)

    return row_kernel(spec, [spec.r, spec.r], body)


def sub_from(f: Func, vec: int, amount: int) -> None:
    f.op("local.get", vec)
    f.op("local.get", amount)
    f.op("f32x4.sub")


def scale_by(f: Func, vec: int, scale: int) -> None:
    f.op("local.get", vec)
    f.op("local.get", scale)
    f.op("f32x4.mul")


def emit_layernorm(spec: LayerNorm, config: RowConfig) -> Module:
    """y = (x - mean) / sqrt(var + eps) [* scale] [+ bias] over rows; args x, [scale], [bias], out."""
    expected = 2 + spec.params

    def body(f: Func, module: Module, ptrs: list[int], sizes) -> None:
        row = Row(f, module, spec.r, "f32", config.accumulators, sizes)
        x, out = ptrs[0], ptrs[-1]
        inv_r = 1.0 / spec.r
        mean = row.reduce([x], None, "add", 0.0)
        scale_const(f, mean, inv_r)

        def centred_square(v: list[int]) -> None:
            sub_from(f, v[0], mean)
            f.op("local.tee", v[0])
            f.op("local.get", v[0])
            f.op("f32x4.mul")

        var = row.reduce([x], centred_square, "add", 0.0)
        # inv = 1 / sqrt(var / r + eps)
        inv = f.local(V128)
        splat_const(f, "f32", 1.0)
        f.op("local.get", var)
        splat_const(f, "f32", inv_r)
        f.op("f32x4.mul")
        splat_const(f, "f32", spec.epsilon)
        f.op("f32x4.add")
        f.op("f32x4.sqrt")
        f.op("f32x4.div")
        f.op("local.set", inv)

        def normalise(v: list[int]) -> None:
            sub_from(f, v[0], mean)
            f.op("local.get", inv)
            f.op("f32x4.mul")
            if spec.has_scale:
                f.op("local.get", v[1])
                f.op("f32x4.mul")
            if spec.has_bias:
                f.op("local.get", v[1 + spec.has_scale])
                f.op("f32x4.add")

        row.run(ptrs[:-1], normalise, dst=out)

    return row_kernel(spec, [spec.r] + [0] * (expected - 2) + [spec.r], body)


def scale_const(f: Func, vec: int, factor: float) -> None:
    f.op("local.get", vec)
    splat_const(f, "f32", factor)
    f.op("f32x4.mul")
    f.op("local.set", vec)


def resolve(config: RowConfig, spec, target) -> RowConfig:
    accumulators = config.accumulators
    while accumulators > 1 and 4 * accumulators > upper(spec.r):
        accumulators //= 2
    return RowConfig(accumulators)


# Resolution halves the accumulators until each gets a vector of the row: nothing else to prune.
CONSTRAINTS = (
    Constraint("accumulators a power of two from 1 to 8", lambda c, s, t: c.accumulators in (1, 2, 4, 8), hard=True),
)


def cost(config: RowConfig, spec, target) -> float:
    """Row elements; a chain of dependent adds costs about three vector steps each."""
    return upper(spec.outer * spec.r) * (1 + 2.0 / config.accumulators)


def _family(name: str, emit) -> Family:
    return Family(name, "wasm", RowConfig, SPACE, CONSTRAINTS, lambda spec, target: RowConfig(1), resolve,
                  lambda spec, config, target: emit(spec, config), cost)


REDUCE, SOFTMAX, LAYERNORM = (_family("reduce", emit_reduce), _family("softmax", emit_softmax),
                              _family("layernorm", emit_layernorm))
