// Validates the feeds of session.run against the manifest, writes them into the linear
// memory in device form (int64 narrowed to i32, bool as i32 0/1, 8- and 16-bit integers in i32,
// float16 and float64 in f32), and reads outputs back. The WebGPU backend uses the same
// narrowing and widening on its own buffers.
import { WebjitError } from './errors.js';
import { Float16, halfArray, halfBits, halfTable } from './half.js';
import { deviceDtype, elementCount, tensorAddress } from './manifest.js';
import { bindSizes, evalSize, isSym, shapeText as declaredText } from './sizes.js';

const INT32_MIN = -2147483648, INT32_MAX = 2147483647;
const INTEGER_ARRAYS = [Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array,
  BigInt64Array, BigUint64Array];
const FLOAT_ARRAYS = [Float32Array, Float64Array];
const ACCEPTS = {
  float32: 'a Float32Array or an array of numbers',
  float64: 'a Float64Array, a Float32Array or an array of numbers',
  float16: 'a Float16Array, a Uint16Array of float16 bits or an array of numbers',
  int8: 'an Int8Array or an array of integers', uint8: 'a Uint8Array or an array of integers',
  int16: 'an Int16Array or an array of integers', uint16: 'a Uint16Array or an array of integers',
  int64: 'a BigInt64Array, an Int32Array or an array of integers',
  int32: 'an Int32Array or an array of integers',
  bool: 'a Uint8Array or an array of booleans',
};

// The values each narrow integer dtype holds.
const INT_RANGES = { int8: [-128, 127], uint8: [0, 255], int16: [-32768, 32767], uint16: [0, 65535] };
const FLOATS = ['float32', 'float64', 'float16'];
const OUTPUT_ARRAYS = { float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array };

const withArticle = (noun) => `${/^[AEIOU]/.test(noun) ? 'an' : 'a'} ${noun}`;
const shapeText = (shape) => `[${shape.join(',')}]`;

/** Checks every feed and returns [{spec, values}] in manifest input order, `values` a
 * device-form copy made now: refilling an array after run() was called changes nothing.
 * A bundle with symbolic sizes gets one more entry, the sizes tensor, and the list's `env`
 * ({dim: size}) holds the sizes of this run. */
export function checkFeeds(manifest, feeds) {
  const inputs = manifest.inputs;
  if (feeds === null || typeof feeds !== 'object') {
    throw new WebjitError('session.run needs an object mapping input names to arrays');
  }
  const names = inputs.map((i) => i.name);
  for (const name of Object.keys(feeds)) {
    if (!names.includes(name) && manifest.bound?.includes(name)) {
      throw new WebjitError(`input '${name}' was bound to a value when this bundle was compiled (--const ${name}=...); `
        + 'leave it out of the feeds');
    }
    if (!names.includes(name)) {
      throw new WebjitError(`unknown input '${name}'; this bundle's inputs are ${names.join(', ')}`);
    }
  }
  for (const spec of inputs) {
    if (!(spec.name in feeds)) {
      throw new WebjitError(`missing input '${spec.name}'; this bundle's inputs are ${names.join(', ')}`);
    }
  }
  const bound = manifest.dims ? bindSizes(manifest, feeds, (spec) => givenShape(spec, feeds[spec.name])) : null;
  const env = bound?.env ?? {};
  const checked = inputs.map((spec) => {
    const shape = spec.shape.map((d) => evalSize(d, env));
    const values = toDevice(spec, checkFeed(spec, feeds[spec.name], shape));
    if (spec.valid_range) checkIndexRange(spec, values);
    return { spec, values, shape };
  });
  if (bound) {
    const sizes = { name: '::sizes', dtype: 'int32', tensor: manifest.sizes, shape: [bound.values.length] };
    checked.push({ spec: sizes, values: bound.values, shape: sizes.shape });
  }
  checked.env = env;
  return checked;
}

/** The shape a feed of an input with symbolic sizes gives: its own, or its length over the
 * fixed sizes when one dimension is symbolic. */
