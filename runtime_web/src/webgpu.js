// The WebGPU backend (docs/bundle.md, "WebGPU"): one GPU buffer for the arena and one per
// weights tensor, one compute pipeline per kernel, one bind group per step, all built at
// load; a run is one command encoder, one compute pass and one readback of the outputs.
// A bundle with symbolic sizes keeps them in the arena (a kernel may read a size as a value)
// and mirrors them in a small buffer of their own for the kernels' read-only sizes binding
// (read as uniform values), and evaluates each kernel's dispatch for every run's sizes.
// Beside `run` it offers the kernel operations of the timer (`ops`, as in wasm.js): a
// candidate pipeline shares its kernel's bind group layout, so the steps' bind groups
// serve it unchanged.
import { WebjitError } from './errors.js';
import { readVerified } from './source.js';
import { elementCount, skippedSteps } from './manifest.js';
import { fromDevice, toDevice } from './feeds.js';
import { arenaBufferBytes, firstLine, roundUp, unusable, workgroupGrid } from './gpu_device.js';
import { evalSize, largest } from './sizes.js';
import { chooseForm } from './device.js';
import { createGpuClock } from './gpu_clock.js';
import { streamWeights } from './weights.js';

// The spec's fixed values of GPUBufferUsage and GPUMapMode: Node callers need not install
// the webgpu package's globals for the runtime to work.
const MAP_READ = 0x1, COPY_SRC = 0x4, COPY_DST = 0x8, STORAGE = 0x80;
const READ = 0x1;
const COMPUTE = 0x4;  // GPUShaderStage.COMPUTE
const REBUILD = "rebuild the bundle or use backend 'wasm'";

/**
 * Builds the WebGPU backend on `device` for a manifest whose WebGPU part was checked;
 * `gpu` is the device description of device.js: resolves to
 * {threads, threadNote, forms, run(checked) -> outputs, ops, release()}.
 */
