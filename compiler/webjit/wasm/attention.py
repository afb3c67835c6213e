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
from dataclasses import dataclass

from webjit.family import Constraint, Family
from webjit.kernels import Attention, prod
from webjit.wasm.encoder import I32, V128, Func, Module
from webjit.wasm.expr import math_func, splat_const
from webjit.wasm.loops import add_to, counted_loop, set_local, thread_share
from webjit.wasm.reductions import SWAP_HALVES, SWAP_PAIRS, finite_or_zero

INF = float("inf")


@dataclass(frozen=True)
class AttentionConfig:
    key_vectors: int = 1  # vectors of 4 keys per online-softmax block (one rescale per block)


SPACE = (AttentionConfig(1), AttentionConfig(2), AttentionConfig(4))


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


def hreduce(f: Func, vec: int, op: str) -> None:
    """vec = op over its four lanes, in every lane."""
    for pattern in (SWAP_HALVES, SWAP_PAIRS):
        f.op("local.get", vec)
        f.op("local.get", vec)
        f.op("local.get", vec)
        f.op("i8x16.shuffle", *pattern)
        f.op(op)
        f.op("local.set", vec)


def emit_attention(spec: Attention, config: AttentionConfig) -> Module:
    nargs = len(spec.args)
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * (nargs + 2), results=[])
    rows = prod(spec.batch) * spec.sq
    if rows == 0:
        return module
    start, count = thread_share(f, rows, nargs, nargs + 1)
    accesses = {name: a for name, a in (("q", spec.q), ("k", spec.k), ("v", spec.v), ("select", spec.select),
                                        ("add", spec.add), ("out", spec.out)) if a is not None}
    ptr = {name: f.local(I32) for name in accesses}
    row, rest, idx = f.local(I32), f.local(I32), f.local(I32)
    set_local(f, row, start)
    with counted_loop(f, count):
        # This row's pointers: the access offsets, then per index (query row, batch dims) index * stride.
        for name, a in accesses.items():
            f.op("local.get", a.arg)
            f.op("i32.const", 4 * a.offset)
            f.op("i32.add")
            f.op("local.set", ptr[name])
        f.op("local.get", row)
        f.op("local.set", rest)
        sizes = list(spec.batch) + [spec.sq]
        for dim in reversed(range(len(sizes))):
            f.op("local.get", rest)
            f.op("i32.const", sizes[dim])
            f.op("i32.rem_u")
            f.op("local.set", idx)
            f.op("local.get", rest)
            f.op("i32.const", sizes[dim])
            f.op("i32.div_u")
            f.op("local.set", rest)
            for name, a in accesses.items():
                stride = a.strides[dim]
                if stride == 0 or (dim == len(sizes) - 1 and name in ("k", "v")):
                    continue  # keys and values do not depend on the query row
                f.op("local.get", ptr[name])
                f.op("local.get", idx)
                f.op("i32.const", 4 * stride)
                f.op("i32.mul")
                f.op("i32.add")
                f.op("local.set", ptr[name])
        attention_row(f, module, spec, config, ptr)
        add_to(f, row, 1)
    return module


