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

/** Byte ranges of a step's arguments: [{arg, tensor, bytes, output, dtype, arena}]. */
export function argRanges(manifest, stepIndex) {
  const step = manifest.steps[stepIndex];
  const kernel = manifest.kernels[step.kernel];
  return step.args.map((tensor, arg) => ({
    arg, tensor, bytes: 4 * kernel.args[arg].size, output: kernel.args[arg].output,
    dtype: kernel.args[arg].dtype, arena: manifest.tensors[tensor].region === 'arena',
  }));
}

/** The arena arguments of a step (weights never change, so a snapshot leaves them out). */
export const snapshotRanges = (manifest, stepIndex) => argRanges(manifest, stepIndex).filter((r) => r.arena);

function sentinelBytes(range) {
  const words = new Uint32Array(range.bytes / 4).fill(range.dtype === 'f32' ? F32_SENTINEL : I32_SENTINEL);
  return new Uint8Array(words.buffer);
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
const QUICK = { minTimeMs: 0, minReps: 2, maxReps: 2 };  // the first samples of every candidate (min of 2)
const MAX_INNER = 1024;

/** Samples of a kernel for ~minTimeMs after a warm-up, within [minReps, maxReps] samples of
 * enough calls each to last SAMPLE_MS (found by doubling); the minimum and median per call. */
export async function timeSlot(ops, slot, stepIndex, { minTimeMs = 20, minReps = 3, maxReps = 50 } = {}) {
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
 * One kernel on one step's data, for measuring other code of the same kernel against it:
 * the arena arguments of the kernel's first step as the model leaves them just before that
 * step (`snapshot`, {arg: bytes}, e.g. captured during a run; without one the steps before
 * it are run on the inputs of the session's last run), and the current kernel's outputs on
 * them, computed twice: with its outputs filled with a sentinel (elements a kernel fails to
 * write stay the sentinel) and with them as the model left them (for kernels that read their
 * outputs, an in-place epilogue). Each method restores the snapshot first, so runs of the
 * model may come between calls (the JIT runs one call per slice of the run queue).
 */
export class Trial {
  static async open(manifest, ops, kernelId, { snapshot = null, columns = false } = {}) {
    const kernel = manifest.kernels[kernelId];
    if (!kernel) throw new WebjitError(`this bundle has no kernel ${kernelId}`);
    const stepIndex = manifest.steps.findIndex((s) => s.kernel === kernelId);
    if (stepIndex < 0) throw new WebjitError(`kernel ${kernelId} runs in no step`);
    const trial = new Trial(manifest, ops, kernelId, stepIndex);
    if (!snapshot) {
      await ops.runSteps(0, stepIndex);  // the step's inputs as the model computes them
      if (columns && trial.columnsStep !== undefined) {  // also where an implicit form skips it
        await ops.runKernel(ops.slotOf(manifest.steps[trial.columnsStep].kernel), trial.columnsStep);
      }
      snapshot = {};
      for (const r of trial.ranges) snapshot[r.arg] = await ops.read(r.tensor, 0, r.bytes);
    }
    trial.snapshot = snapshot;
    for (const fill of [true, false]) {
      await trial.restore(fill);
      await ops.runKernel(trial.current, stepIndex);
      trial.reference[fill] = await readOutputs(ops, trial.ranges);
    }
    return trial;
  }

  constructor(manifest, ops, kernelId, stepIndex) {
    this.manifest = manifest;
    this.ops = ops;
    this.kernel = kernelId;
    this.step = stepIndex;
    this.current = ops.slotOf(kernelId);
    this.ranges = snapshotRanges(manifest, stepIndex);
    this.columnsStep = manifest.steps[stepIndex].source;
    this.snapshot = null;
    this.reference = {};
    this.currentTimes = [];
  }

  /** Puts the snapshot back; with `fill`, the outputs become the sentinel. */
  async restore(fill = false) {
    for (const r of this.ranges) await this.ops.write(r.tensor, 0, this.snapshot[r.arg]);
    if (fill) for (const r of this.ranges) if (r.output) await this.ops.write(r.tensor, 0, sentinelBytes(r));
  }

  /** A full timing of the current kernel; the best of all such timings is `best`. */
  async timeCurrent(timing) {
    await this.restore();
    const time = await timeSlot(this.ops, this.current, this.step, timing);
    this.currentTimes.push(time);
    return time;
  }

  /** Code `slot` (a measured candidate, `timing` its full timing) becomes the current code:
   * later candidates are timed against it (and still checked against the first's outputs). */
  adopt(slot, timing) {
    this.current = slot;
    this.currentTimes = [{ ...timing }];
  }

  get best() {
    return this.currentTimes.reduce((a, b) => (b.min_ms < a.min_ms ? b : a));
  }

  /** Why code `slot` disagrees with the current kernel on this step, or null when it agrees. */
  async check(slot) {
    for (const fill of [true, false]) {
      await this.restore(fill);
      await this.ops.runKernel(slot, this.step);
      const wrong = compareOutputs(await readOutputs(this.ops, this.ranges), this.reference[fill]);
      if (wrong) return wrong;
    }
    return null;
  }

  /** Checks code `slot` (see compiled()) and, when it agrees, takes one quick sample of it:
   * {config, file, ok, slot, min_ms, ...} or {ok: false, stage: 'check' | 'run', error}. */
  async measure(slot, candidate) {
    const result = { config: candidate.config, file: candidate.file, ok: false };
    const wrong = await this.verdict(slot);
    if (wrong) return { ...result, ...wrong };
    const timing = await this.sample(slot);
    return timing.error ? { ...result, stage: 'run', error: timing.error } : { ...result, ok: true, slot, ...timing };
  }

  /** The check of code `slot` as {stage: 'check' | 'run', error}, or null when it agrees. */
  async verdict(slot) {
    try {
      const wrong = await this.check(slot);
      return wrong ? { stage: 'check', error: wrong } : null;
    } catch (err) {
      return { stage: 'run', error: String(err?.message ?? err) };
    }
  }

  /** Quick samples of checked code `slot`: {min_ms, median_ms, reps, inner} or {error}. */
  async sample(slot) {
    try {
      await this.restore();
      return await timeSlot(this.ops, slot, this.step, QUICK);
    } catch (err) {
      return { error: String(err?.message ?? err) };
    }
  }

  /** A full timing of a measured candidate; its min_ms becomes the better of both. */
  async refine(result, timing) {
    await this.restore();
    const full = await timeSlot(this.ops, result.slot, this.step, timing);
    Object.assign(result, full, { min_ms: Math.min(result.min_ms, full.min_ms), refined: true });
    return result;
  }

  /** The time of the step's Im2Col step (a convolution's columns), or null without one. */
  async columnsMs(timing) {
    if (this.columnsStep === undefined) return null;
    const slot = this.ops.slotOf(this.manifest.steps[this.columnsStep].kernel);
    return (await timeSlot(this.ops, slot, this.columnsStep, timing)).min_ms;
  }
}

/** A candidate read (its sha256 checked) from `source` and compiled and added as a new slot of
 * kernel `kernelId`: {slot} or {error} (stage 'compile'). Touches no tensor: it may run while
 * the session runs. */
export async function compiled(ops, kernelId, candidate, source) {
  try {
    const bytes = await readVerified(source, candidate);
    return { slot: await ops.add(await ops.compile(bytes, candidate.file, kernelId, candidate)) };
  } catch (err) {
    return { error: String(err?.message ?? err) };
  }
}

/**
 * Measures candidates of kernel `kernelId` against the code it runs now, on the inputs its
 * first step sees in the session's last run (a Trial). `candidates` are {file, bytes,
 * sha256, config, dispatch?, entry?} read through `source` (a bundle reader). Each candidate
 * is compiled and checked both ways (Trial) and only then timed: one quick sample each,
 * then full timing for the `refine` (default 4) quickest. The current kernel is timed in
 * full before and after the candidates (the machine's load drifts) and its better time counts.
 * A convolution's GEMM (a step with a `source`, its Im2Col step) is compared whole: forms
 * that read the columns are charged the Im2Col step's time, implicit forms pack their own.
 * Options: minTimeMs (of a full timing), maxReps, refine, budgetMs (the candidates after the
 * first are skipped once it is spent), currentConfig.
 * Returns {kernel, step, current: {min_ms, ...}, columns_ms, results: [{config, ok, error?, min_ms?}]}.
 */
export async function measureCandidates(manifest, ops, kernelId, candidates, source, options = {}) {
  const deadline = options.budgetMs ? globalThis.performance.now() + options.budgetMs : Infinity;
  const trial = await Trial.open(manifest, ops, kernelId, { columns: true });
  const timing = { minTimeMs: options.minTimeMs, maxReps: options.maxReps };
  await trial.timeCurrent(timing);
  const results = [];
  for (const candidate of candidates) {
    // The first candidate is measured whatever the budget: on a loaded machine timing the
    // current kernel alone can spend it, and a call that compares nothing wastes that time.
    if (results.length > 0 && globalThis.performance.now() > deadline) {
      results.push({ config: candidate.config, ok: false, skipped: true, error: 'the time budget ran out' });
      continue;
    }
    const { slot, error } = await compiled(ops, kernelId, candidate, source);
    results.push(error ? { config: candidate.config, file: candidate.file, ok: false, stage: 'compile', error }
      : await trial.measure(slot, candidate));
  }
  const quickest = results.filter((r) => r.ok).sort((a, b) => a.min_ms - b.min_ms).slice(0, options.refine ?? 4);
  for (const result of quickest) {
    if (globalThis.performance.now() > deadline) break;
    await trial.refine(result, timing);
  }
  await trial.timeCurrent(timing);  // before and after: load drifts
  const best = { ...trial.best };
  const columnsMs = await trial.columnsMs(timing);
  if (columnsMs !== null) {
    const charge = (entry, config) => { if (!config?.implicit) entry.min_ms += columnsMs; };
    charge(best, options.currentConfig);
    for (const result of results) if (result.ok) charge(result, result.config);
  }
  return { kernel: kernelId, step: trial.step, current: best, columns_ms: columnsMs, results };
}
