// Checks a parsed manifest.json against bundle format version 3 (docs/bundle.md) and
// derives what the runtime needs: tensor byte addresses and the plan of steps.
import { WebjitError } from './errors.js';
import { ENCODINGS } from './weights.js';
import { checkDims, evalSize, isSym, largest, shapeText } from './sizes.js';

export const FORMAT = 'webjit-bundle';
export const FORMAT_VERSION = 3;
const MODEL_DTYPES = {
  float32: 'f32', float16: 'f32', float64: 'f32', int64: 'i32', int32: 'i32', bool: 'i32',
  int8: 'i32', uint8: 'i32', int16: 'i32', uint16: 'i32',
};
/** The device dtype ('f32' or 'i32') a model dtype is held in. */
export const deviceDtype = (dtype) => MODEL_DTYPES[dtype];

export function parseManifest(bytes, where) {
  let manifest;
  try {
    manifest = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new WebjitError(`${where} is not valid JSON (${err.message}); rebuild the bundle`, { cause: err });
  }
  if (manifest?.format !== FORMAT) {
    const format = JSON.stringify(manifest?.format);
    throw new WebjitError(`${where} is not a webjit bundle manifest (format is ${format})`);
  }
  if (manifest.format_version !== FORMAT_VERSION) {
    throw new WebjitError(`this bundle has format version ${manifest.format_version}; ` +
      `this runtime reads version ${FORMAT_VERSION}, recompile it`);
  }
  try {
    checkLayout(manifest);
  } catch (err) {
    if (err instanceof WebjitError) throw err;
    // A shape no explicit check foresaw: still one sentence, never a TypeError.
    throw invalid(`it is malformed (${err.message})`);
  }
  return manifest;
}

function invalid(what) {
  return new WebjitError(`manifest.json is invalid: ${what}; rebuild the bundle`);
}

function checkLayout(m) {
  for (const key of ['inputs', 'outputs', 'tensors', 'weights', 'kernels', 'steps']) {
    if (!Array.isArray(m[key])) throw invalid(`"${key}" is not a list`);
  }
  const mem = m.memory ?? {};
  const keys = ['control_bytes', 'weights_base', 'weights_bytes', 'arena_base', 'arena_bytes', 'total_bytes'];
  for (const key of keys) {
    if (!Number.isInteger(mem[key]) || mem[key] < 0) throw invalid(`memory.${key} is not a byte count`);
  }
  if (mem.control_bytes < 16) {
    throw invalid('memory.control_bytes is below the 16 bytes the thread barrier needs');
  }
  if (mem.weights_base < mem.control_bytes || mem.arena_base < mem.weights_base + mem.weights_bytes ||
      mem.total_bytes < mem.arena_base + mem.arena_bytes) {
    throw invalid('memory regions overlap or exceed total_bytes');
  }
  m.weights.forEach((w, i) => {
    if (!isPayload(w) || (i < m.weights.length - 1 && w.bytes % 4)) throw invalid(`weight shard ${i} is malformed`);
  });
  const shardBytes = m.weights.reduce((sum, w) => sum + w.bytes, 0);
  m.tensors.forEach((t, i) => {
    if (!t || typeof t !== 'object' || t.id !== i) throw invalid(`tensors[${i}] has id ${t?.id}`);
    if (!isCount(t.size, 1) || !isCount(t.offset)) throw invalid(`tensor ${i} has no valid size or offset`);
    const limit = t.region === 'weights' ? mem.weights_bytes : t.region === 'arena' ? mem.arena_bytes : -1;
    if (limit < 0) throw invalid(`tensor ${i} has unknown region ${JSON.stringify(t.region)}`);
    if (t.dtype !== 'f32' && t.dtype !== 'i32') throw invalid(`tensor ${i} has device dtype ${t.dtype}`);
    if (t.offset % 4) throw invalid(`tensor ${i} has offset ${t.offset}, not a multiple of 4`);
    if (t.offset + 4 * t.size > limit) {
      throw invalid(`tensor ${i} lies outside its ${t.region} region`);
    }
    if (t.region === 'weights') checkStored(t, shardBytes);
    else if (t.stored !== undefined) throw invalid(`tensor ${i} is not weights but says how it is stored`);
  });
  m.kernels.forEach((k, i) => {
    if (!k || typeof k !== 'object' || k.id !== i) throw invalid(`kernels[${i}] has id ${k?.id}`);
    if (!k.wasm && !k.webgpu) throw invalid(`kernel ${i} has no code for any backend`);
    if (!Number.isInteger(k.nargs) || k.nargs < 0) throw invalid(`kernel ${i} has no argument count`);
    if (!Array.isArray(k.args) || k.args.length !== k.nargs ||
        k.args.some((a) => !isCount(a?.size, 1) || (a.dtype !== 'f32' && a.dtype !== 'i32'))) {
      throw invalid(`kernel ${i} does not describe its ${k.nargs} arguments`);
    }
    for (const part of [k.wasm, k.webgpu]) if (part) checkForms(part, i);
  });
  m.steps.forEach((s, i) => {
    const kernel = Number.isInteger(s?.kernel) ? m.kernels[s.kernel] : undefined;
    if (!kernel) throw invalid(`step ${i} uses unknown kernel ${s?.kernel}`);
    if (!Array.isArray(s.args)) throw invalid(`step ${i} has no argument list`);
    if (s.args.length !== kernel.nargs) throw invalid(`step ${i} binds ${s.args.length} args to a kernel of ${kernel.nargs}`);
    if (s.args.some((id) => !Number.isInteger(id) || !m.tensors[id])) throw invalid(`step ${i} binds an unknown tensor`);
    s.args.forEach((id, a) => {  // a kernel reads and writes exactly the tensors its code was generated for
      const t = m.tensors[id], want = kernel.args[a];
      if (t.size !== want.size || t.dtype !== want.dtype) {
        throw invalid(`step ${i} binds tensor ${id} (${t.dtype}[${t.size}]) to argument ${a} of kernel ` +
          `${kernel.id}, which takes ${want.dtype}[${want.size}]`);
      }
    });
    if (s.source !== undefined && !(Number.isInteger(s.source) && s.source >= 0 && s.source < i &&
        m.kernels[m.steps[s.source].kernel].family === 'im2col')) {
      throw invalid(`step ${i} names step ${s.source} as its columns, which is no earlier im2col step`);
    }
  });
  checkDims(m, invalid);
  for (const io of [...m.inputs, ...m.outputs]) checkBoundary(m, io);
  if (m.status !== undefined) {  // the int64 status word checked kernels set (webgpu.js reads it)
    const t = Number.isInteger(m.status) ? m.tensors[m.status] : undefined;
    if (!t || t.region !== 'arena' || t.dtype !== 'i32' || t.size !== 1) {
      throw invalid('status is not a one-element i32 arena tensor');
    }
  }
  checkLiveOverlap(m);
}

