// The device fingerprint and per-device variants, the per-kernel profile, and the kernel
// timer's candidate checks (src/device.js, src/timer.js) on both backends.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as webjit from '../src/node.js';
import { wasmDevice } from '../src/device.js';
import { addBundle, assemble, f32, splitKernel, tempDir, twoStepBundle, writeBundle } from './fixtures.mjs';
import { nodeGpu, twoStepGpuBundle } from './gpu_fixtures.mjs';

const opened = [];
after(() => { for (const session of opened) session.release(); });

async function open(dir, options) {
  const session = await webjit.load(dir, { backend: 'wasm', ...options });
  opened.push(session);
  return session;
}

const here = await wasmDevice();
const n = 64;
const addWat = splitKernel({ n, nargs: 3, value: `(f32.add ${f32(0)} ${f32(1)})` });
// Detectably different from the default, so a test sees which form ran.
const plus100Wat = splitKernel({ n, nargs: 3, value: `(f32.add (f32.add ${f32(0)} ${f32(1)}) (f32.const 100))` });

function variantBundle(dir, variants) {
  const w = Float32Array.from({ length: n }, (_, i) => i);
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n, weight: w }, { dtype: 'f32', size: n }],
    kernels: [{ wat: addWat, nargs: 3, variants }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 2 }],
    steps: [{ kernel: 0, args: [0, 1, 2] }],
  });
  return w;
}

const ones = () => new Float32Array(n).fill(1);

test('the fingerprint names the engine, the cores and relaxed SIMD', () => {
  assert.match(here.fingerprint, /^wasm\/node-\d+\/\d+-cores\/(relaxed-simd|simd)$/);
  assert.equal(here.features.includes('relaxed-simd'), here.fingerprint.endsWith('/relaxed-simd'));
});

test('the variant recorded for this device runs here; the default elsewhere', async () => {
  const dir = tempDir();
  variantBundle(dir, [{ device: 'wasm/other-engine-1/64-cores/simd', wat: plus100Wat },
    { device: here.fingerprint, wat: plus100Wat }]);
  for (const threads of [1, 2]) {
    const session = await open(dir, { threads });
    assert.equal(session.device.fingerprint, here.fingerprint);
    assert.equal(session.kernels[0].variant, here.fingerprint);
    assert.deepEqual(session.kernels[0].config, { variant: 2 });
    const { y } = await session.run({ x: ones() });
    assert.equal(y.data[5], 1 + 5 + 100);
  }
});

test('a variant for another device, or one needing what the engine lacks, leaves the default', async () => {
  for (const variants of [[{ device: 'wasm/other-engine-1/64-cores/simd', wat: plus100Wat }],
    [{ device: here.fingerprint, wat: plus100Wat, requires: ['no-such-feature'] }], []]) {
    const dir = tempDir();
    variantBundle(dir, variants);
    const session = await open(dir, { threads: 1 });
    assert.equal(session.kernels[0].variant, null);
    assert.deepEqual(session.kernels[0].config, {});
    assert.equal((await session.run({ x: ones() })).y.data[5], 1 + 5);
  }
});

test('a default kernel needing what the engine lacks is one sentence at load', async () => {
  const dir = tempDir();
  variantBundle(dir, []);
  const path = join(dir, 'manifest.json');
  const { readFileSync } = await import('node:fs');
  const manifest = JSON.parse(readFileSync(path));
  manifest.kernels[0].wasm.requires = ['no-such-feature'];
  writeFileSync(path, JSON.stringify(manifest));
  await assert.rejects(webjit.load(dir, { backend: 'wasm' }),
    /^WebjitError: kernel 0 needs no-such-feature, which this WebAssembly engine lacks/);
});

test('profile: every step counted, shares sum to one, before a run it asks for one', async () => {
  const dir = tempDir();
  twoStepBundle(dir, 4096);
  for (const threads of [1, 2]) {
    const session = await open(dir, { threads });
    await assert.rejects(session.profile(), /run the session once before profiling/);
    await session.run({ x: new Float32Array(4096).fill(2) });
    const profile = await session.profile({ repeat: 2 });
    assert.equal(profile.backend, 'wasm');
    assert.deepEqual(profile.kernels.map((k) => k.calls), [1, 1]);
    assert.equal(profile.steps_ms.length, 2);
    assert.ok(profile.steps_ms.every((t) => t >= 0) && profile.sum_ms > 0);
    assert.ok(Math.abs(profile.kernels.reduce((s, k) => s + k.share, 0) - 1) < 1e-9);
  }
});

