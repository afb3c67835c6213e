// Runs one webjit WASM kernel (or one exported function) in Node for the Python tests.
// Usage: node wasm_harness.mjs DIR, where DIR holds job.json, module.wasm and mem.bin.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
const job = JSON.parse(readFileSync(join(dir, "job.json"), "utf8"));
const bytes = readFileSync(join(dir, "module.wasm"));
const image = readFileSync(join(dir, "mem.bin"));

const module = new WebAssembly.Module(bytes);
// The kernel ABI declares env.memory shared; a module built with shared_memory=False
// imports a plain memory, so fall back to one when the shared one does not link.
let instance, memory;
for (const shared of [true, false]) {
  memory = new WebAssembly.Memory({ initial: job.pages, maximum: 65536, shared });
  try {
    instance = new WebAssembly.Instance(module, { env: { memory } });
    break;
  } catch (err) {
    if (!(err instanceof WebAssembly.LinkError) || !shared) throw err;
  }
}
new Uint8Array(memory.buffer).set(image);

if (job.mode === "run") {
  for (let tid = 0; tid < job.nthreads; tid++) {
    instance.exports.run(...job.args, tid, job.nthreads);
  }
  const mem = new Uint8Array(memory.buffer);
  const parts = job.outputs.map(([offset, size]) => mem.slice(offset, offset + size));
  writeFileSync(join(dir, "out.bin"), Buffer.concat(parts));
} else {
  const fn = instance.exports[job.fname];
  if (!fn) throw new Error(`the module exports no function ${job.fname}`);
  const result = fn(...job.scalars.map(Number));
  const values = result === undefined ? [] : Array.isArray(result) ? result : [result];
  writeFileSync(join(dir, "result.json"), JSON.stringify(values.map(String)));
}
