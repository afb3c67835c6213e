// Symbolic sizes: a bundle compiled with `--dim seq=1..512` declares its dimensions
// (manifest.dims: [{name, min, max}]) and writes some input and output dimensions as
// polynomials over them ({sym: [[coefficient, [names...]], ...]}: data, never code). A run
// binds every dimension from the shapes of its feeds, checks the ranges, and writes the sizes
// into the tensor `manifest.sizes` (one i32 per dimension, in manifest order), which every
// kernel with a symbolic size reads.
import { WebjitError } from './errors.js';

export const isSym = (d) => d !== null && typeof d === 'object' && Array.isArray(d.sym);

/** The value of one dimension (a count or a polynomial) under `env` ({name: size}). */
export function evalSize(d, env) {
  if (!isSym(d)) return d;
  let total = 0;
  for (const [coef, names] of d.sym) total += names.reduce((v, n) => v * env[n], coef);
  return total;
}

/** The text of a dimension as users read it: 384*seq, past+seq. */
export function sizeText(d) {
  if (!isSym(d)) return String(d);
  return d.sym.map(([coef, names]) => {
    const product = names.join('*');
    if (!product) return String(coef);
    return coef === 1 ? product : `${coef}*${product}`;
  }).join('+').replaceAll('+-', '-');
}

export const shapeText = (shape) => `[${shape.map(sizeText).join(',')}]`;

/** {name: max} of a manifest's dimensions: every tensor is planned for these sizes. */
export function largest(m) {
  return Object.fromEntries((m.dims ?? []).map((d) => [d.name, d.max]));
}

/** Throws unless the manifest's dims and sizes tensor are well formed (manifest.js calls it). */
export function checkDims(m, invalid) {
  if (m.dims === undefined && m.sizes === undefined) return;
  if (!Array.isArray(m.dims) || m.dims.length === 0 || m.dims.some((d) => !d || typeof d.name !== 'string' ||
      !Number.isInteger(d.min) || !Number.isInteger(d.max) || d.min < 0 || d.max < d.min)) {
    throw invalid('dims is not a list of {name, min, max} ranges');
  }
  const t = Number.isInteger(m.sizes) ? m.tensors[m.sizes] : undefined;
  if (!t || t.region !== 'arena' || t.dtype !== 'i32' || t.size < m.dims.length) {
    throw invalid('sizes is not an i32 arena tensor with one element per dimension');
  }
  const names = new Set(m.dims.map((d) => d.name));
  for (const io of [...m.inputs, ...m.outputs]) {
    for (const d of io.shape ?? []) {
      if (isSym(d) && d.sym.some((term) => !Array.isArray(term) || !Number.isInteger(term[0]) ||
          !Array.isArray(term[1]) || term[1].some((n) => !names.has(n)))) {
        throw invalid(`${io.name} has a size over a dimension the manifest does not declare`);
      }
    }
  }
}

/**
 * The shape of every input as the feeds give it, the dimensions they bind, and the sizes
 * tensor's values: {shapes: {name: [..]}, env: {dim: size}, values: Int32Array}. One
 * sentence for a size outside its range or two inputs that disagree on a dimension.
 */
export function bindSizes(m, feeds, given) {
  const env = {}, source = {};
  const byName = Object.fromEntries((m.dims ?? []).map((d) => [d.name, d]));
  const shapes = {};
  for (const spec of m.inputs) {
    const shape = given(spec);
    shapes[spec.name] = shape;
    if (shape === null) continue;
    spec.shape.forEach((d, axis) => {
      if (!isSym(d) || d.sym.length !== 1 || d.sym[0][0] !== 1 || d.sym[0][1].length !== 1) return;
      const name = d.sym[0][1][0], size = shape[axis];
      const range = byName[name];
      if (!Number.isInteger(size) || size < range.min || size > range.max) {
        throw new WebjitError(`input '${spec.name}' has size ${size} in dimension '${name}' (axis ${axis}); this ` +
          `bundle was compiled for ${name} in ${range.min}..${range.max}`);
      }
      if (name in env && env[name] !== size) {
        throw new WebjitError(`input '${spec.name}' makes dimension '${name}' ${size}, but input ` +
          `'${source[name]}' makes it ${env[name]}; inputs that share a dimension need the same size`);
      }
      env[name] = size;
      source[name] ??= spec.name;
    });
  }
  for (const d of m.dims ?? []) {
    if (!(d.name in env)) {
      const users = m.inputs.filter((i) => i.shape.some(isSym)).map((i) => `'${i.name}'`);
      throw new WebjitError(`dimension '${d.name}' has no size: pass ${users.join(', ')} as {data, shape}`);
    }
  }
  return { shapes, env, values: Int32Array.from((m.dims ?? []).map((d) => env[d.name])) };
}
