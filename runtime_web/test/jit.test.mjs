// The JIT (src/jit.js) on hand-built bundles in Node: background tuning between runs swaps in
// the fastest correct candidate and never a wrong or broken one, the cache makes the next
// load start tuned, and release() cancels cleanly.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as webjit from '../src/node.js';
import { f32, splitKernel, tempDir, writeBundle } from './fixtures.mjs';

const opened = [];
after(() => { for (const session of opened) session.release(); });

async function open(dir, options) {
  const session = await webjit.load(dir, { backend: 'wasm', threads: 1, ...options });
  opened.push(session);
  return session;
}

const n = 4096;
const sum = `(f32.add ${f32(0)} ${f32(1)})`;

/** out = x + w computed `reps` times over (each pass adds (x + w) / reps): slow, same result. */
function slowAdd(reps) {
  return `(module
  (import "env" "memory" (memory 1 65536 shared))
  (func (export "run") (param $p0 i32) (param $p1 i32) (param $p2 i32) (param $tid i32) (param $nt i32)
    (local $i i32) (local $r i32) (local $acc f32)
    (local.set $i (local.get $tid))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (i32.const ${n})))
      (local.set $acc (f32.const 0))
      (local.set $r (i32.const 0))
      (block $rdone (loop $rnext
        (br_if $rdone (i32.ge_u (local.get $r) (i32.const ${reps})))
        (local.set $acc (f32.add (local.get $acc)
          (f32.mul ${f32(0)} (f32.const ${1 / reps}))))
        (local.set $acc (f32.add (local.get $acc)
          (f32.mul ${f32(1)} (f32.const ${1 / reps}))))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rnext)))
      (f32.store (i32.add (local.get $p2) (i32.shl (local.get $i) (i32.const 2))) (local.get $acc))
      (local.set $i (i32.add (local.get $i) (local.get $nt)))
      (br $next)))))
`;
}

/** x -> y = x + w with a slow default and the candidates given. */
function jitBundle(dir, candidates) {
  const w = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
  writeBundle(dir, {
    tensors: [{ dtype: 'f32', size: n }, { dtype: 'f32', size: n, weight: w }, { dtype: 'f32', size: n }],
    kernels: [{ wat: slowAdd(64), nargs: 3, candidates }],
    inputs: [{ name: 'x', dtype: 'float32', shape: [n], tensor: 0 }],
    outputs: [{ name: 'y', dtype: 'float32', shape: [n], tensor: 2 }],
    steps: [{ kernel: 0, args: [0, 1, 2] }],
  });
  return w;
}

const fast = { wat: splitKernel({ n, nargs: 3, value: sum }), config: { speed: 'fast' } };
const wrong = { wat: splitKernel({ n, nargs: 3, value: `(f32.add ${sum} (f32.const 0.5))` }), config: { speed: 'wrong' } };
const partial = { wat: splitKernel({ n: n / 2, nargs: 3, value: sum }), config: { speed: 'partial' } };
const broken = { bytes: new TextEncoder().encode('not a wasm module'), config: { speed: 'broken' } };
const unusable = { wat: splitKernel({ n, nargs: 3, value: sum }), config: { speed: 'needs' }, requires: ['no-such-feature'] };
const mediumRight = { wat: slowAdd(16), config: { speed: 'medium' } };

/** y = x + w within 1e-4 of the largest |x + w| (the slow kernels round differently). */
function check(y, x, w) {
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(x[i] + w[i]));
  for (let i = 0; i < n; i++) {
    if (Math.abs(y[i] - (x[i] + w[i])) > 1e-4 * scale) assert.fail(`y[${i}] is ${y[i]}, not ${x[i] + w[i]}`);
  }
}

/** Runs the session until its tuning ends (or `limit` runs), checking every output. */
async function runWhileTuning(session, w, limit = 2000) {
  let runs = 0;
  for (; runs < limit; runs++) {
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i + runs));
    const { y } = await session.run({ x });
    check(y.data, x, w);
    if (['done', 'cancelled', 'failed'].includes(session.tuning.state)) break;
  }
  return { runs };
}

