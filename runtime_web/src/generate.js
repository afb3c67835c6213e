// Text generation with a KV cache (session.generate): a decoder bundle exported with past
// key/values (inputs input_ids, attention_mask, past_key_values.N.key/value; outputs logits,
// present.N.key/value) runs once on the prompt and then once per new token. The cache stays in
// the backend's memory: after each run every present.* is copied onto its past_key_values.*
// inside that memory (the compiler keeps those inputs live for the whole run, so the copies never
// overlap), and only the last position's logits come back to JS.
import { WebjitError } from './errors.js';
import { isSym, sizeText } from './sizes.js';

const PAST = 'past_key_values.';

/** The single dimension name of a size written {sym: [[1, [name]]]}, else null. */
function dimName(d) {
  return isSym(d) && d.sym.length === 1 && d.sym[0][0] === 1 && d.sym[0][1].length === 1 ? d.sym[0][1][0] : null;
}

/**
 * What generation needs to know about a decoder bundle: the ids, mask and logits specs, the
 * cache pairs, and the sequence and past dimensions with their ranges. One sentence when the
 * bundle is not a decoder compiled with symbolic sequence and past lengths.
 */
export function decoderLayout(manifest) {
  const byName = (list, name) => list.find((io) => io.name === name);
  const ids = byName(manifest.inputs, 'input_ids'), mask = byName(manifest.inputs, 'attention_mask');
  const logits = byName(manifest.outputs, 'logits');
  const pasts = manifest.inputs.filter((io) => io.name.startsWith(PAST));
  const cache = pasts.map((past) => ({ past, present: byName(manifest.outputs, `present.${past.name.slice(PAST.length)}`) }));
  const others = manifest.inputs.filter((io) => io !== ids && io !== mask && !pasts.includes(io));
  if (!ids || !mask || !logits || !cache.length || cache.some((c) => !c.present) || others.length) {
    throw new WebjitError('session.generate needs a decoder exported with past key/values (inputs input_ids, ' +
      'attention_mask, past_key_values.N.key/value; outputs logits, present.N.key/value), and this bundle has ' +
      `inputs ${manifest.inputs.map((i) => i.name).join(', ')}`);
  }
  const seqName = ids.shape.length === 2 ? dimName(ids.shape[1]) : null;
  const pastName = cache[0].past.shape.length === 4 ? dimName(cache[0].past.shape[2]) : null;
  const dims = Object.fromEntries((manifest.dims ?? []).map((d) => [d.name, d]));
  if (!seqName || !pastName || !dims[seqName] || !dims[pastName]) {
    throw new WebjitError('session.generate needs the sequence and past lengths compiled as ranges, e.g. ' +
      '--dim sequence=1..128 --dim past_sequence=0..127 --dim total_sequence=past_sequence+sequence; this bundle takes ' +
      `input_ids [${ids.shape.map(sizeText).join(',')}]`);
  }
  const batchName = dimName(ids.shape[0]);
  if (!(ids.shape[0] === 1 || (batchName && dims[batchName].min <= 1))) {
    throw new WebjitError(`session.generate runs one sequence at a time, and this bundle's batch is ${sizeText(ids.shape[0])}`);
  }
  if (dims[pastName].min > 0) {
    throw new WebjitError(`session.generate starts from an empty cache, and this bundle was compiled for ${pastName} in ` +
      `${dims[pastName].min}..${dims[pastName].max}; compile it with ${pastName}=0..N`);
  }
  const vocab = logits.shape[logits.shape.length - 1];
  if (isSym(vocab)) throw new WebjitError('session.generate needs logits with a fixed vocabulary size');
  return { ids, mask, logits, cache, vocab, seq: dims[seqName], past: dims[pastName], batch: batchName };
}

/** The checked options of session.generate, with their defaults. */
function generateOptions({ maxNewTokens = 32, temperature = 1, topK = 0, topP = 1, eosTokenId = null, onToken,
  seed } = {}) {
  const fail = (what) => { throw new WebjitError(`session.generate: ${what}`); };
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 1)) fail(`maxNewTokens must be a positive integer, not ${JSON.stringify(maxNewTokens)}`);
  if (!(typeof temperature === 'number' && temperature >= 0)) fail(`temperature must be a number of 0 or more, not ${JSON.stringify(temperature)}`);
  if (!(Number.isInteger(topK) && topK >= 0)) fail(`topK must be an integer of 0 (off) or more, not ${JSON.stringify(topK)}`);
  if (!(typeof topP === 'number' && topP > 0 && topP <= 1)) fail(`topP must be a number in (0, 1], not ${JSON.stringify(topP)}`);
  const eos = eosTokenId === null || eosTokenId === undefined ? [] : [eosTokenId].flat();
  if (eos.some((t) => !Number.isInteger(t))) fail(`eosTokenId must be a token id or a list of them, not ${JSON.stringify(eosTokenId)}`);
  if (onToken !== undefined && typeof onToken !== 'function') fail('onToken must be a function (token, index)');
  if (seed !== undefined && !Number.isInteger(seed)) fail(`seed must be an integer, not ${JSON.stringify(seed)}`);
  return { maxNewTokens, temperature, topK, topP, eos, onToken, seed };
}

