// The in-browser compiler demo: an .onnx file (dropped, picked, or ?model=URL) is compiled in
// this page by webjit.compileInBrowser (Pyodide, in a worker), run on WASM and WebGPU, and
// compared with the pre-compiled bundle's outputs on the same inputs.
// Served by `webjit serve BUNDLE --page examples/compile --mount /models/=DIR` (examples/compile.sh):
// the runtime at /runtime/, the pre-compiled bundle at /bundle/ and inputs for it at /inputs/,
// Pyodide at /pyodide/ and webjit's wheel at /compiler/. The compile uses the bundle's input
// shapes unless the dims field says otherwise. Query: ?model=URL&backends=wasm,webgpu.
// Tests read window.demo ({done, error, report, runs: [{bundle, backend, latency_ms,
// max_difference, outputs: {name: {dtype, shape, base64}}}]}).
import { compileInBrowser, load, WebjitError } from '/runtime/src/index.js';
import { npyFile, readNpy } from '/runtime/src/npy.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const backends = (params.get('backends') ?? 'wasm,webgpu').split(',');
const demo = { done: false, error: null, report: null, runs: [] };
window.demo = demo;
let saved = null;  // the last compiled bundle, as a zip Blob
let lastRequest = null;  // what the compiler was asked (the same request compiles the same bundle on the host)

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

async function optional(url, read) {
  const response = await fetch(url);
  return response.ok ? read(response) : null;
}

/** The pre-compiled bundle's manifest and its inputs (from /inputs/), when the page is served with one. */
async function reference() {
  const manifest = await optional('/bundle/manifest.json', (r) => r.json());
  if (!manifest) return null;
  const feeds = {};
  for (const { name } of manifest.inputs) {
    const bytes = await optional(`/inputs/${npyFile(name)}`, async (r) => new Uint8Array(await r.arrayBuffer()));
    if (!bytes) return null;
    feeds[name] = readNpy(bytes, name);
  }
  return { manifest, feeds };
}

function compileShapes(ref) {
  const text = $('dims').value.trim();
  if (text) {
    try {
      return { dims: JSON.parse(text) };
    } catch {
      throw new WebjitError(`the dimension sizes are not JSON: ${text}`);
    }
  }
  if (!ref) return {};
  return { shapes: Object.fromEntries(ref.manifest.inputs.filter(({ shape }) => shape.every(Number.isInteger))
    .map(({ name, shape }) => [name, shape])) };
}

async function compileAndRun(onnx, ref) {
  const stages = $('stages').tBodies[0];
  stages.replaceChildren();
  $('runs').tBodies[0].replaceChildren();
  demo.runs = [];
  const started = performance.now();
  lastRequest = { ...compileShapes(ref), backends: backends.length > 1 ? ['wasm', 'webgpu'] : backends,
    name: 'compiled in the page' };
  const session = await compileInBrowser(onnx, {
    ...compileShapes(ref), backend: backends.length > 1 ? 'auto' : backends[0], name: lastRequest.name,
    onProgress: (message) => status(`${message} (${((performance.now() - started) / 1000).toFixed(1)} s)`),
  });
  const { report } = session.compiled;
  saved = session.compiled.zip();
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await saved.arrayBuffer()));
  demo.report = { ...report, total_ms: performance.now() - started, bundle_bytes: saved.size,
    bundle_sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''), request: lastRequest };
  $('save').disabled = false;
  addRow(stages, ['starting Pyodide', report.startMs], ['installing webjit', report.installMs],
    ...report.stages.map(([stage, seconds]) => [stage, seconds * 1000]));
  session.release();
  if (!ref) {
    status(`compiled in ${(demo.report.total_ms / 1000).toFixed(1)} s; serve a pre-compiled bundle to compare outputs`);
    return;
  }
  const expected = await runOnce('pre-compiled', await load('/bundle/', { backend: 'wasm' }), ref.feeds, null);
  for (const backend of backends) {
    const run = await load(saved, { backend });
    await runOnce('compiled here', run, ref.feeds, expected);
  }
  status(`done: compiled in ${(demo.report.total_ms / 1000).toFixed(1)} s, ${report.kernels} kernels`);
}

async function runOnce(label, session, feeds, expected) {
  try {
    const started = performance.now();
    const outputs = await session.run(feeds);
    const latency = performance.now() - started;
    let difference = null;
    if (expected) {
      difference = 0;
      for (const [name, { data }] of Object.entries(outputs)) {
        const want = expected[name].data;
        for (let i = 0; i < data.length; i++) difference = Math.max(difference, Math.abs(Number(data[i]) - Number(want[i])));
      }
    }
    demo.runs.push({ bundle: label, backend: session.backend, latency_ms: latency, max_difference: difference,
      outputs: Object.fromEntries(Object.entries(outputs).map(([name, { dtype, shape, data }]) =>
        [name, { dtype, shape, base64: toBase64(data) }])) });
    addRow($('runs').tBodies[0], [label, session.backend, latency, difference === null ? '–' : difference.toExponential(2)]);
    return outputs;
  } finally {
    session.release();
  }
}

function addRow(body, ...rows) {
  for (const cells of rows) {
    const row = body.insertRow();
    for (const cell of cells) {
      const td = row.insertCell();
      td.textContent = typeof cell === 'number' ? cell.toFixed(1) : cell;
      if (typeof cell === 'number') td.className = 'number';
    }
  }
}

function toBase64(data) {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

async function start(onnx, ref) {
  try {
    await compileAndRun(onnx, ref);
  } catch (err) {
    demo.error = err instanceof WebjitError ? err.message : String(err?.message ?? err);
    status(`error: ${demo.error}`, true);
  } finally {
    demo.done = true;
    document.documentElement.dataset.webjit = 'done';
  }
}

async function main() {
  const ref = await reference();
  status(ref ? `drop an .onnx file (a pre-compiled bundle of ${ref.manifest.model} is here to compare with)`
    : 'drop an .onnx file');
  const take = async (file) => { if (file) start(new Uint8Array(await file.arrayBuffer()), ref); };
  $('file').addEventListener('change', () => take($('file').files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    take(event.dataTransfer.files[0]);
  });
  $('save').addEventListener('click', () => {
    const link = document.createElement('a');
    link.href = URL.createObjectURL(saved);
    link.download = 'bundle.zip';
    link.click();
  });
  const model = params.get('model');
  if (model) {
    const response = await fetch(model);
    if (!response.ok) throw new WebjitError(`the model ${model} could not be fetched (HTTP ${response.status})`);
    await start(new Uint8Array(await response.arrayBuffer()), ref);
  }
}

main().catch((err) => {
  demo.error = String(err?.message ?? err);
  demo.done = true;
  status(`error: ${demo.error}`, true);
  document.documentElement.dataset.webjit = 'done';
});
