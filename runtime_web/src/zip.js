// Reading a bundle saved as one zip (compileInBrowser's, or any zip of a bundle folder):
// entries stored or deflated, names as in the folder. Deflated entries are inflated with the
// platform's DecompressionStream, so no zip library is needed at run time.
import { WebjitError } from './errors.js';

const END = 0x06054b50, CENTRAL = 0x02014b50, LOCAL = 0x04034b50;

/** Whether `bytes` start like a zip file. */
export const isZip = (bytes) => bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4;

/** The files of zip `bytes` as a Map of name -> Uint8Array (folders left out). */
export async function readZip(bytes, what = 'the zip') {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (why) => { throw new WebjitError(`${what} is not a readable zip (${why})`); };
  let end = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
    if (view.getUint32(at, true) === END) { end = at; break; }
  }
  if (end < 0) fail('no end of central directory');
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const decoder = new TextDecoder();
  const files = new Map();
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL) fail('a broken central directory');
    const method = view.getUint16(at + 10, true);
    const stored = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extra = view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const name = decoder.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extra;
    if (name.endsWith('/')) continue;
    if (local + 30 > bytes.length || view.getUint32(local, true) !== LOCAL) fail(`entry ${name} has no local header`);
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + stored > bytes.length) fail(`entry ${name} runs past the end`);
    const data = bytes.subarray(start, start + stored);
    if (method === 0) files.set(name, data);
    else if (method === 8) files.set(name, await inflate(data, size, name, fail));
    else fail(`entry ${name} uses compression method ${method}; only stored and deflated entries are read`);
  }
  return files;
}

async function inflate(data, size, name, fail) {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  const out = new Uint8Array(await new Response(stream).arrayBuffer());
  if (out.length !== size) fail(`entry ${name} inflates to ${out.length} bytes, not ${size}`);
  return out;
}
