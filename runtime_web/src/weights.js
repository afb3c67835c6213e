// Weight loading (docs/bundle.md): the shards stream in one at a time and each weights
// tensor's stored values are decoded into their place: f32 and i32 copied, f16 widened,
// int8 multiplied by its channel's scale, padded rows spread to their pitch; a deflated
// tensor is inflated block by block (DecompressionStream, native in browsers and Node) and
// its bytes put back in order. The loader holds one shard, a block being inflated, and for
// a sink without direct memory one decoded chunk, at a time.
import { readChecking } from './source.js';
import { platform } from './platform.js';
import { WebjitError } from './errors.js';
import { halfTable } from './half.js';

export const ENCODINGS = { f32: 4, i32: 4, f16: 2, i8: 1 };  // bytes per stored value
const CHUNK = 1 << 21;  // values decoded at once for a sink that takes copies (8 MiB of f32)
const INFLATE_AHEAD = 4;  // deflated blocks in flight at once

/**
 * Streams the bundle's weights into `sink` and reports progress; resolves to
 * {stored_bytes, peak_held_bytes}. A sink has either `view(tensor)` (a typed array over
 * the tensor's memory, written in place) or `write(tensor, element, array)` (a copy of
 * consecutive memory elements starting at `element`).
 */
export async function streamWeights(bundle, manifest, sink, onProgress) {
  const stored = manifest.tensors.filter((t) => t.stored).sort((a, b) => a.stored.at - b.stored.at);
  const total = manifest.weights.reduce((n, w) => n + w.bytes, 0);
  const scales = new Map();  // tensor id -> Float32Array of its int8 scales, filled as they arrive
  const pending = new Map();  // "tensor/block" -> bytes of a deflated block that spans shards
  let loaded = 0, start = 0, peak = 0;
  const checks = [];
  onProgress({ stage: 'weights', loaded, total });
  for (const shard of manifest.weights) {
    // Decoded while its sha256 is computed; the session is not made unless every shard checks out.
    const { bytes, verified } = await readChecking(bundle, shard, (n, fromCache) => {
      loaded += n;
      onProgress({ stage: 'weights', loaded: Math.min(loaded, total), total, file: shard.file, fromCache });
    });
    checks.push(verified);
    const end = start + bytes.length;
    let held;
    try {
      held = await decodeShard(stored, bytes, start, pending, scales, sink);
    } catch (err) {
      await verified;  // a corrupt shard says so, rather than how its bytes failed to decode
      throw err;
    }
    peak = Math.max(peak, held);
    start = end;
  }
  await Promise.all(checks);
  return { stored_bytes: total, peak_held_bytes: peak };
}

/** [tensor, block index, deflated bytes] of tensor t's blocks that end in this shard
 * (a block that spans shards is gathered in `pending` until its last piece arrives). */
function readyBlocks(t, bytes, start, pending) {
  const end = start + bytes.length, ready = [];
  t.stored.deflate.blocks.forEach(([at, length], j) => {
    if (at + length <= start || at >= end) return;
    if (at >= start && at + length <= end) {
      ready.push([t, j, bytes.subarray(at - start, at + length - start)]);
      return;
    }
    const key = `${t.id}/${j}`;
    if (!pending.has(key)) pending.set(key, new Uint8Array(length));
    const from = Math.max(at, start), to = Math.min(at + length, end);
    pending.get(key).set(bytes.subarray(from - start, to - start), from - at);
    if (at + length <= end) {
      ready.push([t, j, pending.get(key)]);
      pending.delete(key);
    }
  });
  return ready;
}

/** Inflates and decodes `blocks`, a few ahead of the one being decoded (inflating runs off
 * the main thread in Node and in the browser's stream machinery); returns the most bytes
 * it held at once beside the shard. */
