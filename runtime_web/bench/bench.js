// The page of `webjit bench` (compiler/webjit/engine_bench.py): webjit sessions through the
// driver's commands (src/driver.js), onnxruntime-web sessions (from node_modules, its .wasm
// files served from the same origin) and the SIMD roofline, all in one page so every engine
// runs in the same browser. Exposes window.webjitDriver.call(command), as page/driver.js does.
//   ort_open {model, inputs, backend, threads}   -> {session, load_ms, first_ms, js_heap_bytes}
//   ort_runs {session, seconds, runs, reference} -> warm-up for `seconds`, then `runs` timed runs:
//                                                   {times_ms, difference}
//   roofline {module, threads, iterations, flops_per_iteration} -> {gflops, ms}
//   gpu_roofline {shader, workgroups, workgroup, flops_per_iteration, reps}
//                                                -> {gflops, timer, adapter, ...} or {missing}
//   memory_start {}                              -> starts a GPU buffer window (memory_probe.js)
//   memory {}                                    -> {js_heap_bytes, gpu, ort_wasm_bytes}
//   generate_open {engine, model, backend, threads, cache} -> {session, load_ms}: a decoder with a
//                                                   KV cache on backend 'wasm' or 'webgpu', engine
//                                                   'webjit' (model: a bundle) or 'ort' (an ONNX
//                                                   file; cache: {names, heads, head_size})
//   generate {session, prompt, new_tokens}       -> greedy: {tokens, prefill_ms, decode_ms}
//   generate_close {session}
//   any driver command (open, run, runs, close, ...)
import { gpuWindow, owned, wasmBytes } from './memory_probe.js';  // first: wraps the APIs before any engine runs
import { createDriver, difference, readFolder } from '../src/driver.js';
import { load } from '../src/index.js';

const driver = createDriver();
const sessions = new Map();
const ORT_DIST = new URL('../node_modules/onnxruntime-web/dist/', import.meta.url).href;
let ort = null, ortThreads = null;
const now = () => performance.now();
const status = document.getElementById('status');
const heap = () => performance.memory?.usedJSHeapSize ?? null;

async function ortFor(threads) {
  if (!ort) {
    ort = await import(`${ORT_DIST}ort.all.min.mjs`);
    ort.env.wasm.wasmPaths = ORT_DIST;
    ort.env.wasm.numThreads = threads;
    ortThreads = threads;
  }
  // onnxruntime-web fixes its thread count when its WASM starts: one count per page load.
  if (threads !== ortThreads) throw new Error(`onnxruntime-web started with ${ortThreads} threads in this page`);
  return ort;
}

