// The kernel timer: a per-kernel profile of the model, and the measurement of candidate
// kernels (other schedules of the same spec) against the kernel a session runs now, each
// candidate's whole output checked before its time counts. The same code serves
// `webjit run --profile`, `webjit tune` and the in-browser JIT; it talks to a backend only
// through its `ops` (wasm.js, webgpu.js).
import { WebjitError } from './errors.js';
import { readVerified } from './source.js';

const F32_SENTINEL = 0x7fa5a5a5;  // a NaN no kernel computes: outputs a candidate skips stay it
const I32_SENTINEL = 0x5a5a5a5a;
export const CHECK_TOLERANCE = 1e-4;  // of the largest |value| of the output, for f32 outputs

/**
 * Runs the model `repeat` times with per-step timing (inputs of the session's last run) and
 * sums the fastest time of each step per kernel: {steps_ms, kernels: [{id, family, signature,
 * calls, total_ms, mean_ms, share, gflops}], sum_ms, run_ms, run_steps_ms}. run_ms is the
 * fastest profiled run measured whole (inputs written, every step, the last one done), and
 * run_steps_ms the sum of its own steps: the two differ by what a run costs beside its kernels.
 * `skipped` lists the steps this session leaves out (Im2Col steps of implicit convolutions).
 */
export async function profileKernels(manifest, ops, repeat = 1) {
  const steps = new Array(manifest.steps.length).fill(Infinity);
  let run = { wall: Infinity, sum: 0 };
  for (let r = 0; r < Math.max(1, repeat); r++) {
    const start = globalThis.performance.now();
    const times = await ops.profileSteps();
    const wall = globalThis.performance.now() - start;
    if (wall < run.wall) run = { wall, sum: times.reduce((a, b) => a + b, 0) };
    times.forEach((t, i) => { steps[i] = Math.min(steps[i], t); });
  }
  const byKernel = manifest.kernels.map((k) => ({ id: k.id, family: k.family, signature: k.signature,
    calls: 0, total_ms: 0, flops: k.flops ?? 0 }));
  manifest.steps.forEach((step, i) => {
    byKernel[step.kernel].calls += 1;
    byKernel[step.kernel].total_ms += steps[i];
  });
  const sum = steps.reduce((a, b) => a + b, 0);
  const kernels = byKernel.map(({ flops, ...k }) => ({
    ...k, mean_ms: k.calls ? k.total_ms / k.calls : 0, share: sum > 0 ? k.total_ms / sum : 0,
    gflops: flops && k.total_ms > 0 ? (flops * k.calls) / (k.total_ms * 1e6) : null,
  }));
  return { steps_ms: steps, kernels, sum_ms: sum, run_ms: run.wall, run_steps_ms: run.sum, timer: ops.timer,
    skipped: ops.skipped };
}

/** Byte ranges of a step's arguments: [{arg, tensor, bytes, output, dtype}]. */
function argRanges(manifest, stepIndex) {
  const step = manifest.steps[stepIndex];
  const kernel = manifest.kernels[step.kernel];
  return step.args.map((tensor, arg) => ({
    arg, tensor, bytes: 4 * kernel.args[arg].size, output: kernel.args[arg].output,
    dtype: kernel.args[arg].dtype,
  }));
}

function sentinelBytes(range) {
  const words = new Uint32Array(range.bytes / 4).fill(range.dtype === 'f32' ? F32_SENTINEL : I32_SENTINEL);
  return new Uint8Array(words.buffer);
}

async function restore(ops, ranges, snapshot, fill) {
  for (const r of ranges) await ops.write(r.tensor, 0, snapshot[r.arg]);
  if (fill) for (const r of ranges) if (r.output) await ops.write(r.tensor, 0, sentinelBytes(r));
}

async function readOutputs(ops, ranges) {
  const out = [];
  for (const r of ranges) if (r.output) out.push({ range: r, bytes: await ops.read(r.tensor, 0, r.bytes) });
  return out;
}