function givenShape(spec, feed) {
  if (!spec.shape.some(isSym)) return null;
  const hasShape = typeof feed === 'object' && feed !== null && !Array.isArray(feed) &&
    !ArrayBuffer.isView(feed) && 'data' in feed;
  if (hasShape) {
    const shape = Array.from(feed.shape ?? []);
    if (shape.length !== spec.shape.length) {
      throw new WebjitError(`input '${spec.name}' has shape ${shapeText(shape)}; this bundle takes ` +
        `${declaredText(spec.shape)}`);
    }
    return shape;
  }
  const symbolic = spec.shape.filter(isSym);
  const length = feed?.length;
  const fixed = spec.shape.filter((d) => !isSym(d)).reduce((n, d) => n * d, 1);
  if (symbolic.length === 1 && Number.isInteger(length) && fixed > 0 && length % fixed === 0) {
    return spec.shape.map((d) => (isSym(d) ? length / fixed : d));
  }
  throw new WebjitError(`input '${spec.name}' has ${symbolic.length} symbolic dimensions (${declaredText(spec.shape)}); ` +
    'pass it as {data, shape}');
}

/** An input the model indexes with stays inside what it indexes (negative counts from the end). */
function checkIndexRange(spec, values) {
  const [low, high] = spec.valid_range, least = Math.min(low, -high);
  for (let i = 0; i < values.length; i++) {
    if (values[i] < least || values[i] >= high) {
      throw new WebjitError(`input '${spec.name}' holds ${values[i]} at element ${i}, but the model indexes ` +
        `with it and needs values in [${least}, ${high})`);
    }
  }
}

function checkFeed(spec, feed, expected) {
  const hasShape = typeof feed === 'object' && feed !== null && !Array.isArray(feed) &&
    !ArrayBuffer.isView(feed) && 'data' in feed;
  const data = hasShape ? feed.data : feed;
  if (!Array.isArray(data) && !ArrayBuffer.isView(data)) {
    throw new WebjitError(`input '${spec.name}' must be ${ACCEPTS[spec.dtype]} or {data, shape}`);
  }
  const symbolic = spec.shape.some(isSym);
  const compiled = symbolic ? `${shapeText(expected)} (${declaredText(spec.shape)} in this run)`
    : shapeText(spec.shape);
  if (hasShape) {
    const shape = Array.from(feed.shape ?? []);
    if (shapeText(shape) !== shapeText(expected)) {
      throw new WebjitError(`input '${spec.name}' has shape ${shapeText(shape)}; ` +
        `this bundle was compiled for ${compiled}`);
    }
  }
  const count = elementCount(expected);
  if (data.length !== count) {
    throw new WebjitError(`input '${spec.name}' has ${data.length} elements; this bundle was ` +
      `compiled for shape ${compiled} (${count} elements)`);
  }
  checkKind(spec, data);
  return data;
}

function checkKind(spec, data) {
  const wrongType = () => new WebjitError(`input '${spec.name}' is ${spec.dtype}; pass ` +
    `${ACCEPTS[spec.dtype]}, not ${Array.isArray(data) ? 'this array' : withArticle(data.constructor.name)}`);
  const isTyped = ArrayBuffer.isView(data);
  if (spec.dtype === 'float16') {
    const typedOk = data instanceof Uint16Array || (Float16 && data instanceof Float16);
    if (isTyped ? !typedOk : data.some((v) => typeof v !== 'number')) throw wrongType();
  } else if (FLOATS.includes(spec.dtype)) {
    if (isTyped ? !FLOAT_ARRAYS.some((T) => data instanceof T) : data.some((v) => typeof v !== 'number')) {
      throw wrongType();
    }
  } else if (spec.dtype === 'bool') {
    if (isTyped ? !INTEGER_ARRAYS.some((T) => data instanceof T)
      : data.some((v) => typeof v !== 'boolean' && typeof v !== 'number')) throw wrongType();
  } else {
    if (isTyped ? !INTEGER_ARRAYS.some((T) => data instanceof T)
      : data.some((v) => typeof v !== 'bigint' && !Number.isInteger(v))) throw wrongType();
    if (spec.dtype in INT_RANGES) checkNarrowRange(spec, data);
    else checkInt32Range(spec, data);
  }
}

