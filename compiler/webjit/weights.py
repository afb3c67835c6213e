"""Weight storage: how each weights tensor travels in the bundle's shards (docs/bundle.md).

The memory plan fixes where a tensor lives once loaded; this stage fixes how its values
are stored: as they are (f32, i32), as float16, or as int8 with one scale per output
channel, and always without the zero padding of padded rows, which the runtime restores
while it copies. Large tensors are then compressed losslessly in blocks: the bytes of a
block's values regrouped by significance (all first bytes, then all second bytes, ...:
the sign and exponent bytes of floats repeat a lot) and deflated, which browsers inflate
natively (DecompressionStream). The runtime widens every value to f32 at load, so kernels
never see the storage; only the bytes on the wire change.
"""
from __future__ import annotations

import os
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from . import kernels as K
from .errors import CompileError
from .lower import Program
from .nplike import np

ENCODINGS = ("fp32", "fp16", "int8")  # what `compile --weights` accepts
MIN_COMPRESSED = 1 << 14  # values: smaller tensors (biases, norms) stay f32; together they weigh little
ALIGN = 16  # bytes: every stored item starts on a multiple, so shards split no value
FP16_MAX = 65504.0
BLOCK = 1 << 20  # values per deflated block: the runtime inflates one block at a time
DEFLATE_LEVEL = 1  # higher levels save under 1% more here and take three times as long
DEFLATE_GAIN = 0.97  # a tensor is stored deflated only if that saves at least 3%


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
    blocks: tuple[tuple[int, int], ...] = ()  # deflated: (at, bytes) per BLOCK values; `at`/`bytes` span them

    def to_json(self) -> dict:
        entry = {"encoding": self.encoding, "at": self.at, "bytes": self.bytes, "count": self.count}
        if self.rows:
            entry["rows"] = list(self.rows)
        if self.encoding == "i8":
            entry["scales"] = {"at": self.scales_at, "channels": self.channels, "inner": self.inner}
        if self.blocks:
            entry["deflate"] = {"values": BLOCK, "blocks": [list(b) for b in self.blocks]}
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
                deflated = f" deflated in {len(s.blocks)} blocks" if s.blocks else ""
                lines.append(f"b{b.id} {s.encoding} at {s.at} {s.bytes}B{rows}{scales}{deflated} {b.name}")
        return "\n".join(lines) + "\n"


def store_weights(program: Program, encoding: str = "fp32", deflate: bool = True) -> WeightStore:
    """The stored form of every weights buffer of `program` under `encoding`, large ones
    deflated unless `deflate` is off."""
    if encoding not in ENCODINGS:
        raise CompileError(f"unknown weight storage '{encoding}'; choose from {', '.join(ENCODINGS)}")
    channel_of = _output_channels(program) if encoding == "int8" else {}
    encoded = []  # (buffer, kind, payload values, int8 scales or None, channels, inner)
    for b in program.buffers:
        if b.region == "weights":
            values = _dense(b)
            kind = _encoding_of(b, values, encoding, b.id in channel_of)
            if kind == "i8":
                scales, payload = _quantize(values, *channel_of[b.id])
                encoded.append((b, kind, payload, scales, *channel_of[b.id]))
            else:
                payload = values.astype({"f32": np.float32, "i32": np.int32, "f16": np.float16}[kind])
                encoded.append((b, kind, payload, None, 0, 0))
    deflated = _deflate_all([e[2] for e in encoded]) if deflate else [None] * len(encoded)
    stream = bytearray()
    stored, memory = {}, 0
    for (b, kind, payload, scales, channels, inner), blocks in zip(encoded, deflated):
        memory += 4 * b.size
        scales_at = None
        if scales is not None:
            stream += bytes(-len(stream) % ALIGN)
            scales_at = len(stream)
            stream += scales.tobytes()
        stream += bytes(-len(stream) % ALIGN)
        at = len(stream)
        if blocks:
            places = []
            for block in blocks:
                places.append((len(stream), len(block)))
                stream += block
            stored[b.id] = Stored(b.id, kind, at, len(stream) - at, payload.size, b.rows, scales_at, channels, inner,
                                  tuple(places))
        else:
            stream += payload.tobytes()
            stored[b.id] = Stored(b.id, kind, at, payload.nbytes, payload.size, b.rows, scales_at, channels, inner)
    return WeightStore(encoding, stored, bytes(stream), memory)