export async function createWebgpuBackend(bundle, manifest, device, gpu, onProgress) {
  const forms = manifest.kernels.map((kernel) => chooseForm(kernel.webgpu, gpu));
  const buffers = await uploadBuffers(bundle, manifest, device, onProgress);
  const locate = (id) => {
    const t = manifest.tensors[id];
    if (t.region === 'arena') return { buffer: buffers.arena, offset: t.offset };
    return { buffer: buffers.weights.get(id), offset: 0 };
  };
  const layouts = manifest.kernels.map((kernel) => bindGroupLayout(device, kernel));
  const pipelines = await buildPipelines(bundle, manifest, forms, layouts, device, onProgress);
  // A read-only binding of the sizes tensor is the kernel's sizes binding: it reads the mirror.
  const locateBinding = (id, b) => (id === manifest.sizes && b.write === false
    ? { buffer: buffers.sizes, offset: 0 } : locate(id));
  const bindGroups = await buildBindGroups(manifest, device, layouts, locateBinding);
  const readback = await planReadback(manifest, device, locate);
  const slots = pipelines.map((pipeline, i) => ({ pipeline, dispatch: forms[i].form.dispatch }));
  const slotOf = manifest.kernels.map((_, i) => i);  // kernel id -> index into slots
  const skipped = skippedSteps(manifest, forms);  // Im2Col steps of implicit convolutions
  const cap = manifest.webgpu.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  let env = largest(manifest);  // the sizes passes are encoded for: the last run's, at first the largest
  const slotPass = (slot, bindGroup) => ({ pipeline: slot.pipeline, bindGroup,
    dispatch: workgroupGrid(slot.dispatch, env, cap) });
  const passOf = (i) => slotPass(slots[slotOf[manifest.steps[i].kernel]], bindGroups[i]);
  await checkPasses(manifest, device, manifest.steps.map((_, i) => passOf(i)));
  let lastFeeds = null;

  function writeInputs(checked) {
    if (checked.env) env = { ...largest(manifest), ...checked.env };
    for (const { spec, values } of checked) {
      const { buffer, offset } = locate(spec.tensor);
      device.queue.writeBuffer(buffer, offset, toDevice(spec, values));
      if (spec.tensor === manifest.sizes) device.queue.writeBuffer(buffers.sizes, 0, toDevice(spec, values));
    }
    if (readback.status) {  // cleared before every run; a checked kernel sets it
      device.queue.writeBuffer(readback.status.source.buffer, readback.status.source.offset, new Int32Array(1));
    }
  }

  /** Submits `passes` in one compute pass and waits until the GPU is done. */
  async function submit(passes, what) {
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: what });
    encodePasses(encoder, passes);
    device.queue.submit([encoder.finish()]);
    const [error] = await Promise.all([device.popErrorScope(), device.queue.onSubmittedWorkDone()]);
    if (error) throw new Error(`${what} failed on WebGPU: ${firstLine(error.message)}`);
  }

  const stepRange = (from, to) => Array.from({ length: to - from }, (_, k) => from + k)
    .filter((i) => !skipped.has(i)).map(passOf);
  const kernelPass = (slot, i) => slotPass(slots[slot], bindGroups[i]);
  const now = () => globalThis.performance.now();
  const clock = createGpuClock(device);  // null without timestamp queries

  const ops = {
    backend: 'webgpu',
    kernelCount: manifest.kernels.length,
    slotOf: (kernel) => slotOf[kernel],
    /** A candidate's pipeline, laid out like kernel `kernel` so its bind groups fit. */
    async compile(bytes, file, kernel, form) {
      return { pipeline: await buildPipeline(device, manifest.kernels[kernel], new TextDecoder().decode(bytes),
        layouts[kernel], { ...form, file }), dispatch: form.dispatch };
    },
    async add(compiled) {
      slots.push(compiled);
      return slots.length - 1;
    },
    use(kernel, slot) { slotOf[kernel] = slot; },
    /** Frees a candidate's pipeline (never one a kernel runs). */
    drop(slot) { if (slot >= manifest.kernels.length && !slotOf.includes(slot)) slots[slot] = null; },
    async runSteps(from = 0, to = manifest.steps.length) {
      if (from === 0 && lastFeeds) writeInputs(lastFeeds);
      await submit(stepRange(from, to), 'webjit steps');
    },
    timer: clock ? 'timestamp queries' : 'timed submissions',
    skipped: [...skipped].sort((a, b) => a - b),
    /** Per-step milliseconds: GPU time from timestamp queries where the device has them,
     * else each step submitted and awaited alone. */
    async profileSteps() {
      if (lastFeeds) writeInputs(lastFeeds);
      if (clock) {
        const ran = manifest.steps.map((_, i) => i).filter((i) => !skipped.has(i));
        const times = await clock.time(ran.map((i) => [passOf(i)]));
        const all = new Array(manifest.steps.length).fill(0);  // a skipped step takes no time
        ran.forEach((i, j) => { all[i] = times[j]; });
        return all;
      }
      const times = [];
      for (let i = 0; i < manifest.steps.length; i++) {
        if (skipped.has(i)) {
          times.push(0);
          continue;
        }
        const start = now();
        await submit([passOf(i)], 'webjit profile');
        times.push(now() - start);
      }
      return times;
    },
    async runKernel(slot, i) { await submit([kernelPass(slot, i)], 'webjit kernel'); },
    /** Milliseconds per dispatch of kernel `slot` on step `i`'s bindings: `reps` samples of
     * `inner` dispatches each (timestamped passes, or timed submissions). */
    async timeKernel(slot, i, reps, inner = 1) {
      const passes = new Array(inner).fill(kernelPass(slot, i));
      if (clock) return (await clock.time(new Array(reps).fill(passes))).map((t) => t / inner);
      const times = [];
      for (let r = 0; r < reps; r++) {
        const start = now();
        await submit(passes, 'webjit timer');
        times.push((now() - start) / inner);
      }
      return times;
    },
    async read(tensor, byteOffset, bytes) {
      const { buffer, offset } = locate(tensor);
      const staging = device.createBuffer({ size: roundUp(Math.max(bytes, 4), 4), usage: MAP_READ | COPY_DST });
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, offset + byteOffset, staging, 0, roundUp(bytes, 4));
      device.queue.submit([encoder.finish()]);
      await staging.mapAsync(READ);
      const copy = new Uint8Array(staging.getMappedRange()).slice(0, bytes);
      staging.unmap();
      staging.destroy();
      return copy;
    },
    async write(tensor, byteOffset, bytes) {
      const { buffer, offset } = locate(tensor);
      device.queue.writeBuffer(buffer, offset + byteOffset, bytes);
    },
  };

  /** Runs the model; `capture` ([{step, ranges}], ascending steps) receives in each entry's
   * `bytes` ({arg: bytes}) its ranges as they are just before that step runs: copied between
   * the compute passes of the run's one submission. */
  async function run(checked, capture = null) {
    lastFeeds = checked;
    writeInputs(checked);
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: 'webjit run' });
    const captured = capture?.length ? encodeCaptures(encoder, capture) : null;
    encodePasses(encoder, stepRange(captured?.at ?? 0, manifest.steps.length));
    for (const { source, at, bytes } of readback.copies) {
      if (bytes) encoder.copyBufferToBuffer(source.buffer, source.offset, readback.staging, at, bytes);
    }
    device.queue.submit([encoder.finish()]);
    const [error] = await Promise.all([device.popErrorScope(), readback.staging.mapAsync(READ),
      captured?.staging.mapAsync(READ)]);
    if (captured) {
      const bytes = new Uint8Array(captured.staging.getMappedRange());
      for (const { entry, r, at } of captured.copies) entry.bytes[r.arg] = bytes.slice(at, at + r.bytes);
      captured.staging.destroy();
    }
    try {
      if (error) throw new Error(`the WebGPU run failed: ${firstLine(error.message)}`);
      const bytes = readback.staging.getMappedRange();
      if (readback.status && new Int32Array(bytes, readback.status.at, 1)[0] !== 0) {
        throw new WebjitError('the run computed an int64 value outside the int32 range the device holds ' +
          'integers in; webjit does not compute 64-bit integers, so it refused the outputs instead of wrapping');
      }
      const outputs = {};
      for (const { spec, at } of readback.copies) {
        if (spec) outputs[spec.name] = fromDevice(spec, bytes, at, checked.env);
      }
      return outputs;
    } finally {
      readback.staging.unmap();
    }
  }

  /** Encodes the steps before each capture, then copies of its ranges into one staging buffer. */
  function encodeCaptures(encoder, capture) {
    let size = 0;
    const copies = [];
    for (const entry of capture) {
      entry.bytes = {};
      for (const r of entry.ranges) {
        copies.push({ entry, r, at: size });
        size += roundUp(r.bytes, 4);
      }
    }
    const staging = device.createBuffer({ label: 'webjit capture', size: Math.max(size, 4), usage: MAP_READ | COPY_DST });
    let at = 0;
    for (const entry of capture) {
      encodePasses(encoder, stepRange(at, entry.step));
      at = entry.step;
      for (const c of copies.filter((x) => x.entry === entry)) {
        const { buffer, offset } = locate(c.r.tensor);
        encoder.copyBufferToBuffer(buffer, offset, staging, c.at, roundUp(c.r.bytes, 4));
      }
    }
    return { staging, copies, at };
  }

  const threadNote = 'the webgpu backend runs on the GPU and uses no worker threads';
  /** One step of session.generate (generate.js): runs the model on `checked`, reads back only
   * `read` ({tensor, offset, count}: f32 elements, the last logits) and, in the same
   * submission, copies each of `carry` ({from, to, bytes}: present.* onto past_key_values.*)
   * within the arena through a scratch buffer, since WebGPU copies no buffer onto itself. */
  let stepBuffers = null;
  async function step(checked, read, carry) {
    lastFeeds = checked;
    writeInputs(checked);
    stepBuffers ??= {
      logits: device.createBuffer({ label: 'webjit logits', size: roundUp(4 * read.count + 4, 16), usage: MAP_READ | COPY_DST }),
      scratch: device.createBuffer({ label: 'webjit cache copy', usage: COPY_SRC | COPY_DST,
        size: roundUp(Math.max(16, ...carry.map((c) => 4 * manifest.tensors[c.from].size)), 16) }),
    };
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: 'webjit generate step' });
    encodePasses(encoder, stepRange(0, manifest.steps.length));
    const bytes = 4 * read.count, source = locate(read.tensor);
    encoder.copyBufferToBuffer(source.buffer, source.offset + 4 * read.offset, stepBuffers.logits, 0, bytes);
    if (readback.status) {
      const { buffer, offset } = readback.status.source;
      encoder.copyBufferToBuffer(buffer, offset, stepBuffers.logits, roundUp(bytes, 4), 4);
    }
    for (const c of carry) {
      if (!c.bytes) continue;
      const from = locate(c.from), to = locate(c.to);
      encoder.copyBufferToBuffer(from.buffer, from.offset, stepBuffers.scratch, 0, c.bytes);
      encoder.copyBufferToBuffer(stepBuffers.scratch, 0, to.buffer, to.offset, c.bytes);
    }
    device.queue.submit([encoder.finish()]);
    const [error] = await Promise.all([device.popErrorScope(), stepBuffers.logits.mapAsync(READ)]);
    try {
      if (error) throw new Error(`the WebGPU run failed: ${firstLine(error.message)}`);
      const mapped = stepBuffers.logits.getMappedRange();
      if (readback.status && new Int32Array(mapped, roundUp(bytes, 4), 1)[0] !== 0) {
        throw new WebjitError('the run computed an int64 value outside the int32 range the device holds ' +
          'integers in; webjit does not compute 64-bit integers, so it refused the outputs instead of wrapping');
      }
      return new Float32Array(mapped, 0, read.count).slice();
    } finally {
      stepBuffers.logits.unmap();
    }
  }

  return { threads: 1, threadNote, forms, ops, run, step, weights: buffers.stats,
    release: () => { clock?.destroy(); stepBuffers?.logits.destroy(); stepBuffers?.scratch.destroy(); } };
}