const commands = {
  async ort_open({ model, inputs, backend, threads }) {
    const runtime = await owned('ort', () => ortFor(threads));
    const start = now();
    const session = await owned('ort', () => runtime.InferenceSession.create(model, { executionProviders: [backend],
      graphOptimizationLevel: 'all' }));
    const loadMs = now() - start;
    const arrays = await readFolder(inputs, session.inputNames);
    const feeds = {};
    for (const [name, { dtype, shape, data }] of Object.entries(arrays)) {
      feeds[name] = new runtime.Tensor(dtype, data, shape);
    }
    const entry = { session, feeds, outputs: null };
    const first = now();
    entry.outputs = await owned('ort', () => session.run(feeds));
    const firstMs = now() - first;
    const id = sessions.size;
    sessions.set(id, entry);
    return { session: id, load_ms: loadMs, first_ms: firstMs, js_heap_bytes: heap() };
  },
  async ort_runs({ session: id, seconds = 3, runs = 20, reference }) {
    const entry = sessions.get(id);
    const run = async () => { entry.outputs = await entry.session.run(entry.feeds); };
    for (const start = now(); now() - start < seconds * 1000;) await run();
    const times = [];
    for (let i = 0; i < runs; i++) {
      const t = now();
      await run();
      times.push(now() - t);
    }
    let diff = null;
    if (reference) {
      const want = await readFolder(reference, Object.keys(entry.outputs));
      diff = difference(entry.outputs, want);  // onnxruntime-web tensors have .data too
    }
    return { times_ms: times, difference: diff, js_heap_bytes: heap() };
  },
  async ort_close({ session: id }) {
    await sessions.get(id)?.session.release();
    sessions.delete(id);
    return {};
  },
  async generate_open({ engine, model, backend = 'wasm', threads, cache }) {
    const start = now();
    const entry = engine === 'webjit'
      ? { webjit: await load(model, { backend, threads }) }
      : { ort: await (await ortFor(threads)).InferenceSession.create(model, { executionProviders: [backend],
        graphOptimizationLevel: 'all' }), cache };
    const id = sessions.size;
    sessions.set(id, entry);
    return { session: id, load_ms: now() - start };
  },
  async generate({ session: id, prompt, new_tokens: count }) {
    const entry = sessions.get(id);
    if (entry.webjit) return entry.webjit.generate(prompt, { maxNewTokens: count, temperature: 0 });
    return ortGreedy(entry, prompt, count);
  },
  async generate_close({ session: id }) {
    const entry = sessions.get(id);
    if (entry?.webjit) entry.webjit.release();
    else await entry?.ort.release();
    sessions.delete(id);
    return {};
  },
  async roofline({ module, threads = 1, iterations, flops_per_iteration: flops }) {
    const bytes = Uint8Array.from(atob(module), (c) => c.charCodeAt(0));
    const compiled = await WebAssembly.compile(bytes);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const workers = Array.from({ length: threads }, () => new Worker(new URL('./roofline_worker.js', import.meta.url)));
    const reply = (w) => new Promise((resolve) => { w.onmessage = ({ data }) => resolve(data); });
    await Promise.all(workers.map((w) => { const r = reply(w); w.postMessage({ module: compiled, memory }); return r; }));
    // Every thread calls the loop a few times; all start together, each reports its fastest call.
    const done = workers.map((w, i) => { const r = reply(w); w.postMessage({ iterations, out: 64 * i, repeat: 5 }); return r; });
    const times = (await Promise.all(done)).map((d) => d.ms);
    workers.forEach((w) => w.terminate());
    const gflops = times.reduce((sum, ms) => sum + iterations * flops / (ms * 1e6), 0);
    return { gflops, ms: times };
  },
  gpu_roofline: gpuRoofline,
  memory_start() {
    endWindow = gpuWindow();
    return {};
  },
  memory: () => ({ js_heap_bytes: heap(), gpu: endWindow ? endWindow() : null, ort_wasm_bytes: wasmBytes('ort') }),
};

let endWindow = null;

/** Greedy generation on onnxruntime-web as a page would write it: each step feeds the previous
 * step's present.* tensors back as past_key_values.* (an empty cache first) and takes the argmax
 * of the last position's logits; timed as session.generate times itself (generate.js). */
async function ortGreedy({ ort: session, cache }, prompt, count) {
  const { Tensor } = ort;
  const int64 = (values) => BigInt64Array.from(values, BigInt);
  let past = Object.fromEntries(cache.names.map((name) => [name,
    new Tensor('float32', new Float32Array(0), [1, cache.heads, 0, cache.head_size])]));
  let ids = prompt, total = 0, prefillMs = 0;
  const tokens = [];
  const started = now();
  while (tokens.length < count) {
    total += ids.length;
    const out = await session.run({ input_ids: new Tensor('int64', int64(ids), [1, ids.length]),
      attention_mask: new Tensor('int64', int64(new Array(total).fill(1)), [1, total]), ...past });
    if (!tokens.length) prefillMs = now() - started;
    const vocab = out.logits.dims[2];
    const last = out.logits.data.subarray((ids.length - 1) * vocab, ids.length * vocab);
    let best = 0;
    for (let i = 1; i < vocab; i++) if (last[i] > last[best]) best = i;
    tokens.push(best);
    past = Object.fromEntries(cache.names.map((name) => [name, out[`present.${name.slice('past_key_values.'.length)}`]]));
    ids = [best];
  }
  return { tokens, prefill_ms: prefillMs, decode_ms: now() - started - prefillMs };
}

/** The adapter's FMA peak: a register-only shader (roofline.py) dispatched over `workgroups`,
 * its loop count doubled until one dispatch takes 50 ms or more, then `reps` dispatches timed
 * each by timestamp queries where the adapter has them and all together by
 * onSubmittedWorkDone; the fastest per-dispatch time counts. */
