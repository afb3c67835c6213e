// Timing shared by the Node CLI and the browser page: the median of `repeat` runs after
// one warm-up run, or the single run when repeat is 1.

const now = () => globalThis.performance.now();

/** Runs `feeds` and resolves to {outputs, latency_ms}. */
export async function timeRuns(session, feeds, repeat = 1) {
  if (repeat <= 1) {
    const start = now();
    const outputs = await session.run(feeds);
    return { outputs, latency_ms: now() - start };
  }
  let outputs = await session.run(feeds);
  const times = [];
  for (let i = 0; i < repeat; i++) {
    const start = now();
    outputs = await session.run(feeds);
    times.push(now() - start);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { outputs, latency_ms: median };
}
