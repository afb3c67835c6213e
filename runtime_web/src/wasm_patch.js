// Finds the env.memory import of a kernel module by walking its sections, so that the
// shared bit of its limits flag can be cleared for a non-shared memory (kernel ABI).
import { WebjitError } from './errors.js';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const IMPORT_SECTION = 2;
const KIND_FUNC = 0, KIND_TABLE = 1, KIND_MEMORY = 2, KIND_GLOBAL = 3, KIND_TAG = 4;
export const LIMITS_SHARED = 0x03;
export const LIMITS_MAX = 0x01;

class Reader {
  constructor(bytes, file) { this.bytes = bytes; this.pos = 0; this.file = file; }

  byte() {
    if (this.pos >= this.bytes.length) throw this.fail('ends early');
    return this.bytes[this.pos++];
  }

  u32() {
    let result = 0, shift = 0, b;
    do {
      b = this.byte();
      result += (b & 0x7f) * 2 ** shift;  // multiplication keeps values above 2^31 positive
      shift += 7;
    } while (b & 0x80 && shift < 35);
    if (b & 0x80) throw this.fail('has a malformed LEB128 number');
    return result;
  }

  skip(n) {
    if (this.pos + n > this.bytes.length) throw this.fail('ends early');
    this.pos += n;
  }

  name() {
    const length = this.u32();
    const start = this.pos;
    this.skip(length);
    return new TextDecoder().decode(this.bytes.subarray(start, this.pos));
  }

  limits() {
    const flagOffset = this.pos;
    const flag = this.byte();
    this.u32();
    if (flag & 0x01) this.u32();
    return { flagOffset, flag };
  }

  fail(what) {
    return new WebjitError(`kernel file ${this.file} ${what}; rebuild the bundle`);
  }
}

/** Returns {module, field, flagOffset, flag} for the memory import of a wasm binary. */
export function findMemoryImport(bytes, file = 'kernel') {
  const r = new Reader(bytes, file);
  for (const b of MAGIC) if (r.byte() !== b) throw r.fail('is not a WebAssembly module');
  r.skip(4);  // version
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === IMPORT_SECTION) return walkImports(r, end);
    r.skip(size);
  }
  throw r.fail('imports no memory, but the kernel ABI requires env.memory');
}

function walkImports(r, end) {
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const module = r.name();
    const field = r.name();
    const kind = r.byte();
    if (kind === KIND_MEMORY) return { module, field, ...r.limits() };
    if (kind === KIND_FUNC) r.u32();
    else if (kind === KIND_TABLE) { r.byte(); r.limits(); }
    else if (kind === KIND_GLOBAL) r.skip(2);
    else if (kind === KIND_TAG) { r.byte(); r.u32(); }
    else throw r.fail(`has an unknown import kind ${kind}`);
    if (r.pos > end) throw r.fail('has a malformed import section');
  }
  throw r.fail('imports no memory, but the kernel ABI requires env.memory');
}

/** A copy of `bytes` whose shared memory import is declared non-shared (0x03 -> 0x01). */
export function unshareMemoryImport(bytes, file = 'kernel') {
  const found = findMemoryImport(bytes, file);
  const copy = new Uint8Array(bytes);
  if (found.flag === LIMITS_SHARED) copy[found.flagOffset] = LIMITS_MAX;
  return copy;
}
