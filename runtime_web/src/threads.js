// Decides how many threads a session uses, and says why when it is one.
import { IN_NODE } from './platform.js';

const BROWSER_DEFAULT_MAX = 4;

/** Resolves {threads, note} for a device of `cores` cores: note is a sentence when running
 * single-threaded, else null. */
export async function chooseThreads(requested, cores) {
  const single = (note) => ({ threads: 1, note });
  if (requested === 1) return single('threads: 1 was requested, running single-threaded');
  if (!IN_NODE && !globalThis.crossOriginIsolated) {
    return single('cross-origin isolation is off (no COOP/COEP headers), running single-threaded');
  }
  if (typeof SharedArrayBuffer === 'undefined') {
    return single('SharedArrayBuffer is not available here, running single-threaded');
  }
  if (!IN_NODE && typeof Worker === 'undefined') {
    return single('this environment has no Web Workers, running single-threaded');
  }
  if (requested !== 'auto' && requested > cores) {  // more workers than cores only slows every step's barrier
    if (cores <= 1) return single(`threads: ${requested} was requested but this device reports one CPU core, running single-threaded`);
    return { threads: cores, note: `threads: ${requested} was requested but this device reports ${cores} CPU cores, running ${cores} threads` };
  }
  const threads = requested === 'auto' ? (IN_NODE ? cores : Math.min(cores, BROWSER_DEFAULT_MAX)) : requested;
  if (threads <= 1) return single('this device reports one CPU core, running single-threaded');
  return { threads, note: null };
}