async function gpuRoofline({ shader, workgroups, workgroup, flops_per_iteration: flops, reps = 5 }) {
  const gpu = globalThis.navigator?.gpu;
  if (!gpu) return { missing: 'this browser has no WebGPU (navigator.gpu is undefined)' };
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { missing: 'navigator.gpu.requestAdapter() returned no adapter' };
  const info = adapter.info ?? {};
  const stamps = adapter.features.has('timestamp-query');
  const device = await adapter.requestDevice({ requiredFeatures: stamps ? ['timestamp-query'] : [],
    label: 'webjit bench roofline' });
  try {
    const invocations = workgroups * workgroup;
    const out = device.createBuffer({ size: 16 * invocations, usage: GPUBufferUsage.STORAGE });
    const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto',
      compute: { module: device.createShaderModule({ code: shader }), entryPoint: 'main' } });
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: params } }, { binding: 1, resource: { buffer: out } }] });
    const querySet = stamps ? device.createQuerySet({ type: 'timestamp', count: 2 * reps }) : null;
    const resolved = stamps ? device.createBuffer({ size: 16 * reps,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
    const staging = stamps ? device.createBuffer({ size: 16 * reps,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
    const dispatch = async (iterations, count, timed) => {
      device.queue.writeBuffer(params, 0, new Uint32Array([iterations, ...new Uint32Array(
        new Float32Array([0.9999999, 1e-7, 0]).buffer)]));
      const encoder = device.createCommandEncoder();
      for (let r = 0; r < count; r++) {
        const pass = encoder.beginComputePass(timed && stamps ? { timestampWrites: { querySet,
          beginningOfPassWriteIndex: 2 * r, endOfPassWriteIndex: 2 * r + 1 } } : {});
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup);
        pass.dispatchWorkgroups(workgroups);
        pass.end();
      }
      if (timed && stamps) {
        encoder.resolveQuerySet(querySet, 0, 2 * count, resolved, 0);
        encoder.copyBufferToBuffer(resolved, 0, staging, 0, 16 * count);
      }
      const start = now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const wallMs = now() - start;
      let passMs = null;
      if (timed && stamps) {
        await staging.mapAsync(GPUMapMode.READ, 0, 16 * count);
        const ns = new BigInt64Array(staging.getMappedRange(0, 16 * count).slice(0));
        staging.unmap();
        passMs = Array.from({ length: count }, (_, r) => Number(ns[2 * r + 1] - ns[2 * r]) / 1e6);
      }
      return { wallMs, passMs };
    };
    await dispatch(1, 1, false);  // compiles and warms the pipeline
    let iterations = 4;
    while (iterations < (1 << 22) && (await dispatch(iterations, 1, false)).wallMs < 50) iterations *= 2;
    const { wallMs, passMs } = await dispatch(iterations, reps, true);
    const work = invocations * iterations * flops;
    const bestPass = passMs && Math.min(...passMs.filter((ms) => ms > 0));
    const perDispatch = bestPass && Number.isFinite(bestPass) ? bestPass : wallMs / reps;
    querySet?.destroy();
    return { gflops: work / (perDispatch * 1e6), wall_gflops: (reps * work) / (wallMs * 1e6),
      timer: bestPass && Number.isFinite(bestPass) ? 'timestamp queries' : 'onSubmittedWorkDone',
      iterations, ms_per_dispatch: perDispatch, reps,
      adapter: { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '',
        description: info.description ?? '' } };
  } finally {
    device.destroy();
  }
}

window.webjitDriver = {  // the name compiler/webjit/driver.py calls
  async call(command) {
    status.textContent = `${command?.command ?? '?'} running`;
    const handler = commands[command?.command];
    let reply;
    if (handler) {
      try {
        reply = { ok: true, result: await handler(command) };
      } catch (err) {
        reply = { ok: false, error: String(err?.message ?? err) };
      }
    } else {
      reply = await driver.call(command);
    }
    status.textContent = `${command?.command ?? '?'} ${reply.ok ? 'done' : 'failed'}`;
    return reply;
  },
};
status.textContent = 'ready';
document.documentElement.dataset.webjit = 'ready';
