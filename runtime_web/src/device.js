// The device a session runs on, as a fingerprint string that keys the schedule database and
// picks a bundle's per-device kernel variants (docs/bundle.md, "Variants"), and the engine
// features a kernel may require.
import { IN_NODE, platform } from './platform.js';

// (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd)
const RELAXED_SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123,
  1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11]);

/** Whether this engine validates relaxed SIMD (f32x4.relaxed_madd). */
export function hasRelaxedSimd() {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/** The JS engine as `name-major`: node-20, chromium-156, firefox-140, safari-18 ... */
export function engineName() {
  if (IN_NODE) return `node-${process.versions.node.split('.')[0]}`;
  const agent = globalThis.navigator?.userAgent ?? '';
  for (const [name, pattern] of [['edge', /Edg\/(\d+)/], ['chromium', /Chrom(?:e|ium)\/(\d+)/],
    ['firefox', /Firefox\/(\d+)/], ['safari', /Version\/(\d+).*Safari/]]) {
    const match = agent.match(pattern);
    if (match) return `${name}-${match[1]}`;
  }
  return 'unknown';
}

async function coreCount() {
  return platform.cores();
}

/** {fingerprint, engine, cores, features} of the WASM backend here. */
export async function wasmDevice() {
  const engine = engineName();
  const cores = await coreCount();
  const relaxed = hasRelaxedSimd();
  return {
    fingerprint: `wasm/${engine}/${cores}-cores/${relaxed ? 'relaxed-simd' : 'simd'}`,
    engine, cores, features: relaxed ? ['relaxed-simd'] : [],
  };
}

const slug = (text) => String(text ?? '').trim().toLowerCase().replace(/[^a-z0-9.]+/g, '-')
  .replace(/^-+|-+$/g, '') || 'unknown';

/** {fingerprint, info, features} of a WebGPU adapter: vendor/architecture/device and the limits
 * kernels are pruned by. */
export async function webgpuDevice(adapter) {
  let info = adapter.info;
  if (!info && typeof adapter.requestAdapterInfo === 'function') info = await adapter.requestAdapterInfo();
  info ??= {};
  const limits = adapter.limits;
  const name = info.device || info.description;
  const shape = `inv${limits.maxComputeInvocationsPerWorkgroup}-wgs${limits.maxComputeWorkgroupStorageSize}`;
  return {
    fingerprint: `webgpu/${slug(info.vendor)}/${slug(info.architecture)}/${slug(name)}/${shape}`,
    info: { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '',
      description: info.description ?? '' },
    features: [...(adapter.features ?? [])].filter((f) => f === 'timestamp-query'),
  };
}

/**
 * The form of one kernel to run here: the variant recorded for this device's fingerprint
 * when its requirements are met, else the default. `part` is kernel.wasm or kernel.webgpu.
 */
export function chooseForm(part, device) {
  const usable = (form) => (form.requires ?? []).every((f) => device.features.includes(f));
  // A variant tuned for this very device first, then one for any device with its features ("*").
  const variants = part.variants ?? [];
  const variant = variants.find((v) => v.device === device.fingerprint && usable(v)) ??
    variants.find((v) => v.device === '*' && usable(v));
  return { form: variant ?? part, variant: Boolean(variant), usable: usable(variant ?? part) };
}
