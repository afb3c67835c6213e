// What differs between the browser and Node: reading a bundle from disk, the core count,
// worker threads, raw inflate and the tuning cache's folder. This module has only the
// browser's answers and imports no node: module, so that a bundler (Vite, esbuild) or an import map
// never meets a node: specifier; the package's `node` export (node.js) fills `platform`
// with Node's answers (platform_node.js) before anything runs.
import { WebjitError } from './errors.js';

export const IN_NODE = typeof process !== 'undefined' && Boolean(process.versions?.node);

export const platform = {
  /** True once platform_node.js has installed Node's answers. */
  node: false,
  /** A bundle reader over a folder path or file:// URL (Node), else null. */
  openFiles: null,
  /** readLocal(path or file:// URL) -> bytes (Node), else null. */
  readLocal: null,
  /** The CPU cores this device reports. */
  cores: () => globalThis.navigator?.hardwareConcurrency || 1,
  /** Starts one worker of the pool (pool.js): null means a browser Worker. */
  spawnWorker: null,
  /** inflateRaw(bytes, expected size) -> bytes, or null: DecompressionStream. */
  inflateRaw: null,
  /** openTuningFolder(folder, fingerprint, threads) -> cache (Node), else null: IndexedDB. */
  openTuningFolder: null,
};

/** Throws, in Node, when the browser entry (src/index.js) was imported instead of the package's. */
export function needNodeEntry(what) {
  if (IN_NODE && !platform.node) {
    throw new WebjitError(`${what} needs the Node entry of the package: import 'webjit' ` +
      "(its 'node' export, src/node.js), not src/index.js");
  }
}