function encodePasses(encoder, passes) {
  const pass = encoder.beginComputePass();
  for (const { pipeline, bindGroup, dispatch } of passes) {
    pass.setPipeline(pipeline);
    if (bindGroup) pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...dispatch);
  }
  pass.end();
}

/**
 * Encodes each step alone, without submitting, so that what WebGPU checks per dispatch
 * fails at load naming the step: e.g. one buffer bound read-only and writable at once
 * (every arena binding of a step must be read_write) or overlapping writable ranges.
 */
async function checkPasses(manifest, device, passes) {
  const errors = await Promise.all(passes.map((pass) => {
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    encodePasses(encoder, [pass]);
    encoder.finish();
    return device.popErrorScope();
  }));
  const i = errors.findIndex((e) => e);
  if (i >= 0) {
    const step = manifest.steps[i], kernel = manifest.kernels[step.kernel];
    throw unusable(`step ${i} (${step.name || 'unnamed'}, WebGPU kernel ${kernel.id} ${kernel.family}) ` +
      `cannot run on WebGPU: ${firstLine(errors[i].message)}`, REBUILD);
  }
}

/** Runs `make` inside validation and out-of-memory error scopes; throws what they caught. */
async function captured(device, what, make) {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let value, thrown = null;
  try {
    value = make();
  } catch (err) {
    thrown = err;
  }
  const validation = await device.popErrorScope();
  const memory = await device.popErrorScope();
  const error = thrown ?? validation ?? memory;
  if (error) {
    const advice = memory && !validation && !thrown ? "free GPU memory or use backend 'wasm'" : REBUILD;
    throw unusable(`${what} failed on WebGPU (${firstLine(error.message)})`, advice);
  }
  return value;
}