def _deflate_all(payloads: list[np.ndarray]) -> list[list[bytes] | None]:
    """Per payload, its deflated blocks, or None where it is small or deflating saves little."""
    jobs = [(i, start) for i, p in enumerate(payloads) if p.size >= MIN_COMPRESSED for start in range(0, p.size, BLOCK)]

    def deflate(job):
        return _deflate_block(payloads[job[0]][job[1]:job[1] + BLOCK])
    if sys.platform == "emscripten":  # the page: Pyodide starts no threads
        done = [deflate(job) for job in jobs]
    else:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # zlib releases the GIL
            done = list(pool.map(deflate, jobs))
    found: list[list[bytes] | None] = [None] * len(payloads)
    for (i, _), block in zip(jobs, done):
        found[i] = (found[i] or []) + [block]
    for i, blocks in enumerate(found):
        if blocks and sum(map(len, blocks)) > DEFLATE_GAIN * payloads[i].nbytes:
            found[i] = None
    return found


def _deflate_block(values: np.ndarray) -> bytes:
    """Raw deflate of the values' bytes grouped by significance: byte 0 of every value, then byte 1, ..."""
    raw, width = values.tobytes(), values.itemsize
    packer = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
    return packer.compress(b"".join(raw[i::width] for i in range(width))) + packer.flush()


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
    if values.size < MIN_COMPRESSED:
        return "f32"
    if encoding == "fp32":  # exact either way: float16 where every value is one (a float16 model's weights)
        return "f16" if _exact_in_f16(values[:1024]) and _exact_in_f16(values) else "f32"
    if encoding == "int8" and quantizable:
        return "i8"
    # float16 where every value fits; a tensor that would overflow stays exact
    return "f16" if np.all(np.abs(values) <= FP16_MAX) else "f32"


def _exact_in_f16(values: np.ndarray) -> bool:
    """Whether float16 holds every value, checked a block at a time (most tensors fail in the first)."""
    with np.errstate(over="ignore"):
        for start in range(0, values.size, BLOCK):
            block = values[start:start + BLOCK]
            if not np.array_equal(block.astype(np.float16).astype(np.float32), block, equal_nan=True):
                return False
    return True


def _output_channels(program: Program) -> dict[int, tuple[int, int]]:
    """Weights buffers a MatMul reads as a whole matrix operand -> (channels, inner): a
    constant right-hand side [k, n] has one channel per column, a constant left-hand side
    (a convolution's filters, [rows, k]) one per row, as have a depthwise Conv's filters."""
    found: dict[int, tuple[int, int]] = {}
    for step in program.steps:
        spec = step.spec
        if isinstance(spec, K.Depthwise):  # filters [c, kh * kw]: one channel per row
            filters = step.buffers[1]
            if filters.region == "weights" and filters.id not in found and filters.rows is None:
                found[filters.id] = (spec.c, spec.kh * spec.kw)
            continue
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
    dtype = np.dtype({"f32": np.float32, "i32": np.int32, "f16": np.float16, "i8": np.int8}[stored.encoding])
    if stored.blocks:
        raw = b"".join(_inflate_block(stream[at:at + n], dtype.itemsize) for at, n in stored.blocks)
    else:
        raw = stream[stored.at:stored.at + stored.bytes]
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


def _inflate_block(data: bytes, itemsize: int) -> bytes:
    planes = zlib.decompress(data, -15)
    count = len(planes) // itemsize
    raw = bytearray(len(planes))
    for i in range(itemsize):
        raw[i::itemsize] = planes[i * count:(i + 1) * count]
    return bytes(raw)
