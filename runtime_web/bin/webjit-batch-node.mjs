#!/usr/bin/env node
// Runs webjit bundles one after another in one Node process, for `webjit fuzz`:
//   node bin/webjit-batch-node.mjs
// Reads one JSON job per line on stdin, {bundle, inputs, outputs, threads, backend} (.npy folders
// as in webjit-run-node.mjs), and answers each with one JSON line on stdout, {ok, error?}, before
// reading the next. A job that never answers is the caller's to time out (it kills the process).
import { createInterface } from 'node:readline';
import { runJob } from './run_job.mjs';

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