async function inflateBlocks(blocks, scales, sink) {
  const bytesOf = (t, j) => {
    const s = t.stored, per = s.deflate.values;
    return (Math.min(s.count, (j + 1) * per) - j * per) * ENCODINGS[s.encoding];
  };
  const start = (k) => inflate(blocks[k][2], bytesOf(blocks[k][0], blocks[k][1]), blocks[k][0]);
  const inflating = blocks.slice(0, INFLATE_AHEAD).map((_, k) => start(k));
  let held = 0;
  for (let k = 0; k < blocks.length; k++) {
    const [t, j, data] = blocks[k];
    const planes = await inflating[k];
    inflating[k] = null;
    if (k + INFLATE_AHEAD < blocks.length) inflating.push(start(k + INFLATE_AHEAD));
    const s = t.stored, size = ENCODINGS[s.encoding], first = j * s.deflate.values;
    if (planes.length !== bytesOf(t, j)) {
      throw new WebjitError(`deflated block ${j} of weights tensor ${t.id} inflates to ${planes.length} bytes, ` +
        `not ${bytesOf(t, j)}; rebuild the bundle`);
    }
    const last = first + planes.length / size;
    if (sink.view && !s.rows && (s.encoding === 'f32' || s.encoding === 'i32')) {  // straight into memory
      const view = sink.view(t);
      interleave(planes, size, new Uint8Array(view.buffer, view.byteOffset + 4 * first, planes.length));
      held = Math.max(held, INFLATE_AHEAD * (data.length + planes.length));
      continue;
    }
    const values = interleave(planes, size);
    held = Math.max(held, INFLATE_AHEAD * (data.length + planes.length) + values.length +
      decodeRange(t, values, 0, first, last, scales.get(t.id), sink));
  }
  return held;
}

/** Raw inflate of one block into `expected` bytes: the platform's (node:zlib in Node, whose
 * web streams are five times slower); DecompressionStream's own reader in browsers (three
 * times faster than reading it through a Response). */
async function inflate(data, expected, t) {
  try {
    if (platform.inflateRaw) return await platform.inflateRaw(data, expected);
    const stream = new DecompressionStream('deflate-raw');
    const writer = stream.writable.getWriter();
    writer.write(data).catch(() => {});  // a failure surfaces on the reader
    writer.close().catch(() => {});
    const reader = stream.readable.getReader(), out = new Uint8Array(expected);
    let at = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (at + value.length > expected) return new Uint8Array(at + value.length);  // the caller says it is too long
      out.set(value, at);
      at += value.length;
    }
    return at === expected ? out : out.subarray(0, at);
  } catch (err) {
    throw new WebjitError(`weights tensor ${t.id} does not inflate (${err.message}); rebuild the bundle`, { cause: err });
  }
}

/** The values' bytes back in order from their planes (byte 0 of every value, then byte 1,
 * ...), into `out` when given (bytes of the values' final place). */
function interleave(planes, size, out = null) {
  if (size === 1 && !out) return planes;
  if (size === 1) {
    out.set(planes);
    return out;
  }
  const n = planes.length / size;
  out ??= new Uint8Array(planes.length);
  if (size === 4 && out.byteOffset % 4 === 0 && planes.byteOffset % 4 === 0 && n % 4 === 0) {
    interleaveWords(new Uint32Array(planes.buffer, planes.byteOffset, n), new Uint32Array(out.buffer, out.byteOffset, n));
    return out;
  }
  if (size === 4 && out.byteOffset % 4 === 0) {
    const words = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) {  // little-endian, as WASM and WebGPU memory
      words[i] = planes[i] | (planes[n + i] << 8) | (planes[2 * n + i] << 16) | (planes[3 * n + i] << 24);
    }
    return out;
  }
  for (let p = 0; p < size; p++) {
    for (let i = 0; i < n; i++) out[i * size + p] = planes[p * n + i];
  }
  return out;
}

/** interleave of four planes read a word (four values' bytes) at a time: each step turns the
 * 4x4 bytes of four plane words into four value words (twice as fast as a byte per read). */
function interleaveWords(planes, words) {
  const q = words.length >> 2;
  for (let i = 0, o = 0; i < q; i++, o += 4) {
    const b0 = planes[i], b1 = planes[q + i], b2 = planes[2 * q + i], b3 = planes[3 * q + i];
    words[o] = (b0 & 0xff) | ((b1 & 0xff) << 8) | ((b2 & 0xff) << 16) | (b3 << 24);
    words[o + 1] = ((b0 >>> 8) & 0xff) | (b1 & 0xff00) | ((b2 & 0xff00) << 8) | ((b3 & 0xff00) << 16);
    words[o + 2] = ((b0 >>> 16) & 0xff) | ((b1 >>> 8) & 0xff00) | (b2 & 0xff0000) | ((b3 & 0xff0000) << 8);
    words[o + 3] = (b0 >>> 24) | ((b1 >>> 16) & 0xff00) | ((b2 >>> 8) & 0xff0000) | (b3 & 0xff000000);
  }
}

