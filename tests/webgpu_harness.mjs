// Runs webjit WGSL kernels in Node (npm `webgpu`, Dawn) for the Python kernel tests.
// Usage: node webgpu_harness.mjs DIR, where DIR holds jobs.json and in.bin; writes
// results.json (per job: {ok, outputs: [[offset, bytes]...]} or {error}) and out.bin.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

async function loadWebgpu() {
  // The runtime's own devDependency first, the experiments folder while that is missing.
  const roots = [join(process.cwd(), "runtime_web", "package.json"),
                 new URL("../runtime_web/package.json", import.meta.url).pathname,
                 "/tmp/wgpu/package.json"];
  for (const root of roots) {
    try {
      const path = createRequire(root).resolve("webgpu");
      return await import(pathToFileURL(path).href);
    } catch (err) { /* try the next place */ }
  }
  throw new Error("the npm package `webgpu` is not installed (npm install webgpu in runtime_web)");
}

const dir = process.argv[2];
const jobs = JSON.parse(readFileSync(join(dir, "jobs.json"), "utf8"));
const input = readFileSync(join(dir, "in.bin"));

const { create, globals } = await loadWebgpu();
Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) throw new Error("no WebGPU adapter (is the SwiftShader ICD set in VK_ICD_FILENAMES?)");
const device = await adapter.requestDevice();

async function compile(job) {
  device.pushErrorScope("validation");
  const module = device.createShaderModule({ code: job.source });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === "error")
    .map((m) => `${m.lineNum}:${m.linePos}: ${m.message}`);
  const layout = device.createBindGroupLayout({
    entries: job.bindings.map((b, i) => ({
      binding: i, visibility: GPUShaderStage.COMPUTE,
      buffer: { type: b.write ? "storage" : "read-only-storage" },
    })),
  });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: job.entry },
  });
  const scope = await device.popErrorScope();
  if (errors.length || scope) throw new Error([...errors, scope ? scope.message : ""].join("\n"));
  return { pipeline, layout };
}

async function run(job) {
  const { pipeline, layout } = await compile(job);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const buffers = job.args.map(([offset, bytes]) => {
    const buffer = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16), usage });
    if (bytes) device.queue.writeBuffer(buffer, 0, input, offset, bytes);
    return buffer;
  });
  device.pushErrorScope("validation");
  const group = device.createBindGroup({
    layout,
    entries: job.bindings.map((b, i) => ({
      binding: i, resource: { buffer: buffers[b.arg], offset: b.start * 4, size: b.count * 4 },
    })),
  });
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(...job.dispatch);
  pass.end();
  const reads = job.outputs.map((i) => {
    const bytes = job.args[i][1];
    const read = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 16) * 16),
                                       usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(buffers[i], 0, read, 0, read.size);
    return [read, bytes];
  });
  device.queue.submit([encoder.finish()]);
  const scope = await device.popErrorScope();
  if (scope) throw new Error(scope.message);
  const parts = [];
  for (const [read, bytes] of reads) {
    await read.mapAsync(GPUMapMode.READ);
    parts.push(Buffer.from(read.getMappedRange().slice(0, bytes)));
    read.destroy();
  }
  buffers.forEach((b) => b.destroy());
  return parts;
}

const results = [];
const chunks = [];
let cursor = 0;
for (const job of jobs) {
  try {
    const parts = await run(job);
    const outputs = parts.map((p) => { const at = [cursor, p.length]; cursor += p.length; return at; });
    chunks.push(...parts);
    results.push({ ok: true, outputs });
  } catch (err) {
    results.push({ ok: false, error: String(err && err.message ? err.message : err) });
  }
}
writeFileSync(join(dir, "out.bin"), Buffer.concat(chunks));
writeFileSync(join(dir, "results.json"), JSON.stringify(results));
process.exit(0);
