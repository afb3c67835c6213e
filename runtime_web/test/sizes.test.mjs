import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFeeds, fromDevice } from '../src/feeds.js';
import { checkDims, evalSize, largest, sizeText } from '../src/sizes.js';

const seq = { sym: [[1, ['seq']]] };
const manifest = {
  dims: [{ name: 'seq', min: 1, max: 8 }],
  sizes: 3,
  inputs: [{ name: 'ids', dtype: 'int64', shape: [1, seq], tensor: 0 },
    { name: 'mask', dtype: 'int64', shape: [1, seq], tensor: 1 }],
  outputs: [{ name: 'y', dtype: 'float32', shape: [1, seq, 2], tensor: 2 }],
  tensors: [{ dtype: 'i32', size: 8, region: 'arena' }, { dtype: 'i32', size: 8, region: 'arena' },
    { dtype: 'f32', size: 16, region: 'arena' }, { dtype: 'i32', size: 1, region: 'arena' }],
};
const invalid = (what) => new Error(what);

test('symbolic sizes are polynomials the runtime evaluates as data', () => {
  const size = { sym: [[384, ['seq']], [2, ['past', 'seq']], [7, []]] };
  assert.equal(evalSize(size, { seq: 3, past: 5 }), 384 * 3 + 2 * 15 + 7);
  assert.equal(evalSize(12, {}), 12);
  assert.equal(sizeText(size), '384*seq+2*past*seq+7');
  assert.deepEqual(largest(manifest), { seq: 8 });
  checkDims(manifest, invalid);
  assert.throws(() => checkDims({ ...manifest, sizes: 2 }, invalid), /sizes is not an i32 arena tensor/);
  assert.throws(() => checkDims({ ...manifest, dims: [{ name: 'seq', min: 4, max: 2 }] }, invalid), /ranges/);
  const stray = { ...manifest, outputs: [{ name: 'y', shape: [{ sym: [[1, ['other']]] }] }] };
  assert.throws(() => checkDims(stray, invalid), /y has a size over a dimension the manifest does not declare/);
});

test('a run binds the sizes from its feeds and writes them as one more tensor', () => {
  const checked = checkFeeds(manifest, { ids: { data: [1, 2, 3], shape: [1, 3] }, mask: [1, 1, 1] });
  assert.deepEqual(checked.env, { seq: 3 });
  assert.equal(checked.length, 3);
  assert.deepEqual(checked[1].shape, [1, 3]);  // a flat feed: its length over the fixed sizes
  const sizes = checked[2];
  assert.equal(sizes.spec.tensor, 3);
  assert.deepEqual(Array.from(sizes.values), [3]);
  const out = fromDevice(manifest.outputs[0], new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer, 0, checked.env);
  assert.deepEqual(out.shape, [1, 3, 2]);
  assert.deepEqual(Array.from(out.data), [1, 2, 3, 4, 5, 6]);
});

test('a size outside the range, or two inputs that disagree, is one sentence', () => {
  assert.throws(() => checkFeeds(manifest, { ids: { data: new Array(9).fill(1), shape: [1, 9] }, mask: new Array(9).fill(1) }),
    { message: "input 'ids' has size 9 in dimension 'seq' (axis 1); this bundle was compiled for seq in 1..8" });
  assert.throws(() => checkFeeds(manifest, { ids: [1, 2, 3], mask: [1, 1] }),
    { message: "input 'mask' makes dimension 'seq' 2, but input 'ids' makes it 3; inputs that share a dimension need the same size" });
  assert.throws(() => checkFeeds(manifest, { ids: { data: [1, 2], shape: [2] }, mask: [1, 1] }),
    /input 'ids' has shape \[2\]; this bundle takes \[1,seq\]/);
  assert.throws(() => checkFeeds(manifest, { ids: { data: [1, 2, 3], shape: [1, 2] }, mask: [1, 1] }),
    /input 'ids' has 3 elements; this bundle was compiled for shape \[1,2\] \(\[1,seq\] in this run\)/);
});

test('the text helpers pad a symbolic bundle only to the batch\'s longest text', async () => {
  const { encodeBatch } = await import('../src/text.js');
  const session = { dims: [{ name: 'batch', min: 1, max: 4 }, { name: 'seq', min: 1, max: 64 }],
    inputs: [{ name: 'input_ids', dtype: 'int64', shape: ['batch', 'seq'] },
      { name: 'attention_mask', dtype: 'int64', shape: ['batch', 'seq'] }] };
  const tokenizer = { encode: (t) => ({ ids: t.split(' ').map((w) => w.length) }) };
  const { feeds, masks } = encodeBatch(session, tokenizer, ['a bb ccc', 'dddd']);
  assert.deepEqual(feeds.input_ids.shape, [2, 3]);
  assert.deepEqual(Array.from(feeds.input_ids.data, Number), [1, 2, 3, 4, 0, 0]);
  assert.deepEqual(Array.from(feeds.attention_mask.data, Number), [1, 1, 1, 1, 0, 0]);
  assert.deepEqual(masks.map((m) => Array.from(m)), [[1, 1, 1], [1, 0, 0]]);
  const fixed = { inputs: [{ name: 'input_ids', dtype: 'int32', shape: [1, 5] }] };
  const one = encodeBatch(fixed, tokenizer, ['a bb']);
  assert.deepEqual(Array.from(one.feeds.input_ids), [1, 2, 0, 0, 0]);  // a fixed bundle: its own length
});