def attention_row(f: Func, module: Module, spec: Attention, config: AttentionConfig, ptr: dict) -> None:
    exp = math_func(module, "exp")
    nq, nv = -(-spec.d // 4), -(-spec.dv // 4)
    q = [f.local(V128) for _ in range(nq)]
    for t, vec in enumerate(q):
        lanes = min(4, spec.d - 4 * t)
        load(f, ptr["q"], 16 * t, lanes)
        if lanes < 4:  # zero lanes, so the dot products' tails add nothing
            f.op("v128.const", lane_mask(lanes))
            f.op("v128.and")
        f.op("local.set", vec)
    peak, total = f.local(V128), f.local(V128)
    acc = [f.local(V128) for _ in range(nv)]
    splat_const(f, "f32", -INF)
    f.op("local.set", peak)
    for vec in [total] + acc:
        splat_const(f, "f32", 0.0)
        f.op("local.set", vec)
    # Key pointers advance block by block (the query-row pointers stay).
    keys = {name: f.local(I32) for name in ("k", "v", "select", "add") if name in ptr}
    for name, local in keys.items():
        f.op("local.get", ptr[name])
        f.op("local.set", local)
    strides = {"k": spec.k.strides[-2], "v": spec.v.strides[-2],
               "select": spec.select.strides[-1] if spec.select else 0, "add": spec.add.strides[-1] if spec.add else 0}
    block = 4 * config.key_vectors
    with counted_loop(f, spec.sk // block):
        key_block(f, spec, block, q, peak, total, acc, keys, strides, exp)
        for name, local in keys.items():
            add_to(f, local, 4 * block * strides[name])
    if spec.sk % block:
        key_block(f, spec, spec.sk % block, q, peak, total, acc, keys, strides, exp)
    # out = acc * (1 / l)
    inv = f.local(V128)
    splat_const(f, "f32", 1.0)
    f.op("local.get", total)
    f.op("f32x4.div")
    f.op("local.set", inv)
    for u, vec in enumerate(acc):
        lanes = min(4, spec.dv - 4 * u)
        f.op("local.get", vec)
        f.op("local.get", inv)
        f.op("f32x4.mul")
        f.op("local.set", vec)
        if lanes == 4:
            f.op("local.get", ptr["out"])
            f.op("local.get", vec)
            f.op("v128.store", 16 * u)
        else:
            for lane in range(lanes):
                f.op("local.get", ptr["out"])
                f.op("local.get", vec)
                f.op("v128.store32_lane", 16 * u + 4 * lane, lane)


def key_block(f: Func, spec: Attention, nkeys: int, q, peak, total, acc, keys, strides, exp) -> None:
    """Scores of the next `nkeys` keys, then the online-softmax update of peak, total and acc."""
    scores = []
    for g in range(-(-nkeys // 4)):
        lanes = min(4, nkeys - 4 * g)
        s = f.local(V128)
        splat_const(f, "f32", -INF)
        f.op("local.set", s)
        dot = f.local(V128)
        for lane in range(lanes):
            key = 4 * g + lane
            for t, vec in enumerate(q):
                depth = min(4, spec.d - 4 * t)
                load(f, keys["k"], 4 * (key * strides["k"] + 4 * t), depth)
                f.op("local.get", vec)
                f.op("f32x4.mul")
                if depth < 4:  # 0 * inf in the unused lanes would be NaN
                    f.op("v128.const", lane_mask(depth))
                    f.op("v128.and")
                if t:
                    f.op("f32x4.add")
            f.op("local.set", dot)
            hreduce(f, dot, "f32x4.add")
            f.op("local.get", s)
            f.op("local.get", dot)
            f.op("f32x4.extract_lane", 0)
            f.op("f32x4.replace_lane", lane)
            f.op("local.set", s)
        if spec.scale != 1.0 or spec.divide:
            f.op("local.get", s)
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
    correction = f.local(V128)
    f.op("local.get", peak)
    f.op("local.get", shift)
    f.op("f32x4.sub")
    f.op("call", exp)
    f.op("local.set", correction)
    f.op("local.get", high)
    f.op("local.set", peak)
    weights = []
    block_sum = f.local(V128)
    for i, (s, lanes) in enumerate(scores):
        f.op("local.get", s)
        f.op("local.get", shift)
        f.op("f32x4.sub")
        f.op("call", exp)
        f.op("local.set", s)
        weights.append((s, lanes))
        f.op("local.get", s)
        if i:
            f.op("local.get", block_sum)
            f.op("f32x4.add")
        f.op("local.set", block_sum)
    hreduce(f, block_sum, "f32x4.add")
    f.op("local.get", total)
    f.op("local.get", correction)
    f.op("f32x4.mul")
    f.op("local.get", block_sum)
    f.op("f32x4.add")
    f.op("local.set", total)
    for vec in acc:
        f.op("local.get", vec)
        f.op("local.get", correction)
        f.op("f32x4.mul")
        f.op("local.set", vec)
    weight = f.local(V128)
    for g, (p, lanes) in enumerate(weights):
        for lane in range(lanes):
            key = 4 * g + lane
            f.op("local.get", p)
            f.op("local.get", p)
            f.op("i8x16.shuffle", *([4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3] * 4))
            f.op("local.set", weight)
            for u, vec in enumerate(acc):
                depth = min(4, spec.dv - 4 * u)
                f.op("local.get", vec)
                f.op("local.get", weight)
                load(f, keys["v"], 4 * (key * strides["v"] + 4 * u), depth)
                f.op("f32x4.mul")
                f.op("f32x4.add")
                f.op("local.set", vec)


def resolve(config: AttentionConfig, spec: Attention, target) -> AttentionConfig:
    vectors = config.key_vectors
    while vectors > 1 and 4 * vectors > spec.sk:
        vectors //= 2
    return AttentionConfig(vectors)


CONSTRAINTS = (
    Constraint("key_vectors a power of two from 1 to 4", lambda c, s, t: c.key_vectors in (1, 2, 4), hard=True),
)


def cost(config: AttentionConfig, spec: Attention, target) -> float:
    """Per key: the two products, plus the rescale and two exps of a block shared by its keys."""
    return prod(spec.batch) * spec.sq * spec.sk * (spec.d + spec.dv + (40 + spec.dv) / (4 * config.key_vectors))


FAMILY = Family("attention", "wasm", AttentionConfig, SPACE, CONSTRAINTS,
                lambda spec, target: AttentionConfig(2), resolve,
                lambda spec, config, target: emit_attention(spec, config), cost)