/** Creates the arena and one buffer per weights tensor, then streams the weights into them. */
async function uploadBuffers(bundle, manifest, device, onProgress) {
  const buffers = await captured(device, 'creating the GPU buffers', () => {
    const arena = device.createBuffer({ label: 'webjit arena', size: arenaBufferBytes(manifest),
      usage: STORAGE | COPY_SRC | COPY_DST });
    const sizes = manifest.sizes === undefined ? null : device.createBuffer({ label: 'webjit sizes',
      size: roundUp(Math.max(4 * manifest.tensors[manifest.sizes].size, 16), 16), usage: STORAGE | COPY_DST });
    const weights = new Map();
    for (const id of usedWeights(manifest)) {
      const t = manifest.tensors[id];
      weights.set(id, device.createBuffer({ label: `webjit weight ${t.name ?? id}`,
        size: roundUp(Math.max(4 * t.size, 16), 16), usage: STORAGE | COPY_SRC | COPY_DST }));
    }
    return { arena, sizes, weights };
  });
  const write = (t, element, array) => {
    const buffer = buffers.weights.get(t.id);
    if (buffer) device.queue.writeBuffer(buffer, 4 * element, array);
  };
  device.pushErrorScope('validation');
  const stats = await streamWeights(bundle, manifest, { write }, onProgress);
  const error = await device.popErrorScope();
  if (error) throw unusable(`writing the weights failed on WebGPU (${firstLine(error.message)})`, REBUILD);
  return { ...buffers, stats };
}

function usedWeights(manifest) {
  const ids = new Set([...manifest.steps.flatMap((s) => s.args),
    ...manifest.inputs.map((io) => io.tensor), ...manifest.outputs.map((io) => io.tensor)]);
  return [...ids].filter((id) => manifest.tensors[id].region === 'weights').sort((a, b) => a - b);
}

