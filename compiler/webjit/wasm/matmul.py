"""WASM SIMD128 code generator for the MatMul family: register-tiled, n- and k-blocked, threaded.

The output is split into units (batch, n-block, row tile), in that order so that the
row tiles of one n-block reuse its panel of `bmat` from cache; each thread takes one
contiguous run of units. A unit walks its n-block in column tiles of `nr` columns and
computes each `mr x nr` tile with accumulators held in v128 locals: per k it loads
nr/4 vectors of bmat's row k and splats mr scalars of `a` (so any `a` strides cost the
same). Every shape is static, so all strides become immediate memory offsets, and the
edges (m % mr rows, n % nr columns, n % 4 columns) are separate straight-line tiles.
Columns past the last multiple of 4 use one-lane "vectors" (load32_splat, store32_lane)
so the epilogue code is the same for every accumulator.

Deep k is cut into k-blocks of `kc` steps. For each n-block in its run, a thread takes
every k-block over all its row tiles of that n-block before the next k-block, so a
column tile's kc rows of bmat span few pages and the mr x kc rows of `a` stay in L1.
The first k-block stores partial sums to `out`, later ones add to them, and only the
last applies the epilogue; every k-block of a tile runs on the thread that owns the tile.
An epilogue that reads `out` itself would see partial sums, so such specs keep one block.

Configs with `fma` use relaxed SIMD (f32x4.relaxed_madd): a runtime must offer them only
where the engine validates relaxed SIMD. Configs with `implicit` (a convolution's GEMM)
split the work by whole n-blocks and pack each block's columns from the image first
(matmul_pack.py), so the Im2Col step can be left out. Measured here: a bmat row pitch that is a
multiple of 4 KiB (n = 1024, 3072 ...) maps every row to the same L1 set and halves the
speed; a producer that can choose the pitch of a constant bmat should pad it (n + 16).

A symbolic m that can be 1 (a decode step) also gets a one-row path, taken when m is 1 at
run time: the same code written for m = 1 with the streaming blocks of
matmul_schedule.one_row (config.row_nb, row_kc), since one row is bound by memory.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod

from ..errors import CompileError
from ..family import Family
from ..kernels import Expr, MatMul
from . import matmul_schedule as schedule
from .encoder import I32, V128, Func, Module
from .expr import emit_expr
from ..symbolic import Sym, SymbolicError
from .loops import Local, counted_loop, push, set_linear, thread_share
from .sizes import sizes_of
from .matmul_pack import pack_columns
from .matmul_schedule import MatMulConfig, k_blocks


def emit(spec: MatMul, config: MatMulConfig) -> Module:
    """A module whose `run(args..., tid, nthreads)` computes `spec` with resolved `config`."""
    _check(spec, config)
    module = Module(shared_memory=True)
    f = module.func("run", params=[I32] * (len(spec.args) + 2), results=[])
    emitter = _Emitter(spec, config, module, f)
    if config.row_nb and isinstance(spec.m, Sym):  # m = 1 at run time: the one-row path
        row = _Emitter(replace(spec, m=1), schedule.row_path(config, spec), module, f, emitter.sizes)
        emitter.sizes.push(spec.m)
        f.op("i32.const", 1)
        f.op("i32.eq")
        f.op("if")
        row.run()
        f.op("else")
        emitter.run()
        f.op("end")
    else:
        emitter.run()
    emitter.sizes.finish()
    return module


def _check(spec: MatMul, config: MatMulConfig) -> None:
    """What only this kernel cannot do (the shared checks are webjit.verify's)."""
    if config.mr < 1 or config.nr < 4 or config.nr % 4 or config.ku < 1:
        raise CompileError(f"MatMul config {config} is invalid: need mr >= 1, nr a multiple of 4, ku >= 1.")
    if config.implicit and (spec.im2col is None or spec.bmat.strides[-1] != 1):
        raise CompileError("MatMul config implicit=True needs a convolution's GEMM (a spec with an im2col source).")
    if config.nb < config.nr or config.nb % config.nr or (spec.k and config.kc < 1):
        raise CompileError(f"MatMul config {config} is not resolved: nb must be a multiple of nr and "
                           f"kc at least 1; pass it through the family's resolve.")
    for name, access in (("a", spec.a), ("bmat", spec.bmat), ("out", spec.out)) + tuple(
            (f"extra {i}", e) for i, e in enumerate(spec.extras)):
        if any(s < 0 for s in access.strides) or access.offset < 0:
            raise CompileError(f"MatMul {name} has a negative stride or offset, which the WASM kernel does not support.")
    check_symbolic(spec)
    if spec.bmat.strides[-1] != 1 and spec.n > 1:
        raise CompileError("MatMul bmat must have unit stride along n.")
    if spec.out.strides[-1] != 1 and spec.n > 1:
        raise CompileError("MatMul out must have unit stride along n.")


def check_symbolic(spec: MatMul) -> None:
    """A symbolic m only: n, k and every stride the kernel uses fixed (strides of batch
    dims of size 1 are never used)."""
    if not spec.dims:
        return
    used = [d for d, size in enumerate(spec.batch) if not (isinstance(size, int) and size == 1)]
    fixed = [spec.n, spec.k, *spec.batch] + [access.offset for access in (spec.a, spec.bmat, spec.out) + spec.extras]
    for access in (spec.a, spec.bmat, spec.out) + spec.extras:
        fixed += [access.strides[d] for d in used] + list(access.strides[-2:])
    if any(isinstance(v, Sym) for v in fixed):
        raise SymbolicError("a MatMul with a symbolic size other than its rows (m) is not compiled for WASM yet")


@dataclass(frozen=True)
class _KPass:
    """One pass of a unit over one k-block: `block` is its index (None: the local of the
    middle blocks' loop), `depth` its k steps; the first block stores to `out`, later
    blocks add to it, and the last applies the epilogue."""
    block: int | None
    depth: int
    first: bool
    last: bool


class _Emitter:
    """Holds the locals of one kernel while its code is written out."""

    def __init__(self, spec: MatMul, config: MatMulConfig, module: Module, f: Func, sizes=None):
        self.spec, self.config, self.module, self.f = spec, config, module, f
        self.sizes = sizes or sizes_of(f, spec)
        self.nbatch = prod(spec.batch)
        self.row_tiles = self.sizes.ceil_div(spec.m, config.mr)  # a local when m is symbolic
        self.nb = config.nb
        self.nblocks = -(-spec.n // self.nb) if spec.n else 0
        self.units = self._product(self.nbatch * self.nblocks, self.row_tiles)
        self.kc, self.kblocks = k_blocks(spec, config.kc)
        self.kpass = _KPass(0, spec.k, True, True)  # the pass being written out
        self.block_local = f.local(I32)  # k-block index of the middle passes
        nargs = len(spec.args)
        self.tid, self.nthreads = nargs, nargs + 1
        self.tensors = (spec.a, spec.bmat, spec.out) + spec.extras
        self._v128_pool: list[int] = []
        self.bases: list[int] = []  # per tensor: its address at the current unit

    def op(self, *args) -> None:
        self.f.op(*args)

    def _product(self, k: int, count):
        """k * count for a constant or a prologue local."""
        if not isinstance(count, Local):
            return k * count
        return self.sizes.derived(f"times/{k}", count, [], [("local.get", count.index), ("i32.const", k), ("i32.mul",)])

    def push(self, count) -> None:
        push(self.f, count)

    def v128s(self, count: int) -> list[int]:
        """`count` v128 locals, reused between tiles (a tile never outlives the next)."""
        while len(self._v128_pool) < count:
            self._v128_pool.append(self.f.local(V128))
        return self._v128_pool[:count]

    def set_sum(self, dst: int, base: int, const: int, terms=()) -> None:
        """dst = base + const + sum(local * scale): a byte address."""
        set_linear(self.f, dst, base, const, terms)

    def run(self) -> None:
        """This thread's units, one n-block's run of them at a time (a segment)."""
        if isinstance(self.units, int) and self.units == 0:
            return
        f = self.f
        unit, end, seg_end = f.local(I32), f.local(I32), f.local(I32)
        if self.config.implicit:  # whole n-blocks per thread: each packs the columns it reads
            start, count = thread_share(f, self.nbatch * self.nblocks, self.tid, self.nthreads)
            self.op("local.get", start.index)
            self.push(self.row_tiles)
            self.op("i32.mul")
            self.op("local.tee", unit)
            self.op("local.get", count.index)
            self.push(self.row_tiles)
            self.op("i32.mul")
        else:
            start, count = thread_share(f, self.units, self.tid, self.nthreads)
            self.op("local.get", start.index)
            self.op("local.tee", unit)
            self.op("local.get", count.index)
        self.op("i32.add")
        self.op("local.set", end)
        self.op("loop")
        # seg_end = min(end, first unit of the next n-block)
        self.op("local.get", unit)
        self.push(self.row_tiles)
        self.op("i32.div_u")
        self.op("i32.const", 1)
        self.op("i32.add")
        self.push(self.row_tiles)
        self.op("i32.mul")
        self.op("local.tee", seg_end)
        self.op("local.get", end)
        self.op("local.get", seg_end)
        self.op("local.get", end)
        self.op("i32.lt_u")
        self.op("select")
        self.op("local.set", seg_end)
        if self.config.implicit:
            pack_columns(self, unit)
        self.segment(unit, seg_end)
        self.op("local.get", seg_end)
        self.op("local.tee", unit)
        self.op("local.get", end)
        self.op("i32.lt_u")
        self.op("br_if", 0)
        self.op("end")

    def segment(self, first: int, end: int) -> None:
        """Every k-block over units [first, end), which share one n-block."""
        spec, kc, kblocks = self.spec, self.kc, self.kblocks
        last_depth = spec.k - (kblocks - 1) * kc
        if kblocks == 1:
            self.units_pass(first, end, _KPass(0, last_depth, True, True))
            return
        self.units_pass(first, end, _KPass(0, kc, True, False))
        if kblocks > 2:
            self.op("i32.const", 1)
            self.op("local.set", self.block_local)
            with counted_loop(self.f, kblocks - 2):
                self.units_pass(first, end, _KPass(None, kc, False, False))
                self.set_sum(self.block_local, self.block_local, 1)
        self.units_pass(first, end, _KPass(kblocks - 1, last_depth, False, True))

    def units_pass(self, first: int, end: int, kpass: _KPass) -> None:
        """One k-block of each unit in [first, end) (never empty)."""
        unit = self.f.local(I32)
        self.kpass = kpass
        self.op("local.get", first)
        self.op("local.set", unit)
        self.op("loop")
        self.unit_body(unit)
        self.set_sum(unit, unit, 1)
        self.op("local.get", unit)
        self.op("local.get", end)
        self.op("i32.lt_u")
        self.op("br_if", 0)
        self.op("end")

    def unit_body(self, unit: int) -> None:
        """Base addresses of one (batch, n-block, row tile) unit at the current k-block,
        then its tiles."""
        spec, config, f = self.spec, self.config, self.f
        rt, blk, rest = f.local(I32), f.local(I32), f.local(I32)
        self.op("local.get", unit)
        self.push(self.row_tiles)
        self.op("i32.rem_u")
        self.op("local.set", rt)
        self.op("local.get", unit)
        self.push(self.row_tiles)
        self.op("i32.div_u")
        self.op("local.tee", rest)
        self.op("i32.const", self.nblocks)
        self.op("i32.rem_u")
        self.op("local.set", blk)
        self.op("local.get", rest)
        self.op("i32.const", self.nblocks)
        self.op("i32.div_u")
        self.op("local.set", rest)  # rest: flat batch index
        batch_idx = self.batch_indices(rest)
        self.bases = []
        for i, access in enumerate(self.tensors):
            m_stride, n_stride = access.strides[-2], access.strides[-1]
            terms = [(loc, 4 * s) for loc, s, size in zip(batch_idx, access.strides, spec.batch) if size != 1]
            if i != 1:  # a, out and extras move down with the row tile (bmat's rows are k)
                terms += [(rt, 4 * config.mr * m_stride)]
            if i != 0:  # all but a move along n with the block
                terms += [(blk, 4 * self.nb * n_stride)]
            k_step = 4 * self.kc * (access.strides[-1] if i == 0 else m_stride) if i < 2 else 0
            k_const = k_step * (self.kpass.block or 0)
            if self.kpass.block is None:
                terms += [(self.block_local, k_step)]
            base = f.local(I32)
            self.set_sum(base, access.arg, 4 * access.offset + k_const, terms)
            self.bases.append(base)
        width_last = spec.n - (self.nblocks - 1) * self.nb

        def blocks(rows: int) -> None:
            self.branch(blk, self.nblocks - 1, self.nb, width_last, lambda width: self.block(rows, width))

        if isinstance(self.row_tiles, Local):
            self.branch_rows(rt, blocks)
            return
        rows_last = spec.m - (self.row_tiles - 1) * config.mr
        self.branch(rt, self.row_tiles - 1, config.mr, rows_last, blocks)

    def branch_rows(self, rt: int, body) -> None:
        """A symbolic m: the last row tile has 1..mr rows, known at run time; one body per count."""
        mr = self.config.mr
        if mr == 1:
            body(1)
            return
        rows_last = self.sizes.derived("rows_last", self.spec.m, [self.spec.m],
                                       [("i32.const", 1), ("i32.sub",), ("i32.const", mr), ("i32.rem_u",),
                                        ("i32.const", 1), ("i32.add",)])  # (m - 1) % mr + 1
        last = self.sizes.derived("last_tile", self.spec.m, [], [("local.get", self.row_tiles.index),
                                                                  ("i32.const", 1), ("i32.sub",)])
        self.op("local.get", rt)
        self.push(last)
        self.op("i32.eq")
        self.push(rows_last)
        self.op("i32.const", mr)
        self.op("i32.ne")
        self.op("i32.and")
        self.op("if")
        for rows in range(1, mr - 1):
            self.push(rows_last)
            self.op("i32.const", rows)
            self.op("i32.eq")
            self.op("if")
            body(rows)
            self.op("else")
        body(mr - 1)
        for _ in range(1, mr - 1):
            self.op("end")
        self.op("else")
        body(mr)
        self.op("end")

    def branch(self, local: int, last: int, full: int, edge: int, body) -> None:
        """body(edge) when local == last, else body(full); one body when they agree."""
        if full == edge:
            body(full)
            return
        self.op("local.get", local)
        self.op("i32.const", last)
        self.op("i32.eq")
        self.op("if")
        body(edge)
        self.op("else")
        body(full)
        self.op("end")

    def batch_indices(self, flat: int) -> list[int]:
        """One local per batch dim (dims of size 1 get index 0 via a shared zero local)."""
        f = self.f
        locals_ = []
        for d in reversed(range(len(self.spec.batch))):
            size = self.spec.batch[d]
            loc = f.local(I32)
            if size > 1:
                self.op("local.get", flat)
                self.op("i32.const", size)
                self.op("i32.rem_u")
                self.op("local.set", loc)
                self.op("local.get", flat)
                self.op("i32.const", size)
                self.op("i32.div_u")
                self.op("local.set", flat)
            locals_.append(loc)
        return locals_[::-1]

    def block(self, rows: int, width: int) -> None:
        """All column tiles of one n-block `width` wide, for `rows` rows."""
        nr, f = self.config.nr, self.f
        cursors = [f.local(I32) for _ in self.tensors]
        for cur, base in zip(cursors, self.bases):
            self.op("local.get", base)
            self.op("local.set", cur)
        full, rest = divmod(width, nr)
        vector_slots = [(4 * j, 4) for j in range(nr // 4)]
        if full == 1:
            self.tile(rows, vector_slots, cursors)
        elif full > 1:
            count = f.local(I32)
            self.op("i32.const", full)
            self.op("local.set", count)
            self.op("loop")
            self.tile(rows, vector_slots, cursors)
            for i, cur in enumerate(cursors[1:], start=1):
                self.set_sum(cur, cur, 4 * nr * self.tensors[i].strides[-1])
            self.op("local.get", count)
            self.op("i32.const", 1)
            self.op("i32.sub")
            self.op("local.tee", count)
            self.op("br_if", 0)
            self.op("end")
        start = full * nr if full == 1 else 0  # the loop leaves the cursors past its tiles
        if rest >= 4:
            self.tile(rows, [(start + 4 * j, 4) for j in range(rest // 4)], cursors)
        if rest % 4:
            start += rest // 4 * 4
            self.tile(rows, [(start + j, 1) for j in range(rest % 4)], cursors)

    def tile(self, rows: int, slots, cursors) -> None:
        """One rows x slots register tile: k loop, then epilogue and store.

        slots are (column from the cursors, width): width 4 is a vector, width 1 is one
        column in lane 0.
        """
        f = self.f
        accs = self.v128s(rows * len(slots) + len(slots) + 1)
        acc = [accs[i * len(slots):(i + 1) * len(slots)] for i in range(rows)]
        bvec, avec = accs[rows * len(slots):-1], accs[-1]
        for row in acc:
            for loc in row:
                self.op("v128.const", bytes(16))
                self.op("local.set", loc)
        a_ptr, b_ptr = f.local(I32), f.local(I32)
        self.op("local.get", self.bases[0])
        self.op("local.set", a_ptr)
        self.op("local.get", cursors[1])
        self.op("local.set", b_ptr)
        ku = self.config.ku
        steps, tail = divmod(self.kpass.depth, ku)
        if steps:
            count = f.local(I32)
            self.op("i32.const", steps)
            self.op("local.set", count)
            self.op("loop")
            self.k_steps(ku, rows, slots, acc, bvec, avec, a_ptr, b_ptr)
            self.op("local.get", count)
            self.op("i32.const", 1)
            self.op("i32.sub")
            self.op("local.tee", count)
            self.op("br_if", 0)
            self.op("end")
        if tail:
            self.k_steps(tail, rows, slots, acc, bvec, avec, a_ptr, b_ptr)
        self.store(rows, slots, acc, cursors)

    def k_steps(self, count, rows, slots, acc, bvec, avec, a_ptr, b_ptr) -> None:
        """`count` consecutive k steps, then advance the a and bmat pointers past them."""
        a_m, a_k = self.spec.a.strides[-2:]
        pitch = self.spec.bmat.strides[-2]
        for u in range(count):
            for j, (col, width) in enumerate(slots):
                self.op("local.get", b_ptr)
                self.op("v128.load" if width == 4 else "v128.load32_splat", 4 * (u * pitch + col))
                self.op("local.set", bvec[j])
            for i in range(rows):
                self.op("local.get", a_ptr)
                self.op("v128.load32_splat", 4 * (u * a_k + i * a_m))  # a broadcast load
                self.op("local.set", avec)
                for j in range(len(slots)):
                    if self.config.fma:
                        self.op("local.get", avec)
                        self.op("local.get", bvec[j])
                        self.op("local.get", acc[i][j])
                        self.op("f32x4.relaxed_madd")
                    else:
                        self.op("local.get", acc[i][j])
                        self.op("local.get", avec)
                        self.op("local.get", bvec[j])
                        self.op("f32x4.mul")
                        self.op("f32x4.add")
                    self.op("local.set", acc[i][j])
        if a_k:
            self.set_sum(a_ptr, a_ptr, 4 * count * a_k)
        if pitch:
            self.set_sum(b_ptr, b_ptr, 4 * count * pitch)

    def store(self, rows, slots, acc, cursors) -> None:
        """Add what earlier k-blocks stored, apply the epilogue after the last k-block, and
        store each accumulator (lane 0 for 1-wide slots)."""
        out_m = self.spec.out.strides[-2]
        for i in range(rows):
            for j, (col, width) in enumerate(slots):
                offset = 4 * (i * out_m + col)
                if not self.kpass.first:
                    self.op("local.get", cursors[2])
                    self.op("v128.load" if width == 4 else "v128.load32_splat", offset)
                    self.op("local.get", acc[i][j])
                    self.op("f32x4.add")
                    self.op("local.set", acc[i][j])
                self.op("local.get", cursors[2])
                if self.kpass.last:
                    self.push_value(i, col, width, acc[i][j], cursors)
                else:
                    self.op("local.get", acc[i][j])
                if width == 4:
                    self.op("v128.store", offset)
                else:
                    self.op("v128.store32_lane", offset, 0)

    def push_value(self, row, col, width, acc_local, cursors) -> None:
        if self.spec.epilogue is None:
            self.op("local.get", acc_local)
            return

        def load_leaf(leaf: Expr) -> None:
            if leaf.op == "acc":
                self.op("local.get", acc_local)
            elif leaf.op == "in":
                self.load_extra(leaf.index, row, col, width, cursors)
            else:
                raise CompileError(f"MatMul epilogue leaf {leaf} is not an input or the accumulator.")

        emit_expr(self.f, self.module, self.spec.epilogue, load_leaf)

    def load_extra(self, index, row, col, width, cursors) -> None:
        """Push extras[index] at (row, col..col+width-1) of the tile as one v128."""
        access = self.spec.extras[index]
        cursor = cursors[3 + index]
        m_stride, n_stride = access.strides[-2:]
        offset = 4 * (row * m_stride + col * n_stride)
        self.op("local.get", cursor)
        if width == 1 or n_stride == 0:
            self.op("v128.load32_splat", offset)
            return
        if n_stride == 1:
            self.op("v128.load", offset)
            return
        kind = "i32" if self.spec.args[access.arg].dtype == "i32" else "f32"
        self.op("v128.load32_splat", offset)
        for lane in range(1, 4):  # a strided row: gather the other lanes one by one
            self.op("local.get", cursor)
            self.op(f"{kind}.load", offset + 4 * lane * n_stride)
            self.op(f"{kind}x4.replace_lane", lane)


FAMILY = Family("matmul", "wasm", MatMulConfig, schedule.SPACE, schedule.CONSTRAINTS, schedule.default,
                schedule.resolve, lambda spec, config, target: emit(spec, config), schedule.cost,
                schedule.requires, schedule.accelerated)