function checkNarrowRange(spec, data) {
  const [low, high] = INT_RANGES[spec.dtype];
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    if (v < low || v > high) {
      throw new WebjitError(`input '${spec.name}' holds ${data[i]} at element ${i}, outside the ${spec.dtype} ` +
        `range; pass values between ${low} and ${high}`);
    }
  }
}

function checkInt32Range(spec, data) {
  if (data instanceof Int32Array || data instanceof Int16Array || data instanceof Uint16Array ||
      data instanceof Int8Array || data instanceof Uint8Array) return;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < INT32_MIN || v > INT32_MAX) {
      throw new WebjitError(`input '${spec.name}' holds ${v} at element ${i}, outside the int32 ` +
        'range the device uses for integers; pass values between -2147483648 and 2147483647');
    }
  }
}

/** Narrows one checked input into `target`, an Int32Array or Float32Array of its length. */
export function narrowInto(spec, values, target) {
  const n = values.length;
  if (spec.dtype === 'bool') for (let i = 0; i < n; i++) target[i] = values[i] ? 1 : 0;
  else if (spec.dtype === 'float16') {
    const half = halfTable();
    if (values instanceof Uint16Array) for (let i = 0; i < n; i++) target[i] = half[values[i]];
    else for (let i = 0; i < n; i++) target[i] = half[halfBits(values[i])];  // numbers: rounded to float16
  } else if (FLOATS.includes(spec.dtype) || values instanceof Int32Array) target.set(values);
  else for (let i = 0; i < n; i++) target[i] = Number(values[i]);
  return target;
}

/** A fresh device-form array (f32 or i32) of one checked input. */
export function toDevice(spec, values) {
  const Type = deviceDtype(spec.dtype) === 'f32' ? Float32Array : Int32Array;
  return narrowInto(spec, values, new Type(values.length));
}

/** Copies one output's device bytes (4 per element) out, widened to its model dtype; `env`
 * sizes its symbolic dimensions. */
export function fromDevice(spec, buffer, byteOffset, env = {}) {
  const shape = spec.shape.map((d) => evalSize(d, env));
  const n = elementCount(shape);
  let data;
  if (spec.dtype === 'float32') data = new Float32Array(buffer, byteOffset, n).slice();
  else if (spec.dtype === 'float16') data = halfArray(new Float32Array(buffer, byteOffset, n));
  else if (spec.dtype in OUTPUT_ARRAYS) {
    const Device = deviceDtype(spec.dtype) === 'f32' ? Float32Array : Int32Array;
    data = OUTPUT_ARRAYS[spec.dtype].from(new Device(buffer, byteOffset, n));
  } else {
    const device = new Int32Array(buffer, byteOffset, n);
    if (spec.dtype === 'int32') data = device.slice();
    else if (spec.dtype === 'bool') data = Uint8Array.from(device, (v) => (v ? 1 : 0));
    else data = BigInt64Array.from(device, (v) => BigInt(v));
  }
  return { dtype: spec.dtype, shape, data };
}

/** Writes checked feeds into `buffer` (the memory's ArrayBuffer or SharedArrayBuffer). */
export function writeFeeds(manifest, buffer, checked) {
  for (const { spec, values } of checked) {
    const Type = deviceDtype(spec.dtype) === 'f32' ? Float32Array : Int32Array;
    narrowInto(spec, values, new Type(buffer, tensorAddress(manifest, spec.tensor), values.length));
  }
}

/** Copies every model output out of memory, widened to its model dtype. */
export function readOutputs(manifest, buffer, env = {}) {
  const result = {};
  for (const spec of manifest.outputs) {
    result[spec.name] = fromDevice(spec, buffer, tensorAddress(manifest, spec.tensor), env);
  }
  return result;
}