async function buildPipelines(bundle, manifest, forms, layouts, device, onProgress) {
  const total = forms.reduce((sum, { form }) => sum + form.bytes, 0);
  let loaded = 0;
  onProgress({ stage: 'kernels', loaded, total });
  return Promise.all(manifest.kernels.map(async (kernel, i) => {
    const { form } = forms[i];
    const bytes = await readVerified(bundle, form, (n, fromCache) => {
      loaded += n;
      onProgress({ stage: 'kernels', loaded: Math.min(loaded, total), total, file: form.file, fromCache });
    });
    return buildPipeline(device, kernel, new TextDecoder().decode(bytes), layouts[i], form);
  }));
}

/** The explicit bind group layout of a kernel ('auto' would drop bindings a shader declares
 * but never reads); every form of the kernel shares it. */
function bindGroupLayout(device, kernel) {
  return device.createBindGroupLayout({ label: `kernel ${kernel.id}`,
    entries: kernel.webgpu.bindings.map((b, slot) => ({ binding: slot, visibility: COMPUTE,
      buffer: { type: b.write === false ? 'read-only-storage' : 'storage' } })) });
}

/** One compute pipeline; a WGSL or pipeline error names the kernel and the first message. */
async function buildPipeline(device, kernel, code, bindGroupLayout, form) {
  const name = `WebGPU kernel ${kernel.id} (${kernel.family}, ${form.file})`;
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: `kernel ${kernel.id}`, code });
  const [info, scopeError] = await Promise.all([module.getCompilationInfo(), device.popErrorScope()]);
  const message = info.messages.find((m) => m.type === 'error');
  if (message) {
    throw unusable(`${name} does not compile: line ${message.lineNum}: ${message.message}`, REBUILD);
  }
  if (scopeError) throw unusable(`${name} does not compile: ${firstLine(scopeError.message)}`, REBUILD);
  try {
    const layout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
    return await device.createComputePipelineAsync({ label: `kernel ${kernel.id}`, layout,
      compute: { module, entryPoint: form.entry ?? 'main' } });
  } catch (err) {
    throw unusable(`${name} could not become a pipeline: ${firstLine(err?.message ?? err)}`, REBUILD);
  }
}

/** One bind group per step: binding i covers elements [start, start + count) of its tensor. */
async function buildBindGroups(manifest, device, layouts, locate) {
  const align = device.limits.minStorageBufferOffsetAlignment;
  const maxBytes = device.limits.maxStorageBufferBindingSize;
  const bindingsOf = (step) => manifest.kernels[step.kernel].webgpu.bindings;
  const entries = manifest.steps.map((step, i) => bindingsOf(step).map((b, slot) => {
    const { buffer, offset } = locate(step.args[b.arg], b);
    const at = offset + 4 * b.start, size = 4 * b.count;
    if (at % align) {
      throw new WebjitError(`manifest.json is invalid: step ${i} binds tensor ${step.args[b.arg]} at byte ` +
        `${at}, not a multiple of the ${align} bytes WebGPU requires; rebuild the bundle`);
    }
    if (size > maxBytes) {
      throw unusable(`step ${i} binds ${size} bytes, more than this device's ` +
        `maxStorageBufferBindingSize of ${maxBytes}`, REBUILD);
    }
    return { binding: slot, resource: { buffer, offset: at, size } };
  }));
  return captured(device, 'creating the bind groups', () => manifest.steps.map((step, i) => {
    if (entries[i].length === 0) return null;
    return device.createBindGroup({ label: `step ${i}`, entries: entries[i],
      layout: layouts[step.kernel] });
  }));
}

/** Where each output is copied in the one MAP_READ staging buffer, created once; the int64
 * status word (manifest.status: set by checked kernels) last, at `statusAt`. */
async function planReadback(manifest, device, locate) {
  let size = 0;
  const most = largest(manifest);  // outputs of symbolic size: the planned (largest) bytes, read as far as a run fills them
  const copies = manifest.outputs.map((spec) => {
    const shape = spec.shape.map((d) => evalSize(d, most));
    const copy = { spec, source: locate(spec.tensor), at: size, bytes: 4 * elementCount(shape) };
    size += copy.bytes;
    return copy;
  });
  let status = null;
  if (manifest.status !== undefined) {
    status = { source: locate(manifest.status), at: size, bytes: 4 };
    copies.push(status);
    size += 4;
  }
  const staging = await captured(device, 'creating the readback buffer', () => device.createBuffer({
    label: 'webjit outputs', size: roundUp(Math.max(size, 16), 16), usage: MAP_READ | COPY_DST }));
  return { staging, copies, status };
}
