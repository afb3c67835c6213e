// load() sources beside a folder: a map of file names to bytes or Blobs, a custom fetch, and
// the payload cache (the Cache API, here a stand-in with the same methods: Node has none).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as webjit from '../src/node.js';
import { addBundle, tempDir } from './fixtures.mjs';

/** {relative path: bytes} of every file under `dir`. */
function filesOf(dir, root = dir, out = {}) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) filesOf(path, root, out);
    else out[relative(root, path).split('\\').join('/')] = new Uint8Array(readFileSync(path));
  }
  return out;
}

async function addOne(session, w) {
  const x = Float32Array.from({ length: 8 }, (_, i) => i + 0.5);
  const { y } = await session.run({ x });
  assert.deepEqual(Array.from(y.data), Array.from(x, (v, i) => Math.fround(v + w[i])));
}

test('a map of file names to bytes or Blobs loads like the folder; a missing file is named', async () => {
  const dir = tempDir();
  const { w } = addBundle(dir, 8);
  const files = filesOf(dir);
  const blobs = new Map(Object.entries(files).map(([name, bytes]) => [name, new Blob([bytes])]));
  for (const source of [files, blobs]) {
    const session = await webjit.load(source, { threads: 1 });
    await addOne(session, w);
    session.release();
  }
  const { 'weights-0.bin': _, ...partial } = files;
  await assert.rejects(webjit.load(partial, { threads: 1 }),
    /bundle file weights-0.bin is missing \(not among the \d+ files given to webjit.load\)/);
  const corrupt = { ...files, 'weights-0.bin': files['weights-0.bin'].map((b) => b ^ 1) };
  await assert.rejects(webjit.load(corrupt, { threads: 1 }), /weights-0.bin is corrupt \(sha256 mismatch\)/);
});

test('a custom fetch reads every file; bad cache and fetch options are one sentence', async () => {
  const dir = tempDir();
  const { w } = addBundle(dir, 8);
  const files = filesOf(dir);
  const asked = [];
  const fetch = async (url) => {
    asked.push(url);
    const name = new URL(url).pathname.replace(/^\/b\//, '');
    return files[name] ? new Response(files[name]) : new Response('no', { status: 404 });
  };
  const session = await webjit.load('https://example.invalid/b/', { threads: 1, fetch });
  await addOne(session, w);
  session.release();
  assert.ok(asked.includes('https://example.invalid/b/manifest.json'), asked);
  assert.ok(asked.includes('https://example.invalid/b/weights-0.bin'), asked);
  await assert.rejects(webjit.load(dir, { cache: 'yes' }), /the cache option must be true or false/);
  await assert.rejects(webjit.load(dir, { fetch: 'fetch' }), /the fetch option must be a function/);
});

/** A CacheStorage with the methods payload_cache.js uses. */
function fakeCaches() {
  const stores = new Map();
  return {
    stores,
    async open(name) {
      if (!stores.has(name)) stores.set(name, new Map());
      const store = stores.get(name);
      return {
        match: async (key) => (store.has(key) ? new Response(store.get(key)) : undefined),
        put: async (key, response) => { store.set(key, new Uint8Array(await response.arrayBuffer())); },
      };
    },
    delete: async (name) => stores.delete(name),
  };
}

test('payloads are cached by sha256: a second load fetches only the manifest and says fromCache', async (t) => {
  const dir = tempDir();
  const { w } = addBundle(dir, 8);
  const files = filesOf(dir);
  const caches = fakeCaches();
  globalThis.caches = caches;
  t.after(() => { delete globalThis.caches; });
  const asked = [];
  const fetch = async (url) => {
    const name = new URL(url).pathname.slice(1);
    asked.push(name);
    return new Response(files[name]);
  };
  const loadOnce = async (options = {}) => {
    const events = [];
    asked.length = 0;
    const session = await webjit.load('https://example.invalid/', { threads: 1, fetch, onProgress: (e) => events.push(e), ...options });
    await addOne(session, w);
    await session.cached;
    session.release();
    const from = (cached) => new Set(events.filter((e) => e.file && e.fromCache === cached).map((e) => e.file));
    return { asked: [...asked], fresh: from(false), cached: from(true) };
  };
  const first = await loadOnce();
  assert.ok(first.fresh.has('weights-0.bin') && first.cached.size === 0, first);
  const entries = [...caches.stores.get('webjit-payloads').keys()];
  const shard = JSON.parse(new TextDecoder().decode(files['manifest.json'])).weights[0];
  assert.ok(entries.includes(`https://payloads.webjit.invalid/sha256/${shard.sha256}`), entries);
  const second = await loadOnce();
  assert.deepEqual(second.asked, ['manifest.json']);
  assert.deepEqual(second.cached, first.fresh);
  assert.equal(second.fresh.size, 0);
  const off = await loadOnce({ cache: false });
  assert.deepEqual(new Set(off.asked), new Set(['manifest.json', ...first.fresh]));
  assert.equal(await webjit.clearCache(), true);
  const cleared = await loadOnce();
  assert.deepEqual(cleared.fresh, first.fresh);
  // A cached entry of the wrong size (truncated) is fetched afresh, and checked.
  const store = caches.stores.get('webjit-payloads');
  for (const key of store.keys()) store.set(key, store.get(key).subarray(0, 3));
  const again = await loadOnce();
  assert.deepEqual(again.fresh, first.fresh);
});

test('in Node, the browser entry (src/index.js) says to import the package instead', async () => {
  const dir = tempDir();
  addBundle(dir, 8);
  const { execFileSync } = await import('node:child_process');
  const script = `import('${new URL('../src/index.js', import.meta.url).href}')
    .then((w) => w.load(${JSON.stringify(dir)})).then(() => console.log('loaded'), (e) => console.log(e.name, e.message));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.match(out, /^WebjitError reading a bundle from a folder needs the Node entry of the package: import 'webjit'/);
});
