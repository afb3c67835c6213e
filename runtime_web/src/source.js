// Reads bundle files: from an http(s) URL (fetch, or the caller's own fetch, with streamed
// progress), from a map of file names to bytes or Files, from a zip of the bundle, or, in Node only, from a folder
// path or file:// URL (platform_node.js: this module imports no node: module). Payloads
// (files the manifest names with a sha256) are checked here, and kept in the browser's
// Cache API keyed by their sha256 (payload_cache.js).
import { WebjitError } from './errors.js';
import { IN_NODE, needNodeEntry, platform } from './platform.js';
import { isZip, readZip } from './zip.js';

export { IN_NODE };

/**
 * A reader for the bundle `source` (a URL or path, or {file name: bytes | Blob | File}, or a
 * Map of them): {describe(file), read(file, onBytes, expected bytes), cache}. `fetch` replaces
 * globalThis.fetch for URLs; `cache` ({get, put} of payload_cache.js, or null) is used for
 * payloads read by readChecking.
 */
export async function openBundle(source, { fetch = null, cache = null } = {}) {
  if (isFileMap(source)) return { ...openMap(source), cache: null };
  if (isZipSource(source)) {
    const bytes = source instanceof Uint8Array ? source : source instanceof ArrayBuffer ? new Uint8Array(source)
      : new Uint8Array(await source.arrayBuffer());
    if (!isZip(bytes)) throw new WebjitError('the bytes or Blob given to webjit.load are not a zip of a bundle');
    return { ...openMap(await readZip(bytes, 'the bundle zip')), cache: null };
  }
  if (typeof source !== 'string' && !(source instanceof URL)) {
    throw new WebjitError('webjit.load needs the bundle URL or path as a string, a map of its file names to bytes or Files, ' +
      'or the bundle as one zip (bytes or a Blob)');
  }
  const text = String(source).replace(/\/+$/, '');
  if (IN_NODE && !/^https?:/i.test(text)) {
    needNodeEntry('reading a bundle from a folder');
    return { ...platform.openFiles(text), cache: null };
  }
  const base = new URL(text + '/', globalThis.location?.href);
  const get = fetch ?? ((href) => globalThis.fetch(href));
  return {
    describe: (file) => new URL(file, base).href,
    read: (file, onBytes, expected) => fetchBytes(get, new URL(file, base).href, file, onBytes, expected),
    cache,
    writes: [],  // the cache writes under way (readChecking), for Session.cached
  };
}

/** A bundle saved as one zip: bytes, or a Blob / File (compileInBrowser's session.compiled.zip()). */
function isZipSource(source) {
  return source instanceof Uint8Array || source instanceof ArrayBuffer ||
    (typeof Blob !== 'undefined' && source instanceof Blob);
}

function isFileMap(source) {
  if (source instanceof Map) return true;
  return typeof source === 'object' && source !== null && !(source instanceof URL) &&
    Object.getPrototypeOf(source) === Object.prototype;
}

/** A reader over {name: Uint8Array | ArrayBuffer | Blob | File} (a <input type=file> pick, say). */
function openMap(source) {
  const files = source instanceof Map ? source : new Map(Object.entries(source));
  return {
    describe: (file) => `${file} (given to webjit.load)`,
    async read(file, onBytes) {
      if (!files.has(file)) {
        throw new WebjitError(`bundle file ${file} is missing (not among the ${files.size} files given to webjit.load); ` +
          'pass every file of the bundle folder');
      }
      const value = files.get(file);
      let bytes;
      if (value instanceof Uint8Array) bytes = value;
      else if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
      else if (ArrayBuffer.isView(value)) bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      else if (typeof value?.arrayBuffer === 'function') bytes = new Uint8Array(await value.arrayBuffer());  // Blob, File
      else throw new WebjitError(`bundle file ${file} given to webjit.load is not bytes, a Blob or a File`);
      onBytes?.(bytes.length);
      return bytes;
    },
  };
}

export function missingFile(file, where) {
  return new WebjitError(`bundle file ${file} is missing (${where}); rebuild or re-download the bundle`);
}

async function fetchBytes(get, href, file, onBytes, expected) {
  let response;
  try {
    response = await get(href);
  } catch (err) {
    const message = `could not fetch bundle file ${file} from ${href} (${err.message})`;
    throw new WebjitError(message, { cause: err });
  }
  if (response.status === 404) throw missingFile(file, href);
  if (!response.ok) {
    throw new WebjitError(`could not fetch bundle file ${file}: HTTP ${response.status} from ${href}`);
  }
  if (!response.body || !onBytes) return new Uint8Array(await response.arrayBuffer());
  // Chunks go straight into one buffer of the size the manifest states (when it states one).
  let bytes = new Uint8Array(expected ?? 0), length = 0;
  for (const reader = response.body.getReader(); ;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (length + value.length > bytes.length) {
      const grown = new Uint8Array(Math.max(2 * bytes.length, length + value.length));
      grown.set(bytes.subarray(0, length));
      bytes = grown;
    }
    bytes.set(value, length);
    length += value.length;
    onBytes(value.length);
  }
  return length === bytes.length ? bytes : bytes.slice(0, length);
}

/** Hex sha256 of `bytes` (WebCrypto, present in browsers and Node 20). */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Reads one payload ({file, bytes, sha256} from the manifest) and checks its size and hash;
 * `onBytes(n, fromCache)` as readChecking. */
export async function readVerified(bundle, payload, onBytes) {
  const { bytes, verified } = await readChecking(bundle, payload, onBytes);
  await verified;
  return bytes;
}

/**
 * Reads one payload and checks its size; resolves to {bytes, verified, fromCache}, `verified`
 * a promise of the sha256 check (WebCrypto hashes off the main thread, so a caller may decode
 * the bytes meanwhile, as long as nothing uses them before `verified` resolves). A payload
 * found in the bundle's cache was hashed before it was stored: it is not hashed again. A
 * payload read afresh is stored in the cache once it checks out, in the background (a load
 * does not wait for the browser's disk): the write joins `bundle.writes`.
 * `onBytes(n, fromCache)` is called as its bytes arrive.
 */
export async function readChecking(bundle, payload, onBytes) {
  const sha256 = String(payload.sha256).toLowerCase();
  const cached = await bundle.cache?.get(sha256, payload.bytes);
  if (cached) {
    onBytes?.(cached.length, true);
    return { bytes: cached, verified: Promise.resolve(), fromCache: true };
  }
  const bytes = await bundle.read(payload.file, onBytes && ((n) => onBytes(n, false)), payload.bytes);
  if (bytes.length !== payload.bytes) {
    throw new WebjitError(`bundle file ${payload.file} is corrupt (${bytes.length} bytes, ` +
      `manifest says ${payload.bytes}); rebuild or re-download the bundle`);
  }
  const verified = sha256Hex(bytes).then((hex) => {
    if (hex !== sha256) {
      throw new WebjitError(`bundle file ${payload.file} is corrupt (sha256 mismatch); ` +
        'rebuild or re-download the bundle');
    }
  });
  verified.catch(() => {});  // awaited by the caller
  if (bundle.cache) bundle.writes?.push(verified.then(() => bundle.cache.put(sha256, bytes), () => {}));
  return { bytes, verified, fromCache: false };
}
