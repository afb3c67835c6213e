// Builds tiny bundles by hand for the tests: WAT kernels assembled with wabt's wat2wasm,
// a manifest laid out like the compiler's, and weights with their sha256.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = [];
process.on('exit', () => { for (const dir of made) rmSync(dir, { recursive: true, force: true }); });

/** A fresh temporary folder, removed when the test process exits. */
export function tempDir(prefix = 'webjit-test-') {
  made.push(mkdtempSync(join(tmpdir(), prefix)));
  return made.at(-1);
}

const assembled = new Map();

/** Assembles WAT text to wasm bytes (cached per text). */
export function assemble(wat) {
  if (!assembled.has(wat)) {
    const dir = tempDir('webjit-wat-');
    writeFileSync(join(dir, 'k.wat'), wat);
    execFileSync('wat2wasm', ['--enable-threads', join(dir, 'k.wat'), '-o', join(dir, 'k.wasm')]);
    assembled.set(wat, new Uint8Array(readFileSync(join(dir, 'k.wasm'))));
  }
  return assembled.get(wat);
}

const addr = (p, index = '(local.get $i)') => `(i32.add (local.get $p${p}) (i32.shl ${index} (i32.const 2)))`;
/** f32 element `index` of argument p. */
export const f32 = (p, index) => `(f32.load ${addr(p, index)})`;
export const i32 = (p, index) => `(i32.load ${addr(p, index)})`;

/**
 * A kernel over n elements that splits [0, n) into nthreads contiguous chunks by tid and
 * stores `value` (WAT over local $i and params $p0..) to element $i of its last argument.
 */
