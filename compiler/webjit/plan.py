"""Buffer planning: liveness of arena buffers, their offsets, peak memory; the weights layout."""
from __future__ import annotations

from dataclasses import dataclass

from .lower import Program

ALIGN = 256  # bytes: v128 loads on WASM, storage binding offsets (minStorageBufferOffsetAlignment) on WebGPU


@dataclass(frozen=True)
class MemoryPlan:
    offsets: dict[int, int]  # buffer id -> byte offset in its region
    live: dict[int, tuple[int, int]]  # arena buffer id -> (first step, last step), inclusive
    arena_bytes: int
    weights_bytes: int
    naive_bytes: int  # arena bytes without reuse, for comparison

    def to_text(self, program: Program) -> str:
        lines = [f"arena {self.arena_bytes} bytes (without reuse {self.naive_bytes}), weights {self.weights_bytes} bytes"]
        for b in program.buffers:
            span = self.live.get(b.id)
            where = f"live {span[0]}..{span[1]}" if span else "weights"
            lines.append(f"b{b.id} {b.region}+{self.offsets[b.id]} {b.size * 4}B {where} {b.name}")
        return "\n".join(lines) + "\n"


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_buffers(program: Program) -> MemoryPlan:
    """Give every buffer an offset; arena buffers whose lifetimes overlap never share bytes."""
    last_step = len(program.steps)
    live: dict[int, list[int]] = {}
    for io in program.inputs:
        live[io.buffer.id] = [-1, -1]
    for i, step in enumerate(program.steps):
        for b in step.buffers:
            if b.region == "arena":
                span = live.setdefault(b.id, [i, i])
                span[1] = i
    for io in program.outputs:
        live.setdefault(io.buffer.id, [last_step, last_step])[1] = last_step
    arena = {b.id: b for b in program.buffers if b.region == "arena" and b.id in live}
    offsets: dict[int, int] = {}
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    # Largest first, each at the lowest offset free during its whole lifetime.
    for bid in sorted(arena, key=lambda i: (-arena[i].size, i)):
        first, last = live[bid]
        size = _align(arena[bid].size * 4)
        busy = sorted((o, e) for o, e, f, l in placed if not (l < first or f > last))
        offset = 0
        for o, e in busy:
            if offset + size <= o:
                break
            offset = max(offset, _align(e))
        offsets[bid] = offset
        placed.append((offset, offset + size, first, last))
    arena_bytes = max((e for _, e, _, _ in placed), default=0)
    weights_bytes = 0
    for b in program.buffers:
        if b.region == "weights":
            offsets[b.id] = weights_bytes
            weights_bytes += _align(b.size * 4)
        elif b.id not in offsets:
            offsets[b.id] = 0  # never read or written: an unused input
    naive = sum(_align(b.size * 4) for b in arena.values())
    return MemoryPlan(offsets, {k: tuple(v) for k, v in live.items()}, _align(arena_bytes), weights_bytes, naive)
