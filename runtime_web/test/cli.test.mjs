import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy } from '../src/npy.js';
import { intBundle, tempDir } from './fixtures.mjs';
import { nodeGpu, twoStepGpuBundle } from './gpu_fixtures.mjs';

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

test('--help prints the usage and every option, and exits 0', () => {
  const help = cli('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: webjit-run-node\.mjs BUNDLE_DIR/);
  for (const flag of ['--backend', '--threads', '--repeat', '--limits']) assert.match(help.stdout, new RegExp(`\n  ${flag} `));
});

test('--backend webgpu and auto run on Dawn and agree with wasm; no adapter is a sentence or a note', async (t) => {
  await nodeGpu();
  const dir = tempDir();
  const bundle = join(dir, 'bundle');
  const { expected } = twoStepGpuBundle(bundle, { n: 256 });
  mkdirSync(join(dir, 'in'));
  const x = Float32Array.from({ length: 256 }, (_, i) => i / 7 - 3);
  writeFileSync(join(dir, 'in', 'x.npy'), writeNpy({ dtype: 'float32', shape: [256], data: x }));
  const runWith = (backend, env) => spawnSync(process.execPath, [CLI, bundle, '--inputs', join(dir, 'in'),
    '--outputs', join(dir, backend), '--backend', backend], { encoding: 'utf8', env });
  for (const backend of ['webgpu', 'auto', 'wasm']) {
    const result = runWith(backend, process.env);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.backend, backend === 'wasm' ? 'wasm' : 'webgpu');
    assert.equal(report.backendNote, null);
    assert.deepEqual(Array.from(readNpy(readFileSync(join(dir, backend, 'y.npy'))).data), expected(x));
  }
  // Without the SwiftShader driver Dawn finds no adapter.
  const bare = { ...process.env, VK_ICD_FILENAMES: join(dir, 'none.json'), LD_LIBRARY_PATH: '' };
  const refused = runWith('webgpu', bare);
  assert.equal(refused.status, 2);
  // Dawn may warn on stderr first; the sentence is the last line (what webjit run reports).
  assert.match(refused.stderr.trim().split('\n').at(-1), /^no WebGPU adapter \(requestAdapter\(\) on the gpu option returned none\); without a GPU on Linux set LD_LIBRARY_PATH/);
  const fallback = runWith('auto', bare);
  assert.equal(fallback.status, 0, fallback.stderr);
  const report = JSON.parse(fallback.stdout);
  assert.equal(report.backend, 'wasm');
  assert.match(report.backendNote, /^no WebGPU adapter .*; running on WASM$/);
  assert.deepEqual(Array.from(readNpy(readFileSync(join(dir, 'auto', 'y.npy'))).data), expected(x));
});