export function splitKernel({ n, nargs, value, store = 'f32.store' }) {
  const params = Array.from({ length: nargs }, (_, k) => `(param $p${k} i32)`).join(' ');
  return `(module
  (import "env" "memory" (memory 1 65536 shared))
  (func (export "run") ${params} (param $tid i32) (param $nt i32)
    (local $i i32) (local $end i32) (local $chunk i32)
    (local.set $chunk (i32.div_u (i32.add (i32.const ${n}) (i32.sub (local.get $nt) (i32.const 1))) (local.get $nt)))
    (local.set $i (i32.mul (local.get $tid) (local.get $chunk)))
    (local.set $end (i32.add (local.get $i) (local.get $chunk)))
    (if (i32.gt_u (local.get $end) (i32.const ${n})) (then (local.set $end (i32.const ${n}))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (${store} ${addr(nargs - 1)} ${value})
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))
`;
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const align16 = (n) => Math.ceil(n / 16) * 16;
const align256 = (n) => Math.ceil(n / 256) * 256;  // arena offsets: WebGPU binding alignment

/** WebGPU's default limits, which the compiler targets unless told otherwise. */
export const DEFAULT_WEBGPU_LIMITS = {
  maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupSizeZ: 64, maxComputeWorkgroupStorageSize: 16384, maxStorageBufferBindingSize: 134217728,
  maxComputeWorkgroupsPerDimension: 65535, maxStorageBuffersPerShaderStage: 8,
};

/**
 * Writes a bundle to `dir` and returns its manifest.
 * tensors: [{dtype: 'f32'|'i32', size, weight?: typed array, stored?: {encoding, values, rows?, scales?, inner?}}]
 * (weights get the weights region; `stored` gives their stored form, else they are stored as they are);
 * kernels: [{wat, nargs, family?, wgsl?: {source, workgroup, dispatch, bindings},
 * variants?: [{device, wat, requires?, config?}], candidates?: [{wat | bytes, config, requires?, threads?}]}]
 * (a bundle whose kernels all have wgsl gets the WebGPU part, for `webgpuLimits`; each kernel
 * writes its last argument; candidates are the JIT's, `bytes` raw file contents);
 * inputs/outputs: [{name, dtype, shape, tensor}]; steps: [{kernel, args}].
 */
export function writeBundle(dir, { tensors, kernels, inputs, outputs, steps, shardBytes = Infinity,
  webgpuLimits = DEFAULT_WEBGPU_LIMITS }) {
  mkdirSync(join(dir, 'kernels'), { recursive: true });
  let weightsBytes = 0, arenaBytes = 0, streamBytes = 0;
  const parts = [];
  const put = (bytes) => {  // appends to the stored stream at a multiple of 16; returns where
    const at = streamBytes;
    parts.push(bytes, new Uint8Array(align16(bytes.length) - bytes.length));
    streamBytes += align16(bytes.length);
    return at;
  };
  const tensorEntries = tensors.map((t, id) => {
    const region = t.weight || t.stored ? 'weights' : 'arena';
    const entry = { id, name: `t${id}`, dtype: t.dtype, size: t.size, region };
    if (region === 'weights') {
      entry.offset = weightsBytes;
      weightsBytes += align256(4 * t.size);
      if (t.stored) {  // {encoding, values: typed array, rows?, scales?: Float32Array, inner?}
        const { encoding, values, rows, scales, inner } = t.stored;
        const scalesAt = scales ? put(new Uint8Array(scales.buffer)) : undefined;
        const raw = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        entry.stored = { encoding, at: put(raw), bytes: raw.length, count: values.length,
          ...(rows ? { rows } : {}), ...(scales ? { scales: { at: scalesAt, channels: scales.length, inner } } : {}) };
      } else {
        const raw = new Uint8Array(t.weight.buffer, t.weight.byteOffset, 4 * t.size);
        entry.stored = { encoding: t.dtype, at: put(raw), bytes: raw.length, count: t.size };
      }
    } else {
      entry.offset = arenaBytes;
      arenaBytes += align256(4 * t.size);
    }
    return entry;
  });
  const allWeights = concat(parts, streamBytes);
  const weights = [];
  for (let at = 0, k = 0; at < allWeights.length; at += shardBytes, k++) {
    const shard = allWeights.subarray(at, Math.min(at + shardBytes, allWeights.length));
    writeFileSync(join(dir, `weights-${k}.bin`), shard);
    weights.push({ file: `weights-${k}.bin`, bytes: shard.length, sha256: sha256(shard) });
  }
  const kernelEntries = kernels.map(({ wat, nargs, family = 'test', wgsl, variants = [], candidates }, id) => {
    const file = (name, bytes) => {
      writeFileSync(join(dir, `kernels/${name}`), bytes);
      return { file: `kernels/${name}`, bytes: bytes.length, sha256: sha256(bytes) };
    };
    const candidate = (c, j) => ({ ...file(`k${id}.c${j}.wasm`, c.bytes ?? assemble(c.wat)), config: c.config,
      requires: c.requires ?? [], ...(c.threads ? { threads: c.threads } : {}) });
    const step = steps.find((s) => s.kernel === id);
    const args = Array.from({ length: nargs }, (_, a) => {
      const t = step ? tensors[step.args[a]] : { dtype: 'f32', size: 1 };
      return { dtype: t.dtype, size: t.size, output: a === nargs - 1 };
    });
    const entry = { id, family, signature: `test${id}`, nargs, args, flops: 0,
      wasm: { ...file(`k${id}.wasm`, assemble(wat)), config: {}, requires: [],
        variants: variants.map((v, j) => ({ device: v.device, ...file(`k${id}.v${j + 1}.wasm`, assemble(v.wat)),
          config: v.config ?? { variant: j + 1 }, requires: v.requires ?? [] })),
        ...(candidates ? { candidates: candidates.map(candidate) } : {}) } };
    if (wgsl) entry.webgpu = { ...writeWgsl(dir, id, wgsl), config: {}, requires: [], variants: [] };
    return entry;
  });
  const control = 256;
  const memory = { control_bytes: control, weights_base: control, weights_bytes: weightsBytes,
    arena_base: control + weightsBytes, arena_bytes: arenaBytes, total_bytes: control + weightsBytes + arenaBytes };
  const backends = ['wasm', ...(kernels.length && kernels.every((k) => k.wgsl) ? ['webgpu'] : [])];
  const manifest = { format: 'webjit-bundle', format_version: 3, compiler: 'webjit test', model: 'test',
    backends, inputs, outputs, memory, weight_storage: 'fp32', tensors: tensorEntries, weights, kernels: kernelEntries,
    steps: steps.map((s, i) => ({ name: `step${i}`, ...s })) };
  if (kernels.length && kernels.every((k) => k.wgsl)) manifest.webgpu = { limits: webgpuLimits };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  return manifest;
}

function writeWgsl(dir, id, { source, workgroup, dispatch, bindings }) {
  const bytes = new TextEncoder().encode(source);
  writeFileSync(join(dir, `kernels/k${id}.wgsl`), bytes);
  return { file: `kernels/k${id}.wgsl`, bytes: bytes.length, sha256: sha256(bytes), entry: 'main',
    workgroup, dispatch, bindings };
}

function concat(parts, length) {
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Bundle: out = x + w, one add kernel, n elements. */
export function addBundle(dir, n = 8) {
  const w = Float32Array.from({ length: n }, (_, i) => 0.5 * i);
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n, weight: w }, { dtype: 'f32', size: n }],
    kernels: [{ wat: splitKernel({ n, nargs: 3, value: `(f32.add ${f32(0)} ${f32(1)})` }), nargs: 3 }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [1, n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [1, n], tensor: 2 }],
    steps: [{ kernel: 0, args: [0, 1, 2] }],
  });
  return { w };
}

