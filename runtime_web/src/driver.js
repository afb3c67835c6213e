// Commands by which a host program (webjit's Python side: `webjit tune`, `webjit run
// --profile`) drives sessions in a browser page (page/driver.html) or in Node
// (bin/webjit-driver-node.mjs): each command is plain JSON in, plain JSON out.
//   open {bundle, backend, threads, inputs, tune, tuneBudgetMs, tuneCache}
//                                            -> {session, backend, device, kernels, tuning, ...}
//   run {session, repeat}                    -> {latency_ms, min_ms, times_ms}
//   runs {session, seconds, maxRuns, untilTuned, reference}
//                                            -> runs for a while (the JIT tuning meanwhile;
//                                               untilTuned: until it ends or waits for idle):
//                                               per run {at_ms, latency_ms, wait_ms, run_ms,
//                                               difference, swaps, state}, and swap events
//   idle {session, seconds}                  -> no runs until tuning ends: {idle_ms, tuning, kernels, swaps}
//   tuning {session} / tune {session} / export {session}
//                                            -> session.tuning / session.tune() /
//                                               session.exportTuningRecords()
//   profile {session, repeat}                -> session.profile()
//   measure {session, kernel, candidates, source, options} -> session.measureCandidates()
//   compare {sessions, rounds}               -> interleaved runs: per session {min_ms, median_ms,
//                                               difference}: its outputs against the first's
//   compile {model, request, pyodideURL, wheelURL}
//                                            -> the in-browser compiler's report on the model
//                                               (compile.js), and its bundle's bytes and sha256
//   close {session}
import { load, WebjitError } from './index.js';
import { compileBundle } from './compile.js';
import { platform } from './platform.js';
import { openBundle } from './source.js';
import { npyFile, readNpy } from './npy.js';

const now = () => globalThis.performance.now();

