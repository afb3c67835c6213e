import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebjitError } from '../src/errors.js';
import { findMemoryImport, unshareMemoryImport } from '../src/wasm_patch.js';
import { assemble } from './fixtures.mjs';

// Imports of every kind before the memory, so the walker must step over each of them;
// the function's body also holds the byte 0x03 that a blind search would hit.
const WAT = `(module
  (import "env" "f" (func $f (param i32 i32 i32) (result i32)))
  (import "env" "g" (global $g (mut i32)))
  (import "env" "t" (table 3 17 funcref))
  (import "env" "memory" (memory 1 65536 shared))
  (func (export "run") (param i32) (result i32)
    (i32.store (local.get 0) (i32.const 3))
    (i32.load (local.get 0))))`;

const imports = (memory) => ({
  env: { memory, f: () => 0, g: new WebAssembly.Global({ value: 'i32', mutable: true }, 0),
    t: new WebAssembly.Table({ initial: 3, maximum: 17, element: 'anyfunc' }) },
});

test('finds the memory import past other imports and clears only its shared bit', async () => {
  const bytes = assemble(WAT);
  const found = findMemoryImport(bytes);
  assert.equal(found.module, 'env');
  assert.equal(found.field, 'memory');
  assert.equal(found.flag, 0x03);
  const patched = unshareMemoryImport(bytes);
  assert.equal(findMemoryImport(patched).flag, 0x01);
  const differing = patched.reduce((n, b, i) => n + (b !== bytes[i]), 0);
  assert.equal(differing, 1);
  assert.equal(bytes[found.flagOffset], 0x03, 'the input is left untouched');

  const plain = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  await assert.rejects(WebAssembly.instantiate(bytes, imports(plain)), WebAssembly.LinkError);
  const { instance } = await WebAssembly.instantiate(patched, imports(plain));
  assert.equal(instance.exports.run(64), 3);
});

test('a module without a memory import, or not wasm at all, is refused clearly', () => {
  const noMemory = assemble('(module (func (export "run")))');
  assert.throws(() => findMemoryImport(noMemory, 'k9.wasm'),
    (err) => err instanceof WebjitError && /k9\.wasm imports no memory/.test(err.message));
  assert.throws(() => findMemoryImport(new TextEncoder().encode('<html>'), 'k1.wasm'), /k1\.wasm is not a WebAssembly module/);
  const truncated = assemble(WAT).subarray(0, 30);
  assert.throws(() => findMemoryImport(truncated, 'k2.wasm'), /k2\.wasm ends early/);
});
