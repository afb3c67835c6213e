// The worker compileInBrowser (compile.js) starts: the compiler runs here, so the page stays
// responsive. Messages in: {type: 'compile', id, onnx, request, pyodideURL, wheelURL} or
// {type: 'specialise', id, manifest, dims, pyodideURL, wheelURL}. Out: {type: 'progress', id,
// message, fraction}, {type: 'done', id, zip, report} (or {..., result} for 'specialise'), or
// {type: 'error', id, message}.
import { startCompiler } from './pyodide_compiler.js';

let compiler = null;  // a promise of the started compiler, kept for the next model

self.onmessage = async ({ data }) => {
  const { id } = data;
  try {
    compiler ??= startCompiler({ pyodideURL: data.pyodideURL, wheelURL: data.wheelURL })
      .catch((err) => { compiler = null; throw err; });  // a failed start is tried again next time
    const ready = await compiler;
    self.postMessage({ type: 'progress', id, message: 'compiler ready', fraction: 0,
      startMs: ready.startMs, installMs: ready.installMs });
    if (data.type === 'specialise') {
      const result = ready.specialise(data.manifest, data.dims);
      self.postMessage({ type: 'done', id, result }, result.kernels.map((k) => k.bytes.buffer));
      return;
    }
    const result = ready.compile(data.onnx, data.request,
      (message, fraction) => self.postMessage({ type: 'progress', id, message, fraction }));
    const report = { stages: result.stages, kernels: result.kernels, seconds: result.seconds, python: ready.python,
      startMs: ready.startMs, installMs: ready.installMs };
    self.postMessage({ type: 'done', id, zip: result.bundle, report }, [result.bundle.buffer]);
  } catch (err) {
    self.postMessage({ type: 'error', id, message: err?.message ?? String(err) });
  }
};
