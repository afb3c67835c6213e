// The browser's cache of bundle payloads (weight shards, kernels, JIT candidates): the
// Cache API, keyed by each payload's sha256 from the manifest, so that a second visit reads
// them from disk without fetching, and a rebuilt bundle (new hashes) never meets a stale
// one. Only payloads that checked out are stored, so a payload read back is not hashed again.
// Node has no Cache API: there the bundle is read from disk anyway.
import { WebjitError } from './errors.js';

export const CACHE_NAME = 'webjit-payloads';
// Cache API keys are http(s) URLs; this one is never fetched (.invalid is reserved, RFC 2606).
const keyOf = (sha256) => `https://payloads.webjit.invalid/sha256/${sha256}`;

/** {get(sha256, bytes) -> Uint8Array | null, put(sha256, bytes)} over the Cache API, or null
 * when `option` is false or this context has no Cache API (Node, an insecure origin). */
export async function openPayloadCache(option) {
  if (option !== undefined && typeof option !== 'boolean') {
    throw new WebjitError(`the cache option must be true or false, not ${JSON.stringify(option)}`);
  }
  if (option === false || !globalThis.caches) return null;
  let cache;
  try {
    cache = await globalThis.caches.open(CACHE_NAME);
  } catch {
    return null;  // e.g. an opaque origin or storage turned off: load without caching
  }
  return {
    async get(sha256, size) {
      try {
        const response = await cache.match(keyOf(sha256));
        if (!response) return null;
        const bytes = new Uint8Array(await response.arrayBuffer());
        return bytes.length === size ? bytes : null;  // a truncated entry is fetched afresh
      } catch {
        return null;
      }
    },
    async put(sha256, bytes) {
      try {
        // Through a Blob: Chromium blocks the page a third as long as for the bytes themselves
        // (0.25 against 0.9-1.5 s for 76 MiB here), and the write takes half the time.
        const body = new Blob([bytes], { type: 'application/octet-stream' });
        await cache.put(keyOf(sha256), new Response(body, { headers: { 'Content-Type': 'application/octet-stream' } }));
      } catch {
        // over the storage quota: this payload is fetched again next time
      }
    },
  };
}

/** Deletes every cached payload; resolves to true when there was a cache to delete. */
export async function clearCache() {
  if (!globalThis.caches) return false;
  return globalThis.caches.delete(CACHE_NAME);
}
