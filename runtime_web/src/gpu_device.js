// Finds a WebGPU adapter that can run a bundle and opens one device for the session:
// the bundle's `webgpu.limits` must fit the adapter (and the caller's `limits` option),
// and the device is requested with exactly those limits raised.
import { WebjitError } from './errors.js';
import { IN_NODE } from './platform.js';
import { evalSize } from './sizes.js';

const DEFAULT_MAX_BUFFER_SIZE = 268435456;  // WebGPU's default maxBufferSize
const MIB = 2 ** 20;

/**
 * A WebjitError for "WebGPU cannot run this bundle here"; `reason` is the bare phrase, so
 * that backend 'auto' can say it in its note before falling back to WASM.
 */
export function unusable(reason, advice = "use backend 'wasm' or 'auto'") {
  const err = new WebjitError(`${reason}; ${advice}`);
  err.reason = reason;
  return err;
}

export const roundUp = (n, to) => Math.ceil(n / to) * to;

/**
 * The workgroups of a kernel's dispatch (docs/bundle.md, "WebGPU"): a fixed [x, y, z], or
 * for symbolic sizes {groups, per, times}: times * ceil(groups / per) workgroups (groups a
 * polynomial over `env`), spread over (x, y, z) within `cap` per dimension as the compiler's
 * dispatch_grid spreads them (the kernel skips ids past the count).
 */
export function workgroupGrid(dispatch, env, cap) {
  if (Array.isArray(dispatch)) return dispatch;
  const count = dispatch.times * Math.ceil(evalSize(dispatch.groups, env) / dispatch.per);
  if (count <= cap) return [Math.max(count, 1), 1, 1];
  const y = Math.ceil(count / cap);
  return y <= cap ? [cap, y, 1] : [cap, cap, Math.ceil(y / cap)];
}

/** Bytes of the largest GPU buffer the session creates: the arena or one weights tensor. */
export function largestBuffer(manifest) {
  const weights = manifest.tensors.filter((t) => t.region === 'weights').map((t) => 4 * t.size);
  return Math.max(arenaBufferBytes(manifest), ...weights.map((b) => roundUp(Math.max(b, 16), 16)));
}

export function arenaBufferBytes(manifest) {
  return roundUp(Math.max(manifest.memory.arena_bytes, 16), 16);
}

/**
 * Resolves to {device, owners, adapter} for `manifest`, or throws `unusable(...)` saying why
 * there is none. Keep `owners` (the GPU and adapter) as long as the device: in Node, Dawn
 * crashes when the GPU object is garbage-collected under a live device.
 */
export async function openDevice(manifest, { gpu, limits: forced }) {
  gpu ??= globalThis.navigator?.gpu;
  const adapter = await findAdapter(gpu);
  checkForcedNames(forced, adapter.limits);
  const required = requiredLimits(manifest.webgpu.limits, adapter.limits, forced);
  const needBytes = largestBuffer(manifest);
  const maxBufferSize = effective('maxBufferSize', adapter.limits, forced);
  if (needBytes > maxBufferSize) {
    throw unusable(`this bundle needs a GPU buffer of ${sizeText(needBytes)}, more than ` +
      `the WebGPU maxBufferSize of ${sizeText(maxBufferSize)} here`);
  }
  if (needBytes > DEFAULT_MAX_BUFFER_SIZE) required.maxBufferSize = needBytes;
  try {
    // Timestamp queries let the kernel timer read GPU time; nothing else needs a feature.
    const requiredFeatures = adapter.features?.has?.('timestamp-query') ? ['timestamp-query'] : [];
    return { device: await adapter.requestDevice({ requiredLimits: required, requiredFeatures, label: 'webjit' }),
      owners: [gpu, adapter], adapter };
  } catch (err) {
    throw unusable(`the WebGPU adapter refused a device (${firstLine(err?.message ?? err)})`);
  }
}

async function findAdapter(gpu) {
  const call = gpu === globalThis.navigator?.gpu ? 'navigator.gpu.requestAdapter()'
    : 'requestAdapter() on the gpu option';
  if (!gpu) {
    throw unusable(IN_NODE
      ? 'no WebGPU adapter (Node has no navigator.gpu and no gpu option was given)'
      : 'no WebGPU adapter (navigator.gpu is missing)',
    IN_NODE ? "pass {gpu} from the webgpu package, or use backend 'wasm' or 'auto'" : undefined);
  }
  let adapter;
  try {
    adapter = await gpu.requestAdapter();
  } catch (err) {
    throw unusable(`no WebGPU adapter (${call} failed: ${firstLine(err?.message ?? err)})`);
  }
  if (!adapter) throw unusable(`no WebGPU adapter (${call} returned none)`);
  return adapter;
}

function checkForcedNames(forced, adapterLimits) {
  for (const name of Object.keys(forced ?? {})) {
    if (typeof adapterLimits[name] !== 'number') {
      throw new WebjitError(`unknown WebGPU limit ${JSON.stringify(name)} in the limits option; ` +
        'use names of GPUSupportedLimits such as maxComputeInvocationsPerWorkgroup');
    }
  }
}

// Limits named min* (alignments) are better when lower; all others when higher.
const lowerIsBetter = (name) => name.startsWith('min');

function effective(name, adapterLimits, forced) {
  const have = adapterLimits[name];
  if (forced?.[name] === undefined) return have;
  return lowerIsBetter(name) ? Math.max(have, forced[name]) : Math.min(have, forced[name]);
}

/** The bundle's limits as requiredLimits, after checking each one fits. */
function requiredLimits(needed, adapterLimits, forced) {
  const required = {};
  for (const [name, need] of Object.entries(needed)) {
    if (typeof adapterLimits[name] !== 'number') {
      throw unusable(`this WebGPU adapter does not know the limit ${name} that this bundle needs`);
    }
    const have = effective(name, adapterLimits, forced);
    const fits = lowerIsBetter(name) ? have <= need : have >= need;
    if (!fits) {
      const subject = forced?.[name] !== undefined && have === forced[name]
        ? `the WebGPU limit ${name} is ${have} (from the limits option)`
        : `the WebGPU adapter's ${name} is ${have}`;
      const side = lowerIsBetter(name) ? 'above' : 'below';
      throw unusable(`${subject}, ${side} the ${need} this bundle was compiled for`);
    }
    required[name] = need;
  }
  return required;
}

/** The first line of a WebGPU message, without its final period (it goes inside a sentence). */
export function firstLine(text) {
  return String(text).trim().split('\n')[0].replace(/\.$/, '') || 'no message';
}

export const sizeText = (bytes) => (bytes < MIB ? `${bytes} bytes` : `${(bytes / MIB).toFixed(1)} MiB`);