/** Why `got` differs from `want` (same outputs of one step), or null when it agrees. */
export function compareOutputs(got, want) {
  for (let o = 0; o < want.length; o++) {
    const { range } = want[o];
    if (range.dtype === 'i32') {
      const a = new Int32Array(got[o].bytes.buffer), b = new Int32Array(want[o].bytes.buffer);
      for (let i = 0; i < b.length; i++) {
        if (a[i] !== b[i]) return `output ${range.arg} differs at element ${i} (${a[i]} instead of ${b[i]})`;
      }
      continue;
    }
    const a = new Float32Array(got[o].bytes.buffer), b = new Float32Array(want[o].bytes.buffer);
    let scale = 0;
    for (let i = 0; i < b.length; i++) if (Number.isFinite(b[i])) scale = Math.max(scale, Math.abs(b[i]));
    const tolerance = CHECK_TOLERANCE * scale + 1e-30;
    for (let i = 0; i < b.length; i++) {
      const x = a[i], y = b[i];
      if (Number.isNaN(y) ? !Number.isNaN(x) : !(Math.abs(x - y) <= tolerance || x === y)) {
        return `output ${range.arg} differs at element ${i} (${x} instead of ${y}, tolerance ${tolerance.toPrecision(3)})`;
      }
    }
  }
  return null;
}

const SAMPLE_MS = 0.5;  // one sample lasts at least this long: far above the clock's resolution
const QUICK = { minTimeMs: 0, minReps: 1, maxReps: 1 };  // the first sample of every candidate
const MAX_INNER = 1024;

/** Samples of a kernel for ~minTimeMs after a warm-up, within [minReps, maxReps] samples of
 * enough calls each to last SAMPLE_MS (found by doubling); the minimum and median per call. */
async function timeSlot(ops, slot, stepIndex, { minTimeMs = 20, minReps = 3, maxReps = 50 } = {}) {
  let inner = 1, total = 0;
  for (;;) {  // the first pass is also the warm-up
    total = (await ops.timeKernel(slot, stepIndex, 1, inner))[0] * inner;
    if (total >= SAMPLE_MS || inner >= MAX_INNER) break;
    inner = Math.min(MAX_INNER, inner * (total > 0 ? Math.max(2, Math.ceil(1.2 * SAMPLE_MS / total)) : 16));
  }
  const reps = Math.max(minReps, Math.min(maxReps, Math.ceil(minTimeMs / Math.max(total, 1e-3))));
  const times = await ops.timeKernel(slot, stepIndex, reps, inner);
  return { min_ms: Math.min(...times), median_ms: median(times), reps, inner };
}

