// Bundles with both WAT and WGSL kernels, for the WebGPU tests, and the Node GPU object
// (the webgpu package: Dawn, on Chromium's SwiftShader when `npm test` sets its env).
import { f32, i32, splitKernel, writeBundle } from './fixtures.mjs';

let gpuPromise = null;

/** {gpu} from the webgpu package (a devDependency: a missing package fails the tests). */
export function nodeGpu() {
  gpuPromise ??= import('webgpu').then(
    ({ create }) => ({ gpu: create([]) }),
    (err) => {
      throw new Error(`the webgpu package is not installed (npm install in runtime_web): ${err.message}`);
    });
  return gpuPromise;
}

// Every binding is read_write: inputs and outputs share the arena buffer, and WebGPU
// refuses one buffer bound read-only and writable in the same dispatch.
const storage = (binding, name, type, access = 'read_write') =>
  `@group(0) @binding(${binding}) var<storage, ${access}> ${name}: array<${type}>;`;

/** A WGSL kernel over n elements: one invocation per element i, workgroups of 64. */
function elementwise({ n, decls, body, dispatch = [Math.ceil(n / 64), 1, 1] }) {
  return `${decls.join('\n')}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * groups.x + wid.z * groups.x * groups.y) * 64u + lid;
  if (i >= ${n}u) { return; }
  ${body}
}
`;
}

// docs/bundle.md: every binding is declared read_write (`write`); `output` marks what the kernel writes.
const binding = (arg, start, count, output = false) => ({ arg, start, count, write: true, output });
const whole = (arg, n, output = false) => binding(arg, 0, n, output);

/**
 * Two steps: t = x + w, then y[i] = t[n-1-i] * t[i]. On WebGPU the second kernel binds t
 * as two chunk bindings (halves) and runs on a 2-d dispatch grid. `readOnlyInput` declares x
 * `read`, which WebGPU refuses next to the writable t in the same arena buffer.
 */
export function twoStepGpuBundle(dir, { n = 4096, brokenWgsl = false, readOnlyInput = false, webgpuLimits } = {}) {
  const w = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
  const half = n / 2;
  const xAccess = readOnlyInput ? 'read' : 'read_write';
  const add = elementwise({ n, decls: [storage(0, 'x', 'f32', xAccess), storage(1, 'w', 'f32'), storage(2, 't', 'f32')],
    body: brokenWgsl ? 't[i] = x[i] + ;' : 't[i] = x[i] + w[i];' });
  const mirror = elementwise({ n, dispatch: [8, Math.ceil(n / 64 / 8), 1],
    decls: [storage(0, 't0', 'f32'), storage(1, 't1', 'f32'), storage(2, 'y', 'f32'),
      `fn t(k: u32) -> f32 { if (k < ${half}u) { return t0[k]; } return t1[k - ${half}u]; }`],
    body: `y[i] = t(${n - 1}u - i) * t(i);` });
  const mirrorWat = `(f32.mul ${f32(0, `(i32.sub (i32.const ${n - 1}) (local.get $i))`)} ${f32(0)})`;
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n, weight: w },
      { dtype: 'f32', size: n }, { dtype: 'f32', size: n }],
    kernels: [
      { wat: splitKernel({ n, nargs: 3, value: `(f32.add ${f32(0)} ${f32(1)})` }), nargs: 3, family: 'add',
        wgsl: { source: add, workgroup: [64, 1, 1], dispatch: [Math.ceil(n / 64), 1, 1],
          bindings: [whole(0, n), whole(1, n), whole(2, n, true)] } },
      { wat: splitKernel({ n, nargs: 2, value: mirrorWat }), nargs: 2, family: 'mirror',
        wgsl: { source: mirror, workgroup: [64, 1, 1], dispatch: [8, Math.ceil(n / 64 / 8), 1],
          bindings: [binding(0, 0, half), binding(0, half, half), whole(1, n, true)] } },
    ],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 3 }],
    steps: [{ kernel: 0, args: [0, 1, 2] }, { kernel: 1, args: [2, 3] }],
    webgpuLimits,
  });
  return { w, expected: (x) => {
    const t = Array.from(x, (v, i) => Math.fround(v + w[i]));
    return t.map((v, i) => Math.fround(t[n - 1 - i] * v));
  } };
}

/**
 * Int boundary on both backends: emb = table[ids], twice = ids * 2 (int64), positive = ids > 0.
 */
export function intGpuBundle(dir, n = 6, vocab = 10) {
  const table = Float32Array.from({ length: vocab }, (_, i) => 100 + i);
  const ids = storage(0, 'ids', 'i32');
  const kernel = (wat, nargs, family, decls, body, bindings) => ({ wat, nargs, family,
    wgsl: { source: elementwise({ n, decls: [ids, ...decls], body }), workgroup: [64, 1, 1],
      dispatch: [1, 1, 1], bindings } });
  writeBundle(dir, {
    tensors: [{ dtype: 'i32', size: n }, { dtype: 'f32', size: vocab, weight: table },
      { dtype: 'f32', size: n }, { dtype: 'i32', size: n }, { dtype: 'i32', size: n }],
    kernels: [
      kernel(splitKernel({ n, nargs: 3, value: f32(1, i32(0)) }), 3, 'gather',
        [storage(1, 'table', 'f32'), storage(2, 'emb', 'f32')], 'emb[i] = table[ids[i]];',
        [whole(0, n), whole(1, vocab), whole(2, n, true)]),
      kernel(splitKernel({ n, nargs: 2, value: `(i32.mul ${i32(0)} (i32.const 2))`, store: 'i32.store' }), 2,
        'twice', [storage(1, 'out', 'i32')], 'out[i] = ids[i] * 2;', [whole(0, n), whole(1, n, true)]),
      kernel(splitKernel({ n, nargs: 2, value: `(i32.gt_s ${i32(0)} (i32.const 0))`, store: 'i32.store' }), 2,
        'positive', [storage(1, 'out', 'i32')], 'out[i] = select(0, 1, ids[i] > 0);',
        [whole(0, n), whole(1, n, true)]),
    ],
    inputs: [{ name: 'ids', dtype: 'int64', shape: [1, n], tensor: 0 }],
    outputs: [{ name: 'emb', dtype: 'float32', shape: [1, n], tensor: 2 },
      { name: 'twice', dtype: 'int64', shape: [1, n], tensor: 3 },
      { name: 'positive', dtype: 'bool', shape: [1, n], tensor: 4 }],
    steps: [{ kernel: 0, args: [0, 1, 2] }, { kernel: 1, args: [0, 3] }, { kernel: 2, args: [0, 4] }],
  });
  return { table };
}
