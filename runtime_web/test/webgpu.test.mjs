// The WebGPU backend in Node: Dawn (the webgpu package) on SwiftShader. `npm test` sets
// LD_LIBRARY_PATH and VK_ICD_FILENAMES so that Dawn finds Chromium's SwiftShader driver.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as webjit from '../src/node.js';
import { tempDir } from './fixtures.mjs';
import { intGpuBundle, nodeGpu, twoStepGpuBundle } from './gpu_fixtures.mjs';

const { gpu } = await nodeGpu();
const opened = [];
after(() => { for (const session of opened) session.release(); });

async function open(dir, options) {
  const session = await webjit.load(dir, { gpu, threads: 1, ...options });
  opened.push(session);
  return session;
}

async function rejectsWith(promise, pattern) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof webjit.WebjitError, `expected a WebjitError, got ${err?.stack ?? err}`);
    assert.match(err.message, pattern);
    return true;
  });
}

const input = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.cos(i * seed) * 3);

test('webgpu and wasm give the same outputs; an arg split into two chunk bindings', async () => {
  const dir = tempDir();
  const n = 4096;
  const { expected } = twoStepGpuBundle(dir, { n });
  const progress = [];
  const onGpu = await open(dir, { backend: 'webgpu', onProgress: (p) => progress.push(p) });
  const onWasm = await open(dir, { backend: 'wasm' });
  assert.equal(onGpu.backend, 'webgpu');
  assert.equal(onGpu.backendNote, null);
  assert.ok(onGpu.gpuDevice);
  assert.equal(onWasm.backend, 'wasm');
  for (const seed of [1, 2, 3]) {  // fresh inputs each run: nothing stale is read back
    const x = input(n, seed);
    const gpuY = (await onGpu.run({ x })).y;
    assert.deepEqual([gpuY.dtype, gpuY.shape], ['float32', [n]]);
    assert.deepEqual(Array.from(gpuY.data), expected(x));
    assert.deepEqual(gpuY.data, (await onWasm.run({ x })).y.data);
  }
  const kernels = progress.filter((p) => p.stage === 'kernels').at(-1);
  assert.ok(kernels.total > 0 && kernels.loaded === kernels.total);
});

test('a gpu object the caller drops lives as long as the session (Dawn aborts otherwise)', async () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const dir = tempDir();
  const { expected } = twoStepGpuBundle(dir, { n: 256 });
  const { create } = await import('webgpu');
  const session = await open(dir, { backend: 'webgpu', gpu: create([]) });
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const x = input(256, i + 1);
    assert.deepEqual(Array.from((await session.run({ x })).y.data), expected(x));
  }
});

test('auto picks webgpu when an adapter fits', async () => {
  const dir = tempDir();
  const { expected } = twoStepGpuBundle(dir, { n: 256 });
  const session = await open(dir, { backend: 'auto' });
  assert.equal(session.backend, 'webgpu');
  const x = input(256, 5);
  assert.deepEqual(Array.from((await session.run({ x })).y.data), expected(x));
  const running = session.run({ x });
  session.release();
  await rejectsWith(running, /released/);
  await rejectsWith(session.run({ x }), /^this session was released/);
  assert.equal(session.gpuDevice, null);
});

test('int64 and bool outputs on webgpu: narrowed in, widened out, concurrent runs queued', async () => {
  const dir = tempDir();
  const { table } = intGpuBundle(dir, 6, 10);
  const session = await open(dir, { backend: 'webgpu' });
  const [first, second] = await Promise.all([
    session.run({ ids: new BigInt64Array([0n, 1n, 2n, 3n, 4n, 9n]) }),
    session.run({ ids: [9, 8, 7, 0, -1, 2] }),
  ]);
  assert.deepEqual(Array.from(first.emb.data), [0, 1, 2, 3, 4, 9].map((i) => table[i]));
  assert.deepEqual(first.twice.data, new BigInt64Array([0n, 2n, 4n, 6n, 8n, 18n]));
  assert.deepEqual(first.positive.data, new Uint8Array([0, 1, 1, 1, 1, 1]));
  assert.deepEqual([first.twice.dtype, first.positive.dtype], ['int64', 'bool']);
  assert.deepEqual(second.twice.data, new BigInt64Array([18n, 16n, 14n, 0n, -2n, 4n]));
  assert.deepEqual(second.positive.data, new Uint8Array([1, 1, 1, 0, 0, 1]));
  await rejectsWith(session.run({ ids: [0, 1, 2, 3, 4, 2 ** 31] }), /outside the int32 range/);
});

test('limits lower than the bundle needs: webgpu refuses, auto runs on wasm and says why', async () => {
  const dir = tempDir();
  const { expected } = twoStepGpuBundle(dir, { n: 256 });
  const limits = { maxComputeInvocationsPerWorkgroup: 128 };
  await rejectsWith(open(dir, { backend: 'webgpu', limits }),
    /^the WebGPU limit maxComputeInvocationsPerWorkgroup is 128 \(from the limits option\), below the 256 this bundle was compiled for; use backend 'wasm' or 'auto'$/);
  const session = await open(dir, { backend: 'auto', limits });
  assert.equal(session.backend, 'wasm');
  assert.match(session.backendNote, /maxComputeInvocationsPerWorkgroup is 128 .*; running on WASM$/);
  const x = input(256, 7);
  assert.deepEqual(Array.from((await session.run({ x })).y.data), expected(x));
  // Limits at or above the bundle's are fine.
  const fits = await open(dir, { backend: 'webgpu', limits: { maxComputeInvocationsPerWorkgroup: 256 } });
  assert.equal(fits.backend, 'webgpu');
});

