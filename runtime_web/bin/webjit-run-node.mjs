#!/usr/bin/env node
// Runs a webjit bundle in Node on .npy inputs and writes .npy outputs:
//   node bin/webjit-run-node.mjs BUNDLE_DIR --inputs DIR --outputs DIR
//        [--backend wasm|webgpu|auto] [--threads N] [--repeat N]
// Prints one JSON line: {"backend", "backendNote", "threads", "threadNote", "latency_ms", "load_ms",
// "load_memory": session.weights and the peak JS memory and RSS seen while loading}.
// WebGPU comes from the webgpu package (Dawn); on Linux without a GPU it needs
// LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load, WebjitError } from '../src/node.js';
import { npyFile, readNpy, writeNpy } from '../src/npy.js';
import { timeRuns } from '../src/bench.js';

const USAGE = 'usage: webjit-run-node.mjs BUNDLE_DIR --inputs DIR --outputs DIR ' +
  '[--backend wasm|webgpu|auto] [--threads N] [--repeat N] [--limits JSON]';
const HELP = `${USAGE}

Runs a webjit bundle on the .npy files of --inputs (one per model input, named as the input) and
writes one .npy per output into --outputs; prints one JSON line with the backend, threads and times.
  --backend   wasm (default), webgpu (needs the npm webgpu package) or auto
  --threads   WASM threads: auto (default) or a number
  --repeat    after a warm-up run, run N times and report the median latency (default 1)
  --limits    WebGPU limits forced below the adapter's, as JSON: '{"maxComputeInvocationsPerWorkgroup": 64}'
  --help      print this and exit`;
const BACKENDS = ['wasm', 'webgpu', 'auto'];

function parseArgs(argv) {
  const args = { backend: 'wasm', threads: 'auto', repeat: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--help' || flag === '-h') {
      process.stdout.write(HELP + '\n');
      process.exit(0);
    }
    if (!flag.startsWith('--')) {
      if (args.bundle) throw new WebjitError(`unexpected argument ${flag}; ${USAGE}`);
      args.bundle = flag;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new WebjitError(`${flag} needs a value; ${USAGE}`);
    if (flag === '--inputs') args.inputs = value;
    else if (flag === '--outputs') args.outputs = value;
    else if (flag === '--backend') args.backend = backend(value);
    else if (flag === '--threads') args.threads = value === 'auto' ? 'auto' : positive(flag, value);
    else if (flag === '--repeat') args.repeat = positive(flag, value);
    else if (flag === '--limits') args.limits = limitsOption(value);
    else throw new WebjitError(`unknown option ${flag}; ${USAGE}`);
  }
  if (!args.bundle || !args.inputs || !args.outputs) throw new WebjitError(USAGE);
  return args;
}

/** --limits '{"maxComputeInvocationsPerWorkgroup": 64, ...}': WebGPU limits forced below the adapter's. */
function limitsOption(value) {
  let limits;
  try {
    limits = JSON.parse(value);
  } catch {
    throw new WebjitError(`--limits must be a JSON object of WebGPU limit names and numbers, not ${value}`);
  }
  if (!limits || typeof limits !== 'object' || Object.values(limits).some((v) => !Number.isInteger(v) || v < 1)) {
    throw new WebjitError(`--limits must be a JSON object of WebGPU limit names and positive integers, not ${value}`);
  }
  return limits;
}

function backend(value) {
  if (!BACKENDS.includes(value)) throw new WebjitError(`--backend must be wasm, webgpu or auto, not ${value}`);
  return value;
}

/**
 * The GPU object of the webgpu package, or {note} saying why there is none: for backend
 * 'webgpu' that is an error, for 'auto' load() then runs on WASM and says so itself.
 */
async function nodeGpu(backendName) {
  let webgpu;
  try {
    webgpu = await import('webgpu');
  } catch (err) {
    const reason = `the webgpu package is not installed (${err.code ?? err.message})`;
    if (backendName === 'webgpu') {
      const runtime = fileURLToPath(new URL('..', import.meta.url));
      throw new WebjitError(`${reason}; run npm install webgpu@0.6.2 in ${runtime}, or use --backend wasm`);
    }
    return { note: `${reason}; running on WASM` };
  }
  Object.assign(globalThis, webgpu.globals);  // GPUBufferUsage and friends, as in a browser
  return { gpu: webgpu.create([]) };
}

function noAdapter(reason) {
  return new WebjitError(`${reason}; without a GPU on Linux set LD_LIBRARY_PATH=/usr/lib/chromium and ` +
    'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader), or use --backend wasm');
}

function positive(flag, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new WebjitError(`${flag} must be a positive integer, not ${value}`);
  }
  return n;
}

async function readInput(dir, name) {
  const path = join(dir, npyFile(name));
  let bytes;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new WebjitError(`cannot read input '${name}' from ${path} (${err.code ?? err.message})`);
  }
  const { shape, data } = readNpy(bytes, path);
  return { shape, data };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const start = performance.now();
  const { gpu, note } = args.backend === 'wasm' ? {} : await nodeGpu(args.backend);
  // JS memory (heap + ArrayBuffers and other external memory), sampled at every progress event.
  const before = process.memoryUsage();
  let peakJs = 0, peakRss = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakJs = Math.max(peakJs, m.heapUsed + m.external);
    peakRss = Math.max(peakRss, m.rss);
  };
  const session = await load(args.bundle, { backend: args.backend, threads: args.threads, gpu, limits: args.limits,
    onProgress: sample })
    .catch((err) => { throw err.reason?.startsWith('no WebGPU adapter') ? noAdapter(err.reason) : err; });
  sample();
  const loadMs = performance.now() - start;
  const loadMemory = { ...session.weights, js_before_bytes: before.heapUsed + before.external,
    peak_js_bytes: peakJs, peak_rss_bytes: peakRss };
  const backendNote = note ?? session.backendNote;
  try {
    const feeds = {};
    for (const { name } of session.inputs) feeds[name] = await readInput(args.inputs, name);
    const { outputs, latency_ms } = await timeRuns(session, feeds, args.repeat);
    await mkdir(args.outputs, { recursive: true });
    for (const [name, tensor] of Object.entries(outputs)) {
      await writeFile(join(args.outputs, npyFile(name)), writeNpy(tensor));
    }
    const report = { backend: session.backend, backendNote, threads: session.threads,
      threadNote: session.threadNote, latency_ms, load_ms: loadMs, load_memory: loadMemory };
    console.log(JSON.stringify(report));
  } finally {
    session.release();
  }
}

// Exits explicitly: Dawn's device keeps the event loop alive.
main().then(() => process.exit(0), (err) => {
  if (err instanceof WebjitError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
