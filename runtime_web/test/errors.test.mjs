import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as webjit from '../src/node.js';
import { addBundle, f32, intBundle, splitKernel, tempDir, writeBundle } from './fixtures.mjs';

/** Asserts that `promise` rejects with a WebjitError whose message matches `pattern`. */
async function rejectsWith(promise, pattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof webjit.WebjitError, `expected a WebjitError, got ${err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

function editManifest(dir, edit) {
  const path = join(dir, 'manifest.json');
  const manifest = JSON.parse(readFileSync(path, 'utf8'));
  edit(manifest);
  writeFileSync(path, JSON.stringify(manifest));
}

test('wrong format_version asks for a recompile', async () => {
  const dir = tempDir();
  addBundle(dir);
  editManifest(dir, (m) => { m.format_version = 1; });
  await rejectsWith(webjit.load(dir),
    /^this bundle has format version 1; this runtime reads version 3, recompile it$/);
});

test('a corrupted weight byte is a sha256 mismatch naming the file', async () => {
  const dir = tempDir();
  addBundle(dir);
  const path = join(dir, 'weights-0.bin');
  const bytes = readFileSync(path);
  bytes[5] ^= 1;
  writeFileSync(path, bytes);
  await rejectsWith(webjit.load(dir), /weights-0\.bin is corrupt \(sha256 mismatch\); rebuild or re-download the bundle/);
});

test('a truncated kernel, a missing kernel and a missing bundle are named', async () => {
  const dir = tempDir();
  addBundle(dir);
  const path = join(dir, 'kernels/k0.wasm');
  writeFileSync(path, readFileSync(path).subarray(0, 20));
  await rejectsWith(webjit.load(dir), /kernels\/k0\.wasm is corrupt \(20 bytes, manifest says \d+\)/);
  rmSync(path);
  await rejectsWith(webjit.load(dir), /bundle file kernels\/k0\.wasm is missing/);
  await rejectsWith(webjit.load(join(dir, 'nowhere')), /bundle file manifest\.json is missing/);
});

test('options: webgpu needs WGSL kernels, bad backend, threads, gpu and limits rejected', async () => {
  const dir = tempDir();
  addBundle(dir);
  await rejectsWith(webjit.load(dir, { backend: 'webgpu' }),
    /^this bundle has no WebGPU kernels; recompile it for webgpu or use backend 'wasm'$/);
  await rejectsWith(webjit.load(dir, { backend: 'cuda' }), /unknown backend "cuda"/);
  await rejectsWith(webjit.load(dir, { threads: 0 }), /threads must be 'auto' or a positive integer/);
  await rejectsWith(webjit.load(dir, { gpu: {} }), /the gpu option must be a GPU object/);
  await rejectsWith(webjit.load(dir, { limits: { maxBufferSize: -1 } }), /the limits option must map/);
  const session = await webjit.load(dir, { backend: 'auto', threads: 1 });
  assert.equal(session.backend, 'wasm');
  assert.equal(session.backendNote, 'this bundle has no WebGPU kernels; running on WASM');
  session.release();
});

test('feeds: missing, unknown, wrong shape, wrong length, wrong type', async () => {
  const dir = tempDir();
  addBundle(dir, 8);
  const session = await webjit.load(dir, { threads: 1 });
  const x = new Float32Array(8);
  await rejectsWith(session.run({}), /^missing input 'x'; this bundle's inputs are x$/);
  await rejectsWith(session.run({ x, z: x }), /^unknown input 'z'; this bundle's inputs are x$/);
  await rejectsWith(session.run({ x: { data: new Float32Array(7), shape: [1, 7] } }),
    /^input 'x' has shape \[1,7\]; this bundle was compiled for \[1,8\]$/);
  await rejectsWith(session.run({ x: new Float32Array(7) }), /input 'x' has 7 elements; .*\[1,8\] \(8 elements\)/);
  await rejectsWith(session.run({ x: new Int32Array(8) }), /input 'x' is float32; pass a Float32Array or an array of numbers, not an Int32Array/);
  await rejectsWith(session.run({ x: 'hello' }), /input 'x' must be/);
  session.release();
  // An input that --const folded into the bundle (a merged decoder's use_cache_branch).
  const manifestPath = join(dir, 'manifest.json');
  writeFileSync(manifestPath, JSON.stringify({ ...JSON.parse(readFileSync(manifestPath, 'utf8')),
    bound: ['use_cache_branch'] }));
  const bound = await webjit.load(dir, { threads: 1 });
  await rejectsWith(bound.run({ x, use_cache_branch: [1] }), new RegExp("^input 'use_cache_branch' was bound to a "
    + 'value when this bundle was compiled \\(--const use_cache_branch=\\.\\.\\.\\); leave it out of the feeds$'));
  bound.release();
});

test('int64 values outside the int32 range are refused', async () => {
  const dir = tempDir();
  intBundle(dir, 6, 10);
  const session = await webjit.load(dir, { threads: 1 });
  await rejectsWith(session.run({ ids: new BigInt64Array([0n, 1n, 2n, 3n, 2147483648n, 0n]) }),
    /input 'ids' holds 2147483648 at element 4, outside the int32 range/);
  await rejectsWith(session.run({ ids: [0, 1, 2, 3, 4, -2147483649] }), /holds -2147483649 at element 5/);
  await rejectsWith(session.run({ ids: [0, 1, 2, 3, 4, 0.5] }), /input 'ids' is int64; pass a BigInt64Array, an Int32Array or an array of integers/);
  await rejectsWith(session.run({ ids: new Float32Array(6) }), /not a Float32Array/);
  session.release();
});

test('a manifest whose tensors leave their region is refused', async () => {
  const dir = tempDir();
  addBundle(dir);
  editManifest(dir, (m) => { m.tensors[2].offset = m.memory.arena_bytes; });
  await rejectsWith(webjit.load(dir), /manifest\.json is invalid: tensor 2 lies outside its arena region/);
});

test('index inputs outside their valid_range are refused; negative indices count from the end', async () => {
  const dir = tempDir();
  intBundle(dir, 6, 10);
  editManifest(dir, (m) => { m.inputs[0].valid_range = [0, 10]; });
  const session = await webjit.load(dir, { threads: 1 });
  await rejectsWith(session.run({ ids: [1, 2, 3, 10, 4, 5] }),
    /^input 'ids' holds 10 at element 3, but the model indexes with it and needs values in \[-10, 10\)$/);
  await rejectsWith(session.run({ ids: BigInt64Array.of(0n, -11n, 0n, 0n, 0n, 0n) }), /holds -11 at element 1/);
  const { emb } = await session.run({ ids: [0, 1, 2, 3, 4, 9] });
  assert.deepEqual(Array.from(emb.data), [100, 101, 102, 103, 104, 109]);
  session.release();
});

test('an absurd thread count runs on the cores there are, and says so', async () => {
  const dir = tempDir();
  addBundle(dir, 8);
  const session = await webjit.load(dir, { threads: 10000 });
  const cores = (await import('node:os')).availableParallelism();
  assert.equal(session.threads, Math.max(1, Math.min(cores, 10000)));
  assert.match(session.threadNote, /threads: 10000 was requested but this device reports \d+ CPU core/);
  const { y } = await session.run({ x: Float32Array.from({ length: 8 }, (_, i) => i) });
  assert.deepEqual(Array.from(y.data), Array.from({ length: 8 }, (_, i) => i + 0.5 * i));
  session.release();
});

test('an input array refilled while its run waits in the queue does not change that run', async () => {
  const dir = tempDir();
  addBundle(dir, 8);
  const session = await webjit.load(dir, { threads: 1 });
  const x = Float32Array.from({ length: 8 }, () => 1);
  const first = session.run({ x });
  const second = session.run({ x });  // queued behind the first
  x.fill(7);  // refilled before either run was awaited
  const third = session.run({ x });
  const [a, b, c] = await Promise.all([first, second, third]);
  const w = (i) => 0.5 * i;
  assert.deepEqual(Array.from(a.y.data), Array.from({ length: 8 }, (_, i) => 1 + w(i)));
  assert.deepEqual(Array.from(b.y.data), Array.from({ length: 8 }, (_, i) => 1 + w(i)));
  assert.deepEqual(Array.from(c.y.data), Array.from({ length: 8 }, (_, i) => 7 + w(i)));
  session.release();
});

test('the watchdog turns a stuck kernel into an error and the next run gets fresh workers', async () => {
  const dir = tempDir();
  const n = 64;
  const w = Float32Array.from({ length: n }, (_, i) => i);
  const locals = '(local $i i32) (local $end i32) (local $chunk i32)';
  // Loops forever when x[0] > 0, else y = x + w.
  const stuck = splitKernel({ n, nargs: 3, value: `(f32.add ${f32(0)} ${f32(1)})` }).replace(locals,
    `${locals}\n    (if (f32.gt (f32.load (local.get $p0)) (f32.const 0)) (then (loop $forever (br $forever))))`);
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n, weight: w }, { dtype: 'f32', size: n }],
    kernels: [{ wat: stuck, nargs: 3 }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 2 }],
    steps: [{ kernel: 0, args: [0, 1, 2] }],
  });
  const session = await webjit.load(dir, { backend: 'wasm', threads: 2, runTimeoutMs: 500 });
  try {
    assert.equal(session.threads, 2);
    const began = performance.now();
    await rejectsWith(session.run({ x: new Float32Array(n).fill(1) }),
      /^a run did not finish within 0\.5 s \(a kernel is stuck\); its worker threads were stopped/);
    assert.ok(performance.now() - began < 5000);
    const x = Float32Array.from({ length: n }, (_, i) => -i);
    const { y } = await session.run({ x });
    assert.deepEqual(Array.from(y.data), Array.from({ length: n }, () => 0));
  } finally {
    session.release();
  }
  await rejectsWith(webjit.load(dir, { runTimeoutMs: 0 }), /^runTimeoutMs must be a positive number/);
});