function median(values) {
  const v = values.slice().sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Max |got - want| / max |want| over the outputs `want` names ({name: {data}} both). */
export function difference(got, want) {
  let worst = 0;
  for (const [name, { data }] of Object.entries(want)) {
    const other = got[name].data;
    let scale = 0, err = 0;
    for (let i = 0; i < data.length; i++) {
      const b = Number(data[i]), a = Number(other[i]);
      scale = Math.max(scale, Math.abs(b));
      err = Math.max(err, Number.isNaN(a) !== Number.isNaN(b) ? Infinity : Math.abs(a - b) || 0);
    }
    worst = Math.max(worst, scale > 0 ? err / scale : err);
  }
  return worst;
}

/** The bytes at `where`: a URL (fetched) or, in Node, a path. */
async function readBytes(where) {
  if (/^https?:/i.test(String(where))) {
    const response = await fetch(where);
    if (!response.ok) throw new WebjitError(`${where} could not be fetched (HTTP ${response.status})`);
    return new Uint8Array(await response.arrayBuffer());
  }
  if (platform.readLocal) return platform.readLocal(where);
  throw new WebjitError(`${where} is not a URL this page can fetch`);
}

/** {name: {dtype, data, shape}} of `names` read from their .npy files (npyFile) in the folder `where`. */
export async function readFolder(where, names) {
  const reader = await openBundle(where);
  const arrays = {};
  for (const name of names) arrays[name] = readNpy(await reader.read(npyFile(name)), npyFile(name));
  return arrays;
}

/** A driver over `loadOptions` (e.g. {gpu} in Node); `call(command)` resolves to the result. */
export function createDriver(loadOptions = {}) {
  const sessions = new Map();
  let nextId = 0;

  function session(id) {
    const entry = sessions.get(id);
    if (!entry) throw new WebjitError(`the driver has no session ${id}`);
    return entry;
  }

  async function timedRun(entry) {
    const start = now();
    entry.outputs = await entry.session.run(entry.feeds);
    return now() - start;
  }

  const commands = {
    async open({ bundle, backend = 'wasm', threads = 'auto', inputs, tune, tuneBudgetMs, tuneCache }) {
      const start = now();
      const s = await load(bundle, { ...loadOptions, backend, threads, tune, tuneBudgetMs, tuneCache });
      const swaps = [];
      s.addEventListener('swap', (e) => swaps.push({ at_ms: now() - start, ...e.detail }));
      const feeds = await readFolder(inputs, s.inputs.map((io) => io.name));
      const entry = { session: s, feeds, swaps };
      const loaded = now() - start;
      const first = await timedRun(entry);  // warm-up, and the inputs the timer uses
      const id = nextId++;
      sessions.set(id, entry);
      return { session: id, backend: s.backend, backendNote: s.backendNote, threads: s.threads,
        threadNote: s.threadNote, device: s.device, kernels: s.kernels, load_ms: loaded, first_ms: first,
        tuning: s.tuning };
    },
    async runs({ session: id, seconds = 30, maxRuns = 100000, untilTuned = false, reference }) {
      const entry = session(id);
      const want = reference ? await readFolder(reference, Object.keys(entry.outputs ?? {})) : null;
      const start = now(), runs = [];
      const ended = () => {  // tuning ended, or it measures the rest only while the page is idle
        const t = entry.session.tuning;
        return ['done', 'cancelled', 'failed', 'off'].includes(t.state) || t.waiting_for === 'idle';
      };
      while (runs.length < maxRuns && now() - start < seconds * 1000 && !(untilTuned && ended())) {
        const latency = await timedRun(entry);
        const t = entry.session.tuning;
        runs.push({ at_ms: now() - start, latency_ms: latency, ...entry.session.lastRun,
          difference: want ? difference(entry.outputs, want) : null, swaps: t.swaps ?? 0, state: t.state });
      }
      return { runs, swaps: entry.swaps, tuning: entry.session.tuning, kernels: entry.session.kernels };
    },
    tuning: ({ session: id }) => session(id).session.tuning,
    async idle({ session: id, seconds = 60 }) {  // no runs: the JIT measures what waits for an idle page
      const entry = session(id), s = entry.session, start = now();
      const ended = () => ['done', 'cancelled', 'failed', 'off'].includes(s.tuning.state);
      while (!ended() && now() - start < seconds * 1000) await new Promise((resolve) => setTimeout(resolve, 50));
      return { idle_ms: now() - start, tuning: s.tuning, kernels: s.kernels, swaps: entry.swaps };
    },
    tune: ({ session: id }) => session(id).session.tune(),
    export: ({ session: id }) => session(id).session.exportTuningRecords(),
    async run({ session: id, repeat = 1 }) {
      const entry = session(id);
      const times = [];
      for (let i = 0; i < repeat; i++) times.push(await timedRun(entry));
      return { latency_ms: median(times), min_ms: Math.min(...times), times_ms: times };
    },
    profile: ({ session: id, repeat = 1 }) => session(id).session.profile({ repeat }),
    measure: ({ session: id, kernel, candidates, source, options }) =>
      session(id).session.measureCandidates(kernel, candidates, source, options),
    async compare({ sessions: ids, rounds = 10 }) {
      const entries = ids.map(session);
      const times = entries.map(() => []);
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < entries.length; i++) times[i].push(await timedRun(entries[i]));
      }
      return times.map((t, i) => ({ min_ms: Math.min(...t), median_ms: median(t), times_ms: t,
        difference: difference(entries[i].outputs, entries[0].outputs) }));
    },
    /** The in-browser compiler on the model at `model` (a URL, or a path in Node): its report, and its bundle's size and sha256. */
    async compile({ model, request = {}, pyodideURL, wheelURL }) {
      const start = now();
      const bytes = await readBytes(model);
      const { zip, report } = await compileBundle(bytes, { ...request, pyodideURL, wheelURL });
      const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', zip));
      return { ...report, wall_ms: now() - start, bundle_bytes: zip.length,
        bundle_sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
    },
    close({ session: id }) {
      session(id).session.release();
      sessions.delete(id);
      return {};
    },
  };

  return {
    /** Resolves to {ok: true, result} or {ok: false, error, user} (user: a WebjitError). */
    async call(command) {
      try {
        const handler = commands[command?.command];
        if (!handler) throw new WebjitError(`unknown driver command ${JSON.stringify(command?.command)}`);
        return { ok: true, result: await handler(command) };
      } catch (err) {
        return { ok: false, error: String(err?.message ?? err), user: err instanceof WebjitError };
      }
    },
    closeAll() {
      for (const { session: s } of sessions.values()) s.release();
      sessions.clear();
    },
  };
}
