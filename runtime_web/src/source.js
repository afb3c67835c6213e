// Reads bundle files from an http(s) URL (fetch, with streamed progress) or, in Node only,
// from a filesystem path or file:// URL. Node modules are imported dynamically so that the
// browser build never loads a node: module.
import { WebjitError } from './errors.js';

export const IN_NODE = typeof process !== 'undefined' && Boolean(process.versions?.node);

/** A reader for the bundle at `url`: {describe(file), read(file, onBytes, expected bytes)}. */
export async function openBundle(url) {
  if (typeof url !== 'string' && !(url instanceof URL)) {
    throw new WebjitError('webjit.load needs the bundle URL or path as a string');
  }
  const text = String(url).replace(/\/+$/, '');
  if (IN_NODE && !/^https?:/i.test(text)) return openFiles(text);
  const base = new URL(text + '/', globalThis.location?.href);
  return {
    describe: (file) => new URL(file, base).href,
    read: (file, onBytes, expected) => fetchBytes(new URL(file, base).href, file, onBytes, expected),
  };
}

async function openFiles(text) {
  const { readFile } = await import('node:fs/promises');
  const path = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const root = /^file:/i.test(text) ? fileURLToPath(text) : path.resolve(text);
  return {
    describe: (file) => path.join(root, file),
    async read(file, onBytes) {
      let bytes;
      try {
        bytes = new Uint8Array(await readFile(path.join(root, file)));
      } catch (err) {
        if (err.code === 'ENOENT') throw missing(file, path.join(root, file));
        throw new WebjitError(`could not read bundle file ${file} (${err.message})`, { cause: err });
      }
      onBytes?.(bytes.length);
      return bytes;
    },
  };
}

function missing(file, where) {
  return new WebjitError(`bundle file ${file} is missing (${where}); rebuild or re-download the bundle`);
}

async function fetchBytes(href, file, onBytes, expected) {
  let response;
  try {
    response = await fetch(href);
  } catch (err) {
    const message = `could not fetch bundle file ${file} from ${href} (${err.message})`;
    throw new WebjitError(message, { cause: err });
  }
  if (response.status === 404) throw missing(file, href);
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

/** Reads one payload ({file, bytes, sha256} from the manifest) and checks its size and hash. */
export async function readVerified(bundle, payload, onBytes) {
  const { bytes, verified } = await readChecking(bundle, payload, onBytes);
  await verified;
  return bytes;
}

/**
 * Reads one payload and checks its size; resolves to {bytes, verified}, `verified` a promise
 * of the sha256 check (WebCrypto hashes off the main thread, so a caller may decode the
 * bytes meanwhile, as long as nothing uses them before `verified` resolves).
 */
export async function readChecking(bundle, payload, onBytes) {
  const bytes = await bundle.read(payload.file, onBytes, payload.bytes);
  if (bytes.length !== payload.bytes) {
    throw new WebjitError(`bundle file ${payload.file} is corrupt (${bytes.length} bytes, ` +
      `manifest says ${payload.bytes}); rebuild or re-download the bundle`);
  }
  const verified = sha256Hex(bytes).then((hex) => {
    if (hex !== String(payload.sha256).toLowerCase()) {
      throw new WebjitError(`bundle file ${payload.file} is corrupt (sha256 mismatch); ` +
        'rebuild or re-download the bundle');
    }
  });
  verified.catch(() => {});  // awaited by the caller
  return { bytes, verified };
}
