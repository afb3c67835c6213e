import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argmax, decoderLayout, pickToken, seededRandom } from '../src/generate.js';
import { WebjitError } from '../src/errors.js';

const logits = Float32Array.from([0.5, 3, 2.9, -1, 3]);

test('greedy picks the first greatest logit at temperature 0 and at topK 1', () => {
  assert.equal(argmax(logits), 1);
  assert.equal(pickToken(logits, { temperature: 0, topK: 0, topP: 1 }, () => 0.99), 1);
  assert.equal(pickToken(logits, { temperature: 5, topK: 1, topP: 1 }, () => 0.99), 1);
});

test('topK and topP keep only the most likely tokens', () => {
  const seen = new Set();
  const random = seededRandom(3);
  for (let i = 0; i < 400; i++) seen.add(pickToken(logits, { temperature: 1, topK: 2, topP: 1 }, random));
  assert.deepEqual([...seen].sort(), [1, 4]);  // the two greatest; ties in index order
  seen.clear();
  for (let i = 0; i < 400; i++) seen.add(pickToken(logits, { temperature: 1, topK: 0, topP: 0.3 }, random));
  assert.deepEqual([...seen], [1]);  // token 1 alone holds 30% of the mass
});

test('sampling follows the softmax and a seed repeats it', () => {
  const counts = [0, 0, 0, 0, 0];
  const random = seededRandom(11);
  const n = 20000;
  for (let i = 0; i < n; i++) counts[pickToken(logits, { temperature: 1, topK: 0, topP: 1 }, random)]++;
  const exp = Array.from(logits, Math.exp), total = exp.reduce((a, b) => a + b);
  counts.forEach((c, i) => assert.ok(Math.abs(c / n - exp[i] / total) < 0.015, `token ${i}: ${c / n}`));
  const draw = (seed) => { const r = seededRandom(seed); return Array.from({ length: 5 }, r); };
  assert.deepEqual(draw(5), draw(5));
  assert.notDeepEqual(draw(5), draw(6));
});

test('a bundle that is not a decoder with past is refused in one sentence', () => {
  const manifest = { inputs: [{ name: 'input_ids', shape: [1, 8] }], outputs: [{ name: 'last_hidden_state' }] };
  assert.throws(() => decoderLayout(manifest), (err) => err instanceof WebjitError &&
    /^session\.generate needs a decoder exported with past key\/values .* this bundle has inputs input_ids$/.test(err.message));
});
