// One job of the Node batch runners (webjit-batch-node.mjs for `webjit fuzz`, tests/run_bundles.mjs
// for the op tests): load a bundle, run it on a folder of .npy inputs, write the outputs.
// job: {bundle, inputs, outputs, threads?, backend?}. WebGPU comes from the webgpu package
// (Dawn), created once for every job of the process (it must stay alive).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load } from '../src/node.js';
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

/** Runs one job; resolves to the threads the session used. */
export async function runJob(job) {
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
    return session.threads;
  } finally {
    session.release();
  }
}
