// The page of `webjit bench` (compiler/webjit/engine_bench.py): webjit sessions through the
// driver's commands (src/driver.js), onnxruntime-web sessions (from node_modules, its .wasm
// files served from the same origin) and the SIMD roofline, all in one page so every engine
// runs in the same browser. Exposes window.webjitDriver.call(command), as page/driver.js does.
//   ort_open {model, inputs, backend, threads}   -> {session, load_ms, first_ms, js_heap_bytes}
//   ort_runs {session, seconds, runs, reference} -> warm-up for `seconds`, then `runs` timed runs:
//                                                   {times_ms, difference}
//   roofline {module, threads, iterations, flops_per_iteration} -> {gflops, ms}
//   memory {}                                    -> {js_heap_bytes}
//   any driver command (open, run, runs, close, ...)
import { createDriver, difference, readFolder } from '../src/driver.js';

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
    const runtime = await ortFor(threads);
    const start = now();
    const session = await runtime.InferenceSession.create(model, { executionProviders: [backend],
      graphOptimizationLevel: 'all' });
    const loadMs = now() - start;
    const arrays = await readFolder(inputs, session.inputNames);
    const feeds = {};
    for (const [name, { dtype, shape, data }] of Object.entries(arrays)) {
      feeds[name] = new runtime.Tensor(dtype, data, shape);
    }
    const entry = { session, feeds, outputs: null };
    const first = now();
    entry.outputs = await session.run(feeds);
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
  memory: () => ({ js_heap_bytes: heap() }),
};

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
