// The step loop every thread runs, and the barrier that separates steps when several
// threads share the memory. The barrier lives in the control area at the start of the
// memory: Int32 words [generation, arrived, failed].
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
  const message = `step ${index}${name} failed in kernel ${step.kernel}: ${err?.message ?? err}`;
  return new Error(message, { cause: err });
}

/** Runs every step on the calling thread alone. */
export function runSingle(runs, steps) {
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    try {
      runs[step.kernel](...step.args, 0, 1);
    } catch (err) {
      throw stepFailure(step, i, err);
    }
  }
}

/**
 * Runs every step as thread `tid` of `nthreads`, a barrier after each. After a failure in
 * any thread the others skip the remaining kernels but still meet every barrier, so none
 * is left waiting. Returns {last, error}: last is true in the thread that finished last.
 */
export function runShare(runs, steps, control, tid, nthreads) {
  let error = null, last = false;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    if (!Atomics.load(control, FAILED)) {
      try {
        runs[step.kernel](...step.args, tid, nthreads);
      } catch (err) {
        error = stepFailure(step, i, err);
        Atomics.store(control, FAILED, 1);
      }
    }
    last = barrier(control, nthreads);
  }
  if (steps.length === 0) last = barrier(control, nthreads);
  return { last, error };
}