/** The prompt as an Int32Array of token ids, checked against the vocabulary and the compiled ranges. */
function promptIds(inputIds, layout, maxNewTokens) {
  const ok = Array.isArray(inputIds) || inputIds instanceof Int32Array || inputIds instanceof BigInt64Array;
  if (!ok) throw new WebjitError('session.generate takes the prompt as an array, Int32Array or BigInt64Array of token ids');
  const ids = Int32Array.from(inputIds, Number);
  const vocab = layout.ids.valid_range?.[1] ?? layout.vocab;
  ids.forEach((t, i) => {
    if (!(Number.isInteger(t) && t >= 0 && t < vocab) || t !== Number(inputIds[i])) {
      throw new WebjitError(`prompt token ${i} is ${inputIds[i]}; token ids are integers in [0, ${vocab})`);
    }
  });
  const { seq, past } = layout;
  if (ids.length < Math.max(1, seq.min) || ids.length > seq.max) {
    throw new WebjitError(`the prompt has ${ids.length} tokens; this bundle was compiled for ${seq.name} in ` +
      `${seq.min}..${seq.max} (recompile with a wider --dim ${seq.name} range for longer prompts)`);
  }
  // N new tokens take N runs; the last new token is never run and the last run's cache is
  // never kept, so the last run reads a cache of prompt + N - 2 positions.
  if (ids.length + maxNewTokens - 2 > past.max) {
    throw new WebjitError(`a prompt of ${ids.length} tokens and ${maxNewTokens} new tokens need a cache of ` +
      `${ids.length + maxNewTokens - 2} positions; this bundle was compiled for ${past.name} in ` +
      `${past.min}..${past.max} (ask for at most ${past.max - ids.length + 2} new tokens, or recompile with a ` +
      `wider --dim ${past.name} range)`);
  }
  return ids;
}

/** A seeded generator of floats in [0, 1) (mulberry32): the same seed samples the same tokens. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The index of the greatest logit (the first of equal ones, as numpy's argmax). */
export function argmax(logits) {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** One token drawn from `logits`: greedy at temperature 0 or topK 1, else softmax(logits /
 * temperature) restricted to the topK most likely tokens and to the smallest set whose
 * probability reaches topP. */
export function pickToken(logits, { temperature, topK, topP }, random) {
  if (temperature === 0 || topK === 1) return argmax(logits);
  let order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
  if (topK > 0) order = order.slice(0, topK);
  const top = logits[order[0]];
  const weights = order.map((i) => Math.exp((logits[i] - top) / temperature));
  const total = weights.reduce((s, w) => s + w, 0);
  let kept = order.length, mass = 0;
  if (topP < 1) {
    for (kept = 0; kept < order.length && mass < topP; kept++) mass += weights[kept] / total;
  } else {
    mass = 1;
  }
  let r = random() * mass * total;
  for (let k = 0; k < kept; k++) {
    r -= weights[k];
    if (r < 0) return order[k];
  }
  return order[kept - 1];
}

/**
 * Generates up to maxNewTokens after the prompt on `impl` (a backend with `step`), within one
 * task of the session's run queue so no other run touches the cache meanwhile. Resolves to
 * {tokens, stopped ('eos' | 'length'), prefill_ms, decode_ms}.
 */
export async function generate(manifest, impl, inputIds, options) {
  const layout = decoderLayout(manifest);
  checkCacheLayout(manifest, layout);
  const opts = generateOptions(options);
  const prompt = promptIds(inputIds, layout, opts.maxNewTokens);
  const random = seededRandom(opts.seed ?? Math.floor(Math.random() * 2 ** 32));
  const sizesSpec = { name: '::sizes', dtype: 'int32', tensor: manifest.sizes };
  const env = { [layout.seq.name]: 0, [layout.past.name]: 0 };
  if (layout.batch) env[layout.batch] = 1;
  const feedsFor = (ids, past) => {
    Object.assign(env, { [layout.seq.name]: ids.length, [layout.past.name]: past });
    const checked = [
      { spec: layout.ids, values: ids },
      { spec: layout.mask, values: new Int32Array(past + ids.length).fill(1) },
      { spec: sizesSpec, values: Int32Array.from(manifest.dims, (d) => env[d.name]) }];
    checked.env = { ...env };
    return checked;
  };
  // After a run with cache length `total`, each present.* (batch 1, heads, total, head size)
  // has exactly the bytes of the next run's past_key_values.*.
  const carry = (total) => layout.cache.map(({ past, present }) => ({ from: present.tensor, to: past.tensor,
    bytes: 4 * past.shape.reduce((n, d) => n * (isSym(d) ? total : d), 1) }));
  const tokens = [];
  let past = 0, ids = prompt, stopped = 'length', prefillMs = 0;
  const started = globalThis.performance.now();
  while (tokens.length < opts.maxNewTokens) {
    const last = tokens.length + 1 === opts.maxNewTokens;
    const logits = await impl.step(feedsFor(ids, past), { tensor: layout.logits.tensor,
      offset: (ids.length - 1) * layout.vocab, count: layout.vocab }, last ? [] : carry(past + ids.length));
    if (!tokens.length) prefillMs = globalThis.performance.now() - started;
    const token = pickToken(logits, opts, random);
    tokens.push(token);
    opts.onToken?.(token, tokens.length - 1);
    if (opts.eos.includes(token)) {
      stopped = 'eos';
      break;
    }
    past += ids.length;
    ids = Int32Array.of(token);
  }
  return { tokens, stopped, prefill_ms: prefillMs, decode_ms: globalThis.performance.now() - started - prefillMs };
}

/** Throws unless every cache copy of `layout` is safe: no past_key_values.* shares a byte with
 * any present.* at the largest sizes (bundles planned before generation support may). */
export function checkCacheLayout(manifest, layout) {
  const span = (io) => {
    const t = manifest.tensors[io.tensor];
    return [t.offset, t.offset + 4 * t.size];
  };
  for (const { past } of layout.cache) {
    const [a0, a1] = span(past);
    for (const { present } of layout.cache) {
      const [b0, b1] = span(present);
      if (a0 < b1 && b0 < a1) {
        throw new WebjitError(`this bundle places ${past.name} and ${present.name} in the same memory, so its ` +
          'cache cannot be carried from one step to the next; recompile it with this version of webjit');
      }
    }
  }
}
