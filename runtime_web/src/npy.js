// A small .npy reader and writer (little-endian, C order) for <f4, <f8, <f2, <i4, <i8, <i2, <u2,
// |i1, |b1 and |u1: the formats webjit's CLI and test pages exchange with Python. float16 data
// is read as a Uint16Array of its bits and written from that or from a Float16Array.
import { WebjitError } from './errors.js';
import { halfBits } from './half.js';

const MAGIC = '\x93NUMPY';
const DESCRS = {
  '<f4': { dtype: 'float32', Array: Float32Array },
  '<i4': { dtype: 'int32', Array: Int32Array },
  '<i8': { dtype: 'int64', Array: BigInt64Array },
  '|b1': { dtype: 'bool', Array: Uint8Array },
  '|u1': { dtype: 'uint8', Array: Uint8Array },
  '<f8': { dtype: 'float64', Array: Float64Array },
  '<f2': { dtype: 'float16', Array: Uint16Array },
  '|i1': { dtype: 'int8', Array: Int8Array },
  '<i2': { dtype: 'int16', Array: Int16Array },
  '<u2': { dtype: 'uint16', Array: Uint16Array },
};
const DESCR_OF = Object.fromEntries(Object.entries(DESCRS).map(([descr, { dtype }]) => [dtype, descr]));

/** The file name a tensor's .npy travels under (as webjit.runner.npy_file): ASCII letters,
 * digits, '_' and '-' kept, every other UTF-8 byte written ~HH, so no name is ever a path. */
export function npyFile(name) {
  let out = '';
  for (const b of new TextEncoder().encode(name)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `~${b.toString(16).padStart(2, '0')}`;
  }
  return `${out}.npy`;
}

/** Parses .npy bytes into {dtype, shape, data}; `name` is used in error messages. */
export function readNpy(bytes, name = 'array') {
  const bad = (why) => new WebjitError(`${name} is not a .npy file webjit can read (${why})`);
  if (String.fromCharCode(...bytes.subarray(0, 6)) !== MAGIC) throw bad('no NUMPY magic');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw bad('malformed header');
  if (!(descr in DESCRS)) throw bad(`dtype ${descr}; webjit reads ${Object.keys(DESCRS).join(', ')}`);
  if (fortran === 'True') throw bad('Fortran order; save a C-ordered array');
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const { dtype, Array: T } = DESCRS[descr];
  const count = shape.reduce((n, d) => n * d, 1);
  const offset = start + headerLength;
  if (bytes.length - offset < count * T.BYTES_PER_ELEMENT) throw bad('data ends early');
  // Copy (a Node Buffer's slice is a view into a shared pool) so the array is aligned and owns its buffer.
  const body = new Uint8Array(bytes.subarray(offset, offset + count * T.BYTES_PER_ELEMENT));
  return { dtype, shape, data: new T(body.buffer) };
}

/** Encodes {dtype, shape, data} (a dtype of DESCRS) as .npy bytes. */
export function writeNpy({ dtype, shape, data }) {
  const descr = DESCR_OF[dtype];
  if (!descr) {
    const known = Object.keys(DESCR_OF).join(', ');
    throw new WebjitError(`cannot write dtype ${dtype} to .npy; webjit writes ${known}`);
  }
  const { Array: T } = DESCRS[descr];
  const values = data instanceof T ? data
    : dtype === 'float16' && ArrayBuffer.isView(data) && data.BYTES_PER_ELEMENT === 2
      ? new Uint16Array(data.buffer, data.byteOffset, data.length)  // a Float16Array: its bits
      : dtype === 'float16' ? Uint16Array.from(data, halfBits)
        : T === BigInt64Array ? BigInt64Array.from(data, (v) => BigInt(v)) : T.from(data, Number);
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // numpy pads the header with spaces so that the data starts on a 64-byte boundary.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + values.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + header.length);
  return out;
}