test('a bundle compiled for more than the adapter has, or a buffer too big, is refused', async () => {
  const dir = tempDir();
  twoStepGpuBundle(dir, { n: 256, webgpuLimits: { maxComputeInvocationsPerWorkgroup: 4096 } });
  await rejectsWith(open(dir, { backend: 'webgpu' }),
    /^the WebGPU adapter's maxComputeInvocationsPerWorkgroup is \d+, below the 4096 this bundle was compiled for/);
  const small = tempDir();
  twoStepGpuBundle(small, { n: 4096 });  // arena: x, t and y, 16384 bytes each
  await rejectsWith(open(small, { backend: 'webgpu', limits: { maxBufferSize: 4096 } }),
    /^this bundle needs a GPU buffer of 49152 bytes, more than the WebGPU maxBufferSize of 4096 bytes here; use backend 'wasm' or 'auto'$/);
  await rejectsWith(open(small, { backend: 'webgpu', limits: { maxNothing: 1 } }), /unknown WebGPU limit "maxNothing"/);
});

test('a WGSL syntax error names the kernel and its family, from load', async () => {
  const dir = tempDir();
  const { expected } = twoStepGpuBundle(dir, { n: 256, brokenWgsl: true });
  await rejectsWith(open(dir, { backend: 'webgpu' }),
    /^WebGPU kernel 0 \(add, kernels\/k0\.wgsl\) does not compile: line \d+: .+; rebuild the bundle or use backend 'wasm'$/);
  const session = await open(dir, { backend: 'auto' });
  assert.equal(session.backend, 'wasm');
  assert.match(session.backendNote, /^WebGPU kernel 0 \(add, .*does not compile.*; running on WASM$/);
  const x = input(256, 2);
  assert.deepEqual(Array.from((await session.run({ x })).y.data), expected(x));
});

test('a kernel declaring a read-only binding the manifest says is read_write is refused at load', async () => {
  // Every binding is read_write (a step's inputs and outputs share the arena buffer); a
  // shader that disagrees with its layout fails as a pipeline, naming the kernel.
  const dir = tempDir();
  twoStepGpuBundle(dir, { n: 256, readOnlyInput: true });
  await rejectsWith(open(dir, { backend: 'webgpu' }),
    /^WebGPU kernel 0 \(add, .*could not become a pipeline: .*; rebuild the bundle or use backend 'wasm'$/);
  const session = await open(dir, { backend: 'auto' });
  assert.equal(session.backend, 'wasm');
  assert.match(session.backendNote, /^WebGPU kernel 0 .*could not become a pipeline.*; running on WASM$/);
});

test('device lost between runs: the next run is correct on wasm', async () => {
  const dir = tempDir();
  const n = 1024;
  const { expected } = twoStepGpuBundle(dir, { n });
  const session = await open(dir, { backend: 'webgpu' });
  const x = input(n, 3);
  assert.deepEqual(Array.from((await session.run({ x })).y.data), expected(x));
  session.gpuDevice.destroy();
  const x2 = input(n, 4);
  assert.deepEqual(Array.from((await session.run({ x: x2 })).y.data), expected(x2));
  assert.equal(session.backend, 'wasm');
  assert.equal(session.gpuDevice, null);
  assert.match(session.backendNote, /^the WebGPU device was lost \(destroyed.*\); running on WASM$/);
  assert.deepEqual(Array.from((await session.run({ x })).y.data), expected(x));
});

test('device lost while a run is in flight: that run still returns correct outputs', async () => {
  const dir = tempDir();
  const n = 1024;
  const { expected } = twoStepGpuBundle(dir, { n });
  const session = await open(dir, { backend: 'webgpu' });
  const x = input(n, 6);
  const running = session.run({ x });
  await new Promise((resolve) => setImmediate(resolve));  // the run has started on the GPU
  session.gpuDevice.destroy();
  assert.deepEqual(Array.from((await running).y.data), expected(x));
  assert.equal(session.backend, 'wasm');
});

test('auto without a gpu runs on wasm and says why; webgpu without one is a sentence', async () => {
  const dir = tempDir();
  const { expected } = twoStepGpuBundle(dir, { n: 256 });
  const session = await webjit.load(dir, { backend: 'auto', threads: 1 });
  opened.push(session);
  assert.equal(session.backend, 'wasm');
  assert.equal(session.backendNote,
    'no WebGPU adapter (Node has no navigator.gpu and no gpu option was given); running on WASM');
  const x = input(256, 1);
  assert.deepEqual(Array.from((await session.run({ x })).y.data), expected(x));
  await rejectsWith(webjit.load(dir, { backend: 'webgpu' }),
    /^no WebGPU adapter \(Node has no navigator\.gpu .*\); pass \{gpu\} from the webgpu package/);
  const noAdapter = { requestAdapter: async () => null };
  await rejectsWith(webjit.load(dir, { backend: 'webgpu', gpu: noAdapter }),
    /^no WebGPU adapter \(requestAdapter\(\) on the gpu option returned none\); use backend 'wasm' or 'auto'$/);
  const fallback = await webjit.load(dir, { backend: 'auto', gpu: noAdapter, threads: 1 });
  opened.push(fallback);
  assert.equal(fallback.backendNote, 'no WebGPU adapter (requestAdapter() on the gpu option returned none); running on WASM');
});
