// Node's answers for platform.js (read it first): imported only by node.js, the package's
// `node` export, so that browser bundles never contain a node: module.
import { readFile } from 'node:fs/promises';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { inflateRaw } from 'node:zlib';
import { platform } from './platform.js';
import { WebjitError } from './errors.js';
import { missingFile } from './source.js';
import { RECORDS_FORMAT, recordsFile } from './tuning_cache.js';

/** A reader of the bundle folder at `text` (a path or a file:// URL). */
function openFiles(text) {
  const root = /^file:/i.test(text) ? fileURLToPath(text) : path.resolve(text);
  return {
    describe: (file) => path.join(root, file),
    async read(file, onBytes) {
      let bytes;
      try {
        bytes = new Uint8Array(await readFile(path.join(root, file)));
      } catch (err) {
        if (err.code === 'ENOENT') throw missingFile(file, path.join(root, file));
        throw new WebjitError(`could not read bundle file ${file} (${err.message})`, { cause: err });
      }
      onBytes?.(bytes.length);
      return bytes;
    },
  };
}

/** One worker_threads worker (worker_node.js) in pool.js's interface. */
function spawnWorker(error, message) {
  const worker = new Worker(new URL('./worker_node.js', import.meta.url));
  worker.on('message', message);
  worker.on('error', error);
  worker.on('exit', (code) => error(new Error(`a worker thread exited (code ${code})`)));
  return {
    post: (m) => worker.postMessage(m),
    hold: (held) => (held ? worker.ref() : worker.unref()),
    terminate: () => { worker.removeAllListeners('exit'); worker.terminate(); },
  };
}

/** Raw inflate in one output chunk of the expected size (Node's web streams are five times slower). */
function inflate(bytes, size) {
  return new Promise((resolve, reject) => {
    inflateRaw(bytes, { chunkSize: Math.max(size, 64) }, (err, out) => (err ? reject(err) : resolve(
      new Uint8Array(out.buffer, out.byteOffset, out.length))));
  });
}

const slug = (text) => String(text).replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '') || 'device';

/** The tuning cache in a folder: one JSON file per device and thread count, which
 * `webjit schedules merge` reads as it is. */
async function openTuningFolder(folder, fingerprint, threads) {
  const root = folder ?? path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'webjit', 'tuning');
  const file = path.join(root, `${slug(fingerprint)}-${threads}t.json`);
  const bySignature = new Map();
  try {
    const data = JSON.parse(await fs.readFile(file, 'utf8'));
    if (data?.format === RECORDS_FORMAT && Array.isArray(data.records)) {
      for (const r of data.records) if (typeof r?.signature === 'string') bySignature.set(r.signature, r);
    }
  } catch {
    // none yet, or damaged: start afresh (a damaged cache only costs a retune)
  }
  return {
    where: file,
    records: async () => [...bySignature.values()],
    async put(record) {
      bySignature.set(record.signature, record);
      await fs.mkdir(root, { recursive: true });
      const temp = `${file}.${process.pid}.tmp`;
      await fs.writeFile(temp, JSON.stringify(recordsFile(fingerprint, [...bySignature.values()]), null, 1) + '\n');
      await fs.rename(temp, file);
    },
  };
}

/** The bytes of a local file (a path or a file:// URL). */
async function readLocal(text) {
  return new Uint8Array(await readFile(/^file:/i.test(String(text)) ? fileURLToPath(String(text)) : String(text)));
}

Object.assign(platform, {
  node: true,
  openFiles,
  readLocal,
  cores: () => os.availableParallelism?.() ?? os.cpus().length,
  spawnWorker,
  inflateRaw: inflate,
  openTuningFolder,
});
