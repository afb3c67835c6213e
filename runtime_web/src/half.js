// float16 at the model boundary: the device holds float16 values in f32 (they are exact there),
// users pass and get Float16Array where the engine has it, else a Uint16Array of the bits.
const F32 = new Float32Array(1), U32 = new Uint32Array(F32.buffer);
let HALF = null;

/** f32 value of every float16 bit pattern. */
export function halfTable() {
  if (HALF) return HALF;
  HALF = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 31, fraction = h & 1023;
    HALF[h] = exponent === 0 ? sign * fraction * 2 ** -24
      : exponent === 31 ? (fraction ? NaN : sign * Infinity)
        : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return HALF;
}

/** The float16 bits nearest to `value` (rounded to f32 first), ties to even, as onnxruntime casts. */
export function halfBits(value) {
  F32[0] = value;
  const x = U32[0], sign = (x >>> 16) & 0x8000, a = x & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7e00;  // NaN
  if (a >= 0x477ff000) return sign | 0x7c00;  // 65520 and beyond round to infinity
  if (a < 0x38800000) {  // below 2^-14: a multiple of 2^-24 (1024 of them is the smallest normal)
    F32[0] = Math.abs(value);
    const v = F32[0] * 2 ** 24;
    let r = Math.round(v);
    if (r - v === 0.5 && r % 2) r -= 1;
    return sign | r;
  }
  return sign | ((((a + 0xfff + ((a >>> 13) & 1)) >>> 13) - (112 << 10)) & 0x7fff);
}

/** The engine's Float16Array, or null where it has none. */
export const Float16 = typeof globalThis.Float16Array === 'function' ? globalThis.Float16Array : null;

/** float16 output data from f32 device values: a Float16Array where the engine has one, else the bits. */
export function halfArray(device) {
  const bits = Uint16Array.from(device, halfBits);
  return Float16 ? new Float16(bits.buffer) : bits;
}
