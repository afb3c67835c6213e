// The JIT (docs/jit.md): while a page uses a session, it measures candidate schedules of the
// hottest kernels on this device and swaps faster ones in. A run never waits for more than
// one slice of tuning (one kernel measured once), and no code runs in the model before its
// whole output agreed with the current kernel's on the same arguments.
//
//   plan        the hot kernels' candidates this device can run (manifest part.candidates)
//   cache       at load: the winners remembered for this device are swapped in before the
//               first run, and kernels tuned before are not tuned again (tuning_cache.js)
//   capture     the next run copies each pending kernel's arguments just before its step
//   baseline    two slices per kernel: its current code's outputs, then its time, on those arguments
//   candidates  in two rounds: every kernel's cheapest-looking few, hottest first, between
//               runs; then the rest within each kernel's share of the budget, while the page
//               is idle (or on demand). Each compiled outside the run queue; one slice
//               checks it both ways and takes two quick samples of the one checked before
//   refine      one slice each: full timings of a round's quickest and again of the current code
//   swap        one slice: the round's winner becomes the kernel's code, between two runs
import { WebjitError } from './errors.js';
import { IN_NODE } from './platform.js';
import { Trial, compiled, snapshotRanges } from './timer.js';
import { recordsFile } from './tuning_cache.js';

export const TUNE_MODES = ['off', 'background'];
export const DEFAULT_BUDGET_MS = 30000;
export const SWAP_MARGIN = 0.97;  // a winner must be at least 3% faster than the current code
const FULL = { minTimeMs: 10, minReps: 2, maxReps: 40 };  // a full timing: ~10 ms of samples, 2 at least
const REFINE = 4;  // the quickest candidates of a round get a full timing
const FIRST_ROUND = 12;  // candidates (cheapest estimates first) of each kernel's first round
// A second round measures only while the page is idle (no run for this long): its candidates
// rarely win, and compiling them slows the page's runs while it is busy (docs/jit.md).
const IDLE_MS = 250;
const CAPTURE_BYTES = 64 * 2 ** 20;  // the arguments one run copies out at most

const now = () => globalThis.performance.now();
export const configKey = (config) => JSON.stringify(Object.keys(config ?? {}).sort().map((k) => [k, config[k]]));

/** The thread count WASM candidates were pruned for that suits a pool of `threads`. */
export const threadBucket = (threads) => (threads >= 4 ? 4 : threads >= 2 ? 2 : 1);

/**
 * The kernels this session can tune and, per kernel, the code to measure against what it
 * runs now: the bundle's candidates and other forms that this device can run (requirements
 * met, pruned for this thread count), reading a convolution's columns as the current form
 * does. [{kernel, family, signature, schedule_key, calls, step, current, candidates}]
 */
export function tuningPlan(manifest, backend, forms, features, threads) {
  const bucket = threadBucket(threads);
  const usable = (c) => (c.requires ?? []).every((f) => features.includes(f)) &&
    (backend !== 'wasm' || !c.threads || c.threads.includes(bucket));
  return manifest.kernels.flatMap((k, id) => {
    const part = k[backend];
    if (!part?.candidates?.length) return [];
    const current = forms[id].form;
    const implicit = Boolean(current.config?.implicit);
    const seen = new Set([configKey(current.config)]);
    const candidates = [];
    for (const c of [...part.candidates, part, ...(part.variants ?? [])]) {
      const key = configKey(c.config);
      if (seen.has(key) || !usable(c) || Boolean(c.config?.implicit) !== implicit) continue;
      seen.add(key);
      candidates.push(c);
    }
    const steps = manifest.steps.filter((s) => s.kernel === id).length;
    const step = manifest.steps.findIndex((s) => s.kernel === id);
    return candidates.length ? [{ kernel: id, family: k.family, signature: k.signature,
      schedule_key: k.schedule_key ?? '', calls: steps, step, current, candidates }] : [];
  });
}

class Cancelled extends Error {}

/** Resolves at the next turn of the event loop: the page's events go first. */
export function nextTurn() {
  if (IN_NODE) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {  // a message, not setTimeout: no 4 ms clamp in a long loop
    const channel = new MessageChannel();
    channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
    channel.port2.postMessage(0);
  });
}

