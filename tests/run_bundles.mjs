#!/usr/bin/env node
// Runs many webjit bundles in one Node process, for the op test suite:
//   node tests/run_bundles.mjs JOBS.json
// JOBS.json is a list of {bundle, inputs, outputs, threads, backend}: .npy folders as in
// runtime_web/bin/webjit-run-node.mjs. Prints one JSON line per job, {index, ok, error?, threads?},
// and keeps going after a job fails so one broken bundle does not hide the others.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load } from '../runtime_web/src/index.js';
import { npyFile, readNpy, writeNpy } from '../runtime_web/src/npy.js';

let gpu = null;  // one Dawn instance for every WebGPU job (the package needs it kept alive)

async function gpuFor(backend) {
  if (backend !== 'webgpu') return undefined;
  if (!gpu) {
    const webgpu = await import(new URL('../runtime_web/node_modules/webgpu/index.js', import.meta.url));
    Object.assign(globalThis, webgpu.globals);
    gpu = webgpu.create([]);
  }
  return gpu;
}

async function runJob(job) {
  const backend = job.backend ?? 'wasm';
  const session = await load(job.bundle, { backend, threads: job.threads, gpu: await gpuFor(backend) });
  try {
    const feeds = {};
    for (const { name } of session.inputs) {
      const path = join(job.inputs, npyFile(name));
      feeds[name] = readNpy(new Uint8Array(await readFile(path)), path);
    }
    const outputs = await session.run(feeds);
    await mkdir(job.outputs, { recursive: true });
    for (const [name, tensor] of Object.entries(outputs)) {
      await writeFile(join(job.outputs, npyFile(name)), writeNpy(tensor));
    }
    return session.threads;
  } finally {
    session.release();
  }
}

const jobs = JSON.parse(await readFile(process.argv[2], 'utf8'));
for (const [index, job] of jobs.entries()) {
  try {
    const threads = await runJob(job);
    console.log(JSON.stringify({ index, ok: true, threads }));
  } catch (err) {
    console.log(JSON.stringify({ index, ok: false, error: String(err?.message ?? err) }));
  }
}
process.exit(0);  // Dawn keeps the event loop alive