/**
 * Two steps: t = x + w, then y[i] = t[n-1-i] * t[i], which reads elements another thread
 * wrote, so a missing barrier shows as wrong numbers.
 */
export function twoStepBundle(dir, n = 4096) {
  const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const mirror = `(i32.sub (i32.const ${n - 1}) (local.get $i))`;
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n, weight: w },
      { dtype: 'f32', size: n }, { dtype: 'f32', size: n }],
    kernels: [
      { wat: splitKernel({ n, nargs: 3, value: `(f32.add ${f32(0)} ${f32(1)})` }), nargs: 3 },
      { wat: splitKernel({ n, nargs: 2, value: `(f32.mul ${f32(0, mirror)} ${f32(0)})` }), nargs: 2 },
    ],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 3 }],
    steps: [{ kernel: 0, args: [0, 1, 2] }, { kernel: 1, args: [2, 3] }],
  });
  return { w };
}

/** Int boundary: emb = table[ids] (float32), twice = ids * 2 (int64), positive = ids > 0 (bool). */
export function intBundle(dir, n = 6, vocab = 10) {
  const table = Float32Array.from({ length: vocab }, (_, i) => 100 + i);
  writeBundle(dir, {
    tensors: [{ dtype: 'i32', size: n }, { dtype: 'f32', size: vocab, weight: table },
      { dtype: 'f32', size: n }, { dtype: 'i32', size: n }, { dtype: 'i32', size: n }],
    kernels: [
      { wat: splitKernel({ n, nargs: 3, value: f32(1, i32(0)) }), nargs: 3 },
      { wat: splitKernel({ n, nargs: 2, value: `(i32.mul ${i32(0)} (i32.const 2))`, store: 'i32.store' }), nargs: 2 },
      { wat: splitKernel({ n, nargs: 2, value: `(i32.gt_s ${i32(0)} (i32.const 0))`, store: 'i32.store' }), nargs: 2 },
    ],
    inputs: [{ name: 'ids', dtype: 'int64', shape: [1, n], tensor: 0 }],
    outputs: [{ name: 'emb', dtype: 'float32', shape: [1, n], tensor: 2 },
      { name: 'twice', dtype: 'int64', shape: [1, n], tensor: 3 },
      { name: 'positive', dtype: 'bool', shape: [1, n], tensor: 4 }],
    steps: [{ kernel: 0, args: [0, 1, 2] }, { kernel: 1, args: [0, 3] }, { kernel: 2, args: [0, 4] }],
  });
  return { table };
}
