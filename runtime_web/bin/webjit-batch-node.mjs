#!/usr/bin/env node
// Runs webjit bundles one after another in one Node process, for `webjit fuzz`:
//   node bin/webjit-batch-node.mjs
// Reads one JSON job per line on stdin, {bundle, inputs, outputs, threads, backend} (.npy folders
// as in webjit-run-node.mjs), and answers each with one JSON line on stdout, {ok, error?}, before
// reading the next. A job that never answers is the caller's to time out (it kills the process).
// WebGPU comes from the webgpu package (Dawn), created once for every job.
import { createInterface } from 'node:readline';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load } from '../src/index.js';
import { npyFile, readNpy, writeNpy } from '../src/npy.js';

let gpu = null;

async function gpuFor(backend) {
  if (backend !== 'webgpu') return undefined;
  if (!gpu) {
    const webgpu = await import(new URL('../node_modules/webgpu/index.js', import.meta.url));
    Object.assign(globalThis, webgpu.globals);
    gpu = webgpu.create([]);
  }
  return gpu;
}

async function runJob(job) {
  const backend = job.backend ?? 'wasm';
  const session = await load(job.bundle, { backend, threads: job.threads ?? 1, gpu: await gpuFor(backend) });
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
  } finally {
    session.release();
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let reply;
  try {
    await runJob(JSON.parse(line));
    reply = { ok: true };
  } catch (err) {
    reply = { ok: false, error: String(err?.message ?? err) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
process.exit(0);  // Dawn keeps the event loop alive
