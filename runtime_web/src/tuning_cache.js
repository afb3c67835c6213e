// Where the JIT remembers what it measured: one record per (device fingerprint, thread
// count, kernel signature), in the format of the schedule database (schedules/README.md),
// so that the next visit applies it before its first run. Browsers keep the records in
// IndexedDB; Node in a folder with one JSON file per device and thread count, which
// `webjit schedules merge` reads as it is (platform_node.js).
import { WebjitError } from './errors.js';
import { IN_NODE, needNodeEntry, platform } from './platform.js';

export const RECORDS_FORMAT = 'webjit-schedules';
export const RECORDS_VERSION = 1;
const DATABASE = 'webjit-tuning';
const STORE = 'records';

/**
 * Opens the cache the `tuneCache` option names for one device: a folder path (Node) or an
 * IndexedDB database name (browsers), true or undefined for the default place, or an object
 * with the same methods. Resolves to {records() -> [record], put(record), where} or null
 * (false). Records are keyed by signature: one device and thread count per cache.
 */
export async function openTuningCache(option, fingerprint, threads) {
  if (option === false || option === null) return null;
  if (typeof option === 'object') {
    if (typeof option.records !== 'function' || typeof option.put !== 'function') {
      throw new WebjitError('the tuneCache option must be a folder or database name, false, or an object with records() and put(record)');
    }
    return option;
  }
  if (option !== undefined && option !== true && (typeof option !== 'string' || !option)) {
    throw new WebjitError('the tuneCache option must be a folder or database name, true or false');
  }
  const name = typeof option === 'string' ? option : undefined;
  if (IN_NODE) needNodeEntry('the tuning cache');
  return platform.openTuningFolder ? platform.openTuningFolder(name, fingerprint, threads)
    : openIndexedDb(name ?? DATABASE, fingerprint, threads);
}

/** {format, format_version, device, records}: a file of the schedule database. */
export function recordsFile(fingerprint, records) {
  return { format: RECORDS_FORMAT, format_version: RECORDS_VERSION, device: fingerprint, records };
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function openIndexedDb(name, fingerprint, threads) {
  const idb = globalThis.indexedDB;
  if (!idb) return null;  // e.g. a sandboxed frame: tuning still runs, nothing is remembered
  let db;
  try {
    const opening = idb.open(name, 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
    db = await request(opening);
  } catch {
    return null;
  }
  const prefix = `${fingerprint}|${threads}|`;
  const store = (mode) => db.transaction(STORE, mode).objectStore(STORE);
  return {
    where: `IndexedDB ${name}`,
    records: () => request(store('readonly').getAll(IDBKeyRange.bound(prefix, `${prefix}\uffff`))),
    put: (record) => request(store('readwrite').put(record, prefix + record.signature)),
  };
}