/** Arena tensors that are live at the same step never share bytes (inputs are live from
 * the first step, outputs until the last): else one step's result would clobber another's. */
function checkLiveOverlap(m) {
  const live = new Map();  // arena tensor id -> [first step, last step]
  const use = (id, step) => {
    if (m.tensors[id].region !== 'arena') return;
    const span = live.get(id);
    live.set(id, span ? [Math.min(span[0], step), Math.max(span[1], step)] : [step, step]);
  };
  m.steps.forEach((s, i) => s.args.forEach((id) => use(id, i)));
  for (const io of m.inputs) use(io.tensor, -1);
  for (const io of m.outputs) use(io.tensor, m.steps.length);
  if (m.status !== undefined) [-1, m.steps.length].forEach((step) => use(m.status, step));  // cleared, then read
  if (m.sizes !== undefined) [-1, m.steps.length].forEach((step) => use(m.sizes, step));  // written before the run
  const spans = [...live].map(([id, [first, last]]) => {
    const t = m.tensors[id];
    return { id, first, last, start: t.offset, end: t.offset + 4 * t.size };
  }).sort((a, b) => a.start - b.start);
  for (let i = 0; i < spans.length; i++) {
    for (let j = i + 1; j < spans.length && spans[j].start < spans[i].end; j++) {
      const a = spans[i], b = spans[j];
      if (a.first <= b.last && b.first <= a.last) {
        throw invalid(`tensors ${a.id} and ${b.id} share arena bytes while both are live`);
      }
    }
  }
}

