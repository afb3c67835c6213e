// Kernels specialised to sizes a session sees often (docs/web.md, "Compiling in the page"): a
// bundle compiled with symbolic dimensions runs generic kernels that read their sizes at run
// time; the in-browser compiler can make the same kernels with the sizes as constants (and
// the schedule those sizes want). Each one is checked against the generic kernel on the last
// run's arguments (outputs agree) and timed, and the faster ones are swapped in, between
// runs, for the runs at those sizes only: any other sizes run the generic code.
import { Trial } from './timer.js';
import { SWAP_MARGIN } from './jit.js';

const FULL = { minTimeMs: 10, minReps: 2, maxReps: 40 };  // as the JIT's full timing

/** A key of a run's sizes ({dim: size}), the same whatever the order of the names. */
export const sizesKey = (env) => JSON.stringify(Object.keys(env).sort().map((name) => [name, env[name]]));

/**
 * Checks and times each specialised module ({kernel, bytes, config}) against the kernel's
 * current (generic) code on the last run's arguments, which must be at the modules' sizes.
 * Returns [{kernel, family, config, used, slot?, generic_ms?, specialised_ms?, error?}]:
 * `slot` holds the code of each one `used` (faster by the JIT's margin); the rest are dropped.
 */
export async function trySpecialised(manifest, ops, modules) {
  const results = [];
  for (const { kernel, bytes, config } of modules) {
    const result = { kernel, family: manifest.kernels[kernel].family, config, used: false };
    results.push(result);
    let slot;
    try {
      slot = await ops.add(await ops.compile(bytes, `kernel ${kernel} specialised`));
    } catch (err) {
      result.error = `compile: ${err?.message ?? err}`;
      continue;
    }
    const trial = await Trial.open(manifest, ops, kernel);
    const wrong = await trial.verdict(slot);
    if (wrong) {
      ops.drop(slot);
      result.error = `${wrong.stage}: ${wrong.error}`;
      continue;
    }
    const generic = await trial.timeCurrent(FULL);
    const mine = await trial.refine({ slot, min_ms: Infinity }, FULL);
    Object.assign(result, { generic_ms: generic.min_ms, specialised_ms: mine.min_ms,
      used: mine.min_ms < SWAP_MARGIN * generic.min_ms });
    if (result.used) result.slot = slot;
    else ops.drop(slot);
  }
  return results;
}
