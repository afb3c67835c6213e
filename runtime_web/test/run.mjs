// `npm test`: runs every test/*.test.mjs with node --test, with the environment the webgpu
// package (Dawn) needs to find Chromium's SwiftShader Vulkan driver on Linux.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHROMIUM_LIB = '/usr/lib/chromium';
const SWIFTSHADER_ICD = join(CHROMIUM_LIB, 'vk_swiftshader_icd.json');

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join(here, f));
const env = { ...process.env };
if (existsSync(SWIFTSHADER_ICD)) {
  env.LD_LIBRARY_PATH = [CHROMIUM_LIB, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
}
// One file at a time: the timing tests (the JIT's choice between candidates, the timer) measure
// on the machine's cores, and other test files running beside them made their choices noisy.
const done = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...process.argv.slice(2), ...files],
  { stdio: 'inherit', env });
process.exit(done.status ?? 1);
