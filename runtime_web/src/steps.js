// The step loop every thread runs, and the barrier that separates steps when several
// threads share the memory. The barrier lives in the control area at the start of the
// memory: Int32 words [generation, arrived, failed].
import { WebjitError } from './errors.js';

export const GENERATION = 0, ARRIVED = 1, FAILED = 2;
const SPINS = 4000;  // brief spin first: most steps are short and waking from wait costs more

/** Blocks until `nthreads` threads have arrived; returns true in the last one to arrive. */
export function barrier(control, nthreads) {
  const generation = Atomics.load(control, GENERATION);
  if (Atomics.add(control, ARRIVED, 1) === nthreads - 1) {
    // Reset before releasing, so that no released thread can arrive at the old count.
    Atomics.store(control, ARRIVED, 0);
    Atomics.add(control, GENERATION, 1);
    Atomics.notify(control, GENERATION);
    return true;
  }
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(control, GENERATION) !== generation) return false;
  }
  while (Atomics.load(control, GENERATION) === generation) Atomics.wait(control, GENERATION, generation);
  return false;
}

export function stepFailure(step, index, err) {
  const name = step.name ? ` (${step.name})` : '';
  if (err instanceof WebAssembly.RuntimeError && /unreachable/.test(err.message)) {
    // the only trap the compiler emits: an int64 result outside the i32 range (wasm/expr.py emit_checked)
    return new WebjitError(`step ${index}${name} computed an int64 value outside the int32 range the device ` +
      'holds integers in; webjit does not compute 64-bit integers, so it stopped instead of wrapping');
  }
  const message = `step ${index}${name} failed in kernel ${step.kernel}: ${err?.message ?? err}`;
  return new Error(message, { cause: err });
}

const now = () => globalThis.performance.now();

/**
 * The steps to run: steps[from..to), each calling runs[slots[step.kernel]] (slots map a kernel
 * to the code that runs it, which a tuner may swap). `clock`, when given, receives the time
 * before the first step (clock[0]) and after each step (clock[1 + i - from]).
 */
export function stepTask(runs, slots, steps, from = 0, to = steps.length, clock = null) {
  return { runs, slots, steps, from, to, clock };
}

/** Runs a task on the calling thread alone. */
export function runSingle({ runs, slots, steps, from, to, clock }) {
  if (clock) clock[0] = now();
  for (let i = from; i < to; i++) {
    const step = steps[i];
    if (step.skip) {  // every thread skips it alike: no barrier either
      if (clock) clock[1 + i - from] = now();
      continue;
    }
    try {
      runs[slots[step.kernel]](...step.args, 0, 1);
    } catch (err) {
      throw stepFailure(step, i, err);
    }
    if (clock) clock[1 + i - from] = now();
  }
}

/**
 * Runs a task as thread `tid` of `nthreads`, a barrier after each step. Thread 0 keeps the
 * clock (one thread's performance.now(): clocks of different threads do not compare) and
 * reports the end of the task, after the last barrier, when every thread is done. After
 * a failure in any thread the others skip the remaining kernels but still meet every
 * barrier, so none is left waiting. Returns {done, error}: done is true in thread 0.
 */
export function runShare({ runs, slots, steps, from, to, clock }, control, tid, nthreads) {
  let error = null;
  const timed = clock && tid === 0;
  if (timed) clock[0] = now();
  for (let i = from; i < to; i++) {
    const step = steps[i];
    if (step.skip) {  // every thread skips it alike: no barrier either
      if (timed) clock[1 + i - from] = now();
      continue;
    }
    if (!Atomics.load(control, FAILED)) {
      try {
        runs[slots[step.kernel]](...step.args, tid, nthreads);
      } catch (err) {
        error = stepFailure(step, i, err);
        Atomics.store(control, FAILED, 1);
      }
    }
    barrier(control, nthreads);
    if (timed) clock[1 + i - from] = now();
  }
  if (to <= from) barrier(control, nthreads);
  return { done: tid === 0, error };
}

/**
 * Calls runs[slot](...args) `reps` x `inner` times as thread `tid` (every thread, a barrier
 * after each call, so each call is the kernel's whole time at this thread count); thread 0
 * writes clock[0] before and clock[1 + r] after the r-th group of `inner` calls (a group
 * of calls outlasts the clock's resolution where one call would not). Returns {done, error}.
 */
export function timeShare(runs, slot, args, reps, inner, control, tid, nthreads, clock) {
  let error = null;
  if (tid === 0) clock[0] = now();
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < inner; k++) {
      if (!Atomics.load(control, FAILED)) {
        try {
          runs[slot](...args, tid, nthreads);
        } catch (err) {
          error = new Error(`timing kernel slot ${slot} failed: ${err?.message ?? err}`, { cause: err });
          Atomics.store(control, FAILED, 1);
        }
      }
      barrier(control, nthreads);
    }
    if (tid === 0) clock[1 + r] = now();
  }
  if (reps <= 0) barrier(control, nthreads);
  return { done: tid === 0, error };
}