for (const threads of [1, 2]) test(`background tuning swaps in the fastest correct candidate, never a wrong or broken one (${threads} thread(s))`, async () => {
  const dir = tempDir(), cache = tempDir();
  const w = jitBundle(dir, [wrong, broken, partial, unusable, mediumRight, fast]);
  const session = await open(dir, { tune: 'background', tuneBudgetMs: 5000, tuneCache: cache, threads });
  const swaps = [];
  session.addEventListener('swap', (e) => swaps.push(e.detail));
  assert.equal(session.tuning.state, 'waiting');  // for a run to capture the arguments
  assert.equal(session.tuning.candidates_total, 5);  // the one needing a missing feature is left out
  const { runs } = await runWhileTuning(session, w);
  const t = session.tuning;
  assert.equal(t.state, 'done', t.note);
  assert.ok(runs >= 2, 'tuning took turns with the runs');
  assert.equal(t.kernels_done, 1);
  assert.equal(t.swaps, 1);
  assert.equal(t.candidates_failed, 3);
  assert.deepEqual(swaps.map((s) => s.to), [{ speed: 'fast' }]);
  assert.ok(swaps[0].speedup > 1.5, `speedup ${swaps[0].speedup}`);
  assert.deepEqual(session.kernels[0].config, { speed: 'fast' });
  assert.equal(session.kernels[0].tuned, 'jit');
  assert.equal(t.kernels[0].state, 'tuned');
  assert.ok(t.longest_slice_ms > 0 && t.spent_ms <= 5000 + 200);
  const exported = session.exportTuningRecords();
  assert.equal(exported.format, 'webjit-schedules');
  assert.equal(exported.device, session.device.fingerprint);
  const [record] = exported.records;
  assert.deepEqual(record.config, { speed: 'fast' });
  assert.deepEqual(record.failed.map((f) => [f.config.speed, f.stage]).sort(),
    [['broken', 'compile'], ['partial', 'check'], ['wrong', 'check']]);
  assert.ok(record.time_ms < record.default_ms);
  const x = Float32Array.from({ length: n }, (_, i) => i / n);
  check((await session.run({ x })).y.data, x, w);

  // The next load applies the cached winner before its first run and tunes nothing.
  const file = join(cache, `${session.device.fingerprint.replace(/[^A-Za-z0-9_.-]+/g, '-')}-${threads}t.json`);
  assert.ok(existsSync(file), `the cache file ${file}`);
  assert.equal(JSON.parse(readFileSync(file)).records.length, 1);
  const again = await open(dir, { tune: 'background', tuneBudgetMs: 5000, tuneCache: cache, threads });
  assert.equal(again.kernels[0].tuned, 'cache');
  assert.deepEqual(again.kernels[0].config, { speed: 'fast' });
  assert.equal(again.tuning.state, 'done');
  assert.equal(again.tuning.kernels_cached, 1);
  check((await again.run({ x })).y.data, x, w);
  assert.equal(again.tuning.spent_ms, 0);
  assert.equal(again.tuning.slices, 0);
});

test('a second round waits for an idle page, then swaps in what it finds', async () => {
  const dir = tempDir();
  const medium = Array.from({ length: 12 }, (_, i) => ({ wat: slowAdd(32), config: { speed: `medium${i}` } }));
  const w = jitBundle(dir, [...medium, fast]);
  const session = await open(dir, { tune: 'background', tuneCache: false });
  let runs = 0;
  while (session.tuning.waiting_for !== 'idle' && session.tuning.state !== 'done' && runs++ < 5000) {
    const x = Float32Array.from({ length: n }, (_, i) => i + runs);
    check((await session.run({ x })).y.data, x, w);
  }
  assert.equal(session.tuning.waiting_for, 'idle', session.tuning.note);
  assert.equal(session.tuning.kernels[0].tried, 12);  // the first round: the cheapest-looking twelve
  assert.notDeepEqual(session.kernels[0].config, { speed: 'fast' });
  const done = await new Promise((resolve) => session.addEventListener('tuning', (e) => {
    if (e.detail.state === 'done') resolve(e.detail);
  }));
  assert.equal(done.kernels[0].tried, 13);
  assert.deepEqual(session.kernels[0].config, { speed: 'fast' });
  const x = Float32Array.from({ length: n }, (_, i) => -i);
  check((await session.run({ x })).y.data, x, w);
});

test('on-demand tuning resolves when done; a kernel that stays fastest is not swapped', async () => {
  const dir = tempDir();
  const w = jitBundle(dir, [{ wat: slowAdd(256), config: { speed: 'slower' } }, wrong]);
  const session = await open(dir, { tuneCache: false });
  assert.equal(session.tuning.state, 'ready');
  await assert.rejects(session.tune(), /run the session once before tuning/);
  const x = Float32Array.from({ length: n }, (_, i) => i);
  check((await session.run({ x })).y.data, x, w);
  const done = await session.tune();
  assert.equal(done.state, 'done');
  assert.equal(done.swaps, 0);
  assert.equal(done.kernels[0].state, 'tuned');
  assert.deepEqual(session.kernels[0].config, {});
  assert.equal(session.exportTuningRecords().records[0].config.speed, undefined);
  check((await session.run({ x })).y.data, x, w);
});

test('release() cancels tuning cleanly; a bundle without candidates says how to get them', async () => {
  const dir = tempDir();
  const w = jitBundle(dir, [mediumRight, fast]);
  const session = await open(dir, { tune: 'background', tuneCache: false });
  const ended = new Promise((resolve) => session.addEventListener('tuning', (e) => {
    if (e.detail.state === 'cancelled') resolve(e.detail);
  }));
  const x = Float32Array.from({ length: n }, (_, i) => i);
  check((await session.run({ x })).y.data, x, w);
  session.release();
  const detail = await ended;
  assert.match(detail.note, /released/);
  assert.equal(session.tuning.state, 'cancelled');

  const plain = tempDir();
  jitBundle(plain, undefined);
  const other = await open(plain, { tune: 'background', tuneCache: false });
  assert.equal(other.tuning.state, 'off');
  assert.match(other.tuning.note, /compile it with webjit compile --jit/);
  await other.run({ x });
  await assert.rejects(other.tune(), /webjit compile --jit/);
});

test('tune options are checked', async () => {
  const dir = tempDir();
  jitBundle(dir, [fast]);
  await assert.rejects(webjit.load(dir, { tune: 'always' }), /unknown tune mode "always"/);
  await assert.rejects(webjit.load(dir, { tune: 'background', tuneBudgetMs: -1 }), /tuneBudgetMs must be a positive/);
  await assert.rejects(webjit.load(dir, { tune: 'background', tuneCache: 3 }), /tuneCache option must be/);
});
