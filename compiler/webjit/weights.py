"""Weight storage: how each weights tensor travels in the bundle's shards (docs/bundle.md).

The memory plan fixes where a tensor lives once loaded; this stage fixes how its values
are stored: as they are (f32, i32), as float16, or as int8 with one scale per output
channel, and always without the zero padding of padded rows, which the runtime restores
while it copies. The runtime widens every value to f32 at load, so kernels never see the
storage encoding; only the bytes on the wire change.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels as K
from .errors import CompileError
from .lower import Program

ENCODINGS = ("fp32", "fp16", "int8")  # what `compile --weights` accepts
MIN_COMPRESSED = 1 << 14  # values: smaller tensors (biases, norms) stay f32; together they weigh little
ALIGN = 16  # bytes: every stored item starts on a multiple, so shards split no value
FP16_MAX = 65504.0


@dataclass(frozen=True)
class Stored:
    """One weights tensor as stored: `count` values in `encoding` at byte `at` of the
    stream; int8 values have `channels` f32 scales at `scales_at`, value e using scale
    (e // inner) % channels."""
    buffer: int
    encoding: str  # "f32" | "i32" | "f16" | "i8"
    at: int
    bytes: int
    count: int
    rows: tuple[int, int] | None = None  # (values per row, pitch in memory)
    scales_at: int | None = None
    channels: int = 0
    inner: int = 0

    def to_json(self) -> dict:
        entry = {"encoding": self.encoding, "at": self.at, "bytes": self.bytes, "count": self.count}
        if self.rows:
            entry["rows"] = list(self.rows)
        if self.encoding == "i8":
            entry["scales"] = {"at": self.scales_at, "channels": self.channels, "inner": self.inner}
        return entry


@dataclass
class WeightStore:
    encoding: str  # what was asked for: one of ENCODINGS
    stored: dict[int, Stored]  # buffer id -> how it is stored
    stream: bytes  # the concatenated stored tensors, split into shards by the bundle
    memory_bytes: int  # the same tensors as f32/i32 in memory (padding included)

    def to_text(self, program: Program) -> str:
        counts: dict[str, int] = {}
        for s in self.stored.values():
            counts[s.encoding] = counts.get(s.encoding, 0) + 1
        kinds = ", ".join(f"{n} {e}" for e, n in sorted(counts.items()))
        lines = [f"weights --weights {self.encoding}: {len(self.stream)} bytes stored for {self.memory_bytes} "
                 f"in memory ({kinds})"]
        for b in program.buffers:
            s = self.stored.get(b.id)
            if s:
                rows = f" rows {s.rows[0]} pitch {s.rows[1]}" if s.rows else ""
                scales = f" scales {s.channels}x{s.inner}" if s.encoding == "i8" else ""
                lines.append(f"b{b.id} {s.encoding} at {s.at} {s.bytes}B{rows}{scales} {b.name}")
        return "\n".join(lines) + "\n"


def store_weights(program: Program, encoding: str = "fp32") -> WeightStore:
    """The stored form of every weights buffer of `program` under `encoding`."""
    if encoding not in ENCODINGS:
        raise CompileError(f"unknown weight storage '{encoding}'; choose from {', '.join(ENCODINGS)}")
    channel_of = _output_channels(program) if encoding == "int8" else {}
    stream = bytearray()
    stored, memory = {}, 0
    for b in program.buffers:
        if b.region != "weights":
            continue
        memory += 4 * b.size
        values = _dense(b)
        stream += bytes(-len(stream) % ALIGN)
        at, scales_at, channels, inner = len(stream), None, 0, 0
        kind = _encoding_of(b, values, encoding, b.id in channel_of)
        if kind == "i8":
            channels, inner = channel_of[b.id]
            scales, payload = _quantize(values, channels, inner)
            scales_at = at
            stream += scales.tobytes()
            stream += bytes(-len(stream) % ALIGN)
            at = len(stream)
        else:
            payload = values.astype({"f32": np.float32, "i32": np.int32, "f16": np.float16}[kind])
        raw = payload.tobytes()
        stream += raw
        stored[b.id] = Stored(b.id, kind, at, len(raw), values.size, b.rows, scales_at, channels, inner)
    return WeightStore(encoding, stored, bytes(stream), memory)


def _dense(b) -> np.ndarray:
    """The values a weights buffer holds, without the zeros between padded rows."""
    flat = b.data.reshape(-1)
    if b.rows is None:
        return flat
    cols, pitch = b.rows
    return np.ascontiguousarray(flat.reshape(-1, pitch)[:, :cols]).reshape(-1)


def _encoding_of(b, values: np.ndarray, encoding: str, quantizable: bool) -> str:
    if b.dtype == "i32":
        return "i32"
    if encoding == "fp32" or values.size < MIN_COMPRESSED:
        return "f32"
    if encoding == "int8" and quantizable:
        return "i8"
    # float16 where every value fits; a tensor that would overflow stays exact
    return "f16" if np.all(np.abs(values) <= FP16_MAX) else "f32"


def _output_channels(program: Program) -> dict[int, tuple[int, int]]:
    """Weights buffers a MatMul reads as a whole matrix operand -> (channels, inner): a
    constant right-hand side [k, n] has one channel per column, a constant left-hand side
    (a convolution's filters, [rows, k]) one per row."""
    found: dict[int, tuple[int, int]] = {}
    for step in program.steps:
        spec = step.spec
        if not isinstance(spec, K.MatMul):
            continue
        rhs, lhs = step.buffers[spec.bmat.arg], step.buffers[spec.a.arg]
        if rhs.region == "weights" and rhs.id not in found and _dense_size(rhs) == spec.k * spec.n \
                and spec.bmat.strides[-2:] == ((rhs.rows or (0, spec.n))[1], 1) and not spec.bmat.offset:
            found[rhs.id] = (spec.n, 1)
        if lhs.region == "weights" and lhs.id not in found and lhs.rows is None and lhs.size % spec.k == 0 \
                and spec.a.strides[-2:] == (spec.k, 1) and not spec.a.offset:
            found[lhs.id] = (lhs.size // spec.k, spec.k)
    return found


def _dense_size(b) -> int:
    return b.size // b.rows[1] * b.rows[0] if b.rows else b.size


def _quantize(values: np.ndarray, channels: int, inner: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one f32 scale per channel: value e is q[e] * scale[(e // inner) % channels]."""
    per = values.reshape(-1, channels, inner)  # (outer, channels, inner)
    peak = np.abs(per).max(axis=(0, 2)).astype(np.float32)
    scales = np.where(peak > 0, peak / 127, 1).astype(np.float32)
    q = np.clip(np.rint(per / scales[None, :, None]), -127, 127).astype(np.int8)
    return scales, q.reshape(-1)


def decode(stored: Stored, stream: bytes, size: int) -> np.ndarray:
    """What the runtime rebuilds from the stored bytes: the buffer's `size` memory values."""
    raw = stream[stored.at:stored.at + stored.bytes]
    dtype = {"f32": np.float32, "i32": np.int32, "f16": np.float16, "i8": np.int8}[stored.encoding]
    values = np.frombuffer(raw, dtype).astype(np.int32 if stored.encoding == "i32" else np.float32)
    if stored.encoding == "i8":
        scales = np.frombuffer(stream[stored.scales_at:stored.scales_at + 4 * stored.channels], np.float32)
        values = values * scales[(np.arange(values.size) // stored.inner) % stored.channels]
    out = np.zeros(size, values.dtype)
    if stored.rows:
        cols, pitch = stored.rows
        out.reshape(-1, pitch)[:, :cols] = values.reshape(-1, cols)
    else:
        out[:values.size] = values
    return out
