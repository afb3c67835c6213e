#!/usr/bin/env node
// Serves driver commands (src/driver.js) over stdin/stdout: one JSON command per input line,
// one JSON reply per output line ({ok, result} or {ok: false, error, user}). Used by webjit's
// Python side for `webjit tune` and `webjit run --profile --browser node`.
//   node [--experimental-wasm-relaxed-simd] bin/webjit-driver-node.mjs [--webgpu]
// With --webgpu, sessions get a GPU from the webgpu package (Dawn); on Linux without a GPU
// it needs LD_LIBRARY_PATH=/usr/lib/chromium VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.
import { createInterface } from 'node:readline';
import '../src/platform_node.js';  // Node's file reads and worker threads (src/node.js does the same)
import { createDriver } from '../src/driver.js';

async function gpuOption() {
  if (!process.argv.includes('--webgpu')) return {};
  try {
    const webgpu = await import('webgpu');
    Object.assign(globalThis, webgpu.globals);
    return { gpu: webgpu.create([]) };
  } catch (err) {
    return {};  // load() then says there is no adapter
  }
}

const driver = createDriver(await gpuOption());
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let command;
  try {
    command = JSON.parse(line);
  } catch (err) {
    process.stdout.write(JSON.stringify({ ok: false, error: `not a JSON command: ${err.message}` }) + '\n');
    continue;
  }
  if (command.command === 'quit') break;
  const reply = await driver.call(command);
  process.stdout.write(JSON.stringify(reply) + '\n');
}
driver.closeAll();
process.exit(0);  // Dawn's device keeps the event loop alive
