// One thread of the pool: instantiates the kernels over the shared memory, then runs
// every step with its own tid for each {run} message. The same file serves browsers
// (self) and Node (worker_threads.parentPort).
import { FAILED, runShare } from './steps.js';

const IN_NODE = typeof process !== 'undefined' && Boolean(process.versions?.node);
const port = IN_NODE ? (await import('node:worker_threads')).parentPort : self;
let thread = null;

function post(message) {
  port.postMessage(message);
}

function init({ tid, nthreads, memory, modules, steps, controlBytes }) {
  try {
    const imports = { env: { memory } };
    const runs = modules.map((module) => new WebAssembly.Instance(module, imports).exports.run);
    const control = new Int32Array(memory.buffer, 0, controlBytes / 4);
    thread = { tid, nthreads, runs, steps, control };
    post({ ready: tid });
  } catch (err) {
    post({ initError: String(err?.message ?? err), tid });
  }
}

function run(id) {
  const { runs, steps, control, tid, nthreads } = thread;
  const { last, error } = runShare(runs, steps, control, tid, nthreads);
  if (error) post({ runError: error.message, id, tid });
  if (last) post({ done: id, failed: Atomics.load(control, FAILED) === 1 });
}

function onMessage(message) {
  if (message.init) init(message.init);
  else if ('run' in message) run(message.run);
}

if (IN_NODE) port.on('message', onMessage);
else self.onmessage = (event) => onMessage(event.data);