function writeCandidates(dir, files) {
  mkdirSync(dir, { recursive: true });
  return files.map(({ name, bytes, sha256, config }) => {
    writeFileSync(join(dir, name), bytes);
    return { file: name, bytes: bytes.length, sha256: sha256 ?? createHash('sha256').update(bytes).digest('hex'),
      config };
  });
}

const wasmCandidates = (dir) => writeCandidates(join(dir, 'candidates'), [
  // the same sum in the other operand order: correct
  { name: 'same.wasm', bytes: assemble(splitKernel({ n, nargs: 3, value: `(f32.add ${f32(1)} ${f32(0)})` })),
    config: { name: 'same' } },
  { name: 'wrong.wasm', bytes: assemble(splitKernel({ n, nargs: 3, value: `(f32.sub ${f32(0)} ${f32(1)})` })),
    config: { name: 'wrong' } },
  // writes only the first half of the output
  { name: 'half.wasm', bytes: assemble(splitKernel({ n: n / 2, nargs: 3, value: `(f32.add ${f32(0)} ${f32(1)})` })),
    config: { name: 'half' } },
  { name: 'garbage.wasm', bytes: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99, 99]), config: { name: 'garbage' } },
  { name: 'tampered.wasm', bytes: assemble(addWat), sha256: '0'.repeat(64), config: { name: 'tampered' } },
]);

test('measureCandidates: a correct candidate is timed; wrong, partial and broken ones never are', async () => {
  const dir = tempDir();
  addBundle(dir, n);
  const candidates = wasmCandidates(dir);
  for (const threads of [1, 2]) {
    const session = await open(dir, { threads });
    await assert.rejects(session.measureCandidates(0, candidates, join(dir, 'candidates')),
      /run the session once before profiling or tuning/);
    const x = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
    const before = (await session.run({ x })).y.data;
    const answer = await session.measureCandidates(0, candidates, join(dir, 'candidates'), { minTimeMs: 2 });
    const by = Object.fromEntries(answer.results.map((r) => [r.config.name, r]));
    assert.equal(answer.step, 0);
    assert.ok(answer.current.min_ms >= 0);
    assert.ok(by.same.ok && by.same.min_ms >= 0, JSON.stringify(by.same));
    assert.equal(by.wrong.stage, 'check');
    assert.match(by.wrong.error, /^output 2 differs at element \d+/);
    assert.equal(by.half.stage, 'check');
    assert.match(by.half.error, /differs at element (3[2-9]|[4-6]\d)/);  // the elements it skipped
    assert.equal(by.garbage.stage, 'compile');
    assert.equal(by.tampered.stage, 'compile');
    assert.match(by.tampered.error, /sha256 mismatch/);
    // The session still computes what it did: measuring changes nothing it runs.
    assert.deepEqual((await session.run({ x })).y.data, before);
  }
});

test('measureCandidates restores what an in-place kernel reads', async () => {
  // y = y + x, in place: the reference must see y as the model left it.
  const dir = tempDir();
  const inPlace = (v) => splitKernel({ n, nargs: 2, value: `(f32.add ${f32(1)} ${v})` });
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n }],
    kernels: [{ wat: splitKernel({ n, nargs: 2, value: f32(0) }), nargs: 2 }, { wat: inPlace(f32(0)), nargs: 2 }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 1 }],
    steps: [{ kernel: 0, args: [0, 1] }, { kernel: 1, args: [0, 1] }],
  });
  const candidates = writeCandidates(join(dir, 'c'), [
    { name: 'same.wasm', bytes: assemble(splitKernel({ n, nargs: 2, value: `(f32.add ${f32(0)} ${f32(1)})` })),
      config: { name: 'same' } },
    { name: 'overwrite.wasm', bytes: assemble(splitKernel({ n, nargs: 2, value: `(f32.add ${f32(0)} ${f32(0)})` })),
      config: { name: 'overwrite' } },  // x + x ignores y: equal to y + x here, caught where y is the sentinel
  ]);
  const session = await open(dir, { threads: 2 });
  await session.run({ x: Float32Array.from({ length: n }, (_, i) => i + 1) });
  const { results } = await session.measureCandidates(1, candidates, join(dir, 'c'), { minTimeMs: 1 });
  assert.equal(results[0].ok, true);
  assert.equal(results[1].stage, 'check');
});

