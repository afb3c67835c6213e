import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy } from '../src/npy.js';
import { intBundle, tempDir } from './fixtures.mjs';

const CLI = fileURLToPath(new URL('../bin/webjit-run-node.mjs', import.meta.url));
const cli = (...args) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

function setUp() {
  const dir = tempDir();
  const bundle = join(dir, 'bundle');
  const { table } = intBundle(bundle, 6, 10);
  mkdirSync(join(dir, 'in'));
  return { dir, bundle, table, inputs: join(dir, 'in'), outputs: join(dir, 'out') };
}

test('runs a bundle on .npy inputs, writes .npy outputs and one JSON line', () => {
  const { bundle, table, inputs, outputs } = setUp();
  writeFileSync(join(inputs, 'ids.npy'), writeNpy({ dtype: 'int64', shape: [1, 6], data: [3, 0, 9, 1, 1, 2] }));
  const result = cli(bundle, '--inputs', inputs, '--outputs', outputs, '--threads', '2', '--repeat', '3');
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const report = JSON.parse(lines[0]);
  assert.equal(report.backend, 'wasm');
  assert.equal(report.threads, 2);
  assert.ok(report.latency_ms >= 0 && report.load_ms >= 0);
  const emb = readNpy(readFileSync(join(outputs, 'emb.npy')));
  assert.deepEqual([emb.dtype, emb.shape], ['float32', [1, 6]]);
  assert.deepEqual(Array.from(emb.data), [3, 0, 9, 1, 1, 2].map((i) => table[i]));
  assert.deepEqual(readNpy(readFileSync(join(outputs, 'twice.npy'))).data, BigInt64Array.from([6n, 0n, 18n, 2n, 2n, 4n]));
  const positive = readNpy(readFileSync(join(outputs, 'positive.npy')));
  assert.deepEqual([positive.dtype, Array.from(positive.data)], ['bool', [1, 0, 1, 1, 1, 1]]);
});

test('a WebjitError prints only its sentence and exits 2', () => {
  const { bundle, inputs, outputs } = setUp();
  writeFileSync(join(inputs, 'ids.npy'), writeNpy({ dtype: 'int64', shape: [1, 7], data: [0, 0, 0, 0, 0, 0, 0] }));
  const wrongShape = cli(bundle, '--inputs', inputs, '--outputs', outputs, '--threads', '1');
  assert.equal(wrongShape.status, 2);
  assert.equal(wrongShape.stderr, "input 'ids' has shape [1,7]; this bundle was compiled for [1,6]\n");
  assert.equal(wrongShape.stdout, '');
  const missing = cli(bundle, '--inputs', join(inputs, 'none'), '--outputs', outputs);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^cannot read input 'ids' from .*ids\.npy \(ENOENT\)\n$/);
  const usage = cli(bundle);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /^usage: webjit-run-node\.mjs BUNDLE_DIR/);
});
