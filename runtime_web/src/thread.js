// One thread of the pool: instantiates the kernels over the shared memory, then runs its
// share of each task the main thread posts (steps of the model, or repetitions of one
// kernel for the timer). Started by worker.js (browsers) or worker_node.js (Node).
import { FAILED, runShare, stepTask, timeShare } from './steps.js';

let thread = null;
let post = null;

function instantiate(module, memory) {
  return new WebAssembly.Instance(module, { env: { memory } }).exports.run;
}

function init({ tid, nthreads, memory, modules, steps, controlBytes, clock }) {
  try {
    const runs = modules.map((module) => (module ? instantiate(module, memory) : undefined));  // dropped: none
    const control = new Int32Array(memory.buffer, 0, controlBytes / 4);
    const slots = modules.map((_, i) => i);  // kernel id -> index into runs
    thread = { tid, nthreads, runs, slots, steps, control, memory, clock: new Float64Array(clock) };
    post({ ready: tid });
  } catch (err) {
    post({ initError: String(err?.message ?? err), tid });
  }
}

function add({ slot, module }) {
  try {
    thread.runs[slot] = instantiate(module, thread.memory);
    post({ added: slot, tid: thread.tid });
  } catch (err) {
    post({ addError: String(err?.message ?? err), slot, tid: thread.tid });
  }
}

function task({ id, from, to, timed, slot, args, reps, inner }) {
  const { runs, slots, steps, control, tid, nthreads, clock } = thread;
  const { done, error } = slot === undefined
    ? runShare(stepTask(runs, slots, steps, from, to, timed ? clock : null), control, tid, nthreads)
    : timeShare(runs, slot, args, reps, inner, control, tid, nthreads, clock);
  if (error) post({ runError: error.message, id, tid });
  if (done) post({ done: id, failed: Atomics.load(control, FAILED) === 1 });
}

function onMessage(message) {
  if (message.init) init(message.init);
  else if (message.task) task(message.task);
  else if (message.add) add(message.add);
  else if (message.use) thread.slots[message.use.kernel] = message.use.slot;
  else if ('drop' in message) thread.runs[message.drop] = undefined;
}

/** Serves the pool over a port: `send(message)` posts to the main thread, `listen(handler)`
 * calls handler(message) for each message from it. */
export function serve(send, listen) {
  post = send;
  listen(onMessage);
}