test('webgpu: profile and measureCandidates with a WGSL candidate sharing the bind groups', async () => {
  const { gpu } = await nodeGpu();
  const dir = tempDir();
  const { expected } = twoStepGpuBundle(dir, { n: 4096 });
  const session = await webjit.load(dir, { backend: 'webgpu', gpu, threads: 1 });
  opened.push(session);
  assert.match(session.device.fingerprint, /^webgpu\//);
  const x = Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i));
  await session.run({ x });
  const profile = await session.profile();
  assert.deepEqual(profile.kernels.map((k) => k.calls), [1, 1]);
  const source = (body) => `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> t: array<f32>;
@compute @workgroup_size(128)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let i = id.x;
  if (i >= 4096u) { return; }
  ${body}
}`;
  const enc = (text) => new TextEncoder().encode(text);
  const candidates = writeCandidates(join(dir, 'g'), [
    { name: 'same.wgsl', bytes: enc(source('t[i] = w[i] + x[i];')), config: { name: 'same' } },
    { name: 'wrong.wgsl', bytes: enc(source('t[i] = w[i] * x[i];')), config: { name: 'wrong' } },
    { name: 'broken.wgsl', bytes: enc(source('t[i] = ;')), config: { name: 'broken' } },
  ]).map((c) => ({ ...c, entry: 'main', workgroup: [128, 1, 1], dispatch: [32, 1, 1] }));
  const { results } = await session.measureCandidates(0, candidates, join(dir, 'g'), { minTimeMs: 2 });
  assert.equal(results[0].ok, true, JSON.stringify(results[0]));
  assert.equal(results[1].stage, 'check');
  assert.equal(results[2].stage, 'compile');
  const { y } = await session.run({ x });
  const want = expected(x);
  for (const i of [0, 17, 4095]) assert.ok(Math.abs(y.data[i] - want[i]) < 1e-4);
});

test('webgpu without timestamp queries times whole submissions instead', async () => {
  const { gpu } = await nodeGpu();
  // An adapter that does not offer 'timestamp-query', as many do.
  const hide = (adapter) => new Proxy(adapter, {
    get(target, name) {
      if (name === 'features') return new Set([...target.features].filter((f) => f !== 'timestamp-query'));
      const value = Reflect.get(target, name, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const plainGpu = { requestAdapter: async (...args) => hide(await gpu.requestAdapter(...args)) };
  const dir = tempDir();
  twoStepGpuBundle(dir, { n: 4096 });
  const session = await webjit.load(dir, { backend: 'webgpu', gpu: plainGpu, threads: 1 });
  opened.push(session);
  await session.run({ x: new Float32Array(4096).fill(1) });
  const profile = await session.profile({ repeat: 2 });
  assert.equal(profile.timer, 'timed submissions');
  assert.ok(profile.sum_ms > 0 && profile.kernels.every((k) => k.total_ms > 0));
  const stamped = await webjit.load(dir, { backend: 'webgpu', gpu, threads: 1 });
  opened.push(stamped);
  await stamped.run({ x: new Float32Array(4096).fill(1) });
  assert.equal((await stamped.profile()).timer, 'timestamp queries');  // Dawn on SwiftShader has them
});

test('an implicit form of a convolution GEMM leaves its Im2Col step out', async () => {
  // step 0 ("im2col") writes t = x * 10; step 1 reads t, or, in its implicit variant, x itself.
  const dir = tempDir();
  const explicit = splitKernel({ n, nargs: 3, value: `(f32.add ${f32(0)} (f32.const 1))` });  // t + 1
  const implicit = splitKernel({ n, nargs: 3, value: `(f32.add (f32.mul ${f32(1)} (f32.const 10)) (f32.const 1))` });
  const bundle = (variants) => writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n }, { dtype: 'f32', size: n }],
    kernels: [{ wat: splitKernel({ n, nargs: 2, value: `(f32.mul ${f32(0)} (f32.const 10))` }), nargs: 2,
      family: 'im2col' }, { wat: explicit, nargs: 3, family: 'matmul', variants }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 2 }],
    steps: [{ kernel: 0, args: [0, 1] }, { kernel: 1, args: [1, 0, 2], source: 0 }],
  });
  const x = Float32Array.from({ length: n }, (_, i) => i);
  for (const [config, skipped] of [[{ implicit: true }, [0]], [{ implicit: false }, []]]) {
    bundle([{ device: here.fingerprint, wat: implicit, config }]);
    for (const threads of [1, 2]) {
      const session = await open(dir, { threads });
      const { y } = await session.run({ x });
      assert.equal(y.data[3], 31);  // both forms compute 10 x + 1
      assert.deepEqual((await session.profile()).skipped, skipped);
    }
  }
  const { readFileSync } = await import('node:fs');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json')));
  manifest.steps[1].source = 1;
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  await assert.rejects(webjit.load(dir, { backend: 'wasm' }), /names step 1 as its columns, which is no earlier im2col step/);
});