function median(values) {
  const v = values.slice().sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * Measures candidates of kernel `kernelId` against the code it runs now, on the inputs its
 * first step sees in the session's last run. `candidates` are {file, bytes, sha256, config,
 * dispatch?, entry?} read through `source` (a bundle reader). Each candidate is compiled
 * and run twice on the step's arguments, once with its outputs filled with a sentinel
 * (elements it fails to write stay the sentinel) and once with them as the model left them
 * (for kernels that read their outputs, an in-place epilogue), and must agree with the
 * current kernel both times; only then is it timed: one quick sample each, then full
 * timing for the `refine` (default 4) quickest. The current kernel is timed in full before
 * and after the candidates (the machine's load drifts) and its better time counts.
 * A convolution's GEMM (a step with a `source`, its Im2Col step) is compared whole: forms
 * that read the columns are charged the Im2Col step's time, implicit forms pack their own.
 * Options: minTimeMs (of a full timing), maxReps, refine, budgetMs, currentConfig.
 * Returns {kernel, step, current: {min_ms, ...}, columns_ms, results: [{config, ok, error?, min_ms?}]}.
 */
export async function measureCandidates(manifest, ops, kernelId, candidates, source, options = {}) {
  const kernel = manifest.kernels[kernelId];
  if (!kernel) throw new WebjitError(`this bundle has no kernel ${kernelId}`);
  const stepIndex = manifest.steps.findIndex((s) => s.kernel === kernelId);
  if (stepIndex < 0) throw new WebjitError(`kernel ${kernelId} runs in no step`);
  const deadline = options.budgetMs ? globalThis.performance.now() + options.budgetMs : Infinity;
  const current = ops.slotOf(kernelId);
  await ops.runSteps(0, stepIndex);  // the step's inputs as the model computes them
  const columnsStep = manifest.steps[stepIndex].source;
  const columnsSlot = columnsStep === undefined ? null : ops.slotOf(manifest.steps[columnsStep].kernel);
  if (columnsSlot !== null) await ops.runKernel(columnsSlot, columnsStep);  // also where an implicit form skips it
  const ranges = argRanges(manifest, stepIndex);
  const snapshot = {};
  for (const r of ranges) snapshot[r.arg] = await ops.read(r.tensor, 0, r.bytes);
  const reference = {};
  for (const fill of [true, false]) {
    await restore(ops, ranges, snapshot, fill);
    await ops.runKernel(current, stepIndex);
    reference[fill] = await readOutputs(ops, ranges);
  }
  const timing = { minTimeMs: options.minTimeMs, maxReps: options.maxReps };
  const currentTimes = [await timeSlot(ops, current, stepIndex, timing)];
  const results = [];
  for (const candidate of candidates) {
    if (globalThis.performance.now() > deadline) {
      results.push({ config: candidate.config, ok: false, skipped: true, error: 'the time budget ran out' });
      continue;
    }
    results.push(await measureOne(ops, kernelId, candidate, source, { stepIndex, ranges, snapshot, reference }));
  }
  const quickest = results.filter((r) => r.ok).sort((a, b) => a.min_ms - b.min_ms).slice(0, options.refine ?? 4);
  for (const result of quickest) {
    if (globalThis.performance.now() > deadline) break;
    const full = await timeSlot(ops, result.slot, stepIndex, timing);
    Object.assign(result, full, { min_ms: Math.min(result.min_ms, full.min_ms), refined: true });
  }
  await restore(ops, ranges, snapshot, false);
  currentTimes.push(await timeSlot(ops, current, stepIndex, timing));  // before and after: load drifts
  const best = currentTimes.reduce((a, b) => (b.min_ms < a.min_ms ? b : a));
  let columnsMs = null;
  if (columnsSlot !== null) {
    columnsMs = (await timeSlot(ops, columnsSlot, columnsStep, timing)).min_ms;
    const charge = (entry, config) => { if (!config?.implicit) entry.min_ms += columnsMs; };
    charge(best, options.currentConfig);
    for (const result of results) if (result.ok) charge(result, result.config);
  }
  return { kernel: kernelId, step: stepIndex, current: best, columns_ms: columnsMs, results };
}

async function measureOne(ops, kernelId, candidate, source, { stepIndex, ranges, snapshot, reference }) {
  const result = { config: candidate.config, file: candidate.file, ok: false };
  let slot;
  try {
    const bytes = await readVerified(source, candidate);
    slot = await ops.add(await ops.compile(bytes, candidate.file, kernelId, candidate));
  } catch (err) {
    return { ...result, stage: 'compile', error: String(err?.message ?? err) };
  }
  try {
    for (const fill of [true, false]) {
      await restore(ops, ranges, snapshot, fill);
      await ops.runKernel(slot, stepIndex);
      const wrong = compareOutputs(await readOutputs(ops, ranges), reference[fill]);
      if (wrong) return { ...result, stage: 'check', error: wrong };
    }
    return { ...result, ok: true, slot, ...await timeSlot(ops, slot, stepIndex, QUICK) };
  } catch (err) {
    return { ...result, stage: 'run', error: String(err?.message ?? err) };
  }
}