/** A weights tensor's stored values (weights.js) lie in the shards and fill no more than the tensor. */
function checkStored(t, shardBytes) {
  const s = t.stored;
  if (!s || typeof s !== 'object') throw invalid(`weights tensor ${t.id} does not say how it is stored`);
  const size = ENCODINGS[s.encoding];
  if (!size || (s.encoding === 'i32') !== (t.dtype === 'i32')) {
    throw invalid(`weights tensor ${t.id} (${t.dtype}) is stored as ${JSON.stringify(s.encoding)}`);
  }
  const span = s.deflate ? isCount(s.bytes) : s.bytes === s.count * size;
  if (!isCount(s.count) || !isCount(s.at) || s.at % 4 || !span || s.at + s.bytes > shardBytes) {
    throw invalid(`the stored values of weights tensor ${t.id} lie outside the weight shards`);
  }
  if (s.deflate !== undefined) checkBlocks(t, s);
  if (s.rows !== undefined) {
    const [cols, pitch] = Array.isArray(s.rows) ? s.rows : [];
    if (!isCount(cols, 1) || !isCount(pitch, cols) || s.count % cols || s.count / cols * pitch > t.size) {
      throw invalid(`the rows of weights tensor ${t.id} do not fit it`);
    }
  } else if (s.count > t.size) {
    throw invalid(`weights tensor ${t.id} stores more values than it holds`);
  }
  if (s.encoding === 'i8') {
    const { at, channels, inner } = s.scales ?? {};
    if (!isCount(at) || at % 4 || !isCount(channels, 1) || !isCount(inner, 1) || at + 4 * channels > s.at) {
      throw invalid(`the int8 scales of weights tensor ${t.id} are malformed`);
    }
  }
}

/** A deflated tensor's blocks follow each other inside its span, one per `values` values. */
function checkBlocks(t, s) {
  const { values, blocks } = s.deflate ?? {};
  let at = s.at;
  const fits = isCount(values, 1) && Array.isArray(blocks) && blocks.length === Math.ceil(s.count / values) &&
    blocks.every((b) => {
      const ok = Array.isArray(b) && b[0] === at && isCount(b[1], 1);
      at += ok ? b[1] : 0;
      return ok;
    }) && at <= s.at + s.bytes;
  if (!fits) throw invalid(`the deflated blocks of weights tensor ${t.id} are malformed`);
}

// A payload's file is a plain relative path inside the bundle: segments of letters, digits,
// '_', '-' and '.', none of them '.' or '..'.
const SAFE_PATH = /^(?!\.{1,2}(\/|$))[A-Za-z0-9_.-]+(\/(?!\.{1,2}(\/|$))[A-Za-z0-9_.-]+)*$/;
const isPayload = (p) => {
  if (typeof p?.file !== 'string' || !Number.isInteger(p.bytes) || p.bytes < 0 || typeof p.sha256 !== 'string') {
    return false;
  }
  if (!SAFE_PATH.test(p.file)) throw invalid(`the file ${JSON.stringify(p.file)} is not a plain relative path inside the bundle`);
  return true;
};

/** A kernel's default form, its per-device variants and its JIT candidates each name a
 * payload and what it requires. */
function checkForms(part, i) {
  if (!isPayload(part)) throw invalid(`kernel ${i} names no kernel file`);
  const variants = part.variants ?? [], candidates = part.candidates ?? [];
  if (!Array.isArray(variants)) throw invalid(`kernel ${i} has malformed variants`);
  if (!Array.isArray(candidates)) throw invalid(`kernel ${i} has malformed JIT candidates`);
  for (const c of candidates) {
    if (!isPayload(c) || typeof c.config !== 'object' || c.config === null ||
        (c.threads !== undefined && !(Array.isArray(c.threads) && c.threads.every((t) => isCount(t, 1))))) {
      throw invalid(`a JIT candidate of kernel ${i} is malformed`);
    }
  }
  for (const form of [part, ...variants, ...candidates]) {
    if (!isPayload(form)) throw invalid(`a variant of kernel ${i} names no kernel file`);
    if (form.requires !== undefined && (!Array.isArray(form.requires) ||
        form.requires.some((r) => typeof r !== 'string'))) {
      throw invalid(`kernel ${i} lists malformed requirements`);
    }
  }
  if (variants.some((v) => typeof v.device !== 'string')) throw invalid(`a variant of kernel ${i} names no device`);
}

function checkBoundary(m, io) {
  if (!io || typeof io.name !== 'string' || !Array.isArray(io.shape) || io.shape.some((d) => !isCount(d) && !isSym(d))) {
    throw invalid('an input or output has no name or no shape');
  }
  const tensor = Number.isInteger(io.tensor) ? m.tensors[io.tensor] : undefined;
  if (!tensor) throw invalid(`${io.name} refers to unknown tensor ${io.tensor}`);
  if (tensor.region !== 'arena') throw invalid(`${io.name} is not in the arena`);
  if (io.valid_range !== undefined && !(Array.isArray(io.valid_range) && io.valid_range.length === 2 &&
      io.valid_range.every(Number.isInteger) && io.valid_range[0] < io.valid_range[1])) {
    throw invalid(`the valid_range of ${io.name} is malformed`);
  }
  if (!(io.dtype in MODEL_DTYPES)) throw invalid(`${io.name} has unsupported dtype ${io.dtype}`);
  if (MODEL_DTYPES[io.dtype] !== tensor.dtype) {
    throw invalid(`${io.name} is ${io.dtype} but its tensor is ${tensor.dtype}`);
  }
  const most = io.shape.map((d) => evalSize(d, largest(m)));  // planned for the largest sizes
  if (Math.max(elementCount(most), 1) !== tensor.size) {  // a zero-size tensor keeps one element
    throw invalid(`${io.name} has shape ${shapeText(io.shape)} but its tensor holds ${tensor.size} elements`);
  }
}

