import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as webjit from '../src/node.js';
import { addBundle, f32, intBundle, splitKernel, tempDir, twoStepBundle, writeBundle } from './fixtures.mjs';

test('add bundle: y = x + w, inputs/outputs described, progress reported', async () => {
  const dir = tempDir();
  const { w } = addBundle(dir, 8);
  const progress = [];
  const session = await webjit.load(dir, { threads: 1, onProgress: (p) => progress.push(p) });
  assert.equal(session.backend, 'wasm');
  assert.equal(session.threads, 1);
  assert.match(session.threadNote, /threads: 1 was requested/);
  assert.deepEqual(session.inputs, [{ name: 'x', dtype: 'float32', shape: [1, 8] }]);
  assert.deepEqual(session.outputs, [{ name: 'y', dtype: 'float32', shape: [1, 8] }]);
  const x = Float32Array.from({ length: 8 }, (_, i) => 10 * i + 1);
  const { y } = await session.run({ x });
  assert.equal(y.dtype, 'float32');
  assert.deepEqual(y.shape, [1, 8]);
  assert.deepEqual(Array.from(y.data), Array.from(x, (v, i) => v + w[i]));
  // Plain numbers and {data, shape} give the same answer.
  const again = await session.run({ x: { data: Array.from(x), shape: [1, 8] } });
  assert.deepEqual(again.y.data, y.data);
  for (const stage of ['weights', 'kernels']) {
    const last = progress.filter((p) => p.stage === stage).at(-1);
    assert.ok(last.total > 0);
    assert.equal(last.loaded, last.total);
  }
  session.release();
  await assert.rejects(session.run({ x }), /released/);
});

test('two steps, several weight shards, file:// URL', async () => {
  const dir = tempDir();
  const n = 64;
  const wat = splitKernel({ n, nargs: 3, value: `(f32.mul ${f32(0)} ${f32(1)})` });
  const w1 = Float32Array.from({ length: n }, (_, i) => i - 3);
  const w2 = Float32Array.from({ length: n }, (_, i) => 1 / (i + 1));
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n, weight: w1 },
      { dtype: 'f32', size: n, weight: w2 }, { dtype: 'f32', size: n }, { dtype: 'f32', size: n }],
    kernels: [{ wat, nargs: 3 }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 4 }],
    steps: [{ kernel: 0, args: [0, 1, 3] }, { kernel: 0, args: [3, 2, 4] }],
    shardBytes: 100,  // splits a weight across shards: concatenation order matters
  });
  const session = await webjit.load(pathToFileURL(dir).href, { threads: 1 });
  const x = Float32Array.from({ length: n }, (_, i) => 2 + i);
  const { y } = await session.run({ x });
  const expected = Array.from(x, (v, i) => Math.fround(Math.fround(v * w1[i]) * w2[i]));
  assert.deepEqual(Array.from(y.data), expected);
  session.release();
});

test('stored weights: float16, int8 with per-channel scales and padded rows, split across shards', async () => {
  const dir = tempDir();
  const n = 64;
  const wat = splitKernel({ n, nargs: 3, value: `(f32.add ${f32(0)} ${f32(1)})` });
  const patterns = [0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x7bff, 0xfbff, 0x8000, 0x7c00, 0x3555];
  const halves = Uint16Array.from({ length: n }, (_, i) => patterns[i % patterns.length] ^ (i >> 3));
  const q = Int8Array.from({ length: n }, (_, i) => ((i * 37) % 255) - 127);
  const scales = Float32Array.of(0.5, 0.25, 2, 1 / 3);
  const dense = Float32Array.from({ length: 48 }, (_, i) => i / 7 - 3);  // 8 rows of 6, pitch 8
  const stored = [{ encoding: 'f16', values: halves }, { encoding: 'i8', values: q, scales, inner: 2 },
    { encoding: 'f32', values: dense, rows: [6, 8] }];
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, ...stored.map((s) => ({ dtype: 'f32', size: n, stored: s })),
      { dtype: 'f32', size: n }, { dtype: 'f32', size: n }, { dtype: 'f32', size: n }],
    kernels: [{ wat, nargs: 3 }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 6 }],
    steps: [{ kernel: 0, args: [0, 1, 4] }, { kernel: 0, args: [4, 2, 5] }, { kernel: 0, args: [5, 3, 6] }],
    shardBytes: 52,  // every stored tensor spans shards, and shards end inside values
  });
  const half = (h) => {
    const e = (h >> 10) & 31, f = h & 1023, sign = h & 0x8000 ? -1 : 1;
    return e === 0 ? sign * f * 2 ** -24 : e === 31 ? (f ? NaN : sign * Infinity) : sign * (1 + f / 1024) * 2 ** (e - 15);
  };
  const w16 = Array.from(halves, half);
  const w8 = Array.from(q, (v, i) => Math.fround(v * scales[Math.floor(i / 2) % 4]));
  const wrows = Array.from({ length: n }, (_, i) => (i % 8 < 6 ? dense[Math.floor(i / 8) * 6 + (i % 8)] : 0));
  const session = await webjit.load(dir, { threads: 1 });
  assert.deepEqual(session.weights, { storage: 'fp32', stored_bytes: 400, memory_bytes: 768, peak_held_bytes: 52 });
  const x = Float32Array.from({ length: n }, (_, i) => i - 20.5);
  const { y } = await session.run({ x });
  const expected = Array.from(x, (v, i) => Math.fround(Math.fround(Math.fround(v + w16[i]) + w8[i]) + wrows[i]));
  assert.deepEqual(Array.from(y.data), expected);
  session.release();
});