/**
 * One session's tuning. `queue(task)` runs `task` in the session's run queue (between
 * runs) and resolves to its result; `emit(type, detail)` dispatches a session event;
 * `swapped(kernel, form, how)` tells the session a kernel runs other code now.
 */
export class Tuner {
  #o; #cancelled = null; #mode = 'background'; #wake = null; #running = null; #records = new Map();
  #resume = null; #runs = 0; #lastRun = -Infinity;

  constructor({ manifest, backend, ops, forms, bundle, device, threads, budgetMs, cache, queue, emit, swapped }) {
    this.#o = { manifest, backend, ops, bundle, device, threads, budgetMs, cache, queue, emit, swapped };
    this.entries = tuningPlan(manifest, backend, forms, device.features ?? [], threads).map((e) => ({
      ...e, original: e.current, state: 'pending', snapshot: null, trial: null, failed: [], tried: 0,
      next: 0, round: 1, current_ms: null, best_ms: null, work: null }));
    const none = 'this bundle carries no JIT candidates for this backend; compile it with webjit compile --jit';
    this.progress = {
      state: this.entries.length ? 'ready' : 'off', waiting_for: null, note: this.entries.length ? '' : none,
      budget_ms: budgetMs, spent_ms: 0, slices: 0, longest_slice_ms: 0,
      longest_ms: { baseline: 0, candidate: 0, refine: 0, swap: 0 },
      kernels_total: this.entries.length, kernels_done: 0, kernels_cached: 0,
      candidates_total: this.entries.reduce((n, e) => n + e.candidates.length, 0),
      candidates_measured: 0, candidates_failed: 0, swaps: 0, cache: cache?.where ?? null,
    };
  }

  /** A copy of the progress, with one line per kernel. */
  status() {
    const kernels = this.entries.map((e) => ({ kernel: e.kernel, family: e.family, calls: e.calls, state: e.state,
      candidates: e.candidates.length, tried: e.tried, failed: e.failed.length, current_ms: e.current_ms,
      best_ms: e.best_ms, speedup: e.current_ms && e.best_ms ? e.current_ms / e.best_ms : null,
      config: e.current.config ?? null }));
    return { ...this.progress, longest_ms: { ...this.progress.longest_ms }, kernels };
  }

