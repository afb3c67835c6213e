// Text helpers for the common case of sentence embeddings: tokenization comes from Hugging
// Face's tokenizers.js (@huggingface/tokenizers, an npm dependency of this module only: the
// runtime itself has none), never from hand-written code; this module only pads the ids to
// the bundle's shape and pools the model's token vectors. A bundle with a symbolic batch or
// sequence (docs/symbolic.md) gets each batch at its own size: the longest text's length,
// never more.
//   import { loadTokenizer, embed, cosineSimilarity } from 'webjit/text';
import { Tokenizer } from '@huggingface/tokenizers';
import { WebjitError } from './errors.js';

/**
 * The tokenizer of the folder (URL or path under fetch) holding tokenizer.json and
 * tokenizer_config.json, as Hugging Face models ship them. `fetch` may be replaced.
 */
export async function loadTokenizer(base, { fetch: get = globalThis.fetch } = {}) {
  const root = String(base).replace(/\/*$/, '/');
  const read = async (name) => {
    let response;
    try {
      response = await get(root + name);
    } catch (err) {
      throw new WebjitError(`could not fetch ${root + name} (${err.message})`, { cause: err });
    }
    if (!response.ok) throw new WebjitError(`could not fetch ${root + name} (HTTP ${response.status})`);
    return response.json();
  };
  const [json, config] = await Promise.all([read('tokenizer.json'), read('tokenizer_config.json')]);
  return new Tokenizer(json, config);
}

/** The bundle's [batch, sequence] sizes, read off its token-id input: each [least, most],
 * equal for a fixed size, the range of a symbolic one. */
function idsShape(session) {
  const ids = session.inputs.find((i) => i.name === 'input_ids') ?? session.inputs[0];
  if (!ids || ids.shape.length !== 2) {
    throw new WebjitError('the text helpers need a bundle whose first input is token ids of shape [batch, sequence]');
  }
  return ids.shape.map((d) => {
    if (typeof d === 'number') return [d, d];
    const dim = (session.dims ?? []).find((x) => x.name === d);
    if (!dim) throw new WebjitError(`the text helpers need token ids of shape [batch, sequence], not [${ids.shape}]`);
    return [dim.min, dim.max];
  });
}

/**
 * Feeds for `texts` (at most the bundle's batch): every input the session has among input_ids,
 * attention_mask and token_type_ids, each padded with zeros (or cut, keeping the last token,
 * the separator) to the bundle's sequence length. Also returns the masks, for pooling.
 */
export function encodeBatch(session, tokenizer, texts) {
  const [[leastBatch, mostBatch], [shortest, longest]] = idsShape(session);
  if (texts.length > mostBatch) {
    throw new WebjitError(`${texts.length} texts do not fit the bundle's batch of ${mostBatch}; embed() splits them`);
  }
  const encoded = texts.map((t) => tokenizer.encode(t).ids);
  const batch = Math.max(texts.length, leastBatch);
  const length = Math.min(Math.max(shortest, ...encoded.map((ids) => ids.length)), longest);
  const symbolic = leastBatch !== mostBatch || shortest !== longest;
  const masks = [];
  const columns = { input_ids: [], attention_mask: [], token_type_ids: [] };
  for (let b = 0; b < batch; b++) {
    const ids = b < texts.length ? encoded[b] : [];
    const kept = ids.length > length ? [...ids.slice(0, length - 1), ids.at(-1)] : ids;
    const mask = new Uint8Array(length).fill(1, 0, kept.length);
    masks.push(mask);
    columns.input_ids.push(...kept, ...new Array(length - kept.length).fill(0));
    columns.attention_mask.push(...mask);
    columns.token_type_ids.push(...new Array(length).fill(0));
  }
  const feeds = {};
  for (const input of session.inputs) {
    const values = columns[input.name];
    if (!values) throw new WebjitError(`the text helpers do not know what to feed input '${input.name}'`);
    const data = input.dtype === 'int64' ? BigInt64Array.from(values, BigInt) : Int32Array.from(values);
    feeds[input.name] = symbolic ? { data, shape: [batch, length] } : data;
  }
  return { feeds, masks: masks.slice(0, texts.length) };
}

/**
 * One vector per text: the mean of its token vectors where the mask is 1 ('mean', as
 * sentence-transformers pools), or the first token's ('cls'), divided by its length unless
 * `normalize` is false. `hidden` is the [batch, sequence, dim] output's data.
 */
export function pool(hidden, masks, dim, { pooling = 'mean', normalize = true } = {}) {
  if (pooling !== 'mean' && pooling !== 'cls') throw new WebjitError(`pooling must be 'mean' or 'cls', not '${pooling}'`);
  return masks.map((mask, b) => {
    const base = b * mask.length * dim;
    const sum = new Float64Array(dim);
    let count = 0;
    for (let t = 0; t < mask.length; t++) {
      if (pooling === 'cls' ? t > 0 : !mask[t]) continue;
      count++;
      for (let d = 0; d < dim; d++) sum[d] += hidden[base + t * dim + d];
    }
    let norm = 0;
    for (let d = 0; d < dim; d++) { sum[d] /= count || 1; norm += sum[d] * sum[d]; }
    const scale = normalize ? 1 / (Math.sqrt(norm) || 1) : 1;
    return Float32Array.from(sum, (v) => v * scale);
  });
}

/**
 * Sentence embeddings of `texts` with the session's model (a BERT-style encoder whose first
 * output is [batch, sequence, dim]): tokenized, run in batches of the bundle's batch size,
 * pooled. Options: pooling 'mean' (default) or 'cls', normalize (default true), output name.
 */
export async function embed(session, tokenizer, texts, { pooling = 'mean', normalize = true, output } = {}) {
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== 'string')) {
    throw new WebjitError('embed needs an array of strings');
  }
  const [[, batch]] = idsShape(session);
  const name = output ?? session.outputs[0].name;
  const info = session.outputs.find((o) => o.name === name);
  if (!info || info.shape.length !== 3) {
    throw new WebjitError(`output '${name}' is not a [batch, sequence, dim] tensor of token vectors`);
  }
  const vectors = [];
  for (let start = 0; start < texts.length; start += batch) {
    const { feeds, masks } = encodeBatch(session, tokenizer, texts.slice(start, start + batch));
    const out = await session.run(feeds);
    vectors.push(...pool(out[name].data, masks, out[name].shape[2], { pooling, normalize }));
  }
  return vectors;
}

/** The cosine of the angle between two vectors. */
export function cosineSimilarity(a, b) {
  if (a.length !== b.length) throw new WebjitError(`vectors of ${a.length} and ${b.length} values cannot be compared`);
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / (Math.sqrt(na * nb) || 1);
}