test('threaded (2 workers) and single-threaded runs agree bit for bit', async () => {
  const dir = tempDir();
  const n = 4096;
  const { w } = twoStepBundle(dir, n);
  const x = Float32Array.from({ length: n }, (_, i) => Math.cos(i) * 3);
  const single = await webjit.load(dir, { threads: 1 });
  const threaded = await webjit.load(dir, { threads: 2 });
  assert.equal(threaded.threads, 2);
  assert.equal(threaded.threadNote, null);
  const t = Array.from(x, (v, i) => Math.fround(v + w[i]));
  const expected = t.map((v, i) => Math.fround(t[n - 1 - i] * v));
  const a = (await single.run({ x })).y.data;
  for (let r = 0; r < 5; r++) {
    const b = (await threaded.run({ x })).y.data;
    assert.deepEqual(Array.from(b), expected);
  }
  assert.deepEqual(Array.from(a), expected);
  single.release();
  threaded.release();
});

test('every worker runs its own tid', async () => {
  const dir = tempDir();
  const n = 10;
  writeBundle(dir, {
    tensors: [{ dtype: 'i32', size: n }, { dtype: 'i32', size: n }],
    kernels: [{ wat: splitKernel({ n, nargs: 2, value: '(local.get $tid)', store: 'i32.store' }), nargs: 2 }],
    inputs: [{ name: 'x', dtype: 'int32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'tid', dtype: 'int32', shape: [n], tensor: 1 }],
    steps: [{ kernel: 0, args: [0, 1] }],
  });
  const session = await webjit.load(dir, { threads: 2 });
  const { tid } = await session.run({ x: new Int32Array(n) });
  assert.deepEqual(Array.from(tid.data), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  session.release();
});

test('int64 and bool boundaries: narrowed in, widened out, concurrent runs queued', async () => {
  const dir = tempDir();
  const { table } = intBundle(dir, 6, 10);
  for (const threads of [1, 2]) {
    const session = await webjit.load(dir, { threads });
    const results = await Promise.all([
      session.run({ ids: new BigInt64Array([0n, 1n, 2n, 3n, 4n, 9n]) }),
      session.run({ ids: [9, 8, 7, 0, 1, 2] }),
      session.run({ ids: { data: new Int32Array([5, 5, 5, 5, 5, 5]), shape: [1, 6] } }),
    ]);
    const [first, second, third] = results;
    assert.deepEqual(Array.from(first.emb.data), [0, 1, 2, 3, 4, 9].map((i) => table[i]));
    assert.deepEqual(first.twice.data, new BigInt64Array([0n, 2n, 4n, 6n, 8n, 18n]));
    assert.deepEqual(first.positive.data, new Uint8Array([0, 1, 1, 1, 1, 1]));
    assert.equal(first.twice.dtype, 'int64');
    assert.equal(first.positive.dtype, 'bool');
    assert.deepEqual(Array.from(second.emb.data), [9, 8, 7, 0, 1, 2].map((i) => table[i]));
    assert.deepEqual(third.twice.data, new BigInt64Array(6).fill(10n));
    session.release();
  }
});

test('a kernel trap names the step, and the session still runs afterwards', async () => {
  const dir = tempDir();
  intBundle(dir, 6, 10);
  for (const threads of [1, 2]) {
    const session = await webjit.load(dir, { threads });
    // An index far past the table makes the gather kernel read outside the memory.
    await assert.rejects(session.run({ ids: [0, 1, 2, 3, 4, 2000000000] }), /step 0 \(step0\) failed.*out of bounds/);
    const { emb } = await session.run({ ids: [1, 1, 1, 1, 1, 1] });
    assert.deepEqual(Array.from(emb.data), new Array(6).fill(101));
    session.release();
  }
});

test('loads over http', async () => {
  const dir = tempDir();
  const { w } = addBundle(dir, 8);
  const server = createServer(async (req, res) => {
    try {
      res.end(await readFile(join(dir, decodeURIComponent(new URL(req.url, 'http://x').pathname))));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${server.address().port}/`;
    const progress = [];
    const session = await webjit.load(url, { threads: 1, onProgress: (p) => progress.push(p) });
    const { y } = await session.run({ x: new Float32Array(8).fill(1) });
    assert.deepEqual(Array.from(y.data), Array.from(w, (v) => v + 1));
    assert.ok(progress.some((p) => p.stage === 'weights' && p.loaded === p.total));
    session.release();
  } finally {
    server.close();
  }
});
