// webjit.compileInBrowser: compile an .onnx file inside the page (webjit's Python compiler on
// Pyodide, in a worker) and load the bundle it makes, with no server. The compiler hands the
// bundle over as one zip, which can be saved (session.compiled.zip(), a Blob) and loaded
// later like any other bundle (webjit.load takes the zip).
import { WebjitError } from './errors.js';
import { IN_NODE } from './platform.js';
import { load } from './index.js';
import { startCompiler } from './pyodide_compiler.js';
import { readZip } from './zip.js';

const BACKENDS = ['wasm', 'webgpu', 'auto'];
let nextId = 0;
let shared = null;  // the worker (browsers) or compiler (Node) every call shares: Pyodide starts once

/**
 * Compiles `onnx` (the model file's bytes: Uint8Array, ArrayBuffer or Blob) for this page and
 * resolves to a loaded Session; `session.compiled` holds {files, report, zip()}: the bundle's
 * files, the compile's report ({stages: [[stage, seconds]], kernels, seconds, python,
 * startMs, installMs}) and the bundle as a zip Blob.
 * Options: shapes ({input: [dims]}), dims ({name: size | [min, max]}), backend ('auto',
 * 'wasm', 'webgpu': the kernels compiled and the backend loaded), tune ('off' or
 * 'background': JIT candidates are compiled and the session tunes), weights ('fp32', 'fp16',
 * 'int8'), deflate (false: weights stored as they are, the compile's slowest stage skipped),
 * constants ({input: value}), name, onProgress(message, fraction), pyodideURL and
 * wheelURL (where Pyodide and webjit's wheel are served; by default /pyodide/ and
 * /compiler/webjit.whl of this origin, as `webjit serve` serves them), and any option of
 * webjit.load.
 */
export async function compileInBrowser(onnx, options = {}) {
  const { shapes, dims, backend = 'auto', tune = 'off', weights, deflate, constants, name, onProgress = () => {},
    pyodideURL, wheelURL, ...loadOptions } = options;
  const { zip, report } = await compileBundle(onnx, { shapes, dims, backend, tune, weights, deflate, constants, name,
    onProgress, pyodideURL, wheelURL });
  onProgress('loading the bundle', 1);
  const files = await readZip(zip, 'the compiled bundle');
  const session = await load(files, { ...loadOptions, backend, tune });
  session.compiled = { files, report, zip: () => new Blob([zip], { type: 'application/zip' }) };
  return session;
}

/** compileInBrowser without the load: resolves to {zip: the bundle's zip bytes, report}. */
export async function compileBundle(onnx, { shapes, dims, backend = 'auto', tune = 'off', weights, deflate, constants,
  name, onProgress = () => {}, pyodideURL, wheelURL } = {}) {
  if (!BACKENDS.includes(backend)) {
    throw new WebjitError(`unknown backend ${JSON.stringify(backend)}; use 'wasm', 'webgpu' or 'auto'`);
  }
  if (typeof onProgress !== 'function') throw new WebjitError('onProgress must be a function');
  const bytes = await modelBytes(onnx);
  const request = { backends: backend === 'auto' ? ['wasm', 'webgpu'] : [backend], jit: tune !== 'off' };
  for (const [key, value] of Object.entries({ shapes, dims, weights, deflate, constants, name })) {
    if (value !== undefined) request[key] = value;
  }
  const where = locations(pyodideURL, wheelURL);
  return inWorkers() ? compileInWorker(bytes, request, where, onProgress) : compileHere(bytes, request, where, onProgress);
}

async function modelBytes(onnx) {
  if (onnx instanceof Uint8Array) return onnx;
  if (onnx instanceof ArrayBuffer) return new Uint8Array(onnx);
  if (ArrayBuffer.isView(onnx)) return new Uint8Array(onnx.buffer, onnx.byteOffset, onnx.byteLength);
  if (typeof onnx?.arrayBuffer === 'function') return new Uint8Array(await onnx.arrayBuffer());
  throw new WebjitError('compileInBrowser needs the .onnx file as bytes (Uint8Array or ArrayBuffer), a Blob or a File');
}

function locations(pyodideURL, wheelURL) {
  const here = globalThis.location?.href;
  return {
    pyodideURL: pyodideURL ? String(new URL(String(pyodideURL), here)) : (here ? String(new URL('/pyodide/', here)) : undefined),
    wheelURL: wheelURL ? String(new URL(String(wheelURL), here)) : (here ? String(new URL('/compiler/webjit.whl', here)) : undefined),
  };
}

const inWorkers = () => !(IN_NODE && typeof Worker === 'undefined');

/** Asks the compiler's worker: {type, ...message} in, the 'done' message out. */
function askWorker(message, transfer, onProgress) {
  shared ??= new Worker(new URL('./compile_worker.js', import.meta.url), { type: 'module' });
  const worker = shared;
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const listen = ({ data }) => {
      if (data.id !== id) return;
      if (data.type === 'progress') {
        onProgress(data.message, data.fraction);
        return;
      }
      worker.removeEventListener('message', listen);
      if (data.type === 'done') resolve(data);
      else reject(new WebjitError(data.message));
    };
    worker.addEventListener('message', listen);
    worker.addEventListener('error', (event) => reject(new WebjitError(
      `the compiler's worker failed to start (${event.message ?? 'a script error'}); check that ${import.meta.url} ` +
      'and its neighbours are served')), { once: true });
    worker.postMessage({ ...message, id }, transfer);
  });
}

async function compileInWorker(bytes, request, where, onProgress) {
  const copy = bytes.slice();  // transferred: the caller keeps its own bytes
  const { zip, report } = await askWorker({ type: 'compile', onnx: copy, request, ...where }, [copy.buffer], onProgress);
  return { zip, report };
}

async function hereCompiler(where) {
  if (!where.wheelURL) {
    throw new WebjitError('the compiler in Node needs wheelURL (a file:// URL of webjit\'s wheel) and pyodideURL');
  }
  shared ??= startCompiler(where);
  return shared;
}

async function compileHere(bytes, request, where, onProgress) {
  const compiler = await hereCompiler(where);
  onProgress('compiler ready', 0);
  const result = compiler.compile(bytes, request, onProgress);
  return { zip: result.bundle, report: { stages: result.stages, kernels: result.kernels, seconds: result.seconds,
    python: compiler.python, startMs: compiler.startMs, installMs: compiler.installMs } };
}

/**
 * WASM code of a symbolic bundle's kernels at the sizes `dims`, from the in-browser compiler
 * (the same worker and options as compileInBrowser): {kernels: [{kernel, bytes, config}], seconds}.
 */
export async function specialiseKernels(manifestText, dims, { pyodideURL, wheelURL } = {}) {
  const where = locations(pyodideURL, wheelURL);
  if (inWorkers()) return (await askWorker({ type: 'specialise', manifest: manifestText, dims, ...where }, [], () => {})).result;
  return (await hereCompiler(where)).specialise(manifestText, dims);
}