/** Decodes every stored tensor (or piece of one) in this shard; returns the bytes held. */
async function decodeShard(stored, bytes, start, pending, scales, sink) {
  const end = start + bytes.length;
  let held = bytes.length;
  const blocks = [];  // deflated blocks complete in this shard, inflated together below
  for (const t of stored) {
    const s = t.stored;
    if (s.scales) copyScales(t, bytes, start, end, scales);
    if (s.deflate) {
      blocks.push(...readyBlocks(t, bytes, start, pending));
      continue;
    }
    const from = Math.max(s.at, start), to = Math.min(s.at + s.bytes, end);
    if (from >= to) continue;
    const size = ENCODINGS[s.encoding];
    const first = (from - s.at) / size, last = (to - s.at) / size;
    held = Math.max(held, bytes.length + decodeRange(t, bytes, from - start, first, last, scales.get(t.id), sink));
  }
  held = Math.max(held, bytes.length + await inflateBlocks(blocks, scales, sink));
  return held;
}

function copyScales(t, bytes, start, end, scales) {
  const { at, channels } = t.stored.scales;
  const from = Math.max(at, start), to = Math.min(at + 4 * channels, end);
  if (from >= to) return;
  if (!scales.has(t.id)) scales.set(t.id, new Float32Array(channels));
  const into = scales.get(t.id);
  new Uint8Array(into.buffer, from - at, to - from).set(bytes.subarray(from - start, to - start));
}

/** Where memory element of stored value e lies: rows of `cols` values, `pitch` apart. */
function place(stored) {
  if (!stored.rows) return (e) => e;
  const [cols, pitch] = stored.rows;
  return (e) => Math.floor(e / cols) * pitch + (e % cols);
}

/**
 * Decodes stored values [first, last) of tensor t, whose bytes start at `offset` in
 * `bytes`; returns the bytes of the scratch copy it needed (0 when written in place).
 */
function decodeRange(t, bytes, offset, first, last, scales, sink) {
  const s = t.stored, at = place(s), size = ENCODINGS[s.encoding];
  if (sink.view) {
    decodeInto(s, bytes, offset, first, last, scales, sink.view(t), 0, at);
    return 0;
  }
  if (!s.rows && (s.encoding === 'f32' || s.encoding === 'i32')) {  // already its memory form
    sink.write(t, first, bytes.subarray(offset, offset + (last - first) * 4));
    return 0;
  }
  let scratch = 0;
  for (let e = first; e < last; e += CHUNK) {
    const end = Math.min(last, e + CHUNK), base = at(e);
    const out = new (t.dtype === 'i32' ? Int32Array : Float32Array)(at(end - 1) + 1 - base);
    decodeInto(s, bytes, offset + (e - first) * size, e, end, scales, out, base, at);
    sink.write(t, base, out);
    scratch = Math.max(scratch, out.byteLength);
  }
  return scratch;
}

/** out[at(e) - base] = value e, for stored values [first, last) read from bytes[offset...]. */
function decodeInto(s, bytes, offset, first, last, scales, out, base, at) {
  const n = last - first, o = at(first) - base;
  if (!s.rows && (s.encoding === 'f32' || s.encoding === 'i32')) {
    new Uint8Array(out.buffer, out.byteOffset + 4 * o, 4 * n).set(bytes.subarray(offset, offset + 4 * n));
    return;
  }
  let value;
  if (s.encoding === 'f32' || s.encoding === 'i32') {  // padded rows: one copy per row piece
    const cols = s.rows[0], into = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    for (let e = first; e < last;) {
      const end = Math.min(last, (Math.floor(e / cols) + 1) * cols);
      into.set(bytes.subarray(offset + 4 * (e - first), offset + 4 * (end - first)), 4 * (at(e) - base));
      e = end;
    }
    return;
  } else if (s.encoding === 'f16') {
    const half = halfTable(), words = typed(Uint16Array, bytes, offset, n);
    if (!s.rows) {
      for (let i = 0; i < n; i++) out[o + i] = half[words[i]];
      return;
    }
    value = (i) => half[words[i]];
  } else {
    const q = new Int8Array(bytes.buffer, bytes.byteOffset + offset, n);
    const { channels, inner } = s.scales;
    value = (i) => q[i] * scales[Math.floor((first + i) / inner) % channels];
    if (!s.rows) {
      for (let i = 0; i < n; i++) out[o + i] = value(i);
      return;
    }
  }
  for (let i = 0; i < n; i++) out[at(first + i) - base] = value(i);
}

/** n values of type Ctor at bytes[offset...], copied only when they are not aligned for it. */
function typed(Ctor, bytes, offset, n) {
  const start = bytes.byteOffset + offset, size = Ctor.BYTES_PER_ELEMENT;
  if (start % size === 0) return new Ctor(bytes.buffer, start, n);
  return new Ctor(bytes.slice(offset, offset + n * size).buffer);
}

export { halfTable };
