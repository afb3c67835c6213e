// The tiny app each bundler builds (tests/test_bundlers.py): loads the bundle named by
// ?bundle= on two WASM threads, runs it once on a fixed input, and leaves what happened in
// window.app for the test to read.
import * as webjit from 'webjit';

const app = { done: false, error: null };
window.app = app;

async function main() {
  const params = new URLSearchParams(window.location.search);
  if (params.has('clear')) await webjit.clearCache();
  const events = [];
  const start = performance.now();
  const session = await webjit.load(params.get('bundle'), {
    backend: 'wasm', threads: 2, onProgress: (event) => events.push(event) });
  const loadMs = performance.now() - start;
  const feeds = {};
  for (const input of session.inputs) {
    const n = input.shape.reduce((a, b) => a * b, 1);
    feeds[input.name] = { data: Float32Array.from({ length: n }, (_, i) => (i % 7) / 7), shape: input.shape };
  }
  const outputs = await session.run(feeds);
  await session.cached;  // the test reloads the page at once: let the cache writes finish
  const [name] = Object.keys(outputs);
  Object.assign(app, { threads: session.threads, threadNote: session.threadNote, loadMs, events,
    output: Array.from(outputs[name].data) });
  session.release();
}

main().catch((err) => { app.error = String(err?.message ?? err); }).finally(() => { app.done = true; });
