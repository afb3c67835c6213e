#!/usr/bin/env node
// Runs a webjit bundle in Node on .npy inputs and writes .npy outputs:
//   node bin/webjit-run-node.mjs BUNDLE_DIR --inputs DIR --outputs DIR [--threads N] [--repeat N]
// Prints one JSON line: {"backend", "threads", "latency_ms", "load_ms"}.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { load, WebjitError } from '../src/index.js';
import { readNpy, writeNpy } from '../src/npy.js';
import { timeRuns } from '../src/bench.js';

const USAGE = 'usage: webjit-run-node.mjs BUNDLE_DIR --inputs DIR --outputs DIR [--threads N] [--repeat N]';

function parseArgs(argv) {
  const args = { threads: 'auto', repeat: 1 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (!flag.startsWith('--')) {
      if (args.bundle) throw new WebjitError(`unexpected argument ${flag}; ${USAGE}`);
      args.bundle = flag;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new WebjitError(`${flag} needs a value; ${USAGE}`);
    if (flag === '--inputs') args.inputs = value;
    else if (flag === '--outputs') args.outputs = value;
    else if (flag === '--threads') args.threads = value === 'auto' ? 'auto' : positive(flag, value);
    else if (flag === '--repeat') args.repeat = positive(flag, value);
    else throw new WebjitError(`unknown option ${flag}; ${USAGE}`);
  }
  if (!args.bundle || !args.inputs || !args.outputs) throw new WebjitError(USAGE);
  return args;
}

function positive(flag, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new WebjitError(`${flag} must be a positive integer, not ${value}`);
  }
  return n;
}

async function readInput(dir, name) {
  const path = join(dir, `${name}.npy`);
  let bytes;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new WebjitError(`cannot read input '${name}' from ${path} (${err.code ?? err.message})`);
  }
  const { shape, data } = readNpy(bytes, path);
  return { shape, data };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const start = performance.now();
  const session = await load(args.bundle, { backend: 'wasm', threads: args.threads });
  const loadMs = performance.now() - start;
  try {
    const feeds = {};
    for (const { name } of session.inputs) feeds[name] = await readInput(args.inputs, name);
    const { outputs, latency_ms } = await timeRuns(session, feeds, args.repeat);
    await mkdir(args.outputs, { recursive: true });
    for (const [name, tensor] of Object.entries(outputs)) {
      await writeFile(join(args.outputs, `${name}.npy`), writeNpy(tensor));
    }
    const report = { backend: session.backend, threads: session.threads, latency_ms, load_ms: loadMs };
    console.log(JSON.stringify(report));
  } finally {
    session.release();
  }
}

main().catch((err) => {
  if (err instanceof WebjitError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`${err?.stack ?? err}\n`);
  process.exit(1);
});
