// Memory the bench page can see beside the JS heap (bench.js imports this first, so it
// wraps the APIs before either engine creates a GPU device or a WASM memory):
//   GPU buffers: GPUDevice.prototype.createBuffer, GPUBuffer.prototype.destroy and
//     GPUDevice.prototype.destroy are wrapped to count live bytes and their peak; each
//     engine run resets the peak to what is live when it starts (gpuWindow).
//   WASM memories: WebAssembly.Memory created while an owner is set (owned), and memories
//     exported by modules instantiated meanwhile, are attributed to that owner, so
//     onnxruntime-web's heap can be read back (its byteLength: a WASM memory never shrinks).
const sizes = new WeakMap();  // GPUBuffer -> bytes, while live
const byDevice = new WeakMap();  // GPUDevice -> Set of its live buffers (a device's destroy frees them)
let live = 0, peak = 0;

export const gpuTracked = typeof globalThis.GPUDevice === 'function' && typeof globalThis.GPUBuffer === 'function';

function forget(buffer) {
  const size = sizes.get(buffer);
  if (size === undefined) return;
  sizes.delete(buffer);
  live -= size;
}

if (gpuTracked) {
  const create = GPUDevice.prototype.createBuffer, destroy = GPUBuffer.prototype.destroy;
  const destroyDevice = GPUDevice.prototype.destroy;
  GPUDevice.prototype.createBuffer = function createBuffer(descriptor) {
    const buffer = create.call(this, descriptor);
    const size = Number(descriptor?.size ?? 0);
    sizes.set(buffer, size);
    if (!byDevice.has(this)) byDevice.set(this, new Set());
    byDevice.get(this).add(buffer);
    live += size;
    peak = Math.max(peak, live);
    return buffer;
  };
  GPUBuffer.prototype.destroy = function destroyBuffer() {
    forget(this);
    return destroy.call(this);
  };
  GPUDevice.prototype.destroy = function destroyGpuDevice() {
    for (const buffer of byDevice.get(this) ?? []) forget(buffer);
    byDevice.delete(this);
    return destroyDevice.call(this);
  };
}

/** Starts a measurement window: returns end() -> {live_bytes, peak_bytes} of buffers created
 * or freed since (peak above what was live at the start), or null where WebGPU is missing. */
export function gpuWindow() {
  const base = live;
  peak = live;
  return () => (gpuTracked ? { peak_bytes: peak - base, live_bytes: live - base } : null);
}

const memories = new Map();  // owner -> Set of WebAssembly.Memory
let owner = null;

/** Runs `fn` with WASM memories created or exported meanwhile attributed to `name`. */
export async function owned(name, fn) {
  const before = owner;
  owner = name;
  try {
    return await fn();
  } finally {
    owner = before;
  }
}

function note(memory) {
  if (!owner || !(memory instanceof OriginalMemory)) return;
  if (!memories.has(owner)) memories.set(owner, new Set());
  memories.get(owner).add(memory);
}

function noteExports(result) {
  const instance = result?.instance ?? result;
  for (const value of Object.values(instance?.exports ?? {})) note(value);
  return result;
}

const OriginalMemory = WebAssembly.Memory;
WebAssembly.Memory = class TrackedMemory extends OriginalMemory {
  constructor(descriptor) {
    super(descriptor);
    note(this);
  }
};
const instantiate = WebAssembly.instantiate, instantiateStreaming = WebAssembly.instantiateStreaming;
WebAssembly.instantiate = (...args) => instantiate.apply(WebAssembly, args).then(noteExports);
if (instantiateStreaming) {
  WebAssembly.instantiateStreaming = (...args) => instantiateStreaming.apply(WebAssembly, args).then(noteExports);
}

/** Bytes of the WASM memories attributed to `name`, or null when none was seen. */
export function wasmBytes(name) {
  const found = memories.get(name);
  if (!found?.size) return null;
  let total = 0;
  for (const memory of found) total += memory.buffer.byteLength;
  return total;
}
