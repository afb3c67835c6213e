#!/usr/bin/env node
// Runs many webjit bundles in one Node process, for the op test suite:
//   node tests/run_bundles.mjs JOBS.json
// JOBS.json is a list of {bundle, inputs, outputs, threads, backend}: .npy folders as in
// runtime_web/bin/webjit-run-node.mjs. Prints one JSON line per job, {index, ok, error?, threads?},
// and keeps going after a job fails so one broken bundle does not hide the others.
import { readFile } from 'node:fs/promises';
import { runJob } from '../runtime_web/bin/run_job.mjs';

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
