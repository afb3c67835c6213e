"""Buffer planning: liveness of arena buffers, their offsets, peak memory; the weights layout."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import CompileError
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
    live = live_ranges(program)
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
    return MemoryPlan(offsets, live, _align(arena_bytes), weights_bytes, naive)


def live_ranges(program: Program) -> dict[int, tuple[int, int]]:
    """Arena buffer id -> (first step, last step) using it, inclusive; inputs are live from
    step -1 (written before the run), outputs to step len(steps) (read after it)."""
    last_step = len(program.steps)
    live: dict[int, list[int]] = {io.buffer.id: [-1, -1] for io in program.inputs}
    for i, step in enumerate(program.steps):
        for b in step.buffers:
            if b.region == "arena":
                live.setdefault(b.id, [i, i])[1] = i
    for io in program.outputs:
        live.setdefault(io.buffer.id, [last_step, last_step])[1] = last_step
    for io in cache_inputs(program):  # the runtime copies present.* onto them after a run
        live[io.buffer.id][1] = last_step
    if program.status is not None:  # cleared before the run, read after it
        live[program.status.id] = [-1, last_step]
    if program.sizes is not None:  # written before the run, read by any step
        live[program.sizes.id] = [-1, last_step]
    return {k: (v[0], v[1]) for k, v in live.items()}


def check_plan(program: Program, plan: MemoryPlan) -> None:
    """The planner's invariant, checked at the stage boundary: every offset is aligned and
    inside its region, and two arena buffers whose live ranges overlap share no byte (views
    are of one buffer, so they are not separate buffers here). A CompileError otherwise."""
    live = live_ranges(program)
    spans = []
    for b in program.buffers:
        offset, size = plan.offsets[b.id], _align(b.size * 4)
        limit = plan.arena_bytes if b.region == "arena" else plan.weights_bytes
        if offset % ALIGN or offset < 0 or (b.id in live or b.region == "weights") and offset + b.size * 4 > limit:
            raise CompileError(f"internal error: buffer {b.id} ({b.name}) is placed at {offset}, unaligned or "
                               f"outside its {b.region} region of {limit} bytes")
        if b.region == "arena" and b.id in live:
            spans.append((offset, offset + size, live[b.id], b))
    spans.sort(key=lambda s: s[0])
    for i, (start, end, (first, last), b) in enumerate(spans):  # sweep: only byte neighbours can clash
        for other_start, _, (other_first, other_last), other in spans[i + 1:]:
            if other_start >= end:
                break
            if not (last < other_first or other_last < first):
                raise CompileError(f"internal error: buffers {b.id} ({b.name}) and {other.id} ({other.name}) "
                                   f"are live together (steps {first}..{last} and {other_first}..{other_last}) "
                                   f"but share bytes at {other_start}")


def cache_inputs(program: Program) -> list:
    """The KV-cache inputs of a decoder exported with past (past_key_values.N.key/value beside
    outputs present.N.key/value). They stay live for the whole run, so no present.* tensor
    shares their bytes and session.generate can copy every present.* onto its past_key_values.*
    within memory, in any order, for the next step."""
    outputs = {io.name for io in program.outputs}
    return [io for io in program.inputs if io.name.startswith("past_key_values.")
            and "present." + io.name.removeprefix("past_key_values.") in outputs]
