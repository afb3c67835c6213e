"""WASM SIMD128 code for fused attention (kernels.Attention).

Threads split the query rows (batch... x sq). Per row, q stays in registers (d/4 vectors)
and the keys go in blocks of 4 * `key_vectors`: each score is a SIMD dot product over d,
then scaled and masked; an online softmax keeps the running max m, the sum l of
exp(s - m) and the output row (dv/4 vectors, in registers), rescaled by exp(m_old - m_new)
once per block. The row ends as acc * (1 / l), as the softmax kernel scales by 1 / sum.
exp is simdmath's, the one the softmax kernel calls. A fully masked row (every score -inf)
is 0 / 0, NaN, as onnxruntime's Softmax gives.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from webjit.family import Constraint, Family
from webjit.kernels import Attention, prod
from webjit.wasm.encoder import I32, V128, Func, Module
from webjit.wasm.expr import math_func, splat_const
from webjit.symbolic import Sym, SymbolicError, upper
from webjit.wasm.loops import add_to, counted_loop, push, set_local, thread_share
from webjit.wasm.sizes import sizes_of
from webjit.wasm.simdmath import inline_exp
from webjit.wasm.reductions import finite_or_zero, hreduce

INF = float("inf")


@dataclass(frozen=True)
class AttentionConfig:
    key_vectors: int = 1  # vectors of 4 keys per online-softmax block (one rescale per block)
    fma: bool = False  # f32x4.relaxed_madd (relaxed SIMD) in both products


SPACE = tuple(AttentionConfig(vectors, fma) for fma in (False, True) for vectors in (1, 2, 4))


def lane_mask(lanes: int) -> bytes:
    return struct.pack("<4i", *([-1] * lanes + [0] * (4 - lanes)))


def load(f: Func, ptr: int, offset: int, lanes: int, stride: int = 4) -> None:
    """Push `lanes` f32/i32 elements at ptr + offset + lane * stride bytes in the low lanes
    (the others repeat lane 0); stride 0 splats one element."""
    if lanes == 4 and stride == 4:
        f.op("local.get", ptr)
        f.op("v128.load", offset)
        return
    if stride == 0:
        f.op("local.get", ptr)
        f.op("v128.load32_splat", offset)
        return
    for _ in range(lanes):
        f.op("local.get", ptr)
    f.op("v128.load32_splat", offset)
    for lane in range(1, lanes):
        f.op("v128.load32_lane", offset + lane * stride, lane)


def emit_attention(spec: Attention, config: AttentionConfig) -> Module:
    nargs = len(spec.args)
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * (nargs + 2), results=[])
    rows = prod(spec.batch) * spec.sq
    if not isinstance(rows, Sym) and rows == 0:
        return module
    _check_symbolic(spec)
    sizes = sizes_of(f, spec)
    start, count = thread_share(f, sizes.count(rows), nargs, nargs + 1)
    accesses = {name: a for name, a in (("q", spec.q), ("k", spec.k), ("v", spec.v), ("select", spec.select),
                                        ("add", spec.add), ("out", spec.out)) if a is not None}
    ptr = {name: f.local(I32) for name in accesses}
    row, rest, idx = f.local(I32), f.local(I32), f.local(I32)
    set_local(f, row, start)
    with counted_loop(f, count):
        # This row's pointers: the access offsets, then per index (query row, batch dims) index * stride.
        for name, a in accesses.items():
            f.op("local.get", a.arg)
            sizes.push(4 * a.offset)
            f.op("i32.add")
            f.op("local.set", ptr[name])
        f.op("local.get", row)
        f.op("local.set", rest)
        extents = list(spec.batch) + [spec.sq]
        for dim in reversed(range(len(extents))):
            if not isinstance(extents[dim], Sym) and extents[dim] == 1:
                continue  # index 0: nothing to add
            f.op("local.get", rest)
            sizes.push(extents[dim])
            f.op("i32.rem_u")
            f.op("local.set", idx)
            f.op("local.get", rest)
            sizes.push(extents[dim])
            f.op("i32.div_u")
            f.op("local.set", rest)
            for name, a in accesses.items():
                stride = a.strides[dim]
                if (not isinstance(stride, Sym) and stride == 0) or (dim == len(extents) - 1 and name in ("k", "v")):
                    continue  # keys and values do not depend on the query row
                f.op("local.get", ptr[name])
                f.op("local.get", idx)
                sizes.push(4 * stride)
                f.op("i32.mul")
                f.op("i32.add")
                f.op("local.set", ptr[name])
        attention_row(f, module, spec, config, ptr, sizes)
        add_to(f, row, 1)
    sizes.finish()
    return module


def _check_symbolic(spec: Attention) -> None:
    """Symbolic sizes may set the query rows, the keys, and the strides between query rows
    or batch entries; the depths and the strides along the keys stay fixed."""
    fixed = [spec.d, spec.dv, spec.k.strides[-2], spec.v.strides[-2]]
    fixed += [a.strides[-1] for a in (spec.q, spec.k, spec.v, spec.select, spec.add, spec.out) if a is not None]
    if any(isinstance(v, Sym) for v in fixed):
        raise SymbolicError("an attention kernel whose depth or key strides are symbolic is not compiled for WASM yet")


def multiply_add(f: Func, fma: bool, acc, a, b) -> None:
    """Push acc + a * b; each argument pushes one v128 (fma: one relaxed_madd)."""
    if fma:
        a()
        b()
        acc()
        f.op("f32x4.relaxed_madd")
        return
    acc()
    a()
    b()
    f.op("f32x4.mul")
    f.op("f32x4.add")


def get(f: Func, local: int):
    return lambda: f.op("local.get", local)


def attention_row(f: Func, module: Module, spec: Attention, config: AttentionConfig, ptr: dict, sizes) -> None:
    """One query row: the output row holds the running sum of p_j v_j between blocks (in L1),
    so only q and the block's scores and weights stay in registers."""
    exp = math_func(module, "exp")
    nq = -(-spec.d // 4)
    q = [f.local(V128) for _ in range(nq)]
    for t, vec in enumerate(q):
        lanes = min(4, spec.d - 4 * t)
        load(f, ptr["q"], 16 * t, lanes)
        if lanes < 4:  # zero lanes, so the dot products' tails add nothing
            f.op("v128.const", lane_mask(lanes))
            f.op("v128.and")
        f.op("local.set", vec)
    peak, total = f.local(V128), f.local(V128)
    splat_const(f, "f32", -INF)
    f.op("local.set", peak)
    splat_const(f, "f32", 0.0)
    f.op("local.set", total)
    for u in range(-(-spec.dv // 4)):  # the output row starts at 0
        lanes = min(4, spec.dv - 4 * u)
        splat_const(f, "f32", 0.0)
        f.op("local.set", total)
        store(f, ptr["out"], 16 * u, total, lanes)
    # Key pointers advance block by block (the query-row pointers stay).
    keys = {name: f.local(I32) for name in ("k", "v", "select", "add") if name in ptr}
    for name, local in keys.items():
        f.op("local.get", ptr[name])
        f.op("local.set", local)
    strides = {"k": spec.k.strides[-2], "v": spec.v.strides[-2],
               "select": spec.select.strides[-1] if spec.select else 0, "add": spec.add.strides[-1] if spec.add else 0}
    block = 4 * config.key_vectors
    blocks = sizes.derived(f"blocks/{block}", spec.sk, [spec.sk], [("i32.const", block), ("i32.div_u",)]) \
        if isinstance(spec.sk, Sym) else spec.sk // block
    with counted_loop(f, blocks):
        key_block(f, spec, config, block, q, peak, total, ptr["out"], keys, strides, exp)
        for name, local in keys.items():
            add_to(f, local, 4 * block * strides[name])
    if isinstance(spec.sk, Sym):  # the last keys: one block per count the range allows
        left = sizes.derived(f"left/{block}", spec.sk, [spec.sk], [("i32.const", block), ("i32.rem_u",)])
        for nkeys in range(1, block):
            push(f, left)
            f.op("i32.const", nkeys)
            f.op("i32.eq")
            f.op("if")
            key_block(f, spec, config, nkeys, q, peak, total, ptr["out"], keys, strides, exp)
            f.op("end")
    elif spec.sk % block:
        key_block(f, spec, config, spec.sk % block, q, peak, total, ptr["out"], keys, strides, exp)
    # out = out * (1 / l)
    inv, vec = f.local(V128), f.local(V128)
    splat_const(f, "f32", 1.0)
    f.op("local.get", total)
    f.op("f32x4.div")
    f.op("local.set", inv)
    for u in range(-(-spec.dv // 4)):
        lanes = min(4, spec.dv - 4 * u)
        load(f, ptr["out"], 16 * u, lanes)
        f.op("local.get", inv)
        f.op("f32x4.mul")
        f.op("local.set", vec)
        store(f, ptr["out"], 16 * u, vec, lanes)


def store(f: Func, ptr: int, offset: int, vec: int, lanes: int) -> None:
    if lanes == 4:
        f.op("local.get", ptr)
        f.op("local.get", vec)
        f.op("v128.store", offset)
        return
    for lane in range(lanes):
        f.op("local.get", ptr)
        f.op("local.get", vec)
        f.op("v128.store32_lane", offset + 4 * lane, lane)


def shuffle_lanes(f: Func, lanes) -> None:
    """i8x16.shuffle of two f32x4 on the stack picking f32 `lanes` (0-3 first, 4-7 second)."""
    f.op("i8x16.shuffle", *[4 * lane + byte for lane in lanes for byte in range(4)])


def key_block(f: Func, spec: Attention, config: AttentionConfig, nkeys: int, q, peak, total, out: int, keys,
              strides, exp) -> None:
    """Scores of the next `nkeys` keys, then the online-softmax update of peak, total and the output row."""
    scores = []
    dots = [f.local(V128) for _ in range(4)]
    pair = [f.local(V128) for _ in range(2)]
    for g in range(-(-nkeys // 4)):
        lanes = min(4, nkeys - 4 * g)
        for t, vec in enumerate(q):  # dots[lane] += q[t] * key[t]: four independent chains
            depth = min(4, spec.d - 4 * t)
            for lane in range(lanes):
                key = 4 * g + lane

                def key_part(key=key, t=t, depth=depth):
                    load(f, keys["k"], 4 * (key * strides["k"] + 4 * t), depth)
                    if depth < 4:  # the unused lanes hold copies: 0 * inf there would be NaN
                        f.op("v128.const", lane_mask(depth))
                        f.op("v128.and")
                if t == 0:
                    key_part()
                    f.op("local.get", vec)
                    f.op("f32x4.mul")
                else:
                    multiply_add(f, config.fma, get(f, dots[lane]), key_part, get(f, vec))
                f.op("local.set", dots[lane])
        # Four lane sums at once: pairs of (0+2, 1+3) halves, then the halves of those.
        for half, (a, b) in enumerate(((0, 1), (2, 3))):
            a, b = dots[min(a, lanes - 1)], dots[min(b, lanes - 1)]
            for picks in ((0, 4, 1, 5), (2, 6, 3, 7)):
                f.op("local.get", a)
                f.op("local.get", b)
                shuffle_lanes(f, picks)
            f.op("f32x4.add")
            f.op("local.set", pair[half])
        s = f.local(V128)
        for picks in ((0, 1, 4, 5), (2, 3, 6, 7)):
            f.op("local.get", pair[0])
            f.op("local.get", pair[1])
            shuffle_lanes(f, picks)
        f.op("f32x4.add")
        if spec.scale != 1.0 or spec.divide:
            splat_const(f, "f32", spec.scale)
            f.op("f32x4.div" if spec.divide else "f32x4.mul")
        f.op("local.set", s)
        if spec.select is not None:  # keep s where the condition is nonzero, else the fill value
            f.op("local.get", s)
            splat_const(f, "f32", spec.fill)
            load(f, keys["select"], 4 * 4 * g * strides["select"], lanes, 4 * strides["select"])
            f.op("i32.const", 0)
            f.op("i32x4.splat")
            f.op("i32x4.ne")
            f.op("v128.bitselect")
            f.op("local.set", s)
        if spec.add is not None:
            f.op("local.get", s)
            load(f, keys["add"], 4 * 4 * g * strides["add"], lanes, 4 * strides["add"])
            f.op("f32x4.add")
            f.op("local.set", s)
        if lanes < 4:  # lanes past the last key take no part
            f.op("local.get", s)
            splat_const(f, "f32", -INF)
            f.op("v128.const", lane_mask(lanes))
            f.op("v128.bitselect")
            f.op("local.set", s)
        scores.append((s, lanes))
    # new peak = max(peak, max of the block); shift = the new peak, or 0 while it is not finite
    high = f.local(V128)
    f.op("local.get", scores[0][0])
    for s, _ in scores[1:]:
        f.op("local.get", s)
        f.op("f32x4.max")
    f.op("local.set", high)
    hreduce(f, high, "f32x4.max")
    f.op("local.get", peak)
    f.op("local.get", high)
    f.op("f32x4.max")
    f.op("local.set", high)
    shift = finite_or_zero(f, high)
    # Only a block that raises the peak rescales what came before (by exp(old - new)): after
    # the first blocks the peak seldom moves, so most blocks skip the exp and the row pass.
    f.op("local.get", peak)
    f.op("local.get", high)
    f.op("f32x4.ne")
    f.op("v128.any_true")
    f.op("if")
    correction, row = f.local(V128), f.local(V128)
    f.op("local.get", peak)
    f.op("local.get", shift)
    f.op("f32x4.sub")
    f.op("call", exp)
    f.op("local.set", correction)
    f.op("local.get", total)
    f.op("local.get", correction)
    f.op("f32x4.mul")
    f.op("local.set", total)
    for u in range(-(-spec.dv // 4)):
        depth = min(4, spec.dv - 4 * u)
        load(f, out, 16 * u, depth)
        f.op("local.get", correction)
        f.op("f32x4.mul")
        f.op("local.set", row)
        store(f, out, 16 * u, row, depth)
    f.op("end")
    f.op("local.get", high)
    f.op("local.set", peak)
    block_sum = f.local(V128)
    for i, (s, lanes) in enumerate(scores):
        f.op("local.get", s)
        f.op("local.get", shift)
        f.op("f32x4.sub")
        f.op("local.set", s)
        inline_exp(f, s)
        f.op("local.set", s)
        f.op("local.get", s)
        if i:
            f.op("local.get", block_sum)
            f.op("f32x4.add")
        f.op("local.set", block_sum)
    hreduce(f, block_sum, "f32x4.add")
    f.op("local.get", total)
    f.op("local.get", block_sum)
    f.op("f32x4.add")
    f.op("local.set", total)
    weights = []  # each key's weight in every lane
    for g, (p, lanes) in enumerate(scores):
        for lane in range(lanes):
            weight = f.local(V128)
            f.op("local.get", p)
            f.op("local.get", p)
            shuffle_lanes(f, (lane,) * 4)
            f.op("local.set", weight)
            weights.append(weight)
    rows = [f.local(V128) for _ in range(4)]
    vectors = -(-spec.dv // 4)
    for first in range(0, vectors, 4):  # out[u] += sum_j weight_j * v_j[u], 4 u at a time
        group = range(first, min(first + 4, vectors))
        for u, row in zip(group, rows):
            load(f, out, 16 * u, min(4, spec.dv - 4 * u))
            f.op("local.set", row)
        for key, weight in enumerate(weights):
            for u, row in zip(group, rows):
                depth = min(4, spec.dv - 4 * u)
                multiply_add(f, config.fma, get(f, row), get(f, weight),
                             lambda: load(f, keys["v"], 4 * (key * strides["v"] + 4 * u), depth))
                f.op("local.set", row)
        for u, row in zip(group, rows):
            store(f, out, 16 * u, row, min(4, spec.dv - 4 * u))


def resolve(config: AttentionConfig, spec: Attention, target) -> AttentionConfig:
    vectors = config.key_vectors
    while vectors > 1 and 4 * vectors > upper(spec.sk):
        vectors //= 2
    return replace(config, key_vectors=vectors)


CONSTRAINTS = (
    Constraint("key_vectors a power of two from 1 to 4", lambda c, s, t: c.key_vectors in (1, 2, 4), hard=True),
    Constraint("relaxed SIMD (fma) only where the engine has it", lambda c, s, t: not c.fma or t.relaxed_simd,
               hard=True),
)


def accelerated(config: AttentionConfig, target):
    """The same blocks with relaxed-SIMD multiply-adds, for engines that validate them."""
    return replace(config, fma=True), replace(target, relaxed_simd=True)


def cost(config: AttentionConfig, spec: Attention, target) -> float:
    """Per key: the two products (a third cheaper with fma), plus the rescale and two exps of a
    block shared by its keys."""
    products = (spec.d + spec.dv) * (2 if config.fma else 3) / 3
    return upper(prod(spec.batch) * spec.sq * spec.sk) * (products + (40 + spec.dv) / (4 * config.key_vectors))


FAMILY = Family("attention", "wasm", AttentionConfig, SPACE, CONSTRAINTS,
                lambda spec, target: AttentionConfig(2), resolve,
                lambda spec, config, target: emit_attention(spec, config), cost,
                requires=lambda config: ("relaxed-simd",) if config.fma else (), accelerated=accelerated)
