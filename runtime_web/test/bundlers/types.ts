// Compiled by `tsc --strict --noEmit` (tests/test_bundlers.py): index.d.ts describes what apps write.
import * as webjit from 'webjit';

async function main(file: File, bytes: Uint8Array): Promise<number> {
  const progress: string[] = [];
  const session = await webjit.load('/bundle/', {
    backend: 'wasm', threads: 2, cache: false,
    fetch: (url) => fetch(url, { credentials: 'same-origin' }),
    onProgress: (p) => { if (p.file) progress.push(`${p.file} ${p.fromCache ? 'cache' : 'network'}`); },
  });
  const local = await webjit.load({ 'manifest.json': file, 'weights-0.bin': bytes });
  const cleared: boolean = await webjit.clearCache();
  const outputs = await session.run({ x: { data: new Float32Array(4), shape: [1, 4] } });
  local.release();
  return session.threads + outputs.y.data.length + (cleared ? 1 : 0) + progress.length;
}

export { main };