export function elementCount(shape) {
  return shape.reduce((n, d) => n * d, 1);
}

/** Byte address of a tensor in the [control | weights | arena] linear memory. */
export function tensorAddress(m, id) {
  const t = m.tensors[id];
  return (t.region === 'weights' ? m.memory.weights_base : m.memory.arena_base) + t.offset;
}

/** The steps as {kernel, args: [addresses], name, skip}, the form every thread executes. */
export function planSteps(m, forms) {
  const skipped = skippedSteps(m, forms);
  return m.steps.map((s, i) => ({
    kernel: s.kernel,
    args: s.args.map((id) => tensorAddress(m, id)),
    name: s.name ?? '',
    skip: skipped.has(i),
  }));
}

/**
 * Steps that need not run: the Im2Col step of a convolution whose GEMM runs an implicit form
 * (one that reads the image itself). `forms[k]` is the chosen form of kernel k (device.js).
 */
export function skippedSteps(m, forms) {
  const skipped = new Set();
  m.steps.forEach((s) => {
    if (s.source !== undefined && forms[s.kernel].form.config?.implicit) skipped.add(s.source);
  });
  return skipped;
}

export const PAGE_BYTES = 65536;

export function memoryPages(m) {
  return Math.max(1, Math.ceil(m.memory.total_bytes / PAGE_BYTES));
}

/** True when every kernel carries a WGSL shader and the bundle states its WebGPU limits. */
export function hasWebgpu(m) {
  return Boolean(m.webgpu?.limits) && m.kernels.every((k) => k.webgpu);
}

/** True when every kernel carries a WebAssembly module. */
export function hasWasm(m) {
  return m.kernels.every((k) => k.wasm);
}

const isCount = (v, min = 0) => Number.isInteger(v) && v >= min;
const isTriple = (v, min) => Array.isArray(v) && v.length === 3 && v.every((d) => isCount(d, min));

/** A symbolic dispatch: {groups: a size over the manifest's dims, per, times} (docs/bundle.md). */
const isWorkgroups = (m, d) => d !== null && typeof d === 'object' && !Array.isArray(d) && isCount(d.per, 1) &&
  isCount(d.times, 1) && (isCount(d.groups) || (isSym(d.groups) && d.groups.sym.every((term) => Array.isArray(term) &&
    Number.isInteger(term[0]) && Array.isArray(term[1]) && term[1].every((n) => (m.dims ?? []).some((x) => x.name === n)))));

/** Checks the WebGPU part of a manifest (docs/bundle.md, "WebGPU") before it is used. */
export function checkWebgpuLayout(m) {
  const limits = m.webgpu.limits;
  if (typeof limits !== 'object' || Object.values(limits).some((v) => !isCount(v))) {
    throw invalid('webgpu.limits is not an object of limit values');
  }
  m.kernels.forEach((k, i) => {
    const g = k.webgpu;
    for (const form of [g, ...(g.variants ?? []), ...(g.candidates ?? [])]) {
      if (typeof form.file !== 'string' || typeof (form.entry ?? 'main') !== 'string') {
        throw invalid(`kernel ${i} has no WGSL file or entry point`);
      }
      if (!isTriple(form.workgroup, 1) || !(isTriple(form.dispatch, 0) || isWorkgroups(m, form.dispatch))) {
        throw invalid(`kernel ${i} has a malformed WebGPU workgroup or dispatch`);
      }
    }
    if (!Array.isArray(g.bindings) || g.bindings.some((b) => !isCount(b.arg) || b.arg >= k.nargs ||
        !isCount(b.start) || !isCount(b.count, 1) || typeof b.write !== 'boolean' ||
        !['boolean', 'undefined'].includes(typeof b.output))) {
      throw invalid(`kernel ${i} has a malformed WebGPU binding`);
    }
  });
  m.steps.forEach((s, i) => {
    for (const b of m.kernels[s.kernel].webgpu.bindings) {
      if (b.start + b.count > m.tensors[s.args[b.arg]].size) {
        throw invalid(`step ${i} binds elements past the end of tensor ${s.args[b.arg]}`);
      }
    }
  });
}