  get running() { return this.#running !== null && !['done', 'cancelled', 'failed'].includes(this.progress.state); }

  /** Applies the cached records of this device before the session's first run: each winner
   * found among the kernel's candidates with the same code is swapped in; a kernel with a
   * record is not tuned again. */
  async applyCache() {
    const { cache, backend, ops, bundle, swapped } = this.#o;
    if (!cache) return;
    let records;
    try {
      records = new Map((await cache.records()).map((r) => [r.signature, r]));
    } catch (err) {
      this.progress.note = `the tuning cache could not be read (${err?.message ?? err}); tuning afresh`;
      return;
    }
    for (const e of this.entries) {
      const r = records.get(e.signature);
      if (!r || r.backend !== backend) continue;
      if (configKey(r.config) !== configKey(e.current.config)) {
        const c = e.candidates.find((x) => configKey(x.config) === configKey(r.config) &&
          (!r.sha256 || r.sha256 === x.sha256));
        if (!c) continue;  // this bundle lacks that code: tune the kernel again
        const { slot, error } = await compiled(ops, e.kernel, c, bundle);
        if (error) continue;
        ops.use(e.kernel, slot);
        e.current = c;
        swapped(e.kernel, c, 'cache');
      }
      Object.assign(e, { state: 'cached', current_ms: r.default_ms, best_ms: r.time_ms, tried: r.candidates ?? 0 });
      this.#records.set(e.signature, r);
      this.progress.kernels_cached++;
      this.progress.kernels_done++;
    }
    if (this.entries.length && this.entries.every((e) => e.state !== 'pending')) {
      Object.assign(this.progress, { state: 'done', note: 'every hot kernel was tuned on an earlier visit' });
    }
  }

  /** Starts tuning ('background': measure between runs; 'demand': also run the steps
   * before a kernel itself rather than wait for a run); resolves to status() when it ends. */
  start(mode) {
    if (mode === 'demand') this.#mode = 'demand';
    this.#wake?.();
    if (!this.#running) {
      this.#running = this.entries.some((e) => e.state === 'pending') ? this.#loop() : Promise.resolve(this.status());
    }
    return this.#running;
  }

  /** Stops at the next slice; tuning that ends this way keeps the code swapped in so far. */
  cancel(reason) {
    if (this.#cancelled || ['done', 'failed', 'off'].includes(this.progress.state)) return;
    this.#cancelled = reason;
    this.#wake?.();
    if (!this.#running) this.#set('cancelled', reason);
  }

  /** The arguments the next run should copy out: [{step, ranges, entry}], ascending steps. */
  wantsCapture() {
    if (!this.running || this.#cancelled) return null;
    let bytes = 0;
    const capture = [];
    for (const e of this.entries) {
      if (e.state !== 'pending' || e.snapshot || e.trial) continue;
      const ranges = snapshotRanges(this.#o.manifest, e.step);
      const size = ranges.reduce((n, r) => n + r.bytes, 0);
      if (capture.length && bytes + size > CAPTURE_BYTES) break;
      bytes += size;
      capture.push({ step: e.step, ranges, entry: e });
    }
    return capture.length ? capture.sort((a, b) => a.step - b.step) : null;
  }

  /** After a run with a capture: its copies become the kernels' snapshots. */
  captured(capture) {
    for (const c of capture) if (c.bytes) c.entry.snapshot = c.bytes;
    this.#wake?.();
  }

  /** A run was queued: the page is not idle. */
  queued() {
    this.#runs++;
  }

  /** After every run: the next slice may go (a page that runs in a loop without yielding
   * to the event loop would otherwise never let tuning take its turn). */
  ran() {
    this.#runs--;
    this.#lastRun = now();
    this.#resume?.();
  }

  /** No run queued or running, and none for IDLE_MS. */
  get #idle() {
    return this.#runs === 0 && now() - this.#lastRun >= IDLE_MS;
  }

  /** Before each step of a second round in the background: until the page is idle (or
   * tuning is asked for on demand, or cancelled). */
  async #untilIdle() {
    if (this.#mode === 'demand' || this.#idle || this.#cancelled) return;
    this.#set('waiting', 'every kernel had its first round; the rest is measured while the page is idle', 'idle');
    while (this.#mode !== 'demand' && !this.#idle && !this.#cancelled) {
      await new Promise((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, Math.max(1, IDLE_MS - (now() - this.#lastRun)));
      });
      this.#wake = null;
    }
    if (this.#cancelled) throw new Cancelled();
    this.#set('tuning', '');
  }

  /** Between slices: the next turn of the event loop, or the end of the next run. */
  #pause() {
    return new Promise((resolve) => {
      this.#resume = resolve;
      nextTurn().then(resolve);
    }).finally(() => { this.#resume = null; });
  }

  /** The records this session holds (cached and measured), in the schedules/ file format. */
  exportRecords() {
    return recordsFile(this.#o.device.fingerprint, [...this.#records.values()]);
  }

  #set(state, note = this.progress.note, waitingFor = null) {
    const changed = state !== this.progress.state || waitingFor !== this.progress.waiting_for;
    Object.assign(this.progress, { state, note, waiting_for: waitingFor });
    if (changed) this.#o.emit('tuning', this.status());
  }

  async #loop() {
    this.#set('tuning', '');
    try {
      for (;;) {
        if (this.#cancelled) throw new Cancelled();
        const pending = this.entries.filter((e) => e.state === 'pending');
        if (!pending.length) {
          this.#set('done', 'every hot kernel is tuned');
          break;
        }
        if (this.progress.spent_ms >= this.#o.budgetMs) {
          const untuned = pending.filter((e) => e.round === 1);
          for (const e of pending) {  // a kernel that had its first round keeps what it found
            e.state = e.round === 1 ? 'untuned' : 'tuned';
            if (e.state === 'tuned') await this.#finish(e);
          }
          this.#set('done', `the time budget of ${this.#o.budgetMs} ms is spent` +
            (untuned.length ? `; ${untuned.length} kernels left untuned` : ''));
          break;
        }
        const fresh = pending.find((e) => e.snapshot && !e.trial);
        const ready = pending.filter((e) => e.trial);
        if (fresh) {
          await this.#baseline(fresh, fresh.snapshot);
        } else if (ready.length) {
          const round = Math.min(...ready.map((e) => e.round));
          const turn = ready.filter((e) => e.round === round).reduce((a, b) => (b.work > a.work ? b : a));
          await this.#tuneRound(turn, pending);
        } else if (this.#mode === 'demand') {
          await this.#baseline(pending[0], null);  // runs the steps before it on the last run's inputs
        } else {
          this.#set('waiting', 'waiting for a run to capture the kernels\' arguments', 'run');
          await new Promise((resolve) => { this.#wake = resolve; });
          this.#wake = null;
          if (!this.#cancelled) this.#set('tuning', '');
        }
      }
    } catch (err) {
      for (const e of this.entries) if (e.state === 'measuring') e.state = 'pending';
      if (err instanceof Cancelled || this.#cancelled) this.#set('cancelled', this.#cancelled ?? String(err.message));
      else this.#set('failed', `tuning stopped: ${err?.message ?? err}`);
    }
    for (const e of this.entries) {
      e.trial = null;
      e.snapshot = null;
    }
    return this.status();
  }

  /** Runs `task` as one slice of the run queue and counts its time (per `kind` of slice). */
  async #slice(kind, task) {
    const result = await this.#o.queue(async () => {
      if (this.#cancelled) throw new Cancelled();
      const start = now();
      try {
        return await task();
      } finally {
        const ms = now() - start;
        this.progress.spent_ms += ms;
        this.progress.slices++;
        this.progress.longest_slice_ms = Math.max(this.progress.longest_slice_ms, ms);
        this.progress.longest_ms[kind] = Math.max(this.progress.longest_ms[kind], ms);
      }
    });
    await this.#pause();
    if (this.#cancelled) throw new Cancelled();
    return result;
  }

  /** The kernel's current code on its captured arguments (or, on demand, on the last run's
   * inputs): reference outputs and a full timing. */
  async #baseline(e, snapshot) {
    const { manifest, ops } = this.#o;
    await this.#slice('baseline', async () => { e.trial = await Trial.open(manifest, ops, e.kernel, { snapshot }); });
    await this.#slice('baseline', () => e.trial.timeCurrent(FULL));
    e.snapshot = null;
    e.current_ms = e.trial.best.min_ms;
    e.work = e.calls * e.current_ms;
  }

  /**
   * One round of a kernel: round 1 measures its FIRST_ROUND cheapest-looking candidates (every
   * kernel gets round 1, hottest first, before any gets round 2, so the big wins land early);
   * round 2 the rest, within the kernel's share of what is left of the budget (its share of
   * the measured time of the kernels left). Each round ends by timing the quickest in full
   * and swapping in the fastest when it beats the current code by the margin.
   */
  async #tuneRound(e, pending) {
    const { ops, bundle, budgetMs } = this.#o;
    e.state = 'measuring';
    const measured = pending.filter((x) => x.work !== null);
    const share = e.work / Math.max(measured.reduce((n, x) => n + x.work, 0), 1e-9);
    const first = e.round === 1;
    const stop = first ? Math.min(e.candidates.length, e.next + FIRST_ROUND) : e.candidates.length;
    const until = first ? Infinity : this.progress.spent_ms + (budgetMs - this.progress.spent_ms) * share;
    const more = () => this.progress.spent_ms < budgetMs && this.progress.spent_ms < until;
    const results = [];
    // Each candidate is fetched and compiled outside the run queue while the one before is
    // measured (runs go on meanwhile); only the wait for it counts as time spent. A slice
    // times the candidate checked in the slice before, then checks the next one: its first
    // calls (in WASM, baseline code while the optimizing tier compiles in the background)
    // are never the ones timed.
    const prepare = (c) => compiled(ops, e.kernel, c, bundle);
    let next = e.next < stop ? prepare(e.candidates[e.next]) : null;
    let checked = null;  // {candidate, slot}: agreed with the current code, not timed yet
    const sample = async () => {
      const { candidate, slot } = checked;
      checked = null;
      const timing = await e.trial.sample(slot);
      if (timing.error) {
        ops.drop(slot);
        this.#failed(e, candidate, 'run', timing.error);
      } else {
        results.push({ config: candidate.config, file: candidate.file, ok: true, slot, candidate, ...timing });
      }
    };
    try {
      while (next && (more() || e.next === 0)) {
        if (!first) await this.#untilIdle();
        const c = e.candidates[e.next++];
        const start = now();
        const { slot, error } = await next;
        this.progress.spent_ms += now() - start;
        next = e.next < stop ? prepare(e.candidates[e.next]) : null;
        if (this.#cancelled) {
          if (slot !== undefined) ops.drop(slot);
          break;
        }
        e.tried++;
        this.progress.candidates_measured++;
        if (error) {
          this.#failed(e, c, 'compile', error);
          continue;
        }
        const wrong = await this.#slice('candidate', async () => {
          if (checked) await sample();
          return e.trial.verdict(slot);
        });
        if (wrong) {
          ops.drop(slot);
          this.#failed(e, c, wrong.stage, wrong.error);
        } else {
          checked = { candidate: c, slot };
        }
      }
      if (checked && !this.#cancelled) await this.#slice('candidate', sample);
    } finally {
      if (checked) ops.drop(checked.slot);
    }
    next?.then(({ slot }) => { if (slot !== undefined) ops.drop(slot); });  // compiled, never measured
    const dropAll = () => { for (const r of results) ops.drop(r.slot); };
    if (this.#cancelled) {
      dropAll();
      throw new Cancelled();
    }
    const quickest = results.sort((a, b) => a.min_ms - b.min_ms).slice(0, REFINE);
    try {
      if (!first) await this.#untilIdle();
      for (const r of quickest) await this.#slice('refine', () => e.trial.refine(r, FULL));
      await this.#slice('refine', () => e.trial.timeCurrent(FULL));  // before and after: the load drifts
    } catch (err) {
      dropAll();
      throw err;
    }
    const before = e.trial.best.min_ms;
    const best = quickest.sort((a, b) => a.min_ms - b.min_ms)[0];
    const wins = best && best.min_ms < SWAP_MARGIN * before;
    if (wins) {
      const replaced = e.trial.current;
      await this.#slice('swap', async () => ops.use(e.kernel, best.slot));
      ops.drop(replaced);  // a candidate swapped in by round 1 (never the bundle's own code)
      e.trial.adopt(best.slot, best);
      this.#o.swapped(e.kernel, best.candidate, 'jit');
      this.progress.swaps++;
      this.#o.emit('swap', { kernel: e.kernel, family: e.family, from: e.current.config ?? null,
        to: best.config, before_ms: before, after_ms: best.min_ms, speedup: before / best.min_ms });
      e.current = best.candidate;
    }
    for (const r of results) if (!wins || r !== best) ops.drop(r.slot);
    e.best_ms = wins ? best.min_ms : before;
    e.round++;
    const finished = e.next >= e.candidates.length || e.round > 2 || this.progress.spent_ms >= budgetMs;
    e.state = finished ? 'tuned' : 'pending';
    if (finished) await this.#finish(e);
    this.#o.emit('tuning', this.status());
  }

  /** A kernel is tuned: its record goes to the session's records and the cache. */
  async #finish(e) {
    const record = this.#record(e, e.current, e.best_ms);
    e.trial = null;
    this.progress.kernels_done++;
    this.#records.set(e.signature, record);
    try {
      await this.#o.cache?.put(record);
    } catch (err) {
      this.progress.note = `the tuning cache could not be written (${err?.message ?? err})`;
    }
  }

  #failed(e, candidate, stage, reason) {
    e.failed.push({ config: candidate.config, stage, reason });
    this.progress.candidates_failed++;
  }

  /** A schedule database record (schedule_db.py) of what this kernel's tuning found: the
   * winner against the code the kernel ran before tuning, timed in the same session. */
  #record(e, winner, timeMs) {
    const { backend, device, threads, manifest } = this.#o;
    const target = backend === 'wasm'
      ? { threads: threadBucket(threads), relaxed_simd: (device.features ?? []).includes('relaxed-simd') } : {};
    return { device: device.fingerprint, backend, family: e.family, signature: e.signature,
      schedule_key: e.schedule_key, config: winner.config ?? {}, target, time_ms: timeMs,
      default_config: e.original.config ?? {}, default_ms: e.current_ms, candidates: e.tried, failed: e.failed,
      compiler: `${manifest.compiler ?? 'webjit'} (runtime JIT)`, measured: new Date().toISOString(),
      sha256: winner.sha256 };
  }
}

/** The one-sentence error of session.tune() when there is nothing to tune. */
export function nothingToTune(tuner) {
  return new WebjitError(tuner?.progress.note ||
    'this bundle carries no JIT candidates for this backend; compile it with webjit compile --jit');
}
