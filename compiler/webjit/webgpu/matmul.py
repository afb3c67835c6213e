"""WGSL code generator for the MatMul family: register-tiled with K-slabs in workgroup memory.

A workgroup of wg_x * wg_y invocations computes one (wg_y*tm) x (wg_x*tn) tile of the
output of one batch entry. Per K-slab of `tk` it stages the tile's rows of `a` and
columns of `bmat` in workgroup memory (every invocation loads a share), then each
invocation accumulates its tm x tn outputs in registers: rows ty + i*wg_y and column
vectors tx + j*wg_x (interleaved, so neighbouring invocations read neighbouring words of
workgroup memory and write neighbouring outputs). With vec = 4 the staged `bmat` and
the accumulators are vec4<f32>; `bmat` is then read from global memory as vec4 when its
binding is a single chunk and every row starts on a 16-byte boundary, else as scalars.
Workgroups run over (batch, row tile, column tile), column tiles fastest, through
dispatch_grid so any count dispatches. Edges are zero-padded while staging (so the
k loop never tests bounds) and skipped at the store; tests that cannot fail are left out.

A symbolic m that can be 1 (a decode step) also gets a one-row path, taken by every
workgroup when m is 1 at run time (a uniform test, so the barriers after it stay in uniform
control flow): each invocation computes 4 columns of the row over all of k, straight from
global memory, so a workgroup covers 4 * wg_x * wg_y columns and the workgroups of the
usual grid beyond those needed return. Without it one row would run a whole tile of bm rows.
"""
from __future__ import annotations

from math import prod

from ..errors import CompileError
from ..family import Family
from ..kernels import MatMul
from ..symbolic import Sym, lower_bound, upper
from ..targets import WebgpuTarget
from . import matmul_schedule as schedule
from .expr import expr_functions, wgsl_expr
from .kernel import Limits, WgslKernel, chunk_bindings, dispatch_grid, symbolic_dispatch
from .matmul_schedule import MatMulConfig
from .sizes import WgslSizes
from .wgsl import (binding_name, check_fits, i32_literal, linear_workgroup, load_function,
                   store_function, symbolic_workgroup, wgsl_type)


def emit(spec: MatMul, config: MatMulConfig, limits: Limits) -> WgslKernel:
    """The WGSL kernel computing `spec` with `config` on a device with `limits`."""
    _check(spec, config, limits)
    return _Emitter(spec, config, limits).kernel()


def _check(spec: MatMul, config: MatMulConfig, limits: Limits) -> None:
    broken = FAMILY.violated(config, spec, WebgpuTarget(limits), hard_only=True)
    if broken:
        raise CompileError(f"WebGPU matmul config {config} cannot run on this device: {'; '.join(broken)}.")
    schedule.check_symbolic(spec)


def _terms(*pairs, const: int = 0) -> str:
    """`const + x * s + ...` for (text, s) pairs, skipping zeros; "0i" when nothing is left."""
    parts = [i32_literal(const)] if const else []
    for text, stride in pairs:
        if stride == 1:
            parts.append(text)
        elif stride:
            parts.append(f"{text} * {i32_literal(stride)}")
    return " + ".join(parts) or "0i"


