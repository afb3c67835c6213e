// The main thread's side of the worker pool: starts N workers over the shared memory,
// hands each the compiled kernels, and turns one task (a range of steps, or repetitions of
// one kernel for the timer) into one message round.
import { FAILED, GENERATION } from './steps.js';
import { IN_NODE, needNodeEntry, platform } from './platform.js';
import { WebjitError } from './errors.js';

const START_TIMEOUT_MS = 20000;

/** Starts one worker in one small interface: a browser Worker, or the platform's (a Node
 * worker_threads.Worker, platform_node.js). Errors before `listen` is called are kept and
 * reported to it (a worker spawned early, while the weights load, may fail before the pool listens). */
async function spawn() {
  let onMessage = null, onError = null;
  const early = [];
  const error = (err) => (onError ? onError(err) : early.push(err));
  const message = (m) => onMessage?.(m);
  const listen = (messages, errors) => {
    onMessage = messages;
    onError = errors;
    for (const err of early.splice(0)) errors(err);
  };
  if (IN_NODE) needNodeEntry('running on worker threads');
  if (platform.spawnWorker) return { ...platform.spawnWorker(error, message), listen };
  const worker = browserWorker();
  worker.addEventListener('message', (e) => message(e.data));
  worker.addEventListener('error', (e) => {
    e.preventDefault?.();
    // A script that did not load (missing, wrong MIME type, an import that fails) has no message.
    error(new Error(e.message ? `the worker ${worker.href} failed (${e.message})`
      : `the worker script ${worker.href} did not load (a bundler must emit it beside the page's script: docs/web.md)`));
  });
  worker.addEventListener('messageerror', () => error(new Error(`the worker ${worker.href} could not read its message`)));
  return { post: (m) => worker.postMessage(m), listen, hold: () => {}, terminate: () => worker.terminate() };
}

/** A browser module worker running worker.js. The expression is the one bundlers recognise
 * (Vite emits the worker and rewrites its URL; esbuild keeps it relative to the output
 * file); the local subclass keeps the URL it got, so that a failure can name it. */
function browserWorker() {
  const Worker = class extends globalThis.Worker {
    constructor(url, options) {
      super(url, options);
      this.href = String(url);
    }
  };
  return new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
}

/** Starts `n` workers now, so that their scripts load while the bundle does; pass the
 * result to startPool, or to `dismiss` when the pool is not started after all. */
export function spawnWorkers(n) {
  const spawned = Array.from({ length: n }, () => spawn());
  spawned.forEach((p) => p.catch(() => {}));  // reported by startPool
  return spawned;
}

export function dismiss(spawned) {
  for (const p of spawned ?? []) p.then((w) => w.terminate(), () => {});
}

/**
 * Starts `nthreads` workers; resolves once every worker has instantiated the kernels (or
 * rejects, after terminating them, when any cannot) to
 * {run({from, to, timed}), time(slot, args, reps, inner), add(slot, module), use(kernel, slot),
 * drop(slot), terminate()}.
 * `clock` is a SharedArrayBuffer of Float64 in which thread 0 keeps the times of timed tasks.
 * A task that has not finished after `deadlineMs` (a stuck kernel: an endless loop, a barrier
 * that never fills) is failed by the watchdog, which terminates the workers: the pool is then
 * `broken` and its owner starts a fresh one.
 */
