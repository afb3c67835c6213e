// The sentence-similarity demo: the page tokenizes two sentences with tokenizers.js, runs
// MiniLM-L6 on each with webjit (mean pooling over the tokens, normalised), and shows the
// cosine similarity, the latency of every run as a live chart, and the JIT's progress.
// Served by `webjit serve BUNDLE --page examples/similarity --mount /tokenizer/=DIR`
// (examples/similarity.sh): the runtime at /runtime/, the bundle at /bundle/, the tokenizer
// files at /tokenizer/. Query: ?backend=auto|wasm|webgpu&threads=auto|N&tune=background|off.
// Tests read window.demo ({ready, compare(a, b), lastIds, lastSimilarity, runs, session}).
import { load } from '/runtime/src/index.js';
import { drawLatencyChart } from '/runtime/page/chart.js';
import { Tokenizer } from './node_modules/@huggingface/tokenizers/dist/tokenizers.mjs';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const runs = [];  // {at_ms, latency_ms} of every run, for the chart
const swaps = [];
const started = performance.now();

async function json(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** Token ids, attention mask and token types of one sentence, padded (or cut) to `length`. */
function encode(tokenizer, text, length) {
  const { ids } = tokenizer.encode(text);
  const kept = ids.length > length ? [...ids.slice(0, length - 1), ids.at(-1)] : ids;  // keep [SEP]
  const input = new BigInt64Array(length), mask = new BigInt64Array(length);
  kept.forEach((id, i) => { input[i] = BigInt(id); mask[i] = 1n; });
  return { input_ids: input, attention_mask: mask, token_type_ids: new BigInt64Array(length) };
}

/** Mean of the token vectors where the mask is 1, normalised to length 1. */
function pool(hidden, mask, dim) {
  const out = new Float64Array(dim);
  let count = 0;
  for (let t = 0; t < mask.length; t++) {
    if (!mask[t]) continue;
    count++;
    for (let d = 0; d < dim; d++) out[d] += hidden[t * dim + d];
  }
  let norm = 0;
  for (let d = 0; d < dim; d++) { out[d] /= count; norm += out[d] * out[d]; }
  norm = Math.sqrt(norm) || 1;
  return out.map((v) => v / norm);
}

function showTuning(t) {
  const kernels = t.kernels_total ? `, kernels ${t.kernels_done}/${t.kernels_total}` : '';
  const measured = t.candidates_total ? `, candidates ${t.candidates_measured}/${t.candidates_total}` : '';
  const spent = t.spent_ms !== undefined ? `, ${(t.spent_ms / 1000).toFixed(1)} s spent` : '';
  $('tuning').textContent = `${t.state}${kernels}${measured}, ${t.swaps ?? 0} swaps${spent}` +
    (t.note ? ` — ${t.note}` : '');
}

function redraw(session) {
  const best = runs.length ? Math.min(...runs.map((r) => r.latency_ms)) : 0;
  drawLatencyChart($('chart'), { runs, swaps, title: `latency per run on ${session.backend}`,
    levels: runs.length ? [{ label: 'fastest so far', ms: best, color: '#2f855a' }] : [] });
}

async function start() {
  const [tokenizerJson, tokenizerConfig] = await Promise.all([json('/tokenizer/tokenizer.json'),
    json('/tokenizer/tokenizer_config.json')]);
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const threads = params.get('threads') ?? 'auto';
  const session = await load(params.get('bundle') ?? '/bundle/', {
    backend: params.get('backend') ?? 'auto',
    threads: threads === 'auto' ? 'auto' : Number(threads),
    tune: params.get('tune') ?? 'background',
    onProgress: ({ stage, loaded, total }) => {
      $('status').textContent = `loading ${stage}: ${Math.round(loaded / 2 ** 20)} of ${Math.round(total / 2 ** 20)} MiB`;
    },
  });
  const [ids] = session.inputs;
  const length = ids.shape.at(-1);
  const dim = session.outputs[0].shape.at(-1);
  $('backend').textContent = session.backend === 'webgpu' ? 'GPU (WebGPU)' : `CPU (WebAssembly, ${session.threads} threads)`;
  $('status').textContent = `${session.backend}, ${session.threads} thread(s), ${session.device.fingerprint}` +
    (session.backendNote ? ` — ${session.backendNote}` : '') + (session.threadNote ? ` — ${session.threadNote}` : '');
  session.addEventListener('tuning', (e) => showTuning(e.detail));
  session.addEventListener('swap', (e) => {
    const s = e.detail;
    swaps.push({ at_ms: performance.now() - started });
    const item = document.createElement('li');
    item.textContent = `kernel ${s.kernel} (${s.family}): ${s.before_ms.toFixed(3)} -> ${s.after_ms.toFixed(3)} ms ` +
      `(${s.speedup.toFixed(2)}x)`;
    $('swaps').append(item);
    showTuning(session.tuning);
  });
  showTuning(session.tuning);

  async function embed(text) {
    const feeds = encode(tokenizer, text, length);
    const t0 = performance.now();
    const out = await session.run(feeds);
    runs.push({ at_ms: performance.now() - started, latency_ms: performance.now() - t0 });
    demo.lastIds.push(Array.from(feeds.input_ids, Number));
    return pool(out[session.outputs[0].name].data, feeds.attention_mask, dim);
  }

  async function compare(first, second) {
    demo.lastIds = [];
    const a = await embed(first), b = await embed(second);
    const similarity = a.reduce((sum, v, i) => sum + v * b[i], 0);
    demo.lastSimilarity = similarity;
    $('similarity').textContent = similarity.toFixed(4);
    $('latency').textContent = `${runs.at(-1).latency_ms.toFixed(1)} ms per run`;
    redraw(session);
    showTuning(session.tuning);
    return similarity;
  }

  Object.assign(demo, { session, compare, runs });
  $('compare').addEventListener('click', () => compare($('first').value, $('second').value));
  $('repeat').addEventListener('click', async () => {
    for (let i = 0; i < 25; i++) await compare($('first').value, $('second').value);
  });
  $('compare').disabled = $('repeat').disabled = false;
  await compare($('first').value, $('second').value);
}

const demo = { lastIds: [], runs };
window.demo = demo;
demo.ready = start().then(() => {
  document.documentElement.dataset.demo = 'ready';
}, (err) => {
  $('status').textContent = `error: ${err.message}`;
  document.documentElement.dataset.demo = 'failed';
  throw err;
});
