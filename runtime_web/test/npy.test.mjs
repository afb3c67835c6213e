import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, writeNpy } from '../src/npy.js';
import { tempDir } from './fixtures.mjs';

const CASES = [
  { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1.5, -2, 3.25, 0, 1e-8, -7]) },
  { dtype: 'int32', shape: [4], data: Int32Array.from([1, -2, 2147483647, -2147483648]) },
  { dtype: 'int64', shape: [1, 2, 2], data: BigInt64Array.from([1n, -2n, 2n ** 40n, 0n]) },
  { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) },
  { dtype: 'uint8', shape: [], data: Uint8Array.from([200]) },
  { dtype: 'float64', shape: [2], data: Float64Array.from([0.1, -1e300]) },
  { dtype: 'float16', shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x7e00]) },  // bits: 1, -2, NaN
  { dtype: 'int8', shape: [2], data: Int8Array.from([-128, 127]) },
  { dtype: 'int16', shape: [2], data: Int16Array.from([-32768, 5]) },
  { dtype: 'uint16', shape: [1], data: Uint16Array.from([65535]) },
];

test('round trip of every supported dtype, header aligned to 64 bytes', () => {
  for (const c of CASES) {
    const bytes = writeNpy(c);
    const headerLength = bytes[8] | (bytes[9] << 8);
    assert.equal((10 + headerLength) % 64, 0);
    const back = readNpy(bytes);
    assert.equal(back.dtype, c.dtype);
    assert.deepEqual(back.shape, c.shape);
    assert.deepEqual(back.data, c.data);
  }
});

test('int64 from plain numbers, and unreadable files named', () => {
  const back = readNpy(writeNpy({ dtype: 'int64', shape: [2], data: [3, -4] }));
  assert.deepEqual(back.data, BigInt64Array.from([3n, -4n]));
  assert.throws(() => readNpy(new Uint8Array(16), 'x.npy'), /x\.npy is not a \.npy file webjit can read \(no NUMPY magic\)/);
  const f8 = writeNpy(CASES[0]);
  f8.set(new TextEncoder().encode('<u4'), 10 + 11);
  assert.throws(() => readNpy(f8, 'y.npy'), /dtype <u4; webjit reads <f4, <i4, <i8, \|b1, \|u1, <f8, <f2, \|i1, <i2, <u2/);
  // float16 from numbers is rounded to the nearest float16, ties to even
  assert.deepEqual(readNpy(writeNpy({ dtype: 'float16', shape: [2], data: [1 + 2 ** -11, 65520] })).data,
    Uint16Array.from([0x3c00, 0x7c00]));
});

test('agrees with numpy in both directions', (t) => {
  const dir = tempDir();
  const script = `
import numpy as np, sys
d = sys.argv[1]
np.save(d + '/f.npy', np.arange(6, dtype='<f4').reshape(2, 3) / 4)
np.save(d + '/i.npy', np.array([[-1, 2**40]], dtype='<i8'))
np.save(d + '/b.npy', np.array([True, False]))
js = np.load(d + '/js.npy')
assert js.dtype == np.int32 and js.shape == (2, 2) and js.tolist() == [[1, 2], [3, -4]], js
`;
  writeFileSync(join(dir, 'js.npy'), writeNpy({ dtype: 'int32', shape: [2, 2], data: [1, 2, 3, -4] }));
  const result = spawnSync('python3', ['-c', script, dir], { encoding: 'utf8' });
  assert.ifError(result.error);  // python3 with numpy is installed by scripts/setup.sh
  assert.equal(result.status, 0, result.stderr);
  const f = readNpy(readFileSync(join(dir, 'f.npy')));
  assert.deepEqual([f.dtype, f.shape, Array.from(f.data)], ['float32', [2, 3], [0, 0.25, 0.5, 0.75, 1, 1.25]]);
  assert.deepEqual(readNpy(readFileSync(join(dir, 'i.npy'))).data, BigInt64Array.from([-1n, 2n ** 40n]));
  const b = readNpy(readFileSync(join(dir, 'b.npy')));
  assert.deepEqual([b.dtype, Array.from(b.data)], ['bool', [1, 0]]);
});