export async function startPool({ nthreads, memory, modules, steps, controlBytes, clock, spawned = null,
  deadlineMs = Infinity }) {
  const control = new Int32Array(memory.buffer, 0, controlBytes / 4);
  const workers = [];
  let pending = null;  // the task in flight: {id, resolve, reject, failed, error}
  let adding = null;  // the kernel being added: {slot, resolve, reject, acks}
  let broken = null;
  let nextId = 0;
  let holding = 0;  // tasks and additions in flight: Node must not exit while workers owe a reply
  const hold = (change) => {
    holding += change;
    for (const w of workers) w.hold(holding > 0);
  };
  let added = Promise.resolve();  // additions one at a time (they may overlap tasks)

  const terminate = () => { for (const w of workers) w.terminate(); workers.length = 0; };
  let startup;
  const started = new Promise((resolve, reject) => { startup = { resolve, reject, ready: 0 }; });
  started.catch(() => {});  // a worker may fail before startPool awaits `started`

  function fail(err) {
    broken ??= err;
    terminate();
    startup?.reject(err);
    clearTimeout(pending?.watchdog);
    pending?.reject(err);
    pending = null;
    adding?.reject(err);
    adding = null;
  }

  function settle() {
    if (!pending?.done || (pending.failed && !pending.error)) return;
    const { resolve, reject, error, watchdog } = pending;
    clearTimeout(watchdog);
    pending = null;
    hold(-1);
    if (error) reject(error); else resolve();
  }

  function onMessage(m) {
    if ('ready' in m && startup && ++startup.ready === nthreads) { startup.resolve(); startup = null; }
    else if ('initError' in m) fail(new Error(`worker ${m.tid} could not instantiate kernels: ${m.initError}`));
    else if ('added' in m && adding?.slot === m.added && ++adding.acks === nthreads) {
      adding.resolve();
      adding = null;
    } else if ('addError' in m && adding?.slot === m.slot) {
      adding.reject(new Error(`worker ${m.tid} could not instantiate a kernel: ${m.addError}`));
      adding = null;
    }
    else if ('runError' in m && pending?.id === m.id) { pending.error ??= new WebjitError(m.runError); settle(); }
    else if ('done' in m && pending?.id === m.done) {
      Atomics.load(control, GENERATION);  // pairs with the workers' atomics: their writes are visible
      Object.assign(pending, { done: true, failed: m.failed });
      settle();
    }
  }

  try {
    for (let tid = 0; tid < nthreads; tid++) {
      const worker = await (spawned?.[tid] ?? spawn());
      workers.push(worker);
      worker.listen(onMessage, fail);
      worker.post({ init: { tid, nthreads, memory, modules, steps, controlBytes, clock } });
    }
    const late = () => fail(new Error(`workers did not start within ${START_TIMEOUT_MS / 1000} s`));
    const timeout = setTimeout(late, START_TIMEOUT_MS);
    await started.finally(() => clearTimeout(timeout));
  } catch (err) {
    fail(err);
    dismiss(spawned?.slice(workers.length));
    throw err;
  }
  for (const w of workers) w.hold(false);

  function submit(task) {
    if (broken) return Promise.reject(broken);
    return new Promise((resolve, reject) => {
      pending = { id: nextId++, resolve, reject, done: false, failed: false, error: null };
      if (Number.isFinite(deadlineMs)) {
        pending.watchdog = setTimeout(() => fail(new WebjitError(`a run did not finish within ${deadlineMs / 1000} s ` +
          '(a kernel is stuck); its worker threads were stopped and the next run starts fresh ones')), deadlineMs);
      }
      // The seq-cst store orders the main thread's input writes before the workers' reads.
      Atomics.store(control, FAILED, 0);
      hold(1);
      for (const w of workers) w.post({ task: { ...task, id: pending.id } });
    });
  }

  return {
    get broken() { return broken !== null; },
    run: ({ from = 0, to = steps.length, timed = false } = {}) => submit({ from, to, timed }),
    time: (slot, args, reps, inner = 1) => submit({ slot, args, reps, inner }),
    add(slot, module) {
      const next = added.then(() => {
        if (broken) throw broken;
        return new Promise((resolve, reject) => {
          adding = { slot, resolve, reject, acks: 0 };
          hold(1);
          for (const w of workers) w.post({ add: { slot, module } });
        }).finally(() => hold(-1));
      });
      added = next.catch(() => {});
      return next;
    },
    use(kernel, slot) {
      for (const w of workers) w.post({ use: { kernel, slot } });
    },
    drop(slot) {
      for (const w of workers) w.post({ drop: slot });
    },
    terminate,
  };
}
