import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { checkFeeds, fromDevice } from '../src/feeds.js';
import { halfBits, halfTable } from '../src/half.js';

test('halfBits rounds like numpy (ties to even, subnormals, overflow, NaN) and halfTable inverts it', () => {
  const values = [];
  for (let h = 0; h < 0x7c00; h += 37) {  // every 37th float16 and the points halfway to the next
    const a = halfTable()[h], b = halfTable()[h + 1];
    values.push(a, (a + b) / 2, -(a + b) / 2, a + (b - a) * 0.49, a + (b - a) * 0.51);
  }
  values.push(65504, 65519.99, 65520, 1e6, 2 ** -25, 3 * 2 ** -25, 2 ** -26, -0, Infinity, -Infinity);
  const f32 = Float32Array.from(values);
  const script = `
import numpy as np, sys
x = np.frombuffer(bytes.fromhex(sys.stdin.read()), '<f4')
print(x.astype(np.float16).view(np.uint16).tobytes().hex())`;
  const done = spawnSync('python3', ['-c', script], { input: Buffer.from(f32.buffer).toString('hex'), encoding: 'utf8' });
  assert.equal(done.status, 0, done.stderr);
  const want = new Uint16Array(Uint8Array.from(Buffer.from(done.stdout.trim(), 'hex')).buffer);
  const got = Uint16Array.from(f32, halfBits);
  for (let i = 0; i < got.length; i++) assert.equal(got[i], want[i], `halfBits(${f32[i]})`);
  assert.equal(halfBits(NaN) & 0x7c00, 0x7c00);
  for (const h of [0, 1, 0x3c00, 0x7bff, 0x8001, 0xfbff]) assert.equal(halfBits(halfTable()[h]), h);
});

test('float16 feeds take Uint16Array bits or numbers; narrow integers are range-checked', () => {
  const inputs = [{ name: 'h', dtype: 'float16', shape: [2] }, { name: 'u', dtype: 'uint8', shape: [2] },
    { name: 'i', dtype: 'int8', shape: [1] }];
  const [h, u, i] = checkFeeds({ inputs }, { h: Uint16Array.from([0x3c00, 0xc000]), u: [0, 255], i: Int8Array.from([-128]) });
  assert.deepEqual(Array.from(h.values), [1, -2]);
  assert.deepEqual([Array.from(u.values), Array.from(i.values)], [[0, 255], [-128]]);
  assert.ok(h.values instanceof Float32Array && u.values instanceof Int32Array);
  assert.deepEqual(Array.from(checkFeeds({ inputs: inputs.slice(0, 1) }, { h: [1 + 2 ** -12, 0.1] })[0].values),
    [1, halfTable()[halfBits(0.1)]]);
  assert.throws(() => checkFeeds({ inputs: inputs.slice(1, 2) }, { u: [0, 256] }),
    /input 'u' holds 256 at element 1, outside the uint8 range; pass values between 0 and 255/);
  assert.throws(() => checkFeeds({ inputs: inputs.slice(0, 1) }, { h: Float32Array.from([1, 2]) }),
    /input 'h' is float16; pass a Float16Array, a Uint16Array of float16 bits or an array of numbers, not a Float32Array/);
});

test('outputs come back in their model dtype: float16 as bits (or Float16Array), narrow integers, float64', () => {
  const f = new Float32Array([1, -2, 65504, 0.5]).buffer, i = new Int32Array([-128, 127, 255, 7]).buffer;
  const half = fromDevice({ dtype: 'float16', shape: [4] }, f, 0);
  const bits = half.data instanceof Uint16Array ? half.data : new Uint16Array(half.data.buffer);
  assert.deepEqual(Array.from(bits), [0x3c00, 0xc000, 0x7bff, 0x3800]);
  assert.equal(half.data.constructor.name, typeof Float16Array === 'function' ? 'Float16Array' : 'Uint16Array');
  assert.deepEqual(fromDevice({ dtype: 'int8', shape: [2] }, i, 0).data, Int8Array.from([-128, 127]));
  assert.deepEqual(fromDevice({ dtype: 'uint8', shape: [2] }, i, 8).data, Uint8Array.from([255, 7]));
  assert.deepEqual(fromDevice({ dtype: 'float64', shape: [2] }, f, 0).data, Float64Array.from([1, -2]));
});
