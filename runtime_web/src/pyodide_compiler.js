// webjit's Python compiler in Pyodide: start Pyodide, install webjit's pure-Python wheel into
// it, and compile ONNX bytes to bundle files (compiler/webjit/browser.py). Runs in the worker
// of compile.js (browsers) or in the calling thread (Node). Pyodide comes from the page's own
// origin (or node_modules); nothing is fetched from anywhere else.
import { WebjitError } from './errors.js';
import { platform } from './platform.js';

/**
 * Starts Pyodide from `pyodideURL` (its folder: pyodide.mjs, pyodide.asm.wasm,
 * python_stdlib.zip) and unpacks the wheel at `wheelURL` (or `wheel`, its bytes) into its
 * site-packages. Resolves to a compiler: {compile(onnx, request, onProgress), startMs, installMs}.
 */
export async function startCompiler({ pyodideURL, wheelURL, wheel, loadPyodide } = {}) {
  const started = performance.now();
  let load = loadPyodide;
  if (!load) {
    if (!pyodideURL) throw new WebjitError('the in-browser compiler needs pyodideURL: the folder that serves Pyodide (npm pyodide)');
    try {
      ({ loadPyodide: load } = await import(new URL('pyodide.mjs', pyodideURL).href));
    } catch (err) {
      throw new WebjitError(`Pyodide could not be loaded from ${pyodideURL} (${err.message}); serve the pyodide ` +
        'npm package\'s files there, or pass pyodideURL');
    }
  }
  // Node's Pyodide finds its files beside its own module; a browser's is told the folder.
  const local = /^file:/i.test(String(pyodideURL ?? ''));
  const pyodide = await load(pyodideURL && !local ? { indexURL: String(pyodideURL) } : {});
  const startMs = performance.now() - started;
  const installed = performance.now();
  const bytes = wheel ?? await fetchWheel(wheelURL);
  const site = pyodide.runPython('import site; site.getsitepackages()[0]');
  pyodide.unpackArchive(bytes, 'wheel', { extractDir: site });
  let browser;
  try {
    browser = pyodide.pyimport('webjit.browser');
  } catch (err) {
    throw new WebjitError(`webjit's compiler does not import in Pyodide: ${lastLine(err.message)}`);
  }
  const installMs = performance.now() - installed;
  return {
    startMs,
    installMs,
    python: pyodide.runPython('import sys; sys.version.split()[0]'),
    /** {bundle: the bundle as zip bytes, stages, kernels, seconds} (browser.compile_for_page). */
    compile: (onnx, request = {}, onProgress = () => {}) =>
      answer(() => browser.compile_for_page(onnx, JSON.stringify(request), onProgress)),
    /** {kernels: [{kernel, bytes, config}], seconds}: the WASM code of a symbolic bundle's
     * kernels (its manifest.json text) at the sizes `dims` (browser.specialise_for_page). */
    specialise: (manifestText, dims) => answer(() => browser.specialise_for_page(manifestText, JSON.stringify(dims))),
  };
}

/** A call into browser.py as JS data; its {error} (a refusal) and Python failures as WebjitErrors. */
function answer(call) {
  let proxy;
  try {
    proxy = call();
  } catch (err) {
    throw new WebjitError(`the in-browser compiler failed: ${lastLine(err.message)}`);
  }
  const result = proxy.toJs({ dict_converter: Object.fromEntries });
  proxy.destroy();
  if (result.error) throw new WebjitError(result.error);
  return result;
}

async function fetchWheel(url) {
  if (!url) throw new WebjitError("the in-browser compiler needs wheelURL: webjit's py3-none-any wheel (webjit serve serves it at /compiler/)");
  if (/^file:/i.test(String(url)) && platform.readLocal) return platform.readLocal(url);
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw new WebjitError(`webjit's wheel could not be fetched from ${url} (${err.message})`);
  }
  if (!response.ok) throw new WebjitError(`webjit's wheel could not be fetched from ${url} (HTTP ${response.status})`);
  return new Uint8Array(await response.arrayBuffer());
}

// A Python traceback's last line is the error itself.
const lastLine = (text) => String(text).trim().split('\n').at(-1);