class _Emitter:
    """The shapes and names of one kernel while its WGSL text is put together."""

    def __init__(self, spec: MatMul, config: MatMulConfig, limits: Limits):
        self.spec, self.config, self.limits = spec, config, limits
        self.bm = config.wg_y * config.tm  # rows of a workgroup's tile
        self.bn = config.wg_x * config.tn  # columns of a workgroup's tile
        self.threads = config.wg_x * config.wg_y
        self.sizes = WgslSizes(spec)
        self.symbolic = isinstance(spec.m, Sym)
        self.col_tiles = -(-spec.n // self.bn)
        if self.symbolic:  # the row tiles are counted at run time; the rest of the grid is fixed
            self.row_tiles = None
            self.groups = None
        else:
            self.row_tiles = -(-spec.m // self.bm)
            self.groups = prod(spec.batch) * self.row_tiles * self.col_tiles
        self.bindings = chunk_bindings(spec.args, limits, spec.sizes)
        self.vec4_global = self._vec4_global()
        # Bounds tests are written only where a tile can cross the edge.
        self.m_edge = self.symbolic or spec.m % self.bm != 0
        self.n_edge = spec.n % self.bn != 0
        self.k_edge = spec.k % config.tk != 0
        # One-row path: 4 columns per invocation, so the grid's workgroups suffice (4 * wg_y >= tn).
        self.row_columns = 4 * self.threads
        self.row_path = (self.symbolic and lower_bound(spec.m) <= 1 < upper(spec.m) and not config.implicit
                         and self.row_columns >= self.bn and spec.n > 0)

    def _vec4_global(self) -> bool:
        """Whether bmat can be read as array<vec4<f32>>: one chunk, an arg no other tensor
        reads, and every vec4 of a row inside the row and 16-byte aligned."""
        spec, b = self.spec, self.spec.bmat
        if self.config.implicit:  # bmat is staged from the image: never read
            return False
        chunks = [x for x in self.bindings if x.arg == b.arg]
        others = {spec.a.arg, spec.out.arg} | {e.arg for e in spec.extras}
        aligned = [b.offset] + [s for s, size in zip(b.strides[:-1], spec.batch + (spec.k,)) if size > 1]
        return (self.config.vec == 4 and len(chunks) == 1 and b.arg not in others
                and spec.args[b.arg].size >= 4  # a vec4 binding holds at least 16 bytes
                and spec.n % 4 == 0 and spec.n > 0 and b.strides[-1] == 1
                and all(x % 4 == 0 for x in aligned))

    def kernel(self) -> WgslKernel:
        spec, config = self.spec, self.config
        check_fits(spec, self.bindings, self.limits, "matmul")
        if self.symbolic:
            grid = symbolic_dispatch(spec.m, self.bm, prod(spec.batch) * self.col_tiles, self.limits)
        else:
            grid = dispatch_grid(self.groups, self.limits)
        parts = [f"// webjit matmul {spec.batch} x {spec.m}x{spec.n}x{spec.k}, {config}\n",
                 self.declarations()]
        if spec.epilogue is not None:
            parts.append(expr_functions(spec.epilogue))
        parts += [self.shared(), self.load_a(), self.load_b(), self.finish()]
        if self.row_path:
            parts.append(self.one_row())
        parts.append(self.main(grid))
        if self.symbolic:  # after every part has asked for its sizes
            parts.insert(2, self.sizes.declarations())
        return WgslKernel("\n".join(parts), "main", (config.wg_x, config.wg_y, 1), grid,
                          self.bindings)

    # ---------------------------------------------------------------- module scope
    def declarations(self) -> str:
        """Bindings and accessors; bmat as array<vec4<f32>> (no accessor) on the vec4 path."""
        lines = []
        for slot, b in enumerate(self.bindings):
            access = "read_write" if b.write else "read"
            t = wgsl_type(self.spec.args[b.arg].dtype)
            if self.vec4_global and b.arg == self.spec.bmat.arg:
                t = "vec4<f32>"
            lines.append(f"@group(0) @binding({slot}) var<storage, {access}> "
                         f"{binding_name(b, self.bindings)}: array<{t}>;")
        for i, arg in enumerate(self.spec.args):
            if self.vec4_global and i == self.spec.bmat.arg:
                continue
            chunks = [b for b in self.bindings if b.arg == i]
            lines.append(load_function(i, wgsl_type(arg.dtype), chunks, self.bindings))
            if arg.output:
                lines.append(store_function(i, wgsl_type(arg.dtype), chunks, self.bindings))
        return "\n".join(lines) + "\n"

    def shared(self) -> str:
        tk, vec = self.config.tk, self.config.vec
        b_type = "vec4<f32>" if vec == 4 else "f32"
        return (f"var<workgroup> tile_a: array<f32, {tk * self.bm}>;  // [tk][bm]\n"
                f"var<workgroup> tile_b: array<{b_type}, {tk * self.bn // vec}>;  // [tk][bn / vec]\n")

    def load_a(self) -> str:
        """a[row, k] of one batch entry, zero outside the matrix."""
        spec = self.spec
        m_stride, k_stride = spec.a.strides[-2:]
        guard = self._guard([("row", spec.m, self.m_edge), ("k", spec.k, self.k_edge)], "0.0")
        return (f"fn load_a(base: i32, row: i32, k: i32) -> f32 {{\n{guard}"
                f"  return ld{spec.a.arg}(base + {_terms(('row', m_stride), ('k', k_stride))});\n}}\n")

    def load_b(self) -> str:
        """bmat[k, col..col+vec-1] of one batch entry, zero outside the matrix."""
        spec = self.spec
        if self.config.implicit:
            return self.load_b_from_image()
        pitch, n_stride = spec.bmat.strides[-2:]
        element = f"base + {_terms(('k', pitch), ('col', n_stride))}"
        if self.config.vec == 1:
            guard = self._guard([("k", spec.k, self.k_edge), ("col", spec.n, self.n_edge)], "0.0")
            return (f"fn load_b(base: i32, k: i32, col: i32) -> f32 {{\n{guard}"
                    f"  return ld{spec.bmat.arg}({element});\n}}\n")
        if self.vec4_global:  # n % 4 == 0: a vec4 is wholly inside or wholly outside
            guard = self._guard([("k", spec.k, self.k_edge), ("col", spec.n, self.n_edge)],
                                "vec4<f32>(0.0)")
            name = binding_name(next(b for b in self.bindings if b.arg == spec.bmat.arg), self.bindings)
            return (f"fn load_b(base: i32, k: i32, col: i32) -> vec4<f32> {{\n{guard}"
                    f"  return {name}[({element}) / 4];\n}}\n")
        guard = self._guard([("k", spec.k, self.k_edge)], "vec4<f32>(0.0)")
        lanes = []
        for lane, name in enumerate("xyzw"):
            load = f"v.{name} = ld{spec.bmat.arg}(e + {i32_literal(lane * n_stride)});"
            if self.n_edge or spec.n % 4:
                load = f"if (col + {lane} < {spec.n}) {{ {load} }}"
            lanes.append(f"  {load}\n")
        return (f"fn load_b(base: i32, k: i32, col: i32) -> vec4<f32> {{\n{guard}"
                f"  let e = {element};\n  var v = vec4<f32>(0.0);\n{''.join(lanes)}  return v;\n}}\n")

    def load_b_from_image(self) -> str:
        """bmat[k, col..] of an implicit GEMM: the image element im2col would have put there.
        `base` is the image plane of the entry's (image, group)."""
        spec, source = self.spec, self.spec.im2col
        taps = source.kh * source.kw
        element = (f"fn image_at(base: i32, k: i32, col: i32) -> f32 {{\n"
                   f"  if (k >= {i32_literal(spec.k)} || col >= {i32_literal(spec.n)}) {{ return 0.0; }}\n"
                   f"  let tap = k % {taps};\n"
                   f"  let iy = col / {source.ow} * {source.strides[0]} + tap / {source.kw} * {source.dilations[0]}"
                   f" - {source.pads[0]};\n"
                   f"  let ix = col % {source.ow} * {source.strides[1]} + tap % {source.kw} * {source.dilations[1]}"
                   f" - {source.pads[1]};\n"
                   f"  if (iy < 0 || iy >= {source.h} || ix < 0 || ix >= {source.w}) {{ return 0.0; }}\n"
                   f"  return ld{source.x}(base + k / {taps} * {source.h * source.w} + iy * {source.w} + ix);\n}}\n")
        if self.config.vec == 1:
            return element + "fn load_b(base: i32, k: i32, col: i32) -> f32 { return image_at(base, k, col); }\n"
        lanes = ", ".join(f"image_at(base, k, col + {lane})" for lane in range(4))
        return element + f"fn load_b(base: i32, k: i32, col: i32) -> vec4<f32> {{ return vec4<f32>({lanes}); }}\n"

    def _guard(self, checks, zero: str) -> str:
        tests = [f"{name} >= {self.sizes.text(bound)}" for name, bound, needed in checks if needed]
        result = f" {zero}" if zero else ""
        return f"  if ({' || '.join(tests)}) {{ return{result}; }}\n" if tests else ""

    def finish(self) -> str:
        """Epilogue and store of one output element (skipped outside the matrix)."""
        spec = self.spec
        params = "".join(f", base{i}: i32" for i in range(len(spec.extras)))
        guard = self._guard([("row", spec.m, self.m_edge), ("col", spec.n, self.n_edge)], "")
        out_t = wgsl_type(spec.args[spec.out.arg].dtype)
        value = "acc"
        if spec.epilogue is not None:
            value = wgsl_expr(spec.epilogue, self._leaf)
            if spec.epilogue.dtype != spec.args[spec.out.arg].dtype:
                value = f"{out_t}({value})"
        m_stride, n_stride = spec.out.strides[-2:]
        return (f"fn finish(acc: f32, row: i32, col: i32, out_base: i32{params}) {{\n{guard}"
                f"  st{spec.out.arg}(out_base + {_terms(('row', m_stride), ('col', n_stride))}, {value});\n}}\n")

    def _leaf(self, leaf) -> str:
        if leaf.op == "acc":
            return "acc"
        if leaf.op == "in" and 0 <= leaf.index < len(self.spec.extras):
            access = self.spec.extras[leaf.index]
            m_stride, n_stride = access.strides[-2:]
            return f"ld{access.arg}(base{leaf.index} + {_terms(('row', m_stride), ('col', n_stride))})"
        raise CompileError(f"MatMul epilogue leaf {leaf} is not an input or the accumulator.")

    # ---------------------------------------------------------------- entry point
    def main(self, grid) -> str:
        config = self.config
        if self.symbolic:
            origin = self.tile_origin()
            head = self.sizes.prologue() + symbolic_workgroup(
                self.sizes.uniform_groups(self.spec.m, self.bm, prod(self.spec.batch) * self.col_tiles))
        else:
            head, origin = linear_workgroup(self.groups, grid), self.tile_origin()
        if self.row_path:  # uniform: every invocation of every workgroup takes the same branch
            head += f"  if ({self.sizes.uniform_text(self.spec.m)} == 1) {{ one_row(wg, i32(lid)); return; }}\n"
        body = [head, origin,
                "  let tx = i32(lid3.x);\n  let ty = i32(lid3.y);\n  let t = i32(lid);\n",
                self.accumulators(),
                f"  for (var k0 = 0i; k0 < {i32_literal(self.spec.k)}; k0 += {config.tk}i) {{\n",
                self.stage(), "    workgroupBarrier();\n", self.k_loop(),
                "    workgroupBarrier();\n  }\n", self.stores()]
        return (f"@compute @workgroup_size({config.wg_x}, {config.wg_y}, 1)\n"
                f"fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,\n"
                f"        @builtin(local_invocation_id) lid3: vec3<u32>,\n"
                f"        @builtin(local_invocation_index) lid: u32) {{\n{''.join(body)}}}\n")

    def one_row(self) -> str:
        """The path of m = 1: columns col..col+3 of the row over all of k, then the epilogue."""
        spec, vec = self.spec, self.config.vec
        blocks = -(-spec.n // self.row_columns)
        lines = ["fn one_row(wg: i32, t: i32) {",
                 f"  if (wg >= {prod(spec.batch) * blocks}) {{ return; }}",
                 f"  let col = (wg % {blocks}) * {self.row_columns} + t * 4;",
                 f"  if (col >= {spec.n}) {{ return; }}"]
        lines += self._batch_bases(f"wg / {blocks}")[0]
        if vec == 4:
            b = "load_b(b_base, k, col)"
        else:
            b = f"vec4<f32>({', '.join(f'load_b(b_base, k, col + {lane})' for lane in range(4))})"
        lines += ["  var acc = vec4<f32>(0.0);",
                  f"  for (var k = 0i; k < {i32_literal(spec.k)}; k++) {{",
                  f"    acc += load_a(a_base, 0, k) * {b};", "  }"]
        extras = "".join(f", extra_base{i}" for i in range(len(spec.extras)))
        for lane, name in enumerate("xyzw"):
            store = f"finish(acc.{name}, 0, col + {lane}, out_base{extras});"
            lines.append(f"  {store}" if spec.n % 4 == 0 else f"  if (col + {lane} < {spec.n}) {{ {store} }}")
        return "\n".join(lines) + "\n}\n"

    def _batch_bases(self, entry: str) -> tuple[list[str], list]:
        """Lines setting each tensor's base element for the batch entry `entry` (WGSL text), and
        the (index variable, batch dim) pairs they use."""
        spec = self.spec
        lines = [f"  var batch = {entry};"] if prod(spec.batch) > 1 else []
        index = []
        for d in reversed(range(len(spec.batch))):
            if spec.batch[d] > 1:
                lines.append(f"  let b{d} = batch % {spec.batch[d]};")
                lines.append(f"  batch = batch / {spec.batch[d]};")
                index.append((f"b{d}", d))
        tensors = [("a_base", spec.a), ("b_base", spec.bmat), ("out_base", spec.out)]
        tensors += [(f"extra_base{i}", e) for i, e in enumerate(spec.extras)]
        for name, access in tensors:
            lines.append(f"  let {name} = {_terms(*[(v, access.strides[d]) for v, d in index], const=access.offset)};")
        return lines, index

    def tile_origin(self) -> str:
        """m0, n0 of the workgroup's tile and each tensor's base element for its batch entry."""
        spec = self.spec
        cols = max(self.col_tiles, 1)  # no division by zero when empty
        rows = f"max({self.sizes.ceil_div(spec.m, self.bm)}, 1)" if self.symbolic else max(self.row_tiles, 1)
        lines = [f"  let n0 = (wg % {cols}) * {self.bn};",
                 f"  let m0 = (wg / {cols} % {rows}) * {self.bm};"]
        per_entry = f"({cols} * {rows})" if self.symbolic else cols * rows
        bases, index = self._batch_bases(f"wg / {per_entry}")
        lines += bases
        if self.config.implicit:  # the image plane of this (image, group): batch dims are (images, groups)
            source = spec.im2col
            plane = source.h * source.w
            strides = (source.c * plane, source.c // spec.batch[1] * plane)
            lines.append(f"  let x_base = {_terms(*[(v, strides[d]) for v, d in index])};")
        return "\n".join(lines) + "\n"

    def accumulators(self) -> str:
        t = "vec4<f32>(0.0)" if self.config.vec == 4 else "0.0"
        return "".join(f"  var acc{i}_{j} = {t};\n" for i, j in self._acc_slots())

    def _acc_slots(self):
        return [(i, j) for i in range(self.config.tm) for j in range(self.config.tn // self.config.vec)]

    def stage(self) -> str:
        """Every invocation copies its share of the K-slab of a and bmat to workgroup memory."""
        spec, tk, bm = self.spec, self.config.tk, self.bm
        bn_vec = self.bn // self.config.vec
        m_stride, k_stride = spec.a.strides[-2:]
        if abs(m_stride) < abs(k_stride):  # a is stored column-major: walk its rows fastest
            a_index = f"let r = i % {bm};\n      let kk = i / {bm};"
        else:
            a_index = f"let r = i / {tk};\n      let kk = i % {tk};"
        return (f"    for (var i = t; i < {tk * bm}; i += {self.threads}) {{\n"
                f"      {a_index}\n"
                f"      tile_a[kk * {bm} + r] = load_a(a_base, m0 + r, k0 + kk);\n    }}\n"
                f"    for (var i = t; i < {tk * bn_vec}; i += {self.threads}) {{\n"
                f"      let kk = i / {bn_vec};\n"
                f"      let c = i % {bn_vec};\n"
                f"      tile_b[i] = load_b({'x_base' if self.config.implicit else 'b_base'}, k0 + kk, "
                f"n0 + c * {self.config.vec});\n    }}\n")

    def k_loop(self) -> str:
        """tm x tn multiply-adds per k of the slab, from workgroup memory."""
        config, bm = self.config, self.bm
        bn_vec = self.bn // config.vec
        lines = [f"    for (var kk = 0; kk < {config.tk}; kk++) {{"]
        for i in range(config.tm):
            lines.append(f"      let x{i} = tile_a[kk * {bm} + ty + {i * config.wg_y}];")
        for j in range(config.tn // config.vec):
            lines.append(f"      let y{j} = tile_b[kk * {bn_vec} + tx + {j * config.wg_x}];")
        for i, j in self._acc_slots():
            lines.append(f"      acc{i}_{j} += x{i} * y{j};")
        lines.append("    }")
        return "\n".join(lines) + "\n"

    def stores(self) -> str:
        config = self.config
        extras = "".join(f", extra_base{i}" for i in range(len(self.spec.extras)))
        lines = []
        for i, j in self._acc_slots():
            row = f"m0 + ty + {i * config.wg_y}"
            col = f"n0 + (tx + {j * config.wg_x}) * {config.vec}"
            if config.vec == 1:
                lines.append(f"  finish(acc{i}_{j}, {row}, {col}, out_base{extras});")
                continue
            for lane, name in enumerate("xyzw"):
                lines.append(f"  finish(acc{i}_{j}.{name}, {row}, {col} + {lane}, out_base{extras});")
        return "\n".join(lines) + "\n"


FAMILY = Family("matmul", "webgpu", MatMulConfig, schedule.SPACE, schedule.CONSTRAINTS, schedule.default,
                lambda config, spec, target: config, lambda spec, config, target: emit(spec, config, target.limits),
                schedule.cost)
