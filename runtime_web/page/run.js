// Driver page for `webjit run`: ?bundle=URL&backend=wasm|webgpu|auto&threads=auto&repeat=N[&inputs=URL]
// loads the bundle, runs it on inputs/<name>.npy (by default the folder BUNDLE_URL/../inputs),
// and sets window.webjitResult = {backend, backendNote, threads, threadNote, latency_ms,
// load_ms, outputs: {name: {dtype, shape, base64}}} or {error: message} when done.
// WebGPU comes from navigator.gpu; headless Chromium has it only with --enable-unsafe-webgpu.
// No inline script and no eval: it runs under script-src 'self' 'wasm-unsafe-eval'.
import { load, WebjitError } from '../src/index.js';
import { npyFile, readNpy } from '../src/npy.js';
import { timeRuns } from '../src/bench.js';

const status = (text) => { document.getElementById('status').textContent = text; };

function readParams(params) {
  const bundle = params.get('bundle');
  if (!bundle) throw new WebjitError('the run page needs ?bundle=URL of the bundle folder');
  const threadsText = params.get('threads') ?? 'auto';
  const threads = threadsText === 'auto' ? 'auto' : Number(threadsText);
  const repeat = Number(params.get('repeat') ?? 1);
  if (!Number.isInteger(repeat) || repeat < 1) {
    throw new WebjitError(`repeat must be a positive integer, not ${params.get('repeat')}`);
  }
  const bundleFolder = new URL(bundle.replace(/\/*$/, '/'), location.href);
  const inputs = new URL((params.get('inputs') ?? '../inputs').replace(/\/*$/, '/'), bundleFolder);
  return { bundle, backend: params.get('backend') ?? 'auto', threads, repeat, inputs };
}

async function fetchInput(folder, name) {
  const url = new URL(npyFile(name), folder).href;
  const response = await fetch(url);
  if (!response.ok) {
    throw new WebjitError(`input '${name}' could not be fetched from ${url} (HTTP ${response.status})`);
  }
  const { data, shape } = readNpy(new Uint8Array(await response.arrayBuffer()), url);
  return { data, shape };
}

/** Base64 of the output's raw little-endian bytes (int64 as 8 bytes, bool as 1 byte). */
function toBase64(data) {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

async function main() {
  const options = readParams(new URLSearchParams(location.search));
  status('loading');
  const start = performance.now();
  let peakHeap = 0;  // Chromium's performance.memory: the JS heap, ArrayBuffers not included
  const session = await load(options.bundle, {
    backend: options.backend,
    threads: options.threads,
    onProgress: ({ stage, loaded, total }) => {
      peakHeap = Math.max(peakHeap, performance.memory?.usedJSHeapSize ?? 0);
      status(`loading ${stage}: ${loaded} / ${total} bytes`);
    },
  });
  const loadMs = performance.now() - start;
  const loadMemory = { ...session.weights, ...(peakHeap ? { peak_js_heap_bytes: peakHeap } : {}) };
  try {
    const feeds = {};
    for (const { name } of session.inputs) feeds[name] = await fetchInput(options.inputs, name);
    status('running');
    const { outputs, latency_ms } = await timeRuns(session, feeds, options.repeat);
    const encoded = {};
    for (const [name, { dtype, shape, data }] of Object.entries(outputs)) {
      encoded[name] = { dtype, shape, base64: toBase64(data) };
      report(`${name}: ${dtype} [${shape.join(', ')}]  ${summary(data)}`);
    }
    // Read after the runs: a lost GPU device moves the session to wasm mid-way.
    return { backend: session.backend, backendNote: session.backendNote, threads: session.threads,
      threadNote: session.threadNote, latency_ms, load_ms: loadMs, load_memory: loadMemory, outputs: encoded };
  } finally {
    session.release();
  }
}

/** One line of the human-readable report under the status line. */
function report(text) {
  const line = document.createElement('pre');
  line.textContent = text;
  document.body.append(line);
}

function summary(data) {
  const values = Array.from(data, Number);
  if (!values.length) return 'empty';
  let min = Infinity, max = -Infinity, sum = 0;
  for (const v of values) { min = Math.min(min, v); max = Math.max(max, v); sum += v; }
  const first = values.slice(0, 6).map((v) => v.toPrecision(6)).join(', ');
  return `min ${min.toPrecision(6)}  max ${max.toPrecision(6)}  mean ${(sum / values.length).toPrecision(6)}  first [${first}]`;
}

// Also marks <html data-webjit="done">, so a driver can wait with a selector: Playwright
// evals a bare-expression predicate, which this page's CSP refuses.
function finish(result, text) {
  status(text);
  window.webjitResult = result;
  document.documentElement.dataset.webjit = 'done';
}

main().then(
  (result) => {
    const threads = `${result.threads} thread${result.threads === 1 ? '' : 's'}`;
    report(`backend ${result.backend}, ${threads}; load ${result.load_ms.toFixed(1)} ms`);
    for (const note of [result.backendNote, result.threadNote]) if (note) report(`note: ${note}`);
    finish(result, `done in ${result.latency_ms.toFixed(2)} ms`);
  },
  (err) => {
    const message = err instanceof WebjitError ? err.message : String(err?.message ?? err);
    finish({ error: message }, `error: ${message}`);
  },
);
